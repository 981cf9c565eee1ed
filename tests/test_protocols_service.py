"""The errors and pairwise protocols through RatingService, on a real database (SQLite and PostgreSQL):
drafts, resume, progress, missing values, edits with history, blinding and the stored random sides."""
from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from db.engine import make_session_factory, prepare_database, unit_of_work
from db.models import CRITERIA, Assignment, Output, Rating, System
from db.protocol_models import ErrorCount, ErrorRating, Preference
from rating.service import RatingError, RatingService
from tests.support.protocol_support import make_protocol_study, neutral_pair, zero_errors
from tests.support.rating_support import SECRET_KINDS, SECRET_SYSTEMS


@pytest.fixture
def errors_study(db_url):
    created = make_protocol_study(db_url, "errors")
    factory = make_session_factory(prepare_database(db_url))
    yield created, RatingService(factory), factory
    factory.kw["bind"].dispose()


@pytest.fixture
def pairwise_study(db_url):
    created = make_protocol_study(db_url, "pairwise", n_systems=3)
    factory = make_session_factory(prepare_database(db_url))
    yield created, RatingService(factory), factory
    factory.kw["bind"].dispose()


def _token(created):
    return created.rater_tokens["Dr 00"]


def test_errors_protocol_view_draft_resume_submit_and_progress(errors_study):
    created, service, factory = errors_study
    token = _token(created)
    view = service.resume(token)
    assert view.protocols == ("errors",) and view.protocol["errors"] == {} and view.unrated == (0, 1, 2)
    labels = [c.label for c in view.candidates]
    # a draft with counts still missing is kept and comes back on resume
    partial = {"counts": {"missed_finding.s": 1}, "spans": {"missed_finding.s": [[0, 10]]}}
    service.save_draft(token, 0, {}, 0, {"errors": {labels[0]: partial}})
    again = service.resume(token).as_dict()
    assert again["draft"]["protocol"]["errors"][labels[0]]["counts"]["missed_finding.s"] == 1
    assert again["draft"]["protocol"]["errors"][labels[0]]["counts"]["false_finding.i"] is None
    # a submission missing a candidate or a count is refused and stores nothing
    with pytest.raises(RatingError, match="every candidate"):
        service.submit(token, 0, [], 0, {"errors": {labels[0]: zero_errors()}})
    first_missing = r"number of errors for candidate A, \(a\) false report of a finding, clinically significant"
    with pytest.raises(RatingError, match=first_missing):
        service.submit(token, 0, [], 0, {"errors": {lab: {"counts": {"missed_finding.s": 1}} for lab in labels}})
    with pytest.raises(RatingError, match="does not ask for 1-5 scores"):
        service.submit(token, 0, [{"label": "A", **{c: 3 for c in CRITERIA}}], 0,
                       {"errors": {lab: zero_errors() for lab in labels}})
    one = zero_errors()
    one["counts"]["missed_finding.s"] = 2
    one["spans"] = {"missed_finding.s": [[0, 10]]}
    after = service.submit(token, 0, [], 0, {"errors": {labels[0]: one, labels[1]: zero_errors()}})
    assert after.position == 1 and after.n_completed == 1 and after.unrated == (1, 2)
    back = service.open_case(token, 0)
    assert back.rated and back.draft is None
    assert back.protocol["errors"][labels[0]]["counts"]["missed_finding.s"] == 2
    assert back.protocol["errors"][labels[0]]["spans"] == {"missed_finding.s": [[0, 10]]}
    with unit_of_work(factory) as s:
        assert s.scalar(select(ErrorCount.count).where(ErrorCount.category == "missed_finding",
                                                       ErrorCount.clinically_significant.is_(True))
                        .order_by(ErrorCount.count.desc())) == 2
        assert s.query(Rating).count() == 0


def test_errors_edit_keeps_the_earlier_counts_in_history(errors_study):
    created, service, factory = errors_study
    token = _token(created)
    labels = [c.label for c in service.resume(token).candidates]
    service.submit(token, 0, [], 0, {"errors": {lab: zero_errors() for lab in labels}})
    service.submit(token, 0, [], 0, {"errors": {lab: zero_errors() for lab in labels}})  # same again: no edit
    changed = zero_errors()
    changed["counts"]["wrong_location.i"] = 1
    service.submit(token, 0, [], 0, {"errors": {labels[0]: changed, labels[1]: zero_errors()}})
    with unit_of_work(factory) as s:
        revisions = sorted(s.scalars(select(ErrorRating.revision)))
        assert revisions == [1, 2]
        edited = s.scalar(select(ErrorRating).where(ErrorRating.revision == 2))
        assert edited.history[0]["counts"]["wrong_location.i"] == 0
        assert sum(c.count for c in edited.counts) == 1


@pytest.mark.parametrize("bad, message", [
    ({"counts": {"missed_finding.s": -1}}, "whole number from 0"),
    ({"counts": {"missed_finding.s": 1.5}}, "whole number from 0"),
    ({"counts": {"missed_finding.s": "nan"}}, "whole number from 0"),
    ({"counts": {"made_up.s": 1}}, "Unknown error category"),
    ({"counts": {"missed_finding.s": 1}, "spans": {"missed_finding.s": [[0, 9999]]}}, "does not lie inside"),
    ({"counts": {"missed_finding.s": 1}, "spans": {"missed_finding.s": [[0, 3], [4, 6]]}}, "2 highlighted spans"),
])
def test_bad_error_values_give_a_clear_message_and_store_nothing(errors_study, bad, message):
    created, service, factory = errors_study
    token = _token(created)
    labels = [c.label for c in service.resume(token).candidates]
    values = {**zero_errors(), "spans": bad.get("spans", {})}
    values["counts"] = {**values["counts"], **bad["counts"]}
    values["counts"] = {k: v for k, v in values["counts"].items()}
    with pytest.raises(RatingError, match=message):
        service.submit(token, 0, [], 0, {"errors": {labels[0]: values, labels[1]: zero_errors()}})
    with unit_of_work(factory) as s:
        assert s.query(ErrorRating).count() == 0 and s.query(ErrorCount).count() == 0


