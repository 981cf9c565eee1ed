"""The study CLIs on a real PostgreSQL server: simulate + export give the same ratings as on SQLite,
and `rating.study copy` moves a study SQLite -> PostgreSQL -> SQLite, verified."""
from __future__ import annotations

import json
import sqlite3

import pandas as pd
import pytest
from sqlalchemy import func, select

from db.engine import make_engine, make_session_factory, prepare_database, unit_of_work
from db.models import CRITERIA, Rating
from rating.service import RatingService
from rating.study_copy import ratings_checksum
from tests.support.rating_support import make_study
from tests.test_export import run_cli

pytestmark = pytest.mark.slow
SIMULATE = ("--seed", "5", "--n-cases", "12", "--n-raters", "3")
RATING_KEYS = ["rating_id", "case_id", "rater", "system", "repeat_index", *CRITERIA, "comment", "significant_error"]


def _simulate(db: str) -> dict:
    proc = run_cli("rating.simulate", "--db", db, *SIMULATE)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def _export(db: str, out) -> pd.DataFrame:
    proc = run_cli("rating.export", "--db", db, "--out", str(out), "--n-bootstrap", "50")
    assert proc.returncode == 0, proc.stderr
    return pd.read_csv(out / "ratings.csv").sort_values("rating_id").reset_index(drop=True)


@pytest.fixture(scope="module")
def sqlite_study(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pg_study")
    db = str(folder / "sim.db")
    summary = _simulate(db)
    return db, summary, _export(db, folder / "export")


def test_simulate_then_export_on_postgresql_gives_the_same_ratings_as_on_sqlite(sqlite_study, postgres, tmp_path):
    _, sqlite_summary, sqlite_csv = sqlite_study
    url = postgres.new_database("sim")
    summary = _simulate(url)
    assert summary["n_ratings"] == sqlite_summary["n_ratings"] > 0
    assert summary["systems"] == sqlite_summary["systems"]
    csv = _export(url, tmp_path / "pg")
    assert len(csv) == len(sqlite_csv) == summary["n_ratings"]
    pd.testing.assert_frame_equal(csv[RATING_KEYS], sqlite_csv[RATING_KEYS], check_dtype=False)
    assert list(csv.columns) == list(sqlite_csv.columns)
    # Every exported column, timestamps and ROUGE included, except the output ids: outputs are stored in a
    # fresh random order per study (blinding), so the same output has another id in each database.
    pd.testing.assert_frame_equal(csv.drop(columns="output_id"), sqlite_csv.drop(columns="output_id"))
    fig_pg = pd.read_excel(tmp_path / "pg" / "ratings.xlsx", sheet_name="figure4")
    from rating.simulate import DISPLAY_NAMES

    assert fig_pg.groupby("System")["Mean"].mean().idxmax() == DISPLAY_NAMES[summary["boosted_system"]]


def _copy(source: str, target: str):
    return run_cli("rating.study", "copy", "--from", source, "--to", target)


def test_copy_sqlite_to_postgresql_and_back_is_verified_and_complete(sqlite_study, postgres, tmp_path):
    db, summary, _ = sqlite_study
    url = postgres.new_database("copy")
    to_pg = _copy(db, url)
    assert to_pg.returncode == 0, to_pg.stderr
    report = json.loads(to_pg.stdout)
    assert report["row_counts"]["rating"] == summary["n_ratings"] and len(report["ratings_checksum"]) == 64
    with sqlite3.connect(db) as con:
        for table, n in report["row_counts"].items():
            assert con.execute(f'select count(*) from "{table}"').fetchone()[0] == n

    back = str(tmp_path / "archive.db")
    to_sqlite = _copy(url, back)
    assert to_sqlite.returncode == 0, to_sqlite.stderr
    assert json.loads(to_sqlite.stdout) == report  # same counts, same ratings checksum on both sides
    engines = [make_engine(db), make_engine(back)]
    with engines[0].connect() as a, engines[1].connect() as b:
        assert ratings_checksum(a) == ratings_checksum(b) == report["ratings_checksum"]  # the round trip is exact
    for engine in engines:
        engine.dispose()

    # The database goes on after the move: new rows (a second study, its ratings) get fresh ids.
    created = make_study(url, n_raters=1, n_cases=2, n_calibration=0, n_repeats=0, name="after the move")
    factory = make_session_factory(prepare_database(url))
    service, token = RatingService(factory), created.rater_tokens["Dr 00"]
    view = service.resume(token)
    service.submit(token, 0, [{"label": c.label, **{k: 2 for k in CRITERIA}} for c in view.candidates])
    assert _n_ratings(factory) == summary["n_ratings"] + len(view.candidates)
    factory.kw["bind"].dispose()


def _n_ratings(factory) -> int:
    with unit_of_work(factory) as s:
        return s.scalar(select(func.count(Rating.id)))


def test_copy_refuses_a_non_empty_target_or_a_missing_source_and_changes_nothing(sqlite_study, tmp_path):
    db, summary, _ = sqlite_study
    other = str(tmp_path / "other.db")
    assert _copy(db, other).returncode == 0
    again = _copy(db, other)
    assert again.returncode == 2 and "not empty" in again.stderr
    with sqlite3.connect(other) as con:
        assert con.execute("select count(*) from rating").fetchone()[0] == summary["n_ratings"]
    missing = _copy(str(tmp_path / "nope.db"), str(tmp_path / "x.db"))
    assert missing.returncode == 2 and "no database file" in missing.stderr
    assert not (tmp_path / "nope.db").exists() and not (tmp_path / "x.db").exists()
