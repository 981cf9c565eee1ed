"""`rating.study create --data OWN_FILE` (issue 18): a PI's own report file without a split column is
used whole; when a split does filter the file, the message says how many reports it left and why."""
from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _own_file(path: Path, n: int = 10, split: list[str] | None = None) -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["id", "findings", "impression"] + (["split"] if split else []))
        for i in range(n):
            w.writerow([f"own{i}", f"Own report {i}: the lungs are clear, {i} mm nodule.", f"Nodule {i} mm."]
                       + ([split[i]] if split else []))
    return path


def _create(tmp: Path, data: Path, *extra: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "GRADIO_ANALYTICS_ENABLED": "False", "HF_HUB_OFFLINE": "1"}
    env.pop("RADLLAMA_DATA", None)
    args = [sys.executable, "-m", "rating.study", "create", "--db", str(tmp / "study.db"), "--data", str(data),
            "--n", "6", "--raters", "Dr A,Dr B", "--include-reference", "--name", f"own-{len(extra)}", *extra]
    return subprocess.run(args, check=False, cwd=ROOT, env=env, capture_output=True, text=True, timeout=240)


def test_an_own_file_without_a_split_column_is_used_whole(tmp_path):
    proc = _create(tmp_path, _own_file(tmp_path / "own.csv"))
    assert proc.returncode == 0, proc.stderr[-1500:]
    assert "6 cases" in proc.stdout
    assert "all 10 reports" in proc.stderr  # the progress says where the cases come from


def test_a_split_that_filters_says_how_many_reports_it_left_and_why(tmp_path):
    own = _own_file(tmp_path / "own.csv")
    proc = _create(tmp_path, own, "--split", "test")
    assert proc.returncode == 2, proc.stdout + proc.stderr[-1500:]
    error = next(line for line in proc.stderr.splitlines() if line.startswith("error:"))
    assert "of 10 reports" in error and "no split column" in error and "--split all" in error, error
    # a file with its own split column: the split is the file's, and the message says so
    marked = _own_file(tmp_path / "marked.csv", split=["train"] * 7 + ["test"] * 3)
    proc = _create(tmp_path, marked)
    assert proc.returncode == 2, proc.stdout
    error = next(line for line in proc.stderr.splitlines() if line.startswith("error:"))
    assert "3 of 10 reports" in error and "split column" in error, error
    proc = _create(tmp_path, marked, "--split", "all")
    assert proc.returncode == 0, proc.stderr[-1500:]
