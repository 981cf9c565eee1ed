"""read_only_session is enforced by the database (SQLite PRAGMA query_only, a PostgreSQL READ ONLY
transaction), not only by convention."""
from __future__ import annotations

import sqlite3

import pytest
from sqlalchemy import select, text

from db.engine import DatabaseUnavailable, make_session_factory, prepare_database, read_only_session, unit_of_work
from db.models import Study


@pytest.fixture
def factory(db_url):
    factory = make_session_factory(prepare_database(db_url))
    with unit_of_work(factory) as session:
        session.add(Study(name="kept"))
    yield factory
    factory.kw["bind"].dispose()


def _names(factory) -> list[str]:
    with unit_of_work(factory) as session:
        return list(session.scalars(select(Study.name).order_by(Study.id)))


@pytest.mark.parametrize("write", [
    lambda s: s.add(Study(name="sneaked in")),
    lambda s: setattr(s.scalars(select(Study)).one(), "name", "renamed"),
    lambda s: s.execute(text("delete from study")),
])
def test_a_write_inside_a_read_only_session_fails_and_changes_nothing(factory, write):
    with pytest.raises(DatabaseUnavailable, match="read-only"):
        with read_only_session(factory) as session:
            write(session)
            session.flush()
            session.commit()  # even an explicit commit cannot write
    assert _names(factory) == ["kept"]


def test_the_connection_writes_again_after_a_read_only_session(factory):
    with pytest.raises(DatabaseUnavailable):
        with read_only_session(factory) as session:
            session.execute(text("delete from study"))
    with unit_of_work(factory) as session:  # one thread: the pool hands back the same connection
        if session.bind.dialect.name == "sqlite":
            assert session.execute(text("PRAGMA query_only")).scalar() == 0
        session.add(Study(name="added"))
    assert _names(factory) == ["kept", "added"]


def test_reads_still_work(factory):
    with read_only_session(factory) as session:
        assert session.scalars(select(Study.name)).all() == ["kept"]


def test_sqlite_file_is_untouched_by_a_refused_write(tmp_path):
    factory = make_session_factory(prepare_database(str(tmp_path / "study.db")))
    with unit_of_work(factory) as session:
        session.add(Study(name="kept"))
    db = factory.kw["bind"].url.database
    with read_only_session(factory) as session:
        assert session.execute(text("PRAGMA query_only")).scalar() == 1
    with pytest.raises(DatabaseUnavailable):
        with read_only_session(factory) as session:
            session.execute(text("update study set name = 'x'"))
    factory.kw["bind"].dispose()
    con = sqlite3.connect(db)
    try:
        assert con.execute("select name from study").fetchall() == [("kept",)]
    finally:
        con.close()