def test_pairwise_sides_are_random_stored_and_preferences_complete_the_case(pairwise_study):
    created, service, factory = pairwise_study
    token = _token(created)
    view = service.resume(token)
    pairs = view.protocol["pairs"]
    assert [p["key"] for p in pairs] == ["A-B", "A-C", "B-C"]
    assert all(p["values"] is None for p in pairs)
    # the sides shown are the stored label order: reopening shows the same sides
    with unit_of_work(factory) as s:
        before = [a.label_order for a in s.scalars(select(Assignment).order_by(Assignment.id))]
    assert service.open_case(token, 0).candidates == view.candidates
    with pytest.raises(RatingError, match="every pair"):
        service.submit(token, 0, [], 0, {"pairs": {"A-B": neutral_pair()}})
    with pytest.raises(RatingError, match="harm can be given only for a text marked as holding an error"):
        service.submit(token, 0, [], 0, {"pairs": {k: neutral_pair(left_harm_extent="none") for k in
                                                   ("A-B", "A-C", "B-C")}})
    with pytest.raises(RatingError, match="extent of possible harm of the right text"):
        service.submit(token, 0, [], 0, {"pairs": {k: neutral_pair(right_error=True) for k in ("A-B", "A-C", "B-C")}})
    with pytest.raises(RatingError, match="from -2 to 2"):
        service.submit(token, 0, [], 0, {"pairs": {k: neutral_pair(correctness=3) for k in ("A-B", "A-C", "B-C")}})
    harmful = neutral_pair(correctness=2, left_error=True, left_harm_extent="severe_death", left_harm_likelihood="low")
    after = service.submit(token, 0, [], 0, {"pairs": {"A-B": harmful, "A-C": neutral_pair(), "B-C": neutral_pair()}})
    assert after.n_completed == 1 and 0 not in after.unrated
    with unit_of_work(factory) as s:
        order = s.scalar(select(Assignment.label_order).join(Assignment.rater)
                         .where(Assignment.position == 0).order_by(Assignment.id))
        row = s.scalar(select(Preference).where(Preference.pair_key == "A-B"))
        assert (row.left_output_id, row.right_output_id) == (order[0], order[1])
        assert row.correctness == 2 and row.left_harm_extent == "severe_death"
        after_orders = [a.label_order for a in s.scalars(select(Assignment).order_by(Assignment.id))]
    assert after_orders == before
    assert service.open_case(token, 0).protocol["pairs"][0]["values"]["left_harm_likelihood"] == "low"


def test_pairwise_left_side_is_not_fixed_by_system(tmp_path):
    """Over many raters and cases each system is shown left about half the time (secrets-drawn)."""
    url = str(tmp_path / "sides.db")
    make_protocol_study(url, "pairwise", n_raters=20, n_cases=10)
    factory = make_session_factory(prepare_database(url))
    with unit_of_work(factory) as s:
        first = dict(s.execute(select(Output.id, System.name).join(System)).all())
        lefts = [first[a.label_order[0]] for a in s.scalars(select(Assignment))]
    factory.kw["bind"].dispose()
    share = lefts.count(SECRET_SYSTEMS[0]) / len(lefts)
    assert 0.35 < share < 0.65, share  # 200 draws: outside this band with probability < 1e-4


def test_protocol_views_never_name_a_system(pairwise_study):
    created, service, _ = pairwise_study
    token = _token(created)
    service.submit(token, 0, [], 0, {"pairs": {k: neutral_pair() for k in ("A-B", "A-C", "B-C")}})
    text = json.dumps(service.open_case(token, 0).as_dict()).lower()
    for secret in (*SECRET_SYSTEMS, *SECRET_KINDS, "output_id", "system"):
        assert secret.lower() not in text


def test_rater_lists_count_cases_rated_under_every_protocol(errors_study, tmp_path):
    """`rating.study list` and the admin's List raters counted only 1-5 scores: 0 cases rated for every rater of
    an errors- or pairwise-only study, whatever they had submitted."""
    import subprocess
    import sys

    from rating.admin import AdminService
    from tests.support.rating_support import ROOT

    created, service, factory = errors_study
    token = _token(created)
    labels = [c.label for c in service.resume(token).candidates]
    service.submit(token, 0, [], 0, {"errors": {lab: zero_errors() for lab in labels}})
    secret = "s" * 24
    rows = {r.name: r for r in AdminService(factory, admin_secret=secret).list_raters(secret, created.study_id)}
    assert (rows["Dr 00"].n_rated, rows["Dr 01"].n_rated) == (1, 0)
    url = str(factory.kw["bind"].url)
    listed = subprocess.run([sys.executable, "-m", "rating.study", "list", "--db", url], cwd=ROOT,
                            capture_output=True, text=True, timeout=240)
    assert listed.returncode == 0, listed.stderr[-2000:]
    assert any("Dr 00: 1/3 cases" in line for line in listed.stdout.splitlines()), listed.stdout
