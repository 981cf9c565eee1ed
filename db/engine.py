"""Engine and session set-up. SQLite gets WAL, foreign keys and a busy timeout.

The schema is versioned with Alembic (db/migrations): prepare_database() upgrades any
database to the newest revision on start, and creates it on first start. To change the
schema, edit db/models.py and add a revision under db/migrations/versions (e.g.
`alembic -c db/alembic.ini revision --autogenerate -m "..."` after upgrading a scratch DB).

SQLite transactions start with BEGIN IMMEDIATE: a transaction takes the write lock when it
begins (waiting up to the busy timeout) instead of failing later with "database is locked"
when a read turns into a write while another connection writes.

Within one process, transactions on the same SQLite file also take a per-file threading lock
before BEGIN IMMEDIATE (released after COMMIT or ROLLBACK). SQLite lets one writer in at a time
anyway; without the lock, the threads that lose the race sleep in SQLite's busy handler, which
backs off up to 100 ms per retry, so a burst of concurrent submits gets a long tail (p95 483 ms
for 20 threads). With it, waiting threads wake the moment the writer finishes. The busy timeout
still guards against other processes.

PostgreSQL (`postgresql+psycopg://user@host:port/dbname`) is the database for studies served by
several app processes or sites. There the server arbitrates: transactions run at READ COMMITTED,
writers that must not interleave take row locks (SELECT ... FOR UPDATE, e.g. the rater's row in
RatingService.submit), sessions run in UTC, and schema upgrades hold an advisory lock so that two
processes starting together do not both migrate. The in-process SQLite lock is not used.
"""
from __future__ import annotations

import os
import sqlite3
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event, inspect, make_url
from sqlalchemy.orm import Session, sessionmaker


MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
DB_ENV = "RADLLAMA_DB"
DEFAULT_DB_URL = f"sqlite:///{Path(__file__).resolve().parent.parent / 'radllama.db'}"
SQLITE_BUSY_TIMEOUT_MS = 30_000
SQLITE_POOL_SIZE = 20
"""Connections a SQLite file engine keeps open, and as many more on demand. SQLAlchemy's default
(5 + 10 overflow) made the 16th-20th of 20 concurrent threads wait in the pool while the others
kept taking connections back (1 s outliers in bench/bench_rating_submit.py's in-process run)."""
POSTGRES_POOL_SIZE = 20
"""Connections a PostgreSQL engine keeps open (plus as many on demand): one per concurrent rater request."""
MIGRATION_LOCK_KEY = 724_511_015
"""pg_advisory_xact_lock key held while a PostgreSQL schema is upgraded (any constant shared by all processes)."""


def database_url(explicit: str | None = None) -> str:
    """The URL to use: argument, else $RADLLAMA_DB, else radllama.db in the project root.

    A bare file path is accepted and turned into a sqlite URL; postgresql:// and postgres:// URLs
    get the psycopg (3) driver.
    """
    url = explicit or os.environ.get(DB_ENV) or DEFAULT_DB_URL
    if "://" not in url:
        url = f"sqlite:///{Path(url).expanduser().resolve()}"
    for bare in ("postgresql://", "postgres://"):  # libpq-style URLs: the installed driver is psycopg 3
        if url.startswith(bare):
            url = "postgresql+psycopg://" + url[len(bare):]
    return url


_WRITE_LOCKS: dict[str, threading.Lock] = {}
_WRITE_LOCKS_GUARD = threading.Lock()


def dialect_of(url: str) -> str:
    """'sqlite' or 'postgresql' (the backend name of a SQLAlchemy URL)."""
    return make_url(database_url(url)).get_backend_name()


def _write_lock_for(url: str) -> threading.Lock:
    """One lock per database URL, shared by every engine of this process on that file."""
    with _WRITE_LOCKS_GUARD:
        return _WRITE_LOCKS.setdefault(url, threading.Lock())


class _SerialisedSQLiteConnection(sqlite3.Connection):
    """A sqlite3 connection whose transactions hold an in-process lock from BEGIN to COMMIT/ROLLBACK."""

    write_lock: threading.Lock | None = None
    _holds_write_lock = False

    def take_write_lock(self) -> None:
        # Bounded wait: a thread that already holds a transaction on another connection to the
        # same file gets SQLite's own "database is locked" after the busy timeout, not a hang.
        if self.write_lock is not None and not self._holds_write_lock:
            self._holds_write_lock = self.write_lock.acquire(timeout=SQLITE_BUSY_TIMEOUT_MS / 1000)

    def release_write_lock(self) -> None:
        if self._holds_write_lock:
            self._holds_write_lock = False
            self.write_lock.release()

    def commit(self) -> None:
        try:
            super().commit()
        finally:
            self.release_write_lock()

    def rollback(self) -> None:
        try:
            super().rollback()
        finally:
            self.release_write_lock()

    def close(self) -> None:
        try:
            super().close()
        finally:
            self.release_write_lock()


