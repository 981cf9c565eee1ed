"""Simulated errors and pairwise studies through the real CLIs (rating.simulate, rating.export):
the known effects come back out, the tidy files have the documented columns in CSV, XLSX and
Parquet, a preference is oriented a -> b whatever side a was shown on, and PostgreSQL gives what
SQLite gives."""
from __future__ import annotations

import json

import pandas as pd
import pyarrow.parquet as pq
import pytest

from db.engine import make_session_factory, prepare_database, unit_of_work
from rating.analysis.config import AnalysisConfig
from rating.analysis.protocol_study import analyze_study_with_protocols
from rating.service import RatingService
from tests.support.protocol_support import make_protocol_study, neutral_pair
from tests.test_export import run_cli

ERRORS_HEAD = ["rating_id", "case_id", "rater", "system", "category", "clinically_significant", "count"]
PREFS_HEAD = ["case_id", "rater", "system_a", "system_b", "shown_first", "attribute", "preference", "harm_extent",
              "harm_likelihood"]
SIM = ("--seed", "3", "--n-cases", "24", "--n-raters", "3", "--k", "2", "--n-repeats", "0", "--n-calibration", "0")


def _simulate_and_export(db, out, protocol):
    proc = run_cli("rating.simulate", "--db", str(db), "--protocol", protocol, *SIM)
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    proc = run_cli("rating.export", "--db", str(db), "--out", str(out), "--n-bootstrap", "200")
    assert proc.returncode == 0, proc.stderr
    return summary


@pytest.fixture(scope="module")
def errors_export(tmp_path_factory):
    folder = tmp_path_factory.mktemp("errors_export")
    summary = _simulate_and_export(folder / "e.db", folder / "out", "errors")
    return summary, folder / "out"


