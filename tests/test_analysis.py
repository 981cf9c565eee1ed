"""Analysis of a rating study: numbers checked against hand computations and known answers."""
from __future__ import annotations

import itertools

import krippendorff
import numpy as np
import pandas as pd
import pytest

from core.metrics import rouge_pair
from db.engine import make_session_factory, prepare_database, unit_of_work
from db.models import CRITERIA
from rating.analysis.agreement import alpha_from_weights, krippendorff_table, self_consistency_table, unit_coincidences
from rating.analysis.comparisons import compare_systems, holm_adjust
from rating.analysis.config import AnalysisConfig
from rating.analysis.metrics import rouge_for_output
from rating.analysis.scores import figure4_table
from rating.analysis.summary import analyze_study
from rating.simulate import BOOSTED_SYSTEM, SimulationConfig, simulate_study


def tidy(rows: list[tuple]) -> pd.DataFrame:
    """(case, rater, system, score, repeat_index) rows -> a minimal tidy table, same score on every criterion."""
    df = pd.DataFrame(rows, columns=["case_id", "rater", "system", "score", "repeat_index"])
    df["output_id"] = df["case_id"] * 10 + df["system"].map({"A": 1, "B": 2, "C": 3})
    df["calibration"] = False
    for c in CRITERIA:
        df[c] = df["score"]
    return df


# --- Figure 4 ---------------------------------------------------------------------------------

def test_figure4_two_cases_one_rater_hand_interval():
    # Scores 1 and 3 on two cases: a resample of cases has mean 1, 2 or 3 (p = 1/4, 1/2, 1/4),
    # so the point estimate is 2 and the 95% percentile interval is [1, 3].
    table = figure4_table(tidy([(1, "R1", "A", 1, 0), (2, "R1", "A", 3, 0)]), ["A"], AnalysisConfig(n_bootstrap=4000))
    row = table[table["criterion"] == "coherence"].iloc[0]
    assert row["mean"] == 2.0
    assert (row["ci_low"], row["ci_high"]) == (1.0, 3.0)
    assert row["n_ratings"] == 2 and row["n_cases"] == 2 and row["n_raters"] == 1


def test_figure4_matches_independent_two_level_bootstrap():
    rows = [(1, "R1", "A", 4, 0), (1, "R2", "A", 5, 0), (2, "R1", "A", 2, 0), (3, "R2", "A", 3, 0),
            (3, "R3", "A", 1, 0), (1, "R1", "B", 2, 0), (2, "R3", "B", 4, 0), (3, "R2", "B", 2, 0),
            (1, "R1", "A", 1, 1)]  # the hidden repeat must not count
    data = tidy(rows)
    cfg = AnalysisConfig(n_bootstrap=300, seed=7)
    table = figure4_table(data, ["A", "B"], cfg).set_index(["system", "criterion"])
    # Hand means (first ratings only): A = (4+5+2+3+1)/5 = 3.0, B = (2+4+2)/3 = 8/3.
    assert table.loc[("A", "relevance"), "mean"] == pytest.approx(3.0)
    assert table.loc[("B", "relevance"), "mean"] == pytest.approx(8 / 3)
    # Independent re-computation: expand every resample into explicit lists of ratings.
    cases, raters = [1, 2, 3], ["R1", "R2", "R3"]
    rng = np.random.default_rng(7)
    case_draws = rng.integers(0, 3, size=(300, 3))
    rater_draws = rng.integers(0, 3, size=(300, 3))
    first = [r for r in rows if r[4] == 0]
    for system in ("A", "B"):
        means = []
        for cd, rd in zip(case_draws, rater_draws):
            picked = [score for ci in cd for ri in rd for (c, r, s, score, _) in first
                      if s == system and c == cases[ci] and r == raters[ri]]
            if picked:
                means.append(np.mean(picked))
        low, high = np.quantile(means, [0.025, 0.975])
        assert table.loc[(system, "understandability"), "ci_low"] == pytest.approx(low)
        assert table.loc[(system, "understandability"), "ci_high"] == pytest.approx(high)


# --- agreement --------------------------------------------------------------------------------

KRIPPENDORFF_2011 = [  # Krippendorff (2011), "Computing Krippendorff's alpha-reliability", 4 observers x 12 units
    [1, 2, 3, 3, 2, 1, 4, 1, 2, None, None, None],
    [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, None, 3],
    [None, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, None],
    [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, None],
]


def _matrix_to_tidy(matrix) -> pd.DataFrame:
    rows = [(unit + 1, f"R{obs + 1}", "A", v, 0) for obs, values in enumerate(matrix)
            for unit, v in enumerate(values) if v is not None]
    return tidy(rows)


