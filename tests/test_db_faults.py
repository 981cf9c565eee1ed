"""Database faults on real SQLite files: migrations keep data, bad files are refused at start, a deleted or
replaced file is detected before a rating is acknowledged, hot backups stay consistent while raters submit."""
from __future__ import annotations

import hashlib
import os
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from sqlalchemy import func, select

from db import engine as db_engine
from db.engine import (DatabaseRefused, DatabaseUnavailable, backup_sqlite, check_database, downgrade_schema,
                       make_engine, make_session_factory, prepare_database, read_only_session, unit_of_work)
from db.models import CRITERIA, Rating, RatingEdit
from rating.service import RatingService
from tests.support.rating_support import make_study

ROOT = Path(__file__).resolve().parent.parent


def _form(view, score=3, **extra):
    return [{"label": c.label, **{k: score for k in CRITERIA}, **extra} for c in view.candidates]


def _counts(db: Path) -> tuple[int, int]:
    con = sqlite3.connect(db)
    try:
        return (con.execute("select count(*) from rating").fetchone()[0],
                con.execute("select count(*) from rating_edit").fetchone()[0])
    finally:
        con.close()


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def rated(tmp_path):
    """A study with ratings and edits by two raters; yields (db path, created study)."""
    db = tmp_path / "study.db"
    created = make_study(db, n_raters=2, n_cases=4, n_calibration=0, n_repeats=0)
    factory = make_session_factory(prepare_database(str(db)))
    svc = RatingService(factory)
    for token in created.rater_tokens.values():
        for position in range(3):
            svc.submit(token, position, _form(svc.open_case(token, position), 3))
        svc.submit(token, 0, _form(svc.open_case(token, 0), 4, comment="edited"))  # an edit
    factory.kw["bind"].dispose()
    return db, created


# ------------------------------------------------------------------------------------- migrations

def test_table_rebuild_with_foreign_keys_on_would_cascade_deletes(rated):
    """Why migrations must run with foreign keys off: the batch rebuild of `rater` drops the old table."""
    db, _ = rated
    assert _counts(db)[0] > 0
    engine = make_engine(str(db))  # foreign keys ON, as the app's engine
    from alembic import command

    cfg = db_engine.alembic_config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0001")
    engine.dispose()
    assert _counts(db) == (0, 0)


def test_migration_rebuild_keeps_every_rating_and_edit_and_backs_up_first(rated):
    db, _ = rated
    before = _counts(db)
    assert before[0] > 0 and before[1] > 0
    engine = make_engine(str(db))
    downgrade_schema(engine, "0001")  # rebuilds the rater table (drops last_position)
    assert _counts(db) == before
    db_engine.upgrade_schema(engine)  # and back: the column returns, nothing lost
    engine.dispose()
    assert _counts(db) == before
    backups = sorted(db.parent.glob("study.db.pre-*.bak"))
    assert len(backups) == 2  # one before each migration
    assert _counts(backups[0]) == before
    con = sqlite3.connect(db)
    assert con.execute("select version_num from alembic_version").fetchone()[0] == db_engine.head_revision()
    assert con.execute("pragma foreign_key_check").fetchall() == []
    con.close()


def test_no_backup_and_no_write_when_the_schema_is_current(rated):
    db, _ = rated
    prepare_database(str(db)).dispose()
    assert not list(db.parent.glob("*.bak"))


# ----------------------------------------------------------------------------- files refused at start

def test_foreign_sqlite_file_is_refused_and_left_untouched(tmp_path):
    db = tmp_path / "crm.db"
    con = sqlite3.connect(db)
    con.execute("create table customers (id integer primary key, name text)")
    con.execute("insert into customers (name) values ('Ada')")
    con.commit()
    con.close()
    digest = _digest(db)
    with pytest.raises(DatabaseRefused, match=r"crm\.db: this SQLite file belongs to another application "
                                              r"\(tables: customers\)"):
        prepare_database(str(db))
    assert _digest(db) == digest
    assert not Path(str(db) + "-wal").exists()
    con = sqlite3.connect(db)
    assert con.execute("pragma journal_mode").fetchone()[0] == "delete"
    assert [r[0] for r in con.execute("select name from sqlite_master where type='table'")] == ["customers"]
    con.close()


