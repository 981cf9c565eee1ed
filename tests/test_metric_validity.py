"""Metric validity: Kendall's tau-b against scipy on the exported ratings; the vectorised
bootstrap against scipy on the expanded resample; leave one reader out by hand; the error hook."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import kendalltau

from db.engine import make_session_factory, prepare_database, unit_of_work
from db.models import CRITERIA
from rating.analysis import metric_validity as mv
from rating.analysis.config import AnalysisConfig
from rating.analysis.export import export_study
from rating.simulate import SimulationConfig, simulate_study


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    folder = tmp_path_factory.mktemp("validity")
    factory = make_session_factory(prepare_database(str(folder / "study.db")))
    with unit_of_work(factory) as session:
        result = simulate_study(session, SimulationConfig(seed=11, n_cases=14, n_raters=3, k=2, n_repeats=2))
    with factory() as session:
        export_study(session, result.study_id, folder / "out", AnalysisConfig(n_bootstrap=300, n_bootstrap_alpha=20))
    return folder / "out"


def test_tau_b_equals_scipy_on_the_exported_ratings(exported):
    ratings = pd.read_csv(exported / "ratings.csv")
    table = pd.read_csv(exported / "summary" / "metric_validity.csv")
    assert list(table.columns) == ["metric", "criterion", "level", "kendall_tau_b", "ci_low", "ci_high", "n"]
    assert set(table["criterion"]) == set(CRITERIA)  # snake_case, as in ratings.csv
    first = ratings[ratings["repeat_index"] == 0]  # hidden repeats excluded
    metrics = sorted(set(table["metric"]))
    assert {"rouge1", "rouge2", "rougeL", "omission_rate", "addition_rate"} <= set(metrics)
    assert any(m.startswith("chexpert_") for m in metrics)
    per_output = first.groupby("output_id").agg({**{c: "mean" for c in CRITERIA}, **{m: "first" for m in metrics},
                                                 "system": "first"})
    # Means tie when equal to 12 decimals (as the analysis documents): a sum in another order of the same
    # outputs (output ids are random per database) differs by about 1e-16 and must not break a tie.
    per_system = per_output.groupby("system").mean(numeric_only=True).round(12)
    checked = 0
    for row in table.itertuples():
        frame = per_output if row.level == "output" else per_system
        x, y = frame[row.metric].to_numpy(float), frame[row.criterion].to_numpy(float)
        assert row.n == len(x)
        if np.ptp(x) == 0 or np.ptp(y) == 0:
            assert np.isnan(row.kendall_tau_b)
            continue
        expected = kendalltau(x, y, variant="b").statistic
        assert row.kendall_tau_b == pytest.approx(expected, abs=1e-12)
        assert row.ci_low <= row.kendall_tau_b + 1e-12 and row.kendall_tau_b - 1e-12 <= row.ci_high
        checked += 1
    assert checked >= 40


def test_vectorised_resample_tau_equals_scipy_on_the_expanded_sample():
    """A resample with case multiplicities m: the same tau-b as scipy on the outputs copied m times."""
    rng = np.random.default_rng(4)
    n_cases, k = 9, 3
    x = np.round(rng.random((n_cases, k)), 1)  # ties inside and across cases
    y = rng.integers(1, 4, size=(n_cases, k)).astype(float)
    x[2, 2] = y[5, 1] = np.nan  # a missing output: left out of both
    y[2, 2] = x[5, 1] = np.nan
    weights = np.vstack([np.ones(n_cases), rng.integers(0, 3, size=(6, n_cases))]).astype(float)
    sizes = (~np.isnan(x)).sum(axis=1).astype(float)
    got = mv._weighted_tau_b(weights, mv._case_sign_sums(mv._signs(x), mv._signs(y)),
                             mv._quad(weights, mv._tie_sums(x)), mv._quad(weights, mv._tie_sums(y)), sizes)
    for b, m in enumerate(weights.astype(int)):
        xs = np.concatenate([np.tile(x[c], m[c]) for c in range(n_cases)])
        ys = np.concatenate([np.tile(y[c], m[c]) for c in range(n_cases)])
        keep = ~np.isnan(xs)
        assert got[b] == pytest.approx(kendalltau(xs[keep], ys[keep], variant="b").statistic, abs=1e-12)


def _tidy(scores: dict[str, list[float]], metric: list[float]) -> pd.DataFrame:
    rows = []
    for rater, values in scores.items():
        for out, v in enumerate(values):
            if v is not None:
                rows.append({"output_id": out, "case_id": out, "system": "A", "rater": rater, "repeat_index": 0,
                             "calibration": False, "rouge1": metric[out], **{c: v for c in CRITERIA}})
    return pd.DataFrame(rows)


def test_leave_one_reader_out_by_hand():
    scores = {"R1": [1, 2, 3, 4, 5, 2], "R2": [2, 2, 4, 4, 5, 1], "R3": [1, 3, 3, 5, 4, None]}
    metric = [0.1, 0.3, 0.2, 0.5, 0.9, 0.4]
    table = mv.leave_one_reader_out(_tidy(scores, metric)).set_index(["metric", "criterion"])
    row = table.loc[("rouge1", "coherence")]
    reader_taus, metric_taus = [], []
    for held in scores:
        others = [r for r in scores if r != held]
        outs = [o for o in range(6) if scores[held][o] is not None and any(scores[r][o] is not None for r in others)]
        mean_others = [np.mean([scores[r][o] for r in others if scores[r][o] is not None]) for o in outs]
        reader_taus.append(kendalltau([scores[held][o] for o in outs], mean_others).statistic)
        metric_taus.append(kendalltau([metric[o] for o in outs], mean_others).statistic)
    assert row["tau_reader"] == pytest.approx(np.mean(reader_taus), abs=1e-12)
    assert row["tau_metric"] == pytest.approx(np.mean(metric_taus), abs=1e-12)
    assert row["metric_closer"] == (np.mean(metric_taus) >= np.mean(reader_taus))
    assert row["n_readers"] == 3


def test_expert_error_counts_join_through_the_hook():
    """The errors protocol (issue 24) plugs a per-output count in; it is correlated like a criterion."""
    scores = {"R1": [1, 2, 3, 4, 5, 2], "R2": [2, 2, 4, 4, 5, 1]}
    metric = [0.1, 0.3, 0.2, 0.5, 0.9, 0.4]
    errors = pd.Series([3, 2, 2, 1, 0, 1], index=range(6))
    table = mv.metric_validity_table(_tidy(scores, metric), AnalysisConfig(n_bootstrap=50),
                                     expert_targets={"significant_errors": errors})
    row = table[(table["criterion"] == "significant_errors") & (table["level"] == "output")].iloc[0]
    assert row["kendall_tau_b"] == pytest.approx(kendalltau(metric, errors).statistic, abs=1e-12) and row["n"] == 6


def test_a_constant_metric_is_na_with_a_reason():
    table = mv.metric_validity_table(_tidy({"R1": [1, 2, 3], "R2": [2, 3, 3]}, [0.5, 0.5, 0.5]),
                                     AnalysisConfig(n_bootstrap=20))
    assert table["kendall_tau_b"].isna().all()
    output, system = table[table["level"] == "output"], table[table["level"] == "system"]
    assert (output["note"] == "n/a: the metric is the same for every output").all()
    assert (system["note"] == "n/a: fewer than 2 systems").all()  # one system only


@pytest.mark.parametrize("cells", [mv.CONTINGENCY_CELLS, 50])  # contingency tables, then scipy for every row
def test_tau_b_of_many_rows_equals_scipy_to_the_last_bit(monkeypatch, cells):
    monkeypatch.setattr(mv, "CONTINGENCY_CELLS", cells)
    rng = np.random.default_rng(5)
    n = 300
    y = rng.integers(3, 40, n) / 7  # a mean of other readers: few levels, many ties
    rows = [rng.integers(1, 6, n), rng.integers(0, 2, n), rng.random(n), np.round(rng.random(n), 1),
            np.full(n, 0.5), -rng.integers(0, 40, n) / 3, rng.random(n)]
    rows[-1][7] = np.nan  # a metric missing for one output: nan, as scipy gives
    got = mv.kendall_tau_b_many(np.vstack(rows).astype(float), y)
    want = [kendalltau(x, y, variant="b").statistic for x in rows]
    assert np.isnan(got[4]) and np.isnan(want[4])  # constant metric
    assert np.isnan(got[6]) and np.isnan(want[6])
    ok = [i for i in range(len(rows)) if i not in (4, 6)]
    assert got[ok].tolist() == [float(w) for w in np.asarray(want)[ok]]  # bit for bit, not approximately
    assert np.isnan(mv.kendall_tau_b_many(np.vstack(rows[:2]).astype(float), np.full(n, 2.0))).all()
    assert np.isnan(mv.kendall_tau_b_many(np.ones((1, 1)), np.ones(1))).all()


def test_leave_one_reader_out_equals_scipy_per_reader():
    """Every held-out reader's tau-b and the metric's tau-b, recomputed with scipy one by one."""
    rng = np.random.default_rng(2)
    rows = []
    for out in range(40):
        for rater in ("R01", "R02", "R03", "R04"):
            if rater == "R04" and out % 3 == 0:
                continue  # an incomplete design: R04 skipped some outputs
            rows.append({"output_id": out, "case_id": out // 2, "system": f"s{out % 2}", "rater": rater,
                         "repeat_index": 0, "calibration": False, "rouge1": round(out * 0.37 % 1, 3),
                         "omission_rate": float(out % 5 == 0),
                         **{c: int(rng.integers(1, 6)) for c in CRITERIA}})
    ratings = pd.DataFrame(rows)
    got = mv.leave_one_reader_out(ratings).set_index(["metric", "criterion"])
    for criterion in CRITERIA:
        wide = ratings.pivot(index="output_id", columns="rater", values=criterion)
        metric = ratings.groupby("output_id")[["rouge1", "omission_rate"]].first()
        reader_taus, metric_taus = [], {m: [] for m in metric}
        for rater in wide:
            own = wide[rater].dropna()
            others = wide.drop(columns=rater).loc[own.index].mean(axis=1)
            reader_taus.append(kendalltau(own, others).statistic)
            for m in metric:
                metric_taus[m].append(kendalltau(metric.loc[own.index, m], others).statistic)
        for m in metric:
            row = got.loc[(m, criterion)]
            assert row["tau_reader"] == pytest.approx(np.mean(reader_taus), abs=1e-12)
            assert row["tau_metric"] == pytest.approx(np.mean(metric_taus[m]), abs=1e-12)


@pytest.mark.parametrize("k", [3, 11, 12])  # int8 einsum up to k = 11, the float32 product beyond
def test_case_block_sums_equal_a_plain_count(k):
    rng = np.random.default_rng(k)
    x, y = rng.integers(0, 4, (6, k)).astype(float), rng.integers(0, 3, (6, k)).astype(float)
    x[1, -1] = y[2, 0] = np.nan  # missing values count as neither concordant nor tied
    a = mv._case_sign_sums(mv._signs(x), mv._signs(y))
    ties = mv._tie_sums(x)
    for c in range(6):
        for d in range(6):
            pairs = [(p, q) for p in range(k) for q in range(k)]
            assert a[c, d] == sum(np.sign(x[c, p] - x[d, q]) * np.sign(y[c, p] - y[d, q]) for p, q in pairs
                                  if not np.isnan([x[c, p], x[d, q], y[c, p], y[d, q]]).any())
            assert ties[c, d] == sum(x[c, p] == x[d, q] for p, q in pairs)
