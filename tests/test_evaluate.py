"""`python -m training.evaluate` end to end, its extension seams, and `python -m reports.download_openi`."""
from __future__ import annotations

import csv
import functools
import http.server
import io
import json
import os
import subprocess
import sys
import tarfile
import threading
from pathlib import Path

import pytest

from core.metrics import rouge_pair
from generation import registry as generators
from generation.base import GeneratorBase
from training import evaluate, metric_registry
from generation.baselines import NORMAL_IMPRESSION

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"

# Lead sentence == impression in every row, so "lead" must score exactly 1.0; two rows have the
# constant baseline's text as impression.
ROWS = [
    ("r1", "Left lower lobe pneumonia. Heart size normal.", "Left lower lobe pneumonia."),
    ("r2", "No acute cardiopulmonary abnormality. Lungs clear.", NORMAL_IMPRESSION),
    ("r3", "Large right pleural effusion. No pneumothorax.", "Large right pleural effusion."),
    ("r4", "No acute cardiopulmonary abnormality. Heart normal.", NORMAL_IMPRESSION),
    ("r5", "Cardiomegaly with pulmonary edema. Small effusions.", "Cardiomegaly with pulmonary edema."),
]


def _run(*args: str, env_extra: dict | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, **(env_extra or {})}
    return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, env=env, timeout=240)


@pytest.fixture
def small_jsonl(tmp_path) -> Path:
    path = tmp_path / "small.jsonl"
    path.write_text("".join(json.dumps({"id": i, "findings": f, "impression": imp}) + "\n" for i, f, imp in ROWS),
                    encoding="utf-8")
    return path


def test_cli_json_on_small_jsonl(small_jsonl):
    done = _run("training.evaluate", "--test-file", str(small_jsonl), "--train-file", str(small_jsonl),
                "--systems", "constant,lead,retrieval", "--format", "json", "--bootstrap", "50")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)  # stdout is exactly one JSON object
    assert set(result) == {"constant", "lead", "retrieval"}
    for system in ("lead", "retrieval"):  # lead = impression; retrieval finds the report itself
        rouge = {k: result[system][k] for k in ("rouge1", "rouge2", "rougeL", "rougeLsum", "n")}
        assert rouge == {"rouge1": 1.0, "rouge2": 1.0, "rougeL": 1.0, "rougeLsum": 1.0, "n": 5}
    expected = [rouge_pair(NORMAL_IMPRESSION, imp) for _, _, imp in ROWS]
    for key in ("rouge1", "rouge2", "rougeL", "rougeLsum"):
        assert result["constant"][key] == pytest.approx(sum(s[key] for s in expected) / len(ROWS))
        assert 0.0 < result["constant"][key] < 1.0


