"""Export: the CLIs end to end in subprocesses, the XLSX writer, the admin-gated service and tab handlers."""
from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from openpyxl import load_workbook

from db.models import CRITERIA
from rating.analysis.load import RATING_COLUMNS
from rating.simulate import DISPLAY_NAMES
from rating.analysis.tables import format_p, readable_table
from rating.analysis.xlsx import write_xlsx

ROOT = Path(__file__).resolve().parent.parent
EXPORTED = ("ratings.csv", "ratings.xlsx", "ratings.parquet", "figure4.png", "figure4.svg", "figure4.pdf",
            "figure4_single_column.png", "figure4_single_column.svg", "figure4_single_column.pdf")
SUMMARIES = ("figure4", "table1_rouge", "agreement", "self_consistency", "rouge_vs_experts", "comparisons",
             "progress_raters", "progress_cases")


def run_cli(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=300)


@pytest.fixture(scope="module")
def simulated_db(tmp_path_factory):
    db = tmp_path_factory.mktemp("export") / "study.db"
    proc = run_cli("rating.simulate", "--db", str(db), "--seed", "5", "--n-cases", "16", "--n-raters", "3")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == 1  # ONE JSON summary
    return db, json.loads(lines[0])


def test_simulate_summary(simulated_db):
    db, summary = simulated_db
    assert summary["study_name"].startswith("SIMULATED") and summary["n_cases"] == 16
    assert summary["boosted_system"] in summary["systems"]
    assert [r["name"] for r in summary["raters"]] == [f"Simulated Rater {i}" for i in (1, 2, 3)]
    with sqlite3.connect(db) as con:
        assert con.execute("select simulated from study where id=?", (summary["study_id"],)).fetchone() == (1,)
        assert con.execute("select count(*) from rating").fetchone()[0] == summary["n_ratings"] > 0
        from rating.tokens import hash_token
        stored = {row[0] for row in con.execute("select token_hash from rater")}
    assert {hash_token(r["token"]) for r in summary["raters"]} == stored  # tokens log in as these raters


def _raw_analysis(db, study_id):
    from db.engine import make_engine, make_session_factory
    from rating.analysis.config import AnalysisConfig
    from rating.analysis.summary import analyze_study

    engine = make_engine(str(db))
    try:
        with make_session_factory(engine)() as session:
            return analyze_study(session, study_id, AnalysisConfig(n_bootstrap=10, n_bootstrap_alpha=10))
    finally:
        engine.dispose()


