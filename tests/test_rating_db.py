"""Rating database and rater service on a real SQLite file and on a real PostgreSQL server:
constraints, edits, resume, bad input, concurrency."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, inspect, select, text
from sqlalchemy.exc import IntegrityError

from db.engine import dialect_of, make_engine, make_session_factory, prepare_database, unit_of_work
from db.models import CRITERIA, Assignment, Rater, Rating, RatingEdit
from rating.service import AccessDenied, RatingError, RatingService
from rating.study_setup import revoke_rater
from tests.support.rating_support import SECRET_SYSTEMS, make_study


@pytest.fixture
def study(db_url):
    created = make_study(db_url, n_raters=2, n_cases=5, n_calibration=1, n_repeats=1)
    factory = make_session_factory(prepare_database(db_url))
    yield created, factory, db_url
    factory.kw["bind"].dispose()


def _form(view, score=3, **extra):
    return [{"label": c.label, **{k: score for k in CRITERIA}, **extra} for c in view.candidates]


def _count(factory, model=Rating) -> int:
    with unit_of_work(factory) as s:
        return s.scalar(select(func.count(model.id)))


def schema_head() -> str:
    from alembic.script import ScriptDirectory

    from db.engine import alembic_config
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def test_schema_is_versioned_and_upgrade_is_idempotent(db_url):
    prepare_database(db_url).dispose()
    engine = prepare_database(db_url)  # a second start changes nothing
    try:
        with engine.connect() as con:
            assert con.execute(text("select version_num from alembic_version")).all() == [(schema_head(),)]
            assert "last_position" in {c["name"] for c in inspect(con).get_columns("rater")}
            assert {"display_name", "position"} <= {c["name"] for c in inspect(con).get_columns("system")}
            if dialect_of(db_url) == "sqlite":
                assert con.exec_driver_sql("pragma journal_mode").scalar() == "wal"
            else:
                checks = {c["name"] for c in inspect(con).get_check_constraints("rating")}
                assert {f"ck_rating_{c}_1_5" for c in CRITERIA} | {"ck_rating_comment_length"} <= checks
    finally:
        engine.dispose()


def test_database_urls_file_paths_and_libpq_style_postgresql_urls(tmp_path):
    from db.engine import database_url

    assert database_url(str(tmp_path / "a.db")) == f"sqlite:///{tmp_path / 'a.db'}"
    for given in ("postgresql://u@h:5432/d", "postgres://u@h:5432/d", "postgresql+psycopg://u@h:5432/d"):
        assert database_url(given) == "postgresql+psycopg://u@h:5432/d"
        assert dialect_of(given) == "postgresql"


def test_two_processes_migrating_one_postgresql_database_at_once_both_succeed(postgres):
    import subprocess
    import sys

    from tests.support.rating_support import ROOT

    url = postgres.new_database()
    code = "import sys; from db.engine import prepare_database; prepare_database(sys.argv[1]).dispose()"
    procs = [subprocess.Popen([sys.executable, "-c", code, url], cwd=ROOT, stderr=subprocess.PIPE, text=True)
             for _ in range(3)]
    errors = [p.communicate(timeout=120)[1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], errors
    engine = make_engine(url)
    with engine.connect() as con:
        assert con.execute(text("select version_num from alembic_version")).all() == [(schema_head(),)]
    engine.dispose()


@pytest.mark.parametrize("bad_score", [0, 6])
def test_database_itself_rejects_scores_outside_1_to_5(study, bad_score):
    _, factory, db = study
    with unit_of_work(factory) as s:
        a = s.scalars(select(Assignment)).first()
        row = dict(assignment_id=a.id, rater_id=a.rater_id, output_id=a.label_order[0], repeat_index=0, label="A",
                   display_position=0, **{k: 3 for k in CRITERIA})
    cols = {**row, "coherence": bad_score, "comment": "", "significant_error": False,
            "submitted_at": "2020-01-01", "updated_at": "2020-01-01", "revision": 1}
    raw = make_engine(db)  # plain SQL, around the ORM and the service
    with pytest.raises(IntegrityError, match="CHECK constraint failed|violates check constraint"):
        with raw.begin() as con:
            con.execute(text(f"insert into rating ({','.join(cols)}) values ({','.join(':' + c for c in cols)})"),
                        cols)
    raw.dispose()
    assert _count(factory) == 0


def test_database_itself_rejects_a_duplicate_rating(study):
    _, factory, _ = study
    with pytest.raises(IntegrityError, match="UNIQUE|unique constraint"):
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


def test_concurrency_sqlite_transactions_hold_the_process_write_lock_until_commit_or_rollback(tmp_path):
    from db.engine import _write_lock_for, database_url

    db = str(tmp_path / "lock.db")
    make_study(db, n_raters=1, n_cases=2)
    factory = make_session_factory(prepare_database(db))
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


def test_concurrency_postgresql_runs_without_the_sqlite_process_lock(postgres):
    from db.engine import _WRITE_LOCKS

    url = postgres.new_database()
    before = dict(_WRITE_LOCKS)
    engine = prepare_database(url)
    with engine.connect() as con:
        assert con.exec_driver_sql("show timezone").scalar() == "UTC"
        assert getattr(con.connection.dbapi_connection, "write_lock", None) is None
    engine.dispose()
    assert _WRITE_LOCKS == before


def test_concurrency_one_raters_simultaneous_submits_of_one_case_are_stored_once(db_url):
    """Double clicks, two tabs, two app processes: the same submit at once must neither fail nor duplicate
    (on PostgreSQL the rater's row lock orders them; without it they race to insert the same rating)."""
    import threading

    created = make_study(db_url, n_raters=1, n_cases=2, n_calibration=0, n_repeats=0)
    factory = make_session_factory(prepare_database(db_url))
    token = created.rater_tokens["Dr 00"]
    form = _form(RatingService(factory).open_case(token, 0))
    n_threads = 8
    barrier = threading.Barrier(n_threads)
    errors: list[str] = []

    def submit(score):
        service = RatingService(factory)
        barrier.wait()
        try:
            service.submit(token, 0, [{**f, "coherence": score} for f in form])
        except Exception as exc:  # noqa: BLE001 - asserted below
            errors.append(repr(exc))

    try:
        for _ in range(3):
            threads = [threading.Thread(target=submit, args=(1 + i % 5,)) for i in range(n_threads)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(60)
        assert not errors
        assert _count(factory) == len(form)
        with unit_of_work(factory) as s:
            for r in s.scalars(select(Rating)):
                assert r.revision == 1 + len([e for e in r.history])
    finally:
        factory.kw["bind"].dispose()


def test_concurrency_twenty_threads_submit_in_process_each_rating_stored_once(db_url):
    import threading

    created = make_study(db_url, n_raters=20, n_cases=3, n_calibration=0, n_repeats=0)
    factory = make_session_factory(prepare_database(db_url))
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
