"""Undefined statistics show "n/a" with their reason in the tables, the app view and the XLSX; export bounds."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from openpyxl import load_workbook

from db.engine import make_session_factory, prepare_database
from db.models import CRITERIA
from rating.analysis.agreement import krippendorff_table, self_consistency_table
from rating.analysis.comparisons import compare_systems
from rating.analysis.config import AnalysisConfig
from rating.analysis.scores import figure4_table
from rating.analysis.service import AnalysisService
from rating.service import RatingService
from tests.support.rating_support import make_study
from tests.test_analysis import tidy

ROOT = Path(__file__).resolve().parent.parent


def test_a_system_without_ratings_is_na_with_its_reason():
    table = figure4_table(tidy([(1, "R1", "A", 3, 0), (2, "R1", "A", 4, 0)]), ["A", "B"], AnalysisConfig(n_bootstrap=50))
    ghost = table[(table["system"] == "B") & (table["criterion"] == "coherence")].iloc[0]
    assert ghost["mean"] != ghost["mean"]  # NaN
    assert ghost["note"] == "n/a: no ratings of this system yet"
    assert set(table[table["system"] == "A"]["note"]) == {""}


def test_agreement_undefined_when_every_score_is_the_same_or_nobody_overlaps():
    same = tidy([(1, "R1", "A", 3, 0), (1, "R2", "A", 3, 0), (2, "R1", "A", 3, 0), (2, "R2", "A", 3, 0)])
    row = krippendorff_table(same, AnalysisConfig(n_bootstrap_alpha=20)).iloc[0]
    assert row["alpha"] != row["alpha"]
    assert row["note"] == "n/a: every rating uses the same score, so agreement beyond chance is undefined"
    alone = tidy([(1, "R1", "A", 3, 0), (2, "R2", "A", 4, 0)])
    assert krippendorff_table(alone).iloc[0]["note"] == "n/a: no output has been rated by two or more raters"


def test_repeats_and_comparisons_give_reasons():
    sc = self_consistency_table(tidy([(1, "R1", "A", 3, 0), (1, "R1", "A", 3, 1)]))
    row = sc[(sc["rater"] == "ALL") & (sc["criterion"] == "coherence")].iloc[0]
    assert row["note"] == ("weighted kappa n/a: one score value only in both ratings; "
                           "spearman n/a: fewer than 3 pairs")
    cmp = compare_systems(tidy([(1, "R1", "A", 3, 0), (1, "R1", "B", 3, 0), (2, "R1", "A", 4, 0),
                                (2, "R1", "B", 4, 0)]), ["A", "B"])
    assert set(cmp["note"]) == {"statistic n/a: every paired difference is zero (p = 1)"}
    disjoint = compare_systems(tidy([(1, "R1", "A", 3, 0), (2, "R1", "B", 4, 0)]), ["A", "B"])
    assert set(disjoint["note"]) == {"n/a: no case has ratings of both systems"}


class _Admin:
    def require(self, secret):
        if secret != "s":
            raise PermissionError("wrong")


def test_na_in_the_app_tables_and_the_xlsx(tmp_path):
    db = tmp_path / "same.db"
    created = make_study(db, n_raters=2, n_cases=3, n_calibration=0, n_repeats=0)
    factory = make_session_factory(prepare_database(str(db)))
    svc = RatingService(factory)
    for token in created.rater_tokens.values():  # everyone gives 3 everywhere: alpha is undefined
        for position in range(svc.resume(token).total):
            view = svc.open_case(token, position)
            svc.submit(token, position, [{"label": c.label, **{k: 3 for k in CRITERIA}} for c in view.candidates])
    view = AnalysisService(factory, admin=_Admin(), config=AnalysisConfig(n_bootstrap=50, n_bootstrap_alpha=20),
                           export_root=tmp_path / "exports").analyze_and_export("s", created.study_id)
    agreement = view.tables["agreement"]
    assert list(agreement["Krippendorff's alpha"]) == ["n/a"] * len(CRITERIA)
    assert agreement["Note"].str.startswith("n/a: every rating uses the same score").all()
    wb = load_workbook(view.files["xlsx"])
    rows = list(wb["agreement"].iter_rows(values_only=True))
    header = rows[0]
    assert all(r[header.index("Krippendorff's alpha")] == "n/a" for r in rows[1:])
    assert all(r[header.index("Note")].startswith("n/a: every rating uses the same score") for r in rows[1:])
    ratings = list(wb["ratings"].iter_rows(values_only=True))
    assert "n/a" not in {v for r in ratings for v in r}  # the ratings sheet keeps empty cells for missing values
    factory.kw["bind"].dispose()


def _export(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "rating.export", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"})


@pytest.fixture(scope="module")
def study_db(tmp_path_factory):
    db = tmp_path_factory.mktemp("na") / "s.db"
    make_study(db, n_raters=2, n_cases=2, n_calibration=0, n_repeats=0)
    return db


def test_export_out_that_is_a_file_is_a_clear_error(study_db, tmp_path):
    existing = tmp_path / "results.csv"
    existing.write_text("keep me")
    proc = _export("--db", str(study_db), "--out", str(existing))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip() == f"error: --out {existing} is an existing file; give a folder (it is created if missing)"
    assert existing.read_text() == "keep me"


@pytest.mark.parametrize("n, message", [("1000000000", "at most 20,000"), ("0", "at least 1")])
def test_n_bootstrap_is_bounded(study_db, tmp_path, n, message):
    proc = _export("--db", str(study_db), "--out", str(tmp_path / "o"), "--n-bootstrap", n)
    assert proc.returncode == 2 and message in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "o").exists()