@pytest.mark.slow
def test_export_cli_end_to_end(simulated_db, tmp_path):
    db, summary = simulated_db
    out = tmp_path / "out"
    proc = run_cli("rating.export", "--db", str(db), "--out", str(out), "--n-bootstrap", "200")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["study_id"] == summary["study_id"] and report["n_ratings"] == summary["n_ratings"]
    for name in EXPORTED:
        assert (out / name).stat().st_size > 0
    with sqlite3.connect(db) as con:
        n_ratings = con.execute("select count(*) from rating").fetchone()[0]
        names = [r[0] for r in con.execute("select name from rater")]

    csv = pd.read_csv(out / "ratings.csv")
    assert len(csv) == n_ratings
    assert list(csv.columns[:len(RATING_COLUMNS)]) == list(RATING_COLUMNS)
    assert {"rouge1", "rouge2", "rougeL"} <= set(csv.columns)
    assert csv["simulated"].all() and set(csv["repeat_index"]) == {0, 1}
    assert csv[list(CRITERIA)].isin([1, 2, 3, 4, 5]).all().all()
    assert set(csv["rater"]) == {r["pseudonym"] for r in summary["raters"]}

    table = pq.read_table(out / "ratings.parquet")
    assert table.num_rows == n_ratings and table.schema.metadata[b"simulated"] == b"true"
    parquet = table.to_pandas()
    assert parquet["rating_id"].tolist() == csv["rating_id"].tolist()
    assert str(parquet["submitted_at"].dtype).startswith("datetime64") and parquet["submitted_at"].dt.tz is not None

    wb = load_workbook(out / "ratings.xlsx", read_only=True)
    assert wb.sheetnames[:4] == ["ratings", "about", "figure4", "table1_rouge"]
    assert {"agreement", "comparisons", "self_consistency", "progress_raters"} <= set(wb.sheetnames)
    assert sum(1 for _ in wb["ratings"].iter_rows()) == n_ratings + 1
    fig4 = pd.read_excel(out / "ratings.xlsx", sheet_name="figure4")
    assert len(fig4) == len(summary["systems"]) * len(CRITERIA)
    assert list(fig4.columns[:5]) == ["System", "Criterion", "Mean", "95% CI low", "95% CI high"]
    assert set(fig4["System"]) == set(DISPLAY_NAMES.values()) and "Clinical utility" in set(fig4["Criterion"])
    table1 = pd.read_excel(out / "ratings.xlsx", sheet_name="table1_rouge")
    assert {"ROUGE-1", "ROUGE-1 95% CI low", "ROUGE-2", "ROUGE-L"} <= set(table1.columns)
    cmp = pd.read_excel(out / "ratings.xlsx", sheet_name="comparisons", dtype=str, keep_default_na=False)
    assert {"System A", "System B", "p", "p (Holm)"} <= set(cmp.columns)
    rve = pd.read_excel(out / "ratings.xlsx", sheet_name="rouge_vs_experts", dtype=str, keep_default_na=False)
    raw = _raw_analysis(db, summary["study_id"])
    # p-values as text: "< 0.001" (never "0") or three decimals, from the exact values
    assert cmp["p (Holm)"].tolist() == [format_p(p) for p in raw.comparisons["p_holm"]]
    assert rve["p"].tolist() == [format_p(p) for p in raw.rouge_vs_experts["p_value"]]
    for frame in (cmp["p"], cmp["p (Holm)"], rve["p"]):
        assert frame.str.fullmatch(r"< 0\.001|[01]\.\d{3}|n/a").all()
    for name in SUMMARIES:  # the same reader tables as CSV
        frame = pd.read_csv(out / "summary" / f"{name}.csv", dtype=str, keep_default_na=False)
        assert "rouge1" not in frame.columns and "p_holm" not in frame.columns
    assert pd.read_csv(out / "summary" / "comparisons.csv", dtype=str, keep_default_na=False)["p (Holm)"].tolist() \
        == cmp["p (Holm)"].tolist()

    # Privacy: no rater name and no token anywhere in the exported files.
    secrets = names + [r["token"] for r in summary["raters"]]
    blobs = [(out / n).read_bytes() for n in ("ratings.csv", "ratings.parquet", "figure4.svg")]
    with zipfile.ZipFile(out / "ratings.xlsx") as z:
        blobs += [z.read(i) for i in z.namelist()]
    for blob in blobs:
        for secret in secrets:
            assert secret.encode() not in blob


@pytest.mark.slow
def test_export_cli_bad_input_changes_nothing(simulated_db, tmp_path):
    db, _ = simulated_db
    missing = run_cli("rating.export", "--db", str(tmp_path / "nope.db"), "--out", str(tmp_path / "o1"))
    assert missing.returncode == 2 and "no database file" in missing.stderr
    assert not (tmp_path / "nope.db").exists() and not (tmp_path / "o1").exists()
    wrong = run_cli("rating.export", "--db", str(db), "--out", str(tmp_path / "o2"), "--study", "999")
    assert wrong.returncode == 2 and "no study with id 999" in wrong.stderr
    assert not (tmp_path / "o2").exists()


def test_xlsx_writer_round_trip(tmp_path):
    frame = pd.DataFrame({
        "text": ["plain", "a & b < c > d", "  padded  ", None, "ctrl\x01char"],
        "int": [1, 2, 3, 4, 5],
        "float": [0.5, np.nan, 1e-9, -2.25, 3.0],
        "flag": [True, False, True, False, True],
        "when": pd.to_datetime(["2025-01-02 03:04:05", None, "2024-12-31 23:59:59", "2025-06-01 00:00:00", "2025-01-01 00:00:00"],
                               utc=True),
        "maybe": pd.array([1, None, 3, 4, 5], dtype="Int64"),
    })
    path = write_xlsx(tmp_path / "t.xlsx", {"data": frame, "bad/name:[x]": frame.head(1)})
    wb = load_workbook(path)
    assert wb.sheetnames == ["data", "bad_name__x_"]
    rows = list(wb["data"].iter_rows(values_only=True))
    assert rows[0] == tuple(frame.columns) and wb["data"]["A1"].font.b
    assert [r[0] for r in rows[1:]] == ["plain", "a & b < c > d", "  padded  ", None, "ctrlchar"]
    assert [r[1] for r in rows[1:]] == [1, 2, 3, 4, 5]
    assert rows[2][2] is None and rows[3][2] == pytest.approx(1e-9)
    assert [r[3] for r in rows[1:]] == [True, False, True, False, True]
    assert rows[1][4] == pd.Timestamp("2025-01-02 03:04:05").to_pydatetime() and rows[2][4] is None
    assert [r[5] for r in rows[1:]] == [1, None, 3, 4, 5]