def test_newer_schema_is_refused(rated):
    db, _ = rated
    con = sqlite3.connect(db)
    con.execute("update alembic_version set version_num = '0099_future'")
    con.commit()
    con.close()
    digest = _digest(db)
    with pytest.raises(DatabaseRefused, match=r"written by a newer version .*schema revision 0099_future"):
        prepare_database(str(db))
    assert _digest(db) == digest


def test_corrupt_database_is_refused(rated):
    db, _ = rated
    con = sqlite3.connect(db)
    con.execute("pragma wal_checkpoint(TRUNCATE)")
    page_size = con.execute("pragma page_size").fetchone()[0]
    root = con.execute("select rootpage from sqlite_master where name='rating'").fetchone()[0]
    con.close()
    data = bytearray(db.read_bytes())
    start = (root - 1) * page_size
    data[start + 8:start + 400] = os.urandom(392)  # the rating table's root page: cell pointers garbage
    db.write_bytes(bytes(data))
    with pytest.raises(DatabaseRefused, match=r"study\.db: the database is corrupt"):
        prepare_database(str(db))


@pytest.mark.parametrize("content, message", [(b"hello, this is a text file\n" * 100, "not a SQLite database"),
                                              (b"SQLite format 3\x00" + b"\xff" * 200, "corrupt")])
def test_non_database_file_is_refused(tmp_path, content, message):
    db = tmp_path / "notes.db"
    db.write_bytes(content)
    with pytest.raises(DatabaseRefused, match=message):
        prepare_database(str(db))
    assert db.read_bytes() == content


def test_read_only_file_is_refused_but_can_still_be_exported(rated, tmp_path):
    db, _ = rated
    os.chmod(db, 0o444)
    try:
        with pytest.raises(DatabaseRefused, match=r"study\.db: the database file is read-only"):
            prepare_database(str(db))
        check_database(str(db), write=False)  # reading (export, analysis) is fine
    finally:
        os.chmod(db, 0o644)


@pytest.mark.slow  # starts `python app.py` (it exits at once, after importing gradio)
def test_app_refuses_a_foreign_database_with_one_line(tmp_path):
    db = tmp_path / "other.db"
    con = sqlite3.connect(db)
    con.execute("create table invoices (id integer primary key)")
    con.commit()
    con.close()
    env = {**os.environ, "OMP_NUM_THREADS": "1", "GRADIO_ANALYTICS_ENABLED": "False"}
    proc = subprocess.run([sys.executable, "app.py", "--db", str(db), "--rating-only", "--port", "1"], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=180)
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith(f"error: {db}: this SQLite file belongs to another")


# ------------------------------------------------------------------- acknowledged only when stored

@pytest.mark.parametrize("how", ["deleted", "replaced"])
def test_submit_is_refused_when_the_file_is_deleted_or_replaced(rated, tmp_path, how):
    db, created = rated
    factory = make_session_factory(prepare_database(str(db)))
    svc = RatingService(factory)
    token = next(iter(created.rater_tokens.values()))
    view = svc.open_case(token, 3)
    n_before = _counts(db)[0]
    if how == "deleted":
        db.unlink()
    else:
        other = tmp_path / "other.db"
        make_study(other, n_raters=1, n_cases=2, name="other")
        os.replace(other, db)
    with pytest.raises(DatabaseUnavailable, match=f"Not saved: the study database file was "
                                                  f"{'deleted' if how == 'deleted' else 'replaced by another file'}"):
        svc.submit(token, 3, _form(view))
    factory.kw["bind"].dispose()
    if how == "replaced":
        assert _counts(db)[0] == 0  # nothing went into the file now at the path
    else:
        assert not db.exists()
    assert n_before > 0


