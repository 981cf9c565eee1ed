"""Engine and session set-up. SQLite gets WAL, foreign keys and a busy timeout."""
from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

from db.models import Base

DB_ENV = "RADLLAMA_DB"
DEFAULT_DB_URL = f"sqlite:///{Path(__file__).resolve().parent.parent / 'radllama.db'}"
SQLITE_BUSY_TIMEOUT_MS = 30_000


def database_url(explicit: str | None = None) -> str:
    """The URL to use: argument, else $RADLLAMA_DB, else radllama.db in the project root.

    A bare file path is accepted and turned into a sqlite URL.
    """
    url = explicit or os.environ.get(DB_ENV) or DEFAULT_DB_URL
    if "://" not in url:
        url = f"sqlite:///{Path(url).expanduser().resolve()}"
    return url


def _configure_sqlite(dbapi_conn, _record) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cur.execute("PRAGMA synchronous=FULL")  # an acknowledged commit survives a crash
    cur.close()


def make_engine(url: str | None = None) -> Engine:
    url = database_url(url)
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})
        event.listen(engine, "connect", _configure_sqlite)
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


def create_schema(engine: Engine) -> None:
    """Create tables on first start. (The rating-study issue replaces this with Alembic upgrade.)"""
    Base.metadata.create_all(engine)


def prepare_database(url: str | None = None) -> Engine:
    """Engine for `url` with the schema brought up to date (created on first start)."""
    engine = make_engine(url)
    create_schema(engine)
    return engine