def test_cli_table_and_output_files(small_jsonl, tmp_path):
    out = tmp_path / "out"
    train = tmp_path / "train.jsonl"  # r2's findings are seen in training; the others are not
    train.write_text(json.dumps({"findings": ROWS[1][1], "impression": ROWS[1][2]}) + "\n"
                     + json.dumps({"findings": "Clear lungs.", "impression": "Normal."}) + "\n", encoding="utf-8")
    done = _run("training.evaluate", "--test-file", str(small_jsonl), "--train-file", str(train), "--out", str(out),
                "--bootstrap", "100", "--systems", "constant,retrieval")
    assert done.returncode == 0, done.stderr
    table = done.stdout
    assert "ROUGE F1 from rouge-score with Porter stemming" in table
    assert str(small_jsonl) in table and "n = 5" in table
    assert "Unseen findings subset" in table and "n = 4" in table
    assert "p (R-1)" in table and "95% bootstrap CI" in table
    with open(out / "results.csv", newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert [(r["subset"], r["system"], r["n"]) for r in rows] == [
        ("all", "constant", "5"), ("all", "retrieval", "5"), ("unseen", "constant", "4"), ("unseen", "retrieval", "4")]
    for r in rows:
        assert float(r["rouge1_ci_low"]) <= float(r["rouge1"]) <= float(r["rouge1_ci_high"])
    per_report = [json.loads(line) for line in (out / "per_report.jsonl").read_text().splitlines()]
    assert len(per_report) == 10
    first = per_report[0]
    assert {"id", "system", "prediction", "reference", "unseen", "rouge1", "rougeLsum"} <= set(first)
    assert [p["unseen"] for p in per_report[:5]] == [True, False, True, True, True]
    assert first["rouge1"] == pytest.approx(rouge_pair(first["prediction"], first["reference"])["rouge1"])
    preds = (out / "predictions" / "retrieval.jsonl").read_text().splitlines()
    assert len(preds) == 5 and json.loads(preds[0])["id"] == "r1"
    assert json.loads((out / "run.json").read_text())["n_unseen"] == 4


def test_cli_on_real_openi_retrieval_beats_constant(openi_csv_path):
    done = _run("training.evaluate", "--systems", "constant,lead,retrieval", "--format", "json", "--bootstrap", "200",
                env_extra={"RADLLAMA_DATA": str(openi_csv_path)})
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["retrieval"]["rouge1"] > result["constant"]["rouge1"] > result["lead"]["rouge1"]
    assert 200 < result["retrieval"]["n"] < 600
    assert all(0.0 <= v[k] <= 1.0 for v in result.values() for k in ("rouge1", "rouge2", "rougeL", "rougeLsum"))


def test_missing_data_and_bad_input_exit_2_without_traceback(tmp_path, small_jsonl):
    done = _run("training.evaluate", env_extra={"RADLLAMA_DATA": str(tmp_path / "nowhere.csv")})
    assert done.returncode == 2 and "does not exist" in done.stderr and "Traceback" not in done.stderr
    assert done.stdout == ""
    done = _run("training.evaluate", "--test-file", str(small_jsonl), "--train-file", str(small_jsonl),
                "--systems", "constant,nonsense")
    assert done.returncode == 2 and "nonsense" in done.stderr and "Traceback" not in done.stderr
    done = _run("training.evaluate", "--test-file", str(FIXTURES / "malformed_missing_impression.csv"),
                "--test-format", "csv", "--train-file", str(small_jsonl))
    assert done.returncode == 2 and "missing column" in done.stderr and "Traceback" not in done.stderr


class _EchoReference(GeneratorBase):
    """Test system: looks the reference up by findings; records the settings it was given."""

    kind = "reference"
    seen_settings: list = []
    references: dict[str, str] = {}

    def __init__(self, name: str):
        self.name = name

    def _generate(self, findings, settings):
        self.seen_settings.append(settings)
        return [self.references[f] for f in findings]


def echo_system(spec, train):
    return _EchoReference(spec)


def _length_ratio(predictions, references, remove_deid=False):
    return [{"length_ratio": len(p) / max(1, len(r))} for p, r in zip(predictions, references)]


def test_registered_system_and_metric_flow_through(small_jsonl, tmp_path, monkeypatch, capsys):
    references = {f: imp for _, f, imp in ROWS}
    monkeypatch.setattr(_EchoReference, "references", references)
    monkeypatch.setitem(generators.NAMED, "echo", f"{__name__}:echo_system")
    monkeypatch.setattr(metric_registry, "METRICS", list(metric_registry.METRICS))
    metric_registry.register_metric(metric_registry.Metric("length", ("length_ratio",), _length_ratio,
                                                           {"length_ratio": "Len"}))
    _EchoReference.seen_settings.clear()
    code = evaluate.main(["--test-file", str(small_jsonl), "--train-file", str(small_jsonl), "--systems", "echo,constant",
                          "--strategy", "beam", "--num-beams", "3", "--max-new-tokens", "40", "--batch-size", "2",
                          "--bootstrap", "20", "--no-progress", "--out", str(tmp_path / "o")])
    assert code == 0
    table = capsys.readouterr().out
    assert "Len" in table.splitlines()[table.splitlines().index(next(line for line in table.splitlines() if "R-Lsum" in line))]
    settings = _EchoReference.seen_settings
    assert len(settings) == 3  # 5 reports in batches of 2
    assert {(s.strategy, s.num_beams, s.max_new_tokens) for s in settings} == {("beam", 3, 40)}
    rows = [json.loads(line) for line in (tmp_path / "o" / "per_report.jsonl").read_text().splitlines()]
    echo = [r for r in rows if r["system"] == "echo"]
    assert all(r["rouge1"] == 1.0 and r["length_ratio"] == 1.0 for r in echo)
    assert "length_ratio" in (tmp_path / "o" / "results.csv").read_text().splitlines()[0]

    code = evaluate.main(["--test-file", str(small_jsonl), "--train-file", str(small_jsonl), "--systems", "echo",
                          "--format", "json", "--no-progress", "--bootstrap", "0"])
    assert code == 0
    assert json.loads(capsys.readouterr().out)["echo"]["length_ratio"] == 1.0


@pytest.mark.slow
def test_baselines_on_3000_reports_in_process_under_a_minute(openi_csv_path, tmp_path):
    """Speed guard only in the loosest sense (the bench compares properly): 3,000 reports, 3 baselines."""
    import time
    from reports import load_reports as load
    reports = load(openi_csv_path).reports[:3000]
    path = tmp_path / "many.jsonl"
    path.write_text("".join(json.dumps({"id": r.id, "findings": r.findings, "impression": r.impression}) + "\n"
                            for r in reports), encoding="utf-8")
    start = time.perf_counter()
    assert evaluate.main(["--test-file", str(path), "--no-progress", "--format", "json", "--bootstrap", "1000"]) == 0
    assert time.perf_counter() - start < 60


# ------------------------------------------------------------------------------------- download

def _openi_archive(tmp_path: Path) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for f in sorted((FIXTURES / "openi_xml").glob("*.xml")):
            tar.add(f, arcname=f"ecgen-radiology/{f.name}")
    return buffer.getvalue()


@pytest.fixture
def http_root(tmp_path):
    root = tmp_path / "www"
    root.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *a, **k: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_download_openi_from_local_server(http_root, tmp_path):
    root, base = http_root
    (root / "NLMCXR_reports.tgz").write_bytes(_openi_archive(tmp_path))
    (root / "error.tgz").write_bytes(b"<html><body>Service unavailable</body></html>")
    out = tmp_path / "data"
    done = _run("reports.download_openi", "--out", str(out), "--url", f"{base}/NLMCXR_reports.tgz")
    assert done.returncode == 0, done.stderr
    archive = out / "NLMCXR_reports.tgz"
    assert done.stdout.strip() == str(archive)
    assert archive.read_bytes() == (root / "NLMCXR_reports.tgz").read_bytes()
    assert "2 XML reports" in done.stderr and "%" in done.stderr  # verified count and a progress bar
    assert not list(out.glob("*.part"))
    from reports import load_reports
    assert sorted(r.id for r in load_reports(archive).reports) == ["1", "2"]

    again = _run("reports.download_openi", "--out", str(out), "--url", f"{base}/NLMCXR_reports.tgz")
    assert again.returncode == 0 and "already present" in again.stderr

    bad_out = tmp_path / "bad"
    for url in (f"{base}/error.tgz", f"{base}/missing.tgz"):
        done = _run("reports.download_openi", "--out", str(bad_out), "--url", url)
        assert done.returncode == 1 and "error:" in done.stderr and "Traceback" not in done.stderr
        assert not (bad_out / "NLMCXR_reports.tgz").exists() and not list(bad_out.glob("*.part"))


def test_clinical_metric_is_wired_in_when_present(small_jsonl, capsys):
    import core.clinical as clinical
    metrics = metric_registry.active_metrics()
    assert "chexpert" in [m.name for m in metrics]
    code = evaluate.main(["--test-file", str(small_jsonl), "--train-file", str(small_jsonl), "--systems", "lead",
                          "--format", "json", "--no-progress", "--bootstrap", "0"])
    assert code == 0
    lead = json.loads(capsys.readouterr().out)["lead"]
    for column in clinical.COLUMNS:  # lead reproduces each reference, so every agreement is perfect
        assert lead[column] == 1.0 and lead[f"{column}_corpus"] == 1.0