@pytest.fixture(scope="module")
def pairwise_export(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pairwise_export")
    summary = _simulate_and_export(folder / "p.db", folder / "out", "pairwise")
    return summary, folder / "out"


def test_errors_export_is_tidy_in_csv_xlsx_and_parquet_and_marked_simulated(errors_export):
    summary, out = errors_export
    assert "SIMULATED" in summary["study_name"] and summary["effects"]["protocol"] == "errors"
    csv = pd.read_csv(out / "errors.csv")
    assert list(csv.columns[:7]) == ERRORS_HEAD
    assert set(csv["category"]) == {"false_finding", "missed_finding", "wrong_location", "wrong_severity",
                                    "false_comparison", "missed_comparison"}
    assert len(csv) == summary["n_ratings"] * 12 and (csv["count"] >= 0).all()
    assert csv.groupby("rating_id").size().eq(12).all()
    parquet = pq.read_table(out / "errors.parquet")
    assert parquet.num_rows == len(csv) and parquet.schema.metadata[b"simulated"] == b"true"
    xlsx = pd.read_excel(out / "ratings.xlsx", sheet_name=None)
    assert len(xlsx["errors"]) == len(csv) and list(xlsx["errors"].columns[:7]) == ERRORS_HEAD
    assert {"errors_per_report", "errors_per_category"} <= set(xlsx)
    for stem in ("errors_figure", "errors_figure_single_column"):
        assert all((out / f"{stem}.{ext}").stat().st_size > 1000 for ext in ("png", "svg", "pdf"))
    assert "SIMULATED DATA" in (out / "errors_figure.svg").read_text()


def test_errors_summary_recovers_the_simulated_error_rates(errors_export):
    summary, out = errors_export
    table = pd.read_csv(out / "summary" / "errors_per_report.csv").set_index("System")
    shown = {"radiology-llama": "Radiology-Llama (ours)", "retrieval": "Retrieval (TF-IDF)", "lead": "Lead sentence"}
    rates = summary["effects"]["error_rate"]
    means = {s: table.loc[shown[s], "Errors per report"] for s in shown}
    assert means["radiology-llama"] < means["retrieval"] < means["lead"]
    for s in shown:
        low, high = table.loc[shown[s], "Errors 95% CI low"], table.loc[shown[s], "Errors 95% CI high"]
        assert low <= means[s] <= high
        assert abs(means[s] - 6 * rates[s]) < 0.6, (s, means[s])  # expected 6 x rate errors per report
    share = table["Significant errors per report"].sum() / table["Errors per report"].sum()
    assert 0.25 < share < 0.55  # 40% simulated


def test_pairwise_export_and_the_boosted_system_is_preferred(pairwise_export):
    summary, out = pairwise_export
    prefs = pd.read_csv(out / "preferences.csv")
    assert list(prefs.columns[:9]) == PREFS_HEAD
    assert set(prefs["attribute"]) == {"completeness", "correctness", "conciseness"}
    assert prefs["preference"].between(-2, 2).all()
    assert (prefs["shown_first"] == prefs["system_a"]).mean() == pytest.approx(0.5, abs=0.15)  # random sides
    harm = pd.read_csv(out / "harm.csv")
    assert harm.loc[~harm["error_marked"], ["harm_extent", "harm_likelihood"]].isna().all().all()
    xlsx = pd.read_excel(out / "ratings.xlsx", sheet_name=None)
    assert {"preferences", "harm", "preference_summary", "harm_distribution"} <= set(xlsx)
    table = pd.read_csv(out / "summary" / "preference_summary.csv")
    boosted = table[table["System A"] == "Radiology-Llama (ours)"]
    versus_lead = boosted[boosted["System B"] == "Lead sentence"]
    assert len(versus_lead) == 3 and (versus_lead["Mean"] < -0.5).all()  # a (ours) better on every attribute
    assert set(versus_lead["p (A better, Bonferroni)"]) <= {"< 0.001", "0.001", "0.002", "0.003", "0.004"}
    assert (versus_lead["p (B better, Bonferroni)"].astype(float) > 0.5).all()
    dist = pd.read_csv(out / "summary" / "harm_distribution.csv").set_index("System")
    assert dist.loc["Lead sentence", "Share with an error"] > dist.loc["Radiology-Llama (ours)", "Share with an error"]


def test_a_preference_is_oriented_from_system_a_whatever_side_it_was_shown_on(tmp_path):
    url = str(tmp_path / "orient.db")
    created = make_protocol_study(url, "pairwise", n_raters=6, n_cases=1)
    factory = make_session_factory(prepare_database(url))
    service = RatingService(factory)
    for token in created.rater_tokens.values():  # every rater: the LEFT text is much more complete
        service.submit(token, 0, [], 0, {"pairs": {"A-B": neutral_pair(completeness=-2)}})
    with unit_of_work(factory) as s:
        _, extra = analyze_study_with_protocols(s, created.study_id, AnalysisConfig(n_bootstrap=20))
    factory.kw["bind"].dispose()
    rows = extra.preferences[extra.preferences["attribute"] == "completeness"]
    assert len(rows) == 6
    for row in rows.itertuples():
        assert row.preference == (-2 if row.shown_first == row.system_a else 2)


@pytest.mark.slow
def test_errors_and_pairwise_on_postgresql_give_what_sqlite_gives(errors_export, pairwise_export, postgres, tmp_path):
    """The same seed gives the same answers on both databases (only ids and shown sides differ: outputs and
    label orders are drawn in a fresh random order per database, for blinding)."""
    for protocol, (_, sqlite_out), stem, drop in (("errors", errors_export, "errors", ["rating_id", "spans"]),
                                                  ("pairwise", pairwise_export, "preferences", ["shown_first"])):
        url = postgres.new_database(f"proto_{protocol}")
        _simulate_and_export(url, tmp_path / protocol, protocol)
        pg, lite = (pd.read_csv(folder / f"{stem}.csv").drop(columns=drop) for folder in (tmp_path / protocol,
                                                                                           sqlite_out))
        key = list(pg.columns)
        pd.testing.assert_frame_equal(pg.sort_values(key).reset_index(drop=True),
                                      lite.sort_values(key).reset_index(drop=True))


def test_analysis_tab_protocol_files_carry_the_study_prefix(tmp_path):
    """The Analysis tab's downloads all say which study they come from (study3_errors.csv, ...)."""
    from rating.analysis.service import AnalysisService

    class Admin:
        def require(self, secret):
            if secret != "s":
                raise PermissionError("wrong")

    db = tmp_path / "e.db"
    proc = run_cli("rating.simulate", "--db", str(db), "--protocol", "errors", *SIM)
    assert proc.returncode == 0, proc.stderr
    study_id = json.loads(proc.stdout)["study_id"]
    factory = make_session_factory(prepare_database(str(db)))
    view = AnalysisService(factory, admin=Admin(), config=AnalysisConfig(n_bootstrap=20, n_bootstrap_alpha=10),
                           export_root=tmp_path / "exports").analyze_and_export("s", study_id)
    top = {key: path for key, path in view.files.items() if path.parent.name != "summary"}
    assert {"errors_csv", "errors_parquet", "errors_png", "errors_pdf_single"} <= set(top)
    assert [p.name for p in top.values() if not p.name.startswith(f"study{study_id}_")] == []
    assert all(p.is_file() for p in view.files.values())