def test_krippendorff_alpha_published_example():
    table = krippendorff_table(_matrix_to_tidy(KRIPPENDORFF_2011), AnalysisConfig(n_bootstrap_alpha=50))
    assert table["alpha"].round(3).tolist() == [0.815] * len(CRITERIA)  # the paper's ordinal value
    interval = krippendorff_table(_matrix_to_tidy(KRIPPENDORFF_2011),
                                  AnalysisConfig(n_bootstrap_alpha=50, alpha_level="interval"))
    assert round(interval["alpha"].iloc[0], 3) == 0.849  # the paper's interval value
    assert (table["ci_low"] <= table["alpha"]).all() and (table["alpha"] <= table["ci_high"]).all()
    assert table["n_units"].iloc[0] == 11  # unit 12 has a single value and is not pairable


def test_krippendorff_alpha_perfect_agreement_is_one():
    matrix = [[1, 3, 5, 2, 4], [1, 3, 5, 2, 4], [1, 3, 5, 2, 4]]
    table = krippendorff_table(_matrix_to_tidy(matrix), AnalysisConfig(n_bootstrap_alpha=50))
    assert np.allclose(table["alpha"], 1.0)
    assert np.allclose(table[["ci_low", "ci_high"]], 1.0)


@pytest.mark.parametrize("level", ["nominal", "ordinal", "interval", "ratio"])
def test_vectorised_bootstrap_alpha_equals_package(level):
    rng = np.random.default_rng(3)
    counts = rng.integers(0, 3, size=(40, 5)).astype(float)
    counts = counts[counts.sum(axis=1) >= 2]
    weights = np.vstack([np.ones(len(counts)), rng.integers(0, 3, size=len(counts))])
    ours = alpha_from_weights(unit_coincidences(counts), weights, level)
    for w, value in zip(weights, ours):
        expanded = np.repeat(counts, w.astype(int), axis=0)
        assert value == pytest.approx(krippendorff.alpha(value_counts=expanded, value_domain=[1, 2, 3, 4, 5],
                                                         level_of_measurement=level))


def test_self_consistency_hand_counts():
    rows = [(1, "R1", "A", 3, 0), (1, "R1", "A", 3, 1), (2, "R1", "A", 4, 0), (2, "R1", "A", 2, 1),
            (3, "R1", "A", 5, 0), (3, "R1", "A", 4, 1), (4, "R1", "A", 1, 0)]  # case 4 was not repeated
    table = self_consistency_table(tidy(rows))
    row = table[(table["rater"] == "R1") & (table["criterion"] == "coherence")].iloc[0]
    assert row["n_pairs"] == 3
    assert row["exact"] == pytest.approx(1 / 3)
    assert row["within_one"] == pytest.approx(2 / 3)
    assert set(table["rater"]) == {"R1", "ALL"}


# --- comparisons ------------------------------------------------------------------------------

def test_holm_adjust_hand_values():
    # sorted: 0.01*3 = 0.03, 0.03*2 = 0.06, 0.04*1 = 0.04 -> monotone 0.06
    assert holm_adjust([0.01, 0.04, 0.03]).tolist() == pytest.approx([0.03, 0.06, 0.06])
    assert np.isnan(holm_adjust([np.nan, 0.02])[0]) and holm_adjust([np.nan, 0.02])[1] == pytest.approx(0.02)


def test_comparisons_identical_systems_are_not_different():
    rows = [(c, "R1", s, (c % 5) + 1, 0) for c in range(1, 11) for s in ("A", "B")]
    table = compare_systems(tidy(rows), ["A", "B"])
    assert (table["p_value"] == 1.0).all() and not table["significant"].any()
    assert (table["mean_diff"] == 0).all()


# --- ROUGE --------------------------------------------------------------------------------------

def test_fast_rouge_equals_core_metric(toy_reports):
    for a, b in itertools.product(toy_reports[:4], repeat=2):
        expected = rouge_pair(a.impression + " " + a.findings, b.impression)
        got = rouge_for_output(a.impression + " " + a.findings, b.impression)
        assert got == pytest.approx((expected["rouge1"], expected["rouge2"], expected["rougeL"]))


# --- a simulated study --------------------------------------------------------------------------

@pytest.fixture(scope="module")
def simulated(tmp_path_factory):
    db = tmp_path_factory.mktemp("sim") / "study.db"
    factory = make_session_factory(prepare_database(str(db)))
    with unit_of_work(factory) as session:
        result = simulate_study(session, SimulationConfig(seed=3, n_cases=60, n_raters=4, k=2, n_repeats=4))
    with factory() as session:
        analysis = analyze_study(session, result.study_id, AnalysisConfig(n_bootstrap=400, n_bootstrap_alpha=100))
    return result, analysis, factory


