"""What keeps `python -m rating.export` quick (bench/bench_export.py times it end to end): the database
check reads the known schema revisions without importing Alembic, and Figure 4 is drawn by a forked
child process beside the analysis (rating.analysis.export.FigureProcess)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from db import engine as db_engine

ROOT = Path(__file__).resolve().parent.parent


def _python(code: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code, *args], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=300)


def test_revision_ids_read_as_text_equal_alembics_graph():
    assert db_engine.known_revision_ids() == db_engine.known_revisions()
    assert db_engine.head_revision() in db_engine.known_revision_ids()


def test_checking_a_study_database_does_not_import_alembic(tmp_path):
    db = tmp_path / "study.db"
    db_engine.prepare_database(str(db))  # a real database at the newest revision (alembic_version set)
    proc = _python("import sys; from db.engine import check_database; check_database(sys.argv[1], write=False); "
                   "print(sorted(m for m in sys.modules if m.split('.')[0] == 'alembic'))", str(db))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


@pytest.fixture(scope="module")
def study_db(tmp_path_factory):
    db = tmp_path_factory.mktemp("startup") / "study.db"
    proc = subprocess.run([sys.executable, "-m", "rating.simulate", "--db", str(db), "--seed", "3", "--n-cases", "8",
                           "--n-raters", "2"], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return db


def test_figure_drawn_by_the_child_equals_the_threads(study_db, tmp_path):
    """The command line (child process) and the app's path (a thread) write the same Figure 4 files."""
    code = """
import sys
from pathlib import Path
from db.engine import make_engine, make_session_factory, read_only_session
from rating.analysis.config import AnalysisConfig
from rating.analysis.export import export_study
config = AnalysisConfig(n_bootstrap=50, n_bootstrap_alpha=10)
with read_only_session(make_session_factory(make_engine(sys.argv[1]))) as s:
    child = export_study(s, 1, Path(sys.argv[2]) / "child", config, figure_in_child=True)
    thread = export_study(s, 1, Path(sys.argv[2]) / "thread", config)
assert "figure_process_wait" in child.seconds and "figure_process_wait" not in thread.seconds
print(sorted(k for k in child.files if k.startswith(("png", "svg", "pdf"))))
"""
    proc = _python(code, str(study_db), str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.strip().replace("'", '"')) == ["pdf", "pdf_single", "png", "png_single", "svg",
                                                                 "svg_single"]
    for name in ("figure4.png", "figure4_single_column.png"):
        assert (tmp_path / "child" / name).read_bytes() == (tmp_path / "thread" / name).read_bytes()
    for name in ("figure4.svg", "figure4_single_column.svg"):  # equal but for the date and random marker ids
        child, thread = ((tmp_path / d / name).read_text().splitlines() for d in ("child", "thread"))
        assert len(child) == len(thread) > 100
        differ = [a for a, b in zip(child, thread, strict=True) if a != b]
        assert all("dc:date" in a or "id=\"m" in a or "#m" in a for a in differ), differ[:3]


def test_a_failing_figure_child_fails_the_export(study_db, tmp_path):
    code = """
import sys
from pathlib import Path
import pandas as pd
from rating.analysis.export import FigureProcess
from rating.analysis.summary import StudyInputs
blocker = Path(sys.argv[1]) / "a file"
blocker.write_text("not a folder")
child = FigureProcess(blocker / "out")  # the child cannot create its folder
inputs = StudyInputs({"simulated": False}, ["a"], pd.DataFrame(), pd.DataFrame(), pd.DataFrame(), None, {"a": "a"})
child.on_table("figure4", pd.DataFrame(columns=["system", "criterion", "mean", "ci_low", "ci_high"]), inputs)
try:
    child.files()
except RuntimeError as exc:
    print("refused:", exc)
"""
    proc = _python(code, str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("refused: drawing Figure 4 failed"), proc.stdout
    assert "NotADirectoryError" in proc.stderr or "FileExistsError" in proc.stderr, proc.stderr[-500:]


@pytest.mark.parametrize(("cpus", "load", "child"), [(2, 0.4, True), (2, 1.4, True), (2, 1.6, False), (2, 3.5, False),
                                                     (1, 0.0, False), (16, 15.4, True)])
def test_the_figure_child_only_when_a_cpu_is_free(monkeypatch, cpus, load, child):
    from rating.analysis import export

    monkeypatch.setattr(export.os, "cpu_count", lambda: cpus)
    monkeypatch.setattr(export.os, "getloadavg", lambda: (load, load, load))
    assert export.spare_core() is child
