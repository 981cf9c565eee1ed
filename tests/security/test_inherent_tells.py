"""Second red team: inherent tells. Knowing the public OpenI CSV, the red team named constant, lead,
retrieval and the reference in 34 of 34 cases: no blinding hides a system that writes the same text
every time, copies the findings' first sentence, or prints the published impression.

Now study creation (the CLI and the admin tab's service) warns, with the reason, when a study
includes such a system; the warning is stored with the study and shown in the analysis.
"""
from __future__ import annotations

import csv
import subprocess
import sys

import pytest

from db.engine import make_session_factory, prepare_database, unit_of_work
from db.models import Study
from rating.admin import AdminService
from rating.analysis.summary import analyze_study
from rating.study_request import StudyRequest
from rating.tells import stored_warnings
from tests.support.rating_support import ROOT, server_env, toy_cases

SECRET = "inherent-tells-admin-secret-01"


def _openi_csv(path, n=40):
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["uid", "MeSH", "Problems", "image", "indication", "comparison", "findings", "impression"])
        for r in toy_cases(n):  # the OpenI columns: the loader names these reports' source "openi"
            problems = "normal" if "No acute" in r.impression else "Opacity"
            w.writerow([r.id, problems, problems, "Xray Chest PA and Lateral", "", "", r.findings, r.impression])
    return path


def test_admin_study_creation_warns_stores_and_analysis_shows_the_tells(tmp_path):
    data = _openi_csv(tmp_path / "openi.csv")
    factory = make_session_factory(prepare_database(str(tmp_path / "s.db")))
    admin = AdminService(factory, admin_secret=SECRET)
    created = admin.create_study(SECRET, StudyRequest(name="tells", raters=("Dr A",), data_path=str(data), n=4,
                                                      split="train", systems=("constant", "lead"),
                                                      include_reference=True))
    text = "\n".join(created.warnings)
    assert "constant" in text and "same impression for every case" in text
    assert "lead" in text and "first sentence of the findings" in text
    assert "reference" in text and "public" in text
    with unit_of_work(factory) as session:
        assert stored_warnings({"config": session.get(Study, created.study_id).config}) == list(created.warnings)
        notes = "\n".join(analyze_study(session, created.study_id).notes)
    assert all(w in notes for w in created.warnings)


def test_a_study_without_tells_has_no_warning(tmp_path):
    data = _openi_csv(tmp_path / "openi.csv")
    factory = make_session_factory(prepare_database(str(tmp_path / "s.db")))
    admin = AdminService(factory, admin_secret=SECRET)
    imported = tmp_path / "outside.jsonl"
    from reports.dataset import load_split

    ids = [r.id for r in load_split(data).train]
    imported.write_text("".join(f'{{"case_id": "{i}", "system": "outside", "text": "Impression {i}."}}\n'
                                for i in ids))
    created = admin.create_study(SECRET, StudyRequest(name="clean", raters=("Dr A",), data_path=str(data), n=4,
                                                      split="train", import_path=str(imported)))
    assert created.warnings == ()


@pytest.mark.slow
def test_cli_create_prints_the_warning(tmp_path):
    data = _openi_csv(tmp_path / "openi.csv")
    out = subprocess.run([sys.executable, "-m", "rating.study", "create", "--db", str(tmp_path / "c.db"),
                          "--name", "cli-tells", "--data", str(data), "--n", "4", "--split", "train", "--systems", "lead",
                          "--raters", "Dr A"], cwd=ROOT, env=server_env(), capture_output=True, text=True,
                         timeout=600, check=False)
    assert out.returncode == 0, out.stderr
    assert "warning:" in out.stderr and "first sentence of the findings" in out.stderr