def _configure_sqlite(dbapi_conn, _record) -> None:
    dbapi_conn.isolation_level = None  # the driver's own BEGIN handling off; _begin_immediate does it
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cur.execute("PRAGMA synchronous=FULL")  # an acknowledged commit survives a crash
    cur.close()


def _begin_immediate(conn) -> None:
    dbapi_conn = conn.connection.dbapi_connection
    take = getattr(dbapi_conn, "take_write_lock", None)
    if take is not None:
        take()
    try:
        conn.exec_driver_sql("BEGIN IMMEDIATE")
    except BaseException:
        if take is not None:
            dbapi_conn.release_write_lock()
        raise


def make_private(db_file: str) -> None:
    """Create the SQLite file readable by its owner only (0600), or make an existing one so.

    SQLite creates the -wal and -shm files with the permissions of the database file, so they
    are private too; existing ones are tightened here. Files of another owner are left alone.
    """
    path = Path(db_file)
    if not path.exists() and path.parent.is_dir():
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
    for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm"), Path(f"{path}-journal")):
        try:
            if p.exists() and p.stat().st_uid == os.getuid() and p.stat().st_mode & 0o077:
                os.chmod(p, 0o600)
        except OSError:
            pass


def make_engine(url: str | None = None, serialise_writes: bool = True) -> Engine:
    """Engine for `url`. serialise_writes=False leaves SQLite's busy handler alone to arbitrate
    between this process's threads (kept for the side-by-side in bench/bench_rating_submit.py)."""
    url = database_url(url)
    if url.startswith("sqlite"):
        in_memory = make_url(url).database in (None, "", ":memory:")
        if not in_memory:
            make_private(make_url(url).database)
        pool = {} if in_memory else {"pool_size": SQLITE_POOL_SIZE, "max_overflow": SQLITE_POOL_SIZE}
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000,
                                                  "factory": _SerialisedSQLiteConnection}, **pool)
        lock = _write_lock_for(url) if serialise_writes else None

        def _attach_write_lock(dbapi_conn, _record) -> None:
            dbapi_conn.write_lock = lock

        event.listen(engine, "connect", _attach_write_lock)
        event.listen(engine, "connect", _configure_sqlite)
        event.listen(engine, "begin", _begin_immediate)
    elif make_url(url).get_backend_name() == "postgresql":
        # UTC sessions: naive timestamps (as SQLite stores them) mean UTC, aware ones come back in UTC.
        engine = create_engine(url, pool_pre_ping=True, pool_size=POSTGRES_POOL_SIZE,
                               max_overflow=POSTGRES_POOL_SIZE, connect_args={"options": "-c timezone=UTC"})
    else:
        engine = create_engine(url, pool_pre_ping=True)
    return engine


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False)


@contextmanager
def unit_of_work(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session whose transaction commits on success and rolls back on error."""
    with factory() as session:
        with session.begin():
            yield session


def alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    return cfg


def upgrade_schema(engine: Engine, revision: str = "head") -> None:
    """Bring the schema to `revision` (creates every table on an empty database).

    A database made by the old create_all() (tables but no alembic_version) is stamped with
    the revision it matches first, then upgraded.
    """
    cfg = alembic_config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        if conn.dialect.name == "postgresql":
            # Several app processes may start at once on one database: one migrates, the others wait.
            conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK_KEY})")
        insp = inspect(conn)
        tables = set(insp.get_table_names())
        if "study" in tables and "alembic_version" not in tables:
            rater_cols = {c["name"] for c in insp.get_columns("rater")}
            command.stamp(cfg, "0002" if "last_position" in rater_cols else "0001")
        command.upgrade(cfg, revision)


def create_schema(engine: Engine) -> None:
    """Kept for callers of the first version: same as upgrade_schema(engine)."""
    upgrade_schema(engine)


def prepare_database(url: str | None = None) -> Engine:
    """Engine for `url` with the schema brought up to date (created on first start)."""
    engine = make_engine(url)
    upgrade_schema(engine)
    return engine
