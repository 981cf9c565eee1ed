"""A small study with chosen output texts on a real SQLite file, and a rater who rates it."""
from __future__ import annotations

from pathlib import Path

from core.records import Report
from db.engine import make_session_factory, prepare_database, unit_of_work
from db.models import CRITERIA
from rating.service import RatingService
from rating.study_setup import RaterSpec, StudySpec, SystemOutputs, create_study


def study_with_texts(db: Path, texts: dict[str, list[str]], n_raters: int = 1):
    """texts: system name -> one impression per case. Returns (session factory, {rater: token})."""
    n_cases = len(next(iter(texts.values())))
    cases = [Report(id=f"k{i}", findings=f"Findings of case {i}: lungs clear ({i}).",
                    impression=f"Reference impression {i}.", source="kit") for i in range(n_cases)]
    outputs = {name: SystemOutputs(kind="imported", texts_by_case={c.id: t for c, t in zip(cases, column)})
               for name, column in texts.items()}
    factory = make_session_factory(prepare_database(str(db)))
    with unit_of_work(factory) as session:
        created = create_study(session, StudySpec(name="kit", seed=0), cases, outputs,
                               [RaterSpec(f"Dr {i}") for i in range(n_raters)])
    return factory, created.rater_tokens


def rate_everything(factory, token: str, score: int = 4, comment: str = "") -> None:
    service = RatingService(factory)
    view = service.open_case(token, 0)
    while not view.finished:
        forms = [{"label": c.label, **{k: score for k in CRITERIA}, "comment": comment} for c in view.candidates]
        view = service.submit(token, view.position, forms)
