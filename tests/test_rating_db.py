"""Rating database and rater service on a real SQLite file: constraints, edits, resume, bad input."""
from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from db.engine import make_session_factory, prepare_database, unit_of_work
from db.models import CRITERIA, Assignment, Rater, Rating, RatingEdit
from rating.service import AccessDenied, RatingError, RatingService
from rating.study_setup import revoke_rater
from tests.rating_support import SECRET_SYSTEMS, make_study


@pytest.fixture
def study(tmp_path):
    db = tmp_path / "study.db"
    created = make_study(db, n_raters=2, n_cases=5, n_calibration=1, n_repeats=1)
    factory = make_session_factory(prepare_database(str(db)))
    yield created, factory, db
    factory.kw["bind"].dispose()


def _form(view, score=3, **extra):
    return [{"label": c.label, **{k: score for k in CRITERIA}, **extra} for c in view.candidates]


def _count(factory, model=Rating) -> int:
    with unit_of_work(factory) as s:
        return s.scalar(select(func.count(model.id)))


def test_schema_is_versioned_and_upgrade_is_idempotent(tmp_path):
    db = tmp_path / "fresh.db"
    prepare_database(str(db)).dispose()
    prepare_database(str(db)).dispose()  # a second start changes nothing
    con = sqlite3.connect(db)
    from alembic.script import ScriptDirectory

    from db.engine import alembic_config
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert con.execute("select version_num from alembic_version").fetchall() == [(head,)]
    assert {"display_name", "position"} <= {r[1] for r in con.execute("pragma table_info(system)")}
    assert con.execute("pragma journal_mode").fetchone()[0] == "wal"
    assert "last_position" in {r[1] for r in con.execute("pragma table_info(rater)")}


@pytest.mark.parametrize("bad_score", [0, 6])
def test_database_itself_rejects_scores_outside_1_to_5(study, bad_score):
    _, factory, db = study
    with unit_of_work(factory) as s:
        a = s.scalars(select(Assignment)).first()
        row = dict(assignment_id=a.id, rater_id=a.rater_id, output_id=a.label_order[0], repeat_index=0, label="A",
                   display_position=0, **{k: 3 for k in CRITERIA})
    con = sqlite3.connect(db, isolation_level=None)  # autocommit: no transaction left open
    con.execute("PRAGMA foreign_keys=ON")
    cols = {**row, "coherence": bad_score, "comment": "", "significant_error": 0, "submitted_at": "2020-01-01",
            "updated_at": "2020-01-01", "revision": 1}
    with pytest.raises(sqlite3.IntegrityError, match="CHECK constraint failed"):
        con.execute(f"insert into rating ({','.join(cols)}) values ({','.join('?' * len(cols))})", list(cols.values()))
    con.close()
    assert _count(factory) == 0


def test_database_itself_rejects_a_duplicate_rating(study):
    _, factory, _ = study
    with pytest.raises(IntegrityError, match="UNIQUE"):
        with unit_of_work(factory) as s:
            a = s.scalars(select(Assignment)).first()
            for _ in range(2):
                s.add(Rating(assignment_id=a.id, rater_id=a.rater_id, output_id=a.label_order[0], repeat_index=0,
                             label="A", display_position=0, **{k: 3 for k in CRITERIA}))
                s.flush()
    assert _count(factory) == 0


def test_submit_saves_and_moves_on_then_edit_keeps_history(study):
    created, factory, _ = study
    svc, token = RatingService(factory), created.rater_tokens["Dr 00"]
    view = svc.resume(token)
    assert view.position == 0 and "Case 1 of" in view.progress
    after = svc.submit(token, 0, _form(view, 3))
    assert after.position == 1 and after.n_completed == 1
    assert _count(factory) == len(view.candidates)
    svc.submit(token, 0, _form(view, 3))  # the same submission again: idempotent
    assert _count(factory) == len(view.candidates) and _count(factory, RatingEdit) == 0
    svc.submit(token, 0, _form(view, 5, comment="changed my mind"))
    assert _count(factory) == len(view.candidates)
    with unit_of_work(factory) as s:
        ratings = s.scalars(select(Rating)).all()
        assert {r.revision for r in ratings} == {2} and {r.coherence for r in ratings} == {5}
        edits = s.scalars(select(RatingEdit)).all()
        assert len(edits) == len(ratings) and {e.previous["coherence"] for e in edits} == {3}
        assert all(r.time_on_task_s is not None and r.time_on_task_s >= 0 for r in ratings)
        assert all(r.started_at is not None for r in ratings)
    reopened = svc.open_case(token, 0)
    assert [c.scores["coherence"] for c in reopened.candidates] == [5] * len(view.candidates)