def test_simulated_effect_recovered(simulated):
    result, analysis, _ = simulated
    fig4 = analysis.figure4.set_index(["system", "criterion"])
    others = [s for s in result.systems if s != BOOSTED_SYSTEM]
    gaps = [fig4.loc[(BOOSTED_SYSTEM, c), "mean"] - np.mean([fig4.loc[(s, c), "mean"] for s in others])
            for c in CRITERIA]
    assert np.mean(gaps) == pytest.approx(1.0, abs=0.2)
    assert all(0.6 < g < 1.4 for g in gaps)
    for c in CRITERIA:  # the boosted system's interval lies above every other system's mean
        assert all(fig4.loc[(BOOSTED_SYSTEM, c), "ci_low"] > fig4.loc[(s, c), "mean"] for s in others)
    cmp = analysis.comparisons
    boosted = cmp[(cmp["system_a"] == BOOSTED_SYSTEM) | (cmp["system_b"] == BOOSTED_SYSTEM)]
    assert len(boosted) == len(CRITERIA) * len(others)
    assert boosted["significant"].all() and (boosted["p_holm"] < 0.001).all()
    rest = cmp[(cmp["system_a"] != BOOSTED_SYSTEM) & (cmp["system_b"] != BOOSTED_SYSTEM)]
    assert rest["significant"].mean() < 0.2  # no injected difference among the others


def _check_omission_rates(analysis, factory):
    """Table 1 reports each system's omission and addition rates, recomputed here from the stored texts."""
    from sqlalchemy import select

    from core import consistency
    from core.omissions import check
    from db.models import Case, Output, System

    t1 = analysis.table1.set_index("system")
    with factory() as session:
        rows = session.execute(select(System.name, Output.text, Case.findings, Case.id)
                               .join(Output, Output.system_id == System.id).join(Case, Output.case_id == Case.id)).all()
    rated = set(analysis.ratings["case_id"])
    for system in t1.index:
        mine = [(t, f) for name, t, f, case in rows if name == system and case in rated]
        expected = np.mean([bool(check(f, t).omitted) for t, f in mine])
        assert t1.loc[system, "omission_rate"] == pytest.approx(expected)
        assert 0 <= t1.loc[system, "addition_rate"] <= 1
        contradicting = np.mean([not consistency.check(t, f).consistent for t, f in mine])
        assert t1.loc[system, "contradiction_rate"] == pytest.approx(contradicting)
    assert "omission_rate" in analysis.ratings.columns


def test_simulated_tables_come_out(simulated):
    result, analysis, factory = simulated
    assert analysis.info["simulated"] and analysis.info["name"].startswith("SIMULATED")
    assert len(analysis.ratings) == result.n_ratings
    assert set(analysis.ratings["rater"]) == {r["pseudonym"] for r in result.raters}
    t1 = analysis.table1.set_index("system")
    assert t1.loc["reference", "rouge1"] == pytest.approx(1.0)  # the reference against itself
    assert t1.loc[BOOSTED_SYSTEM, "rouge1"] > t1.loc["lead", "rouge1"]  # it drops fewer words
    assert "chexpert_micro_f1" in analysis.ratings.columns  # core.clinical's metric joined per output
    assert t1.loc["reference", "chexpert_micro_f1"] == pytest.approx(1.0)
    _check_omission_rates(analysis, factory)
    alpha = analysis.agreement
    assert alpha["alpha"].between(0.05, 0.95).all()
    assert (alpha["ci_low"] < alpha["alpha"]).all() and (alpha["alpha"] < alpha["ci_high"]).all()
    pooled = analysis.self_consistency[analysis.self_consistency["rater"] == "ALL"]
    assert (pooled["n_pairs"] == 4 * 4 * len(result.systems)).all()  # raters x repeats x outputs per case
    assert (pooled["within_one"] > 0.8).all() and (pooled["weighted_kappa"] > 0.3).all()
    rve = analysis.rouge_vs_experts
    assert set(rve["level"]) == {"output", "system"}
    assert (rve[rve["level"] == "system"]["n"] == len(result.systems)).all()
    assert (analysis.progress_raters["percent_done"] == 100).all()
    assert analysis.progress_raters["ratings_done"].sum() == result.n_ratings


def test_running_study_progress(tmp_path):
    factory = make_session_factory(prepare_database(str(tmp_path / "running.db")))
    with unit_of_work(factory) as session:
        result = simulate_study(session, SimulationConfig(seed=1, n_cases=12, n_raters=3, k=2, n_repeats=1,
                                                          complete=0.5))
    with factory() as session:
        analysis = analyze_study(session, result.study_id, AnalysisConfig(n_bootstrap=50, n_bootstrap_alpha=20))
    prog = analysis.progress_raters
    assert prog["ratings_done"].sum() == result.n_ratings == len(analysis.ratings)
    assert (prog["ratings_expected"] == prog["assignments"] * len(result.systems)).all()
    assert prog["percent_done"].between(40, 60).all()
    assert analysis.progress_cases["ratings_done"].sum() == result.n_ratings
