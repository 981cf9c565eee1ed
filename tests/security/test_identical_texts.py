"""Attack: two systems that write the same impression are visibly the same (A and B identical), and
formatting habits (spacing, a final period) tell systems apart. Identical texts are shown once,
the rating counts for every system that wrote it, and the export says which systems shared it."""
from __future__ import annotations

import csv

from sqlalchemy import func, select

from db.engine import unit_of_work
from db.models import Rating
from rating.analysis.export import export_study
from rating.service import RatingService
from tests.security.study_kit import rate_everything, study_with_texts


def test_identical_texts_are_shown_once_and_rated_for_every_system(tmp_path):
    factory, tokens = study_with_texts(tmp_path / "s.db", {
        "constant": ["No acute cardiopulmonary abnormality.", "No acute cardiopulmonary abnormality."],
        "retrieval": ["No  acute cardiopulmonary abnormality", "Small left effusion."],
        "model": ["Clear lungs.", "Small   left effusion"],
    })
    token = next(iter(tokens.values()))
    service = RatingService(factory)
    texts = sorted(sorted(c.text for c in service.open_case(token, p).candidates) for p in range(2))
    assert texts == [["Clear lungs.", "No acute cardiopulmonary abnormality."],
                     ["No acute cardiopulmonary abnormality.", "Small left effusion."]]
    rate_everything(factory, token, score=5)
    with unit_of_work(factory) as session:
        assert session.scalar(select(func.count(Rating.id))) == 6  # 3 systems x 2 cases
        result = export_study(session, 1, tmp_path / "out")
    with open(result.files["csv"], newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    shared = {(r["case_source_id"], r["system"]): r["shared_with"] for r in rows}
    assert shared[("k0", "constant")] == "retrieval" and shared[("k0", "retrieval")] == "constant"
    assert shared[("k1", "retrieval")] == "model" and shared[("k0", "model")] == ""