@pytest.mark.parametrize("bad", [{"coherence": 0}, {"coherence": 6}, {"coherence": "good"}, {"coherence": None},
                                 {"coherence": 2.5}, {"comment": "x" * 2001}, {"label": "Z"}])
def test_bad_input_gives_a_clear_error_and_stores_nothing(study, bad):
    created, factory, _ = study
    svc, token = RatingService(factory), created.rater_tokens["Dr 00"]
    view = svc.resume(token)
    form = _form(view)
    form[0] = {**form[0], **bad}
    with pytest.raises(RatingError) as err:
        svc.submit(token, 0, form)
    assert len(str(err.value)) > 10
    assert _count(factory) == 0


def test_a_foreign_candidate_or_position_is_refused(study):
    created, factory, _ = study
    svc, token = RatingService(factory), created.rater_tokens["Dr 00"]
    view = svc.resume(token)
    with pytest.raises(RatingError, match="missing"):
        svc.submit(token, 0, _form(view)[:-1])
    with pytest.raises(RatingError, match="no case"):
        svc.submit(token, 999, _form(view))
    assert _count(factory) == 0


def test_wrong_revoked_or_expired_token_is_refused(study):
    created, factory, _ = study
    svc = RatingService(factory)
    for bad in ("", None, "not-a-token", "x" * 5000):
        with pytest.raises(AccessDenied):
            svc.resume(bad)
    with unit_of_work(factory) as s:
        revoke_rater(s, created.study_id, "Dr 01")
        s.get(Rater, created.rater_ids["Dr 00"]).expires_at = datetime.now(timezone.utc) - timedelta(minutes=1)
    with pytest.raises(AccessDenied, match="withdrawn"):
        svc.resume(created.rater_tokens["Dr 01"])
    with pytest.raises(AccessDenied, match="expired"):
        svc.resume(created.rater_tokens["Dr 00"])


def test_rater_resumes_where_they_left_off_and_the_end_says_so(study):
    created, factory, _ = study
    token = created.rater_tokens["Dr 01"]
    svc = RatingService(factory)
    view = svc.resume(token)
    svc.submit(token, 0, _form(view))
    svc.open_case(token, 1)
    assert RatingService(factory).resume(token).position == 1  # a fresh service: state is in the DB
    pos, total = 1, view.total
    while pos < total:
        pos = svc.submit(token, pos, _form(svc.open_case(token, pos))).position
    end = svc.resume(token)
    assert end.finished and "end of the study" in end.message and end.n_completed == total


def test_views_never_carry_a_system_name_or_another_raters_ratings(study):
    created, factory, _ = study
    svc = RatingService(factory)
    a, b = created.rater_tokens["Dr 00"], created.rater_tokens["Dr 01"]
    view_a = svc.resume(a)
    svc.submit(a, 0, _form(view_a, 5))  # position 0 is the shared calibration case
    view_b = svc.resume(b)
    assert view_b.findings == view_a.findings and all(not c.scores for c in view_b.candidates)
    assert not any(name in repr(v) for v in (view_a, view_b) for name in SECRET_SYSTEMS)


def test_concurrency_sqlite_transactions_hold_the_process_write_lock_until_commit_or_rollback(study):
    from db.engine import _write_lock_for, database_url

    _, factory, db = study
    lock = _write_lock_for(database_url(str(db)))
    with unit_of_work(factory) as s:
        s.scalar(select(func.count(Rater.id)))
        assert lock.locked(), "a transaction runs without the in-process write lock"
    assert not lock.locked(), "the lock outlived a commit"
    with pytest.raises(RuntimeError):
        with unit_of_work(factory) as s:
            s.scalar(select(func.count(Rater.id)))
            raise RuntimeError("boom")
    assert not lock.locked(), "the lock outlived a rollback"


def test_concurrency_twenty_threads_submit_in_process_each_rating_stored_once(tmp_path):
    import threading

    db = tmp_path / "threads.db"
    created = make_study(db, n_raters=20, n_cases=3, n_calibration=0, n_repeats=0)
    factory = make_session_factory(prepare_database(str(db)))
    service = RatingService(factory)
    barrier = threading.Barrier(20)
    errors: list[str] = []

    def rater(token):
        barrier.wait()
        try:
            for position in range(3):
                service.submit(token, position, _form(service.open_case(token, position)))
        except Exception as exc:  # noqa: BLE001 - asserted below
            errors.append(repr(exc))

    threads = [threading.Thread(target=rater, args=(tok,)) for tok in created.rater_tokens.values()]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    try:
        assert not errors
        assert _count(factory) == 20 * 3 * 3
    finally:
        factory.kw["bind"].dispose()
