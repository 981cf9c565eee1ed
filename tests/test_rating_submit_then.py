"""RatingService.submit(..., then=): after editing an earlier case the rater goes back to where they
were working (issue 18); a bad `then` is refused before anything is stored."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from db.engine import make_session_factory, prepare_database, unit_of_work
from db.models import CRITERIA, Rating
from rating.service import RatingError, RatingService
from tests.support.rating_support import make_study


def _form(view, score=3):
    return [{"label": c.label, **{k: score for k in CRITERIA}} for c in view.candidates]


def test_submit_then_opens_the_case_the_rater_was_working_on(tmp_path):
    db = str(tmp_path / "study.db")
    token = make_study(db, n_raters=1, n_cases=5, n_calibration=0, n_repeats=0).rater_tokens["Dr 00"]
    factory = make_session_factory(prepare_database(db))
    svc = RatingService(factory)
    view = svc.resume(token)
    for position in range(3):
        view = svc.submit(token, position, _form(view))
    assert view.position == 3
    earlier = svc.open_case(token, 1)
    assert svc.submit(token, 1, _form(earlier, 5), then=3).position == 3  # not case 1 + 1
    assert svc.submit(token, 1, _form(earlier, 5), then=0).position == 2  # an earlier `then` never goes back
    assert svc.submit(token, 1, _form(earlier, 5)).position == 2
    with unit_of_work(factory) as s:
        before = s.scalar(select(func.count(Rating.id)))
    for bad in (99, -1, "x", 2.5):
        with pytest.raises(RatingError):
            svc.submit(token, 3, _form(svc.open_case(token, 3), 4), then=bad)
    with unit_of_work(factory) as s:
        assert s.scalar(select(func.count(Rating.id))) == before  # nothing of case 4 was stored
    factory.kw["bind"].dispose()
