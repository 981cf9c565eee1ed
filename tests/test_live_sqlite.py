"""A live SQLite study (issue 22): `rating.study copy` takes no write lock and refuses a file a running app
has open (unless --snapshot); a second app process on the same SQLite file is refused unless told."""
from __future__ import annotations

import sqlite3
import subprocess
import sys
import threading

import pytest
from sqlalchemy import func, select

from db.engine import make_session_factory, prepare_database, unit_of_work
from db.models import CRITERIA, Rating
from rating.service import RatingService
from tests.support.app_process import ROOT, free_port, start_app
from tests.support.rating_support import make_study

WAIT_S = 120


def _study_with_ratings(db) -> int:
    created = make_study(db, n_raters=2, n_cases=4, n_calibration=0, n_repeats=0)
    factory = make_session_factory(prepare_database(str(db)))
    svc = RatingService(factory)
    for token in created.rater_tokens.values():
        for position in range(4):
            view = svc.open_case(token, position)
            svc.submit(token, position, [{"label": c.label, **{k: 4 for k in CRITERIA}} for c in view.candidates])
    with unit_of_work(factory) as session:
        n = session.scalar(select(func.count()).select_from(Rating))
    factory.kw["bind"].dispose()
    return n


def test_copy_reads_a_snapshot_and_leaves_the_write_lock_free(tmp_path, monkeypatch):
    """Mid-copy, another connection writes at once (busy timeout 0.5 s); before issue 22 the copy read inside
    BEGIN IMMEDIATE and every write waited for the whole copy ("database is locked")."""
    from rating import study_copy

    src = tmp_path / "live.db"
    n_before = _study_with_ratings(src)
    original, started, go = study_copy._copy_rows, threading.Event(), threading.Event()

    def paused_copy(source_conn, target_conn):
        started.set()
        assert go.wait(WAIT_S)
        original(source_conn, target_conn)

    monkeypatch.setattr(study_copy, "_copy_rows", paused_copy)
    outcome: dict = {}

    def run_copy():
        try:
            outcome["report"] = study_copy.copy_study_database(f"sqlite:///{src}", f"sqlite:///{tmp_path / 'copy.db'}")
        except BaseException as exc:  # noqa: BLE001 - reported below
            outcome["error"] = exc

    worker = threading.Thread(target=run_copy)
    worker.start()
    try:
        assert started.wait(WAIT_S)
        writer = sqlite3.connect(src, timeout=0.5, isolation_level=None)
        try:
            writer.execute("BEGIN IMMEDIATE")  # raises "database is locked" while the copy holds the write lock
            writer.execute("UPDATE rating SET comment = 'edited during the copy' WHERE id = "
                           "(SELECT MIN(id) FROM rating)")
            writer.execute("COMMIT")
        finally:
            writer.close()
    finally:
        go.set()
        worker.join(WAIT_S)
    assert "error" not in outcome, outcome.get("error")
    assert outcome["report"].row_counts["rating"] == n_before > 0
    copied = sqlite3.connect(tmp_path / "copy.db")
    try:  # the copy is the snapshot taken before the edit, verified against that snapshot
        assert copied.execute("SELECT count(*) FROM rating WHERE comment = 'edited during the copy'").fetchone()[0] == 0
    finally:
        copied.close()


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=300,
                          check=False)


def _error_lines(proc: subprocess.CompletedProcess) -> list[str]:
    return [line for line in proc.stderr.splitlines() if line.startswith("error:")]


@pytest.mark.slow
def test_a_running_app_keeps_copies_and_second_processes_off_its_sqlite_file(tmp_path):
    db = tmp_path / "study.db"
    n_ratings = _study_with_ratings(db)
    app = start_app(tmp_path, ["--rating-only", "--db", str(db)], ready_path="/rate/", timeout=WAIT_S,
                    extra_env={"RADLLAMA_ADMIN_SECRET": "admin-secret-for-tests-0123"})
    try:
        # 1. copy refuses the live file: one line, nothing written
        target = tmp_path / "copy.db"
        proc = _cli("-m", "rating.study", "copy", "--from", str(db), "--to", str(target))
        assert proc.returncode == 2, proc.stderr[-2000:]
        assert "Traceback" not in proc.stderr
        [line] = _error_lines(proc)
        assert "running app" in line and "stop the app" in line and "--snapshot" in line, line
        assert not target.exists() or target.stat().st_size == 0
        # ... unless told to copy a snapshot: it says how many ratings the snapshot holds, and warns
        proc = _cli("-m", "rating.study", "copy", "--snapshot", "--from", str(db), "--to", str(target))
        assert proc.returncode == 0, proc.stderr[-2000:]
        assert f"holds {n_ratings} ratings" in proc.stderr and "warning:" in proc.stderr, proc.stderr
        # 2. a second app process on the same SQLite file is refused with one line pointing at PostgreSQL
        second = subprocess.run([sys.executable, "app.py", "--rating-only", "--db", str(db), "--port",
                                 str(free_port())], cwd=ROOT, capture_output=True, text=True, timeout=WAIT_S, check=False,
                                env={**_env(), "RADLLAMA_ADMIN_SECRET": "admin-secret-for-tests-0123"})
        assert second.returncode == 2, second.stderr[-2000:]
        [line] = _error_lines(second)
        assert "SQLite serves one app process" in line and "PostgreSQL" in line and "--shared-sqlite" in line, line
        # ... and started with the flag, it serves, saying so
        (tmp_path / "second").mkdir()
        shared = start_app(tmp_path / "second", ["--rating-only", "--db", str(db), "--shared-sqlite"],
                           ready_path="/rate/", timeout=WAIT_S,
                           extra_env={"RADLLAMA_ADMIN_SECRET": "admin-secret-for-tests-0123"})
        try:
            assert "warning: another app process" in shared.log() and "PostgreSQL" in shared.log()
        finally:
            shared.stop()
    finally:
        app.stop()
    # 3. with the app stopped, the copy goes ahead without the flag
    proc = _cli("-m", "rating.study", "copy", "--from", str(db), "--to", str(tmp_path / "after.db"))
    assert proc.returncode == 0, proc.stderr[-2000:]


def _env() -> dict:
    import os

    return {k: v for k, v in os.environ.items() if k != "RADLLAMA_ADMIN_SECRET"}
