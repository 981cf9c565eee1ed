"""Rater sessions, drafts, active time, unrated lists and expiry in RatingService on a real SQLite file."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from db.engine import make_session_factory, prepare_database, unit_of_work
from db.models import CRITERIA, Assignment, RaterSession, Rating, RatingDraft
from rating.service import AccessDenied, RatingError, RatingService, SessionKey
from rating.study_setup import set_expiry, set_instructions
from tests.support.rating_support import make_study


class Clock:
    def __init__(self):
        self.now = datetime(2026, 1, 1, 9, 0, tzinfo=timezone.utc)

    def __call__(self):
        return self.now


@pytest.fixture
def study(tmp_path):
    db = tmp_path / "study.db"
    created = make_study(db, n_raters=2, n_cases=4, n_calibration=0, n_repeats=0)
    factory = make_session_factory(prepare_database(str(db)))
    clock = Clock()
    yield created, factory, RatingService(factory, clock=clock), clock
    factory.kw["bind"].dispose()


def _form(view, score=3):
    return [{"label": c.label, **{k: score for k in CRITERIA}} for c in view.candidates]


def test_a_token_is_exchanged_for_a_session_that_signs_out_and_expires(study):
    created, factory, svc, clock = study
    token = created.rater_tokens["Dr 00"]
    key, expires, name = svc.start_session(token)
    assert name == "Dr 00" and isinstance(key, SessionKey) and key != token
    assert svc.resume(key).rater_name == "Dr 00"
    with pytest.raises(AccessDenied):
        svc.resume(token + "x")
    with pytest.raises(AccessDenied):
        svc.start_session(key)  # a session secret is not an invitation token
    with pytest.raises(AccessDenied):
        svc.resume(str(key))  # nor is it accepted where a token is expected
    with unit_of_work(factory) as s:
        stored = s.scalars(select(RaterSession.secret_hash)).all()
    assert len(stored) == 1 and str(key) not in stored[0]  # only a hash is kept
    svc.end_session(key)
    with pytest.raises(AccessDenied, match="signed out"):
        svc.resume(key)
    key2, expires2, _ = svc.start_session(token)
    clock.now = expires2 + timedelta(seconds=1)
    with pytest.raises(AccessDenied, match="signed out") as err:
        svc.resume(key2)
    assert err.value.reason == "signed_out"


def test_expiry_per_rater_and_per_study_ends_links_and_sessions(study):
    created, factory, svc, clock = study
    a, b = created.rater_tokens["Dr 00"], created.rater_tokens["Dr 01"]
    key_b, _, _ = svc.start_session(b)
    with unit_of_work(factory) as s:
        set_expiry(s, created.study_id, clock.now + timedelta(hours=1), rater_name="Dr 00")
    _, expires_a, _ = svc.start_session(a)
    assert expires_a == clock.now + timedelta(hours=1)  # a session never outlives its invitation
    clock.now += timedelta(hours=2)
    with pytest.raises(AccessDenied) as err:
        svc.start_session(a)
    assert err.value.reason == "expired"
    assert svc.resume(key_b).rater_name == "Dr 01"
    with unit_of_work(factory) as s:
        set_expiry(s, created.study_id, clock.now - timedelta(minutes=1))
    for credential in (b, key_b):
        with pytest.raises(AccessDenied, match="closed") as err:
            svc.resume(credential)
        assert err.value.reason == "closed"


def test_drafts_are_kept_validated_restored_and_dropped_on_submit(study):
    created, factory, svc, clock = study
    key, _, _ = svc.start_session(created.rater_tokens["Dr 00"])
    view = svc.resume(key)
    clock.now += timedelta(seconds=10)  # active time never exceeds the server's time since opening
    draft = {"A": {"coherence": 4, "comment": "half done"}, "B": {"relevance": "2", "significant_error": True}}
    svc.save_draft(key, 0, draft, active_ms=1500)
    again = svc.resume(key)
    assert again.draft["A"]["coherence"] == 4 and again.draft["A"]["understandability"] is None
    assert again.draft["A"]["comment"] == "half done" and again.draft["B"]["relevance"] == 2
    assert again.draft["B"]["significant_error"] is True
    for bad in ({"Z": {}}, {"A": {"coherence": 9}}, {"A": {"comment": "x" * 2001}}, ["A"], {"A": "4"}):
        with pytest.raises(RatingError):
            svc.save_draft(key, 0, bad)
    for bad_ms in (-1, float("nan"), float("inf"), "soon"):
        with pytest.raises(RatingError, match="active time"):
            svc.save_draft(key, 0, None, active_ms=bad_ms)
    assert svc.resume(key).draft == again.draft  # refused drafts changed nothing
    svc.submit(key, 0, _form(view), active_ms=2500)
    with unit_of_work(factory) as s:
        assert s.scalar(select(RatingDraft)) is None
        times = s.scalars(select(Rating.time_on_task_s)).all()
    assert times and set(times) == {4.0}  # 1.5 s + 2.5 s of active time, not the time since opening


def test_active_time_sums_over_visits_and_counts_for_edits(study):
    created, factory, svc, clock = study
    key, _, _ = svc.start_session(created.rater_tokens["Dr 01"])
    view = svc.resume(key)
    clock.now += timedelta(seconds=10)  # active time never exceeds the server's time since opening
    svc.open_case(key, 1, active_ms=3000, from_position=0)  # first visit of case 1: 3 s, left unrated
    clock.now += timedelta(hours=5)  # the page was closed for hours: that time does not count
    svc.open_case(key, 0)
    svc.submit(key, 0, _form(view), active_ms=2000)
    svc.submit(key, 0, _form(view, 4), active_ms=1000)  # an edit later: 6 s in all
    with unit_of_work(factory) as s:
        a = s.scalar(select(Assignment).where(Assignment.position == 0, Assignment.rater_id ==
                                              created.rater_ids["Dr 01"]))
        assert a.active_ms == 6000
        assert set(s.scalars(select(Rating.time_on_task_s)).all()) == {6.0}
    with pytest.raises(RatingError):
        svc.open_case(key, 1, active_ms=5, from_position=99)


def test_views_list_unrated_cases_and_the_end_names_them(study):
    created, factory, svc, clock = study
    token = created.rater_tokens["Dr 00"]
    view = svc.resume(token)
    assert view.unrated == (0, 1, 2, 3) and view.as_dict()["unrated"] == [0, 1, 2, 3]
    svc.submit(token, 0, _form(view))
    svc.submit(token, 2, _form(svc.open_case(token, 2)))
    end = svc.open_case(token, view.total)
    assert end.finished and end.unrated == (1, 3)
    assert "case 2, 4" in end.message and "not rated yet" in end.message


def test_instructions_reach_the_view(study):
    created, factory, svc, clock = study
    with unit_of_work(factory) as s:
        set_instructions(s, created.study_id, "Rate **every** candidate.")
    assert svc.resume(created.rater_tokens["Dr 00"]).instructions == "Rate **every** candidate."


def test_cli_sets_instructions_and_expiry(study, tmp_path):
    import subprocess
    import sys

    from db.models import Rater, Study
    from tests.support.rating_support import ROOT, server_env

    created, factory, svc, clock = study
    db = factory.kw["bind"].url.database
    (tmp_path / "instructions.md").write_text("# How to rate\nScore **each** candidate.")
    run = lambda *a: subprocess.run([sys.executable, "-m", "rating.study", *a, "--db", db], cwd=ROOT,  # noqa: E731
                                    env=server_env(), capture_output=True, text=True, timeout=120)
    sid = str(created.study_id)
    assert run("instructions", "--study", sid, "--file", str(tmp_path / "instructions.md")).returncode == 0
    assert run("expire", "--study", sid, "--at", "2030-01-02T03:04").returncode == 0
    assert run("expire", "--study", sid, "--name", "Dr 01", "--at", "2029-05-06").returncode == 0
    bad = run("expire", "--study", sid, "--at", "next tuesday")
    assert bad.returncode == 2 and "not a date" in bad.stderr
    with unit_of_work(factory) as s:
        study_row = s.get(Study, created.study_id)
        assert study_row.instructions.startswith("# How to rate")
        assert study_row.expires_at.replace(tzinfo=timezone.utc) == datetime(2030, 1, 2, 3, 4, tzinfo=timezone.utc)
        rater = s.get(Rater, created.rater_ids["Dr 01"])
        assert rater.expires_at.replace(tzinfo=timezone.utc) == datetime(2029, 5, 6, tzinfo=timezone.utc)
    assert run("expire", "--study", sid, "--at", "never").returncode == 0
    with unit_of_work(factory) as s:
        assert s.get(Study, created.study_id).expires_at is None


def test_migration_0003_goes_down_and_up_keeping_a_study(tmp_path):
    import sqlite3

    from alembic import command

    from db.engine import alembic_config

    db = tmp_path / "migrate.db"
    created = make_study(db, n_raters=1, n_cases=2, n_calibration=0, n_repeats=0)
    engine = prepare_database(str(db))
    cfg = alembic_config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0002")
    con = sqlite3.connect(db)
    assert "instructions" not in {r[1] for r in con.execute("pragma table_info(study)")}
    assert "rating_draft" not in {r[0] for r in con.execute("select name from sqlite_master")}
    assert con.execute("select count(*) from rater").fetchone() == (1,)  # going down keeps the study
    assert con.execute("select count(*) from assignment").fetchone() == (2,)
    con.close()
    engine.dispose()
    factory = make_session_factory(prepare_database(str(db)))  # upgraded again on start
    svc = RatingService(factory)
    key, _, _ = svc.start_session(created.rater_tokens["Dr 00"])
    view = svc.resume(key)
    assert view.instructions == "" and len(view.candidates) == 3
    svc.save_draft(key, 0, {"A": {"coherence": 2}}, active_ms=10)
    assert svc.resume(key).draft["A"]["coherence"] == 2
    factory.kw["bind"].dispose()
