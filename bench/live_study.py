"""A study that raters submit to while another process reads the database (bench_submit_during_export,
bench_copy_live): a database of `n_ratings` ratings, plus a small study whose every case is already rated
once, so that each measured submit is an edit (a write)."""
from __future__ import annotations

from pathlib import Path


def form_for(view, score: int) -> list[dict]:
    """The same score on every criterion of every candidate of an opened case."""
    from db.models import CRITERIA

    return [{"label": c.label, **{k: score for k in CRITERIA}} for c in view.candidates]


def submitters_study(db: Path, n_ratings: int, n_raters: int, n_cases: int = 6):
    """(session factory, RatingService, rater tokens) over a fresh database at `db`; dispose the factory's
    engine when done."""
    from bench.bench_export import build_database
    from db.engine import make_session_factory, prepare_database
    from rating.service import RatingService
    from tests.support.rating_support import make_study

    build_database(db, n_ratings)
    created = make_study(db, n_raters=n_raters, n_cases=n_cases, n_calibration=0, n_repeats=0, name="submitters")
    factory = make_session_factory(prepare_database(str(db)))
    svc = RatingService(factory)
    tokens = list(created.rater_tokens.values())
    for token in tokens:
        for position in range(n_cases):
            svc.submit(token, position, form_for(svc.open_case(token, position), 3))
    return factory, svc, tokens
