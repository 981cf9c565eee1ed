"""Protocols as data of a study: stored with it, and the database's own constraints for each protocol,
on SQLite and on a real PostgreSQL server (tests/support/pg_server.py)."""
from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from db.engine import make_session_factory, prepare_database, unit_of_work
from db.models import Assignment, Study
from db.protocol_models import ErrorCount, ErrorRating, Preference
from rating.protocols.definitions import ProtocolError, parse_protocols
from rating.study_setup import StudySetupError, StudySpec
from tests.support.protocol_support import make_protocol_study


def test_protocol_names_are_parsed_in_canonical_order_and_bad_ones_refused():
    assert parse_protocols("errors, likert") == ("likert", "errors")
    assert parse_protocols("PAIRWISE") == ("pairwise",)
    with pytest.raises(ProtocolError, match="unknown protocol 'rexval'"):
        parse_protocols("likert,rexval")
    with pytest.raises(ProtocolError, match="at least one protocol"):
        parse_protocols(" , ")
    with pytest.raises(StudySetupError, match="unknown protocol"):
        StudySpec(name="x", protocols="stars")


def test_pairwise_needs_two_systems(tmp_path):
    with pytest.raises(StudySetupError, match="at least two"):
        make_protocol_study(str(tmp_path / "p.db"), "pairwise", n_systems=1)


def _factory(url):
    return make_session_factory(prepare_database(url))


def test_protocols_are_stored_with_the_study(db_url):
    created = make_protocol_study(db_url, "errors,likert")
    factory = _factory(db_url)
    with unit_of_work(factory) as s:
        assert s.get(Study, created.study_id).protocols == "likert,errors"
    factory.kw["bind"].dispose()


def _an_assignment(session):
    a = session.scalars(select(Assignment).order_by(Assignment.id)).first()
    return a, a.label_order


def _error_rating(session, **count):
    a, order = _an_assignment(session)
    er = ErrorRating(assignment_id=a.id, rater_id=a.rater_id, output_id=order[0], repeat_index=0, label="A",
                     display_position=0)
    session.add(er)
    session.flush()
    session.add(ErrorCount(error_rating_id=er.id, **{"category": "missed_finding", "clinically_significant": True,
                                                      "count": 1, "spans": [], **count}))
    session.flush()


def _preference(session, **values):
    a, order = _an_assignment(session)
    row = {"assignment_id": a.id, "rater_id": a.rater_id, "repeat_index": 0, "pair_key": "A-B",
           "left_output_id": order[0], "right_output_id": order[1], "completeness": 0, "correctness": 0,
           "conciseness": 0, "left_error": False, "right_error": False, **values}
    session.add(Preference(**row))
    session.flush()


@pytest.mark.parametrize("bad", [
    ("errors", {"count": -1}),
    ("errors", {"category": "typo"}),
    ("pairwise", {"correctness": 3}),
    ("pairwise", {"completeness": -3}),
    ("pairwise", {"left_harm_extent": "severe_death", "left_harm_likelihood": "high"}),  # harm without an error
    ("pairwise", {"right_error": True}),  # an error without its harm
    ("pairwise", {"right_error": True, "right_harm_extent": "fatal", "right_harm_likelihood": "high"}),
    ("pairwise", {"right_error": True, "right_harm_extent": "none", "right_harm_likelihood": "certain"}),
], ids=["negative-count", "unknown-category", "preference-3", "preference-minus-3", "harm-without-error",
        "error-without-harm", "bad-extent", "bad-likelihood"])
def test_the_database_refuses_impossible_protocol_values(db_url, bad):
    make_protocol_study(db_url, "likert,errors,pairwise")
    factory = _factory(db_url)
    kind, values = bad
    with pytest.raises(IntegrityError):
        with unit_of_work(factory) as s:
            (_error_rating if kind == "errors" else _preference)(s, **values)
    factory.kw["bind"].dispose()


def test_the_database_keeps_possible_protocol_values(db_url):
    make_protocol_study(db_url, "errors,pairwise")
    factory = _factory(db_url)
    with unit_of_work(factory) as s:
        _error_rating(s, count=0)
        _preference(s, correctness=-2, completeness=2, left_error=True, left_harm_extent="severe_death",
                    left_harm_likelihood="low")
    with unit_of_work(factory) as s:
        assert s.scalar(select(ErrorCount.count)) == 0
        assert s.scalar(select(Preference.left_harm_extent)) == "severe_death"
    factory.kw["bind"].dispose()


def test_migration_0006_gives_older_studies_the_likert_protocol_and_goes_back(db_url):
    from sqlalchemy import inspect, text

    from db.engine import downgrade_schema, make_engine, upgrade_schema
    engine = make_engine(db_url)
    upgrade_schema(engine, "0004")
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO study (name, description, seed, simulated, config, created_at, instructions) "
                          "VALUES ('old', '', 0, false, '{}', CURRENT_TIMESTAMP, '')"))
    upgrade_schema(engine, "0006")
    with engine.begin() as conn:
        assert conn.execute(text("SELECT protocols FROM study WHERE name = 'old'")).scalar() == "likert"
        assert {"error_rating", "error_count", "preference", "gold_case"} <= set(inspect(conn).get_table_names())
    downgrade_schema(engine, "0004")
    with engine.begin() as conn:
        assert "preference" not in inspect(conn).get_table_names()
        assert conn.execute(text("SELECT name FROM study")).scalar() == "old"
    engine.dispose()


def test_cli_create_stores_the_protocol_and_refuses_an_unknown_one(tmp_path):
    import subprocess
    import sys

    from tests.support.rating_support import ROOT, server_env
    from tests.test_rating_setup import _toy_data
    data, db = tmp_path / "reports.csv", tmp_path / "cli.db"
    _toy_data(data)
    run = lambda *a: subprocess.run([sys.executable, "-m", "rating.study", *a, "--db", str(db)], cwd=ROOT,  # noqa: E731
                                    env=server_env(), capture_output=True, text=True, timeout=300)
    base = ("create", "--data", str(data), "--n", "3", "--systems", "constant", "--include-reference",
            "--raters", "Dr A")
    bad = run(*base, "--name", "bad", "--protocol", "likert,stars")
    assert bad.returncode == 2 and "unknown protocol 'stars'" in bad.stderr and "Traceback" not in bad.stderr
    ok = run(*base, "--name", "pw", "--protocol", "pairwise,errors")
    assert ok.returncode == 0, ok.stderr
    assert "protocol errors,pairwise" in ok.stdout
    assert "[errors,pairwise]" in run("list").stdout