def test_lock_held_too_long_gives_a_plain_message(rated, monkeypatch):
    db, created = rated
    monkeypatch.setattr(db_engine, "SQLITE_BUSY_TIMEOUT_MS", 300)
    factory = make_session_factory(prepare_database(str(db)))
    svc = RatingService(factory)
    token = next(iter(created.rater_tokens.values()))
    view = svc.open_case(token, 3)
    blocker = sqlite3.connect(db, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(DatabaseUnavailable, match=r"^The study database is busy right now; nothing was saved"):
            svc.submit(token, 3, _form(view))
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    svc.submit(token, 3, _form(view))  # and once the lock is gone, it saves
    factory.kw["bind"].dispose()


def test_read_only_session_takes_no_write_lock(rated):
    db, _ = rated
    factory = make_session_factory(prepare_database(str(db)))
    with read_only_session(factory) as session:
        n = session.scalar(select(func.count(Rating.id)))
        # while the read snapshot is open, another process can write
        other = sqlite3.connect(db, timeout=0.5, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        other.execute("update rating set comment = 'x' where id = 1")
        other.execute("COMMIT")
        other.close()
        assert session.scalar(select(func.count(Rating.id))) == n
    with unit_of_work(factory) as session:
        assert session.scalar(select(func.count(RatingEdit.id))) == _counts(db)[1]
    factory.kw["bind"].dispose()


def test_signing_in_again_takes_no_write_lock(tmp_path, monkeypatch):
    """A returning rater's sign-in reads only: it answers while another process holds the write lock."""
    monkeypatch.setattr(db_engine, "SQLITE_BUSY_TIMEOUT_MS", 300)
    db = tmp_path / "signin.db"
    created = make_study(db, n_raters=1, n_cases=2, n_calibration=0, n_repeats=0)
    token = next(iter(created.rater_tokens.values()))
    factory = make_session_factory(prepare_database(str(db)))
    svc = RatingService(factory)
    first = svc.resume(token)  # the first visit records the case as opened (a write)
    writer = sqlite3.connect(db, timeout=0.5, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")  # another process holds the write lock from now on
    try:
        again = svc.resume(token)
        assert (again.position, again.findings) == (first.position, first.findings)
        with pytest.raises(DatabaseUnavailable):
            svc.open_case(token, first.position + 1)  # a first visit of another case must write: it waits
    finally:
        writer.execute("ROLLBACK")
        writer.close()
        factory.kw["bind"].dispose()


# ------------------------------------------------------------------------------------ hot backup

def test_backup_while_raters_submit_is_consistent(tmp_path):
    db = tmp_path / "live.db"
    created = make_study(db, n_raters=6, n_cases=6, n_calibration=0, n_repeats=0)
    factory = make_session_factory(prepare_database(str(db)))
    svc = RatingService(factory)
    errors: list[str] = []
    stop = threading.Event()

    def rater(token):
        try:
            for position in range(6):
                svc.submit(token, position, _form(svc.open_case(token, position)))
        except Exception as exc:  # noqa: BLE001 - asserted below
            errors.append(repr(exc))

    threads = [threading.Thread(target=rater, args=(t,)) for t in created.rater_tokens.values()]
    for t in threads:
        t.start()
    backups = []
    i = 0
    while any(t.is_alive() for t in threads) or not backups:
        i += 1
        backups.append(backup_sqlite(db, tmp_path / f"backup-{i}.db"))
    for t in threads:
        t.join(60)
    stop.set()
    assert not errors
    final = _counts(db)[0]
    assert final == 6 * 6 * 3
    last = backup_sqlite(db, tmp_path / "backup-final.db")
    seen = []
    for path in backups + [last]:
        con = sqlite3.connect(path)
        assert con.execute("pragma integrity_check").fetchone()[0] == "ok"
        assert con.execute("pragma foreign_key_check").fetchall() == []
        # whole submissions only: every rated case has all its candidates' ratings
        per_assignment = con.execute("select count(*) from rating group by assignment_id").fetchall()
        assert {n for (n,) in per_assignment} <= {3}
        seen.append(con.execute("select count(*) from rating").fetchone()[0])
        con.close()
        check_database(str(path), write=True)  # a backup passes the start-up checks
    assert seen == sorted(seen) and seen[-1] == final
    factory.kw["bind"].dispose()


def test_backup_cli_and_existing_out_is_an_error(rated, tmp_path):
    db, _ = rated
    out = tmp_path / "copy.db"
    args = [sys.executable, "-m", "rating.study", "backup", "--db", str(db), "--out", str(out)]
    proc = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert _counts(out) == _counts(db)
    again = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert again.returncode == 2 and "Traceback" not in again.stderr
    assert again.stderr.strip() == f"error: {out} already exists; choose a new file name for the backup"


@pytest.mark.parametrize("pragma, message", [
    ("PRAGMA max_page_count = 1", r"^Not saved: the server's disk is full\."),  # SQLITE_FULL, as on a full disk
    ("PRAGMA query_only = ON", r"^Not saved: the study database cannot be written \(read-only\)\."),
])
def test_full_disk_and_read_only_give_plain_messages(rated, pragma, message):
    from sqlalchemy import event

    db, created = rated
    engine = prepare_database(str(db))
    factory = make_session_factory(engine)
    svc = RatingService(factory)
    token = next(iter(created.rater_tokens.values()))
    view = svc.open_case(token, 3)
    engine.dispose()
    # From now on every connection behaves as on a full disk / a read-only file.
    event.listen(engine, "connect", lambda dbapi_conn, _rec: dbapi_conn.execute(pragma))
    n_before = _counts(db)
    with pytest.raises(DatabaseUnavailable, match=message) as info:
        svc.submit(token, 3, _form(view, 5, comment="x" * 1500))
    assert "sqlite" not in str(info.value).lower() and "PRAGMA" not in str(info.value)
    assert _counts(db) == n_before
    engine.dispose()


# --------------------------------------------------------------------- failing or interrupted migrations (issue 22)

def test_a_failing_migration_says_what_failed_and_that_the_file_is_unchanged(rated, tmp_path):
    """Before issue 22: a traceback, then "The study database could not be reached"."""
    db, _ = rated
    engine = make_engine(str(db))
    downgrade_schema(engine, "0003")
    engine.dispose()
    con = sqlite3.connect(db)  # someone added the column 0004 adds, by hand: the migration cannot run
    con.execute("ALTER TABLE system ADD COLUMN display_name TEXT")
    con.commit()
    con.close()
    before = _counts(db)
    proc = subprocess.run([sys.executable, "-m", "rating.study", "list", "--db", str(db)], cwd=ROOT,
                          capture_output=True, text=True, timeout=240, check=False)
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    assert "could not be reached" not in proc.stderr
    [line] = [x for x in proc.stderr.splitlines() if x.startswith("error:")]
    assert f"migration from schema 0003 to {db_engine.head_revision()} failed" in line and "duplicate column name" in line, line
    assert "left unchanged" in line and ".bak" in line, line
    con = sqlite3.connect(db)
    try:
        assert con.execute("select version_num from alembic_version").fetchone()[0] == "0003"
    finally:
        con.close()
    assert _counts(db) == before


def test_partial_backups_of_a_killed_migration_are_removed_on_the_next_start(rated):
    db, _ = rated
    leftover = db.with_name(f"{db.name}.pre-0004-20261204T120000Z.bak.partial")
    leftover.write_bytes(b"SQLite format 3\x00" + b"\x00" * 100)  # what a SIGKILL mid-backup leaves
    unrelated = db.with_name("notes.bak.partial")
    unrelated.write_text("not ours")
    prepare_database(str(db)).dispose()
    assert not leftover.exists()
    assert unrelated.exists()


def test_checking_a_file_this_process_has_open_keeps_other_processes_from_deleting_its_wal(rated):
    """Issue 22 (found by bench/bench_copy_live.py): the start-up check read the file's header with Python's
    open()/close(), and closing any descriptor of a file drops every POSIX lock the process holds on it, SQLite's
    included. Another process closing its last connection then took the file for unused, checkpointed and deleted
    the WAL under the first process's feet: its later commits went to a deleted file ("disk I/O error",
    "database disk image is malformed", ratings other processes never see)."""
    db, created = rated
    factory = make_session_factory(prepare_database(str(db)))
    svc = RatingService(factory)
    token = next(iter(created.rater_tokens.values()))
    svc.submit(token, 0, _form(svc.open_case(token, 0), 2))  # this process has the file open, WAL in use
    prepare_database(str(db)).dispose()  # a second check of the same file in this process (tests, benches, tools)
    other = subprocess.run([sys.executable, "-c", f"import sqlite3; c = sqlite3.connect({str(db)!r}); "
                            "c.execute('select count(*) from rating').fetchone(); c.close()"], check=False)
    assert other.returncode == 0
    assert Path(f"{db}-wal").exists(), "another process deleted the WAL this process is writing to"
    svc.submit(token, 1, _form(svc.open_case(token, 1), 5, comment="after the check"))
    seen = subprocess.run([sys.executable, "-c", f"import sqlite3; c = sqlite3.connect({str(db)!r}); print(c.execute("
                           "\"select count(*) from rating where comment = 'after the check'\").fetchone()[0])"],
                          capture_output=True, text=True, check=False)
    factory.kw["bind"].dispose()
    assert seen.stdout.strip() not in ("", "0"), seen.stderr[-500:]
