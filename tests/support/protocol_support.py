"""Helpers for the protocol tests: a small study of any protocol on a real database (SQLite or PostgreSQL)."""
from __future__ import annotations

from db.engine import make_session_factory, prepare_database, unit_of_work
from rating.study_setup import CreatedStudy, RaterSpec, StudySpec, SystemOutputs, create_study
from tests.support.rating_support import SECRET_KINDS, SECRET_SYSTEMS, toy_cases


def make_protocol_study(url: str, protocols: str, n_raters: int = 2, n_cases: int = 3, n_systems: int = 2,
                        name: str = "protocol-study", n_repeats: int = 0) -> CreatedStudy:
    """A study whose systems carry the distinctive SECRET_SYSTEMS names (blinding checks), every rater
    rating every case, no calibration cases."""
    cases = toy_cases(n_cases)
    names = [*SECRET_SYSTEMS, "reference"][:n_systems]
    outputs = {name_: SystemOutputs(kind=SECRET_KINDS[0] if i == 0 else "baseline",
                                    texts_by_case={c.id: f"Impression {i + 1} for {c.id}: small right effusion."
                                                   for c in cases})
               for i, name_ in enumerate(names)}
    factory = make_session_factory(prepare_database(url))
    with unit_of_work(factory) as session:
        created = create_study(session, StudySpec(name=name, seed=11, protocols=protocols, n_repeats=n_repeats),
                               cases, outputs, [RaterSpec(f"Dr {i:02d}") for i in range(n_raters)])
    factory.kw["bind"].dispose()
    return created


def zero_errors() -> dict:
    from core.protocol_scales import ERROR_CELLS
    return {"counts": {cell: 0 for cell in ERROR_CELLS}, "spans": {}}


def neutral_pair(**changes) -> dict:
    return {"completeness": 0, "correctness": 0, "conciseness": 0, "left_error": False, "right_error": False,
            **changes}