@pytest.mark.slow
def test_analysis_service_and_tab_handlers_require_the_secret(simulated_db, tmp_path):
    from db.engine import make_session_factory, make_engine
    from rating.admin import AdminService
    from rating.analysis.service import AnalysisDenied, AnalysisService
    from rating.ui import analysis_tab

    db, summary = simulated_db
    factory = make_session_factory(make_engine(str(db)))
    admin = AdminService(factory, admin_secret="correct horse battery staple")
    service = AnalysisService(factory, admin=admin, export_root=tmp_path / "exports")
    for bad in ("", "wrong", None):
        with pytest.raises(AnalysisDenied):
            service.list_studies(bad)
        status, picker = analysis_tab.load_studies(service, bad)
        assert status.startswith("**Not done:**") and picker == {"__type__": "update"}
        outputs = analysis_tab.analyse(service, bad, summary["study_id"])
        assert outputs[0].startswith("**Not done:**") and all(o == {"__type__": "update"} for o in outputs[1:])
    assert not (tmp_path / "exports").exists()  # refused calls wrote nothing

    assert service.list_studies("correct horse battery staple")[0][1] == summary["study_id"]
    outputs = analysis_tab.analyse(service, "correct horse battery staple", summary["study_id"])
    assert "SIMULATED DATA" in outputs[0]
    assert Path(outputs[1]).name == "figure4.png" and Path(outputs[1]).is_file()
    files = [o["value"] for o in outputs[3:3 + len(analysis_tab.DOWNLOADS)]]
    assert sorted(Path(f).name for f in files) == sorted(EXPORTED)
    tables = dict(zip([k for k, _ in analysis_tab.TABLES], outputs[3 + len(analysis_tab.DOWNLOADS):]))
    assert list(tables["figure4"]["System"]) == [DISPLAY_NAMES[s] for s in summary["systems"]]
    assert len(tables["agreement"]) == len(CRITERIA) and "Krippendorff's alpha" in tables["agreement"].columns
    assert "ROUGE-1" in tables["table1_rouge"].columns and "rouge1" not in tables["table1_rouge"].columns
    raw = service.analyze("correct horse battery staple", summary["study_id"])
    assert tables["comparisons"]["p (Holm)"].tolist() == [format_p(p) for p in raw.comparisons["p_holm"]]
    assert tables["rouge_vs_experts"]["p"].tolist() == [format_p(p) for p in raw.rouge_vs_experts["p_value"]]
    status, by_rater, by_case = analysis_tab.show_progress(service, "correct horse battery staple", summary["study_id"])
    assert by_rater["Ratings done"].sum() == summary["n_ratings"]
    assert analysis_tab.analyse(service, "correct horse battery staple", None)[0] == "**Not done:** Choose a study first."
    assert analysis_tab.analyse(service, "correct horse battery staple", 999)[0] == "**Not done:** no study with id 999"


def test_analysis_tab_builds_in_blocks(simulated_db):
    import gradio as gr

    from rating.analysis.service import AnalysisService
    from rating.ui.analysis_tab import build_analysis_tab

    with gr.Blocks() as demo:
        build_analysis_tab(AnalysisService(None))
    ids = {getattr(b, "elem_id", None) for b in demo.blocks.values()}
    assert {"analysis-secret", "analysis-study", "analysis-figure", "analysis-download-csv",
            "analysis-download-svg", "analysis-table-agreement"} <= ids


def test_p_values_and_headers_for_readers():
    assert [format_p(p) for p in (0.0, 4e-12, 0.000999, 0.001, 0.0312, 1.0, float("nan"), None)] == \
        ["< 0.001", "< 0.001", "< 0.001", "0.001", "0.031", "1.000", "n/a", "n/a"]
    frame = pd.DataFrame({"criterion": ["clinical_utility"], "system_a": ["default"], "system_b": ["retrieval"],
                          "metric": ["rouge1"], "rouge2_ci_low": [0.123456], "p_value": [0.0], "p_holm": [0.04321]})
    out = readable_table(frame, {"default": "Radiology-Llama (ours)"}, digits=3)
    assert list(out.columns) == ["Criterion", "System A", "System B", "Metric", "ROUGE-2 95% CI low", "p", "p (Holm)"]
    assert out.iloc[0].tolist() == ["Clinical utility", "Radiology-Llama (ours)", "retrieval", "ROUGE-1", 0.123,
                                    "< 0.001", "0.043"]
