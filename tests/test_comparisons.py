"""Paired comparisons: the Wilcoxon method chosen on purpose and checked by hand, the rank-biserial
effect size, the approximate-randomization test against the exhaustive one."""
from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm

from db.models import CRITERIA
from rating.analysis.comparisons import compare_systems, permutation_p, rank_biserial, wilcoxon_method
from rating.analysis.config import AnalysisConfig


def _pairs(a: list[float], b: list[float]) -> pd.DataFrame:
    rows = [{"case_id": i, "output_id": 2 * i + k, "rater": "R1", "system": s, "repeat_index": 0,
             "calibration": False, **{c: v for c in CRITERIA}}
            for i, (va, vb) in enumerate(zip(a, b, strict=True)) for k, (s, v) in enumerate((("A", va), ("B", vb)))]
    return pd.DataFrame(rows)


def _exact_two_sided(diff: np.ndarray) -> float:
    """All 2^n sign patterns of the ranks (no ties, no zeros): P(min(W+, W-) <= observed)."""
    ranks = np.argsort(np.argsort(np.abs(diff))) + 1
    observed = min(ranks[diff > 0].sum(), ranks[diff < 0].sum())
    total = ranks.sum()
    hits = sum(1 for signs in itertools.product((0, 1), repeat=len(diff))
               if min(w := sum(r for r, s in zip(ranks, signs, strict=True) if s), total - w) <= observed)
    return hits / 2 ** len(diff)


def _normal_cc(diff: np.ndarray) -> float:
    """Normal approximation with continuity correction and the tie correction of the variance (zeros dropped)."""
    d = diff[diff != 0]
    ranks = pd.Series(np.abs(d)).rank().to_numpy()
    n = len(d)
    w_plus = ranks[d > 0].sum()
    mean = n * (n + 1) / 4
    _, counts = np.unique(np.abs(d), return_counts=True)
    var = n * (n + 1) * (2 * n + 1) / 24 - (counts ** 3 - counts).sum() / 48
    z = (abs(w_plus - mean) - 0.5) / np.sqrt(var)
    return 2 * norm.sf(z)


def test_exact_where_valid_and_cheap_by_enumeration():
    a = [3.0, 4.5, 2.0, 5.0, 4.0, 3.5, 4.75, 2.25, 4.1, 3.3]
    b = [2.5, 3.0, 2.6, 3.1, 3.8, 3.6, 2.0, 1.5, 3.55, 3.45]  # distinct |differences|, none zero
    diff = np.subtract(a, b)
    assert wilcoxon_method(diff, AnalysisConfig()) == "exact"
    row = compare_systems(_pairs(a, b), ["A", "B"]).iloc[0]
    assert row["test"] == "Wilcoxon signed-rank, exact"
    assert row["p_value"] == pytest.approx(_exact_two_sided(diff), abs=1e-12)


@pytest.mark.parametrize("a, b, why", [
    ([3, 4, 2, 5, 4, 3, 5, 2], [2, 3, 1, 4, 3, 4, 4, 1], "ties"),
    ([3, 4, 2, 5, 4, 3, 5, 2], [3, 3.5, 1, 4.25, 3.2, 4.5, 4.9, 1.3], "a zero difference"),
    (list(np.linspace(2, 5, 30) + 0.013 * np.arange(30) ** 1.5), list(np.full(30, 3.0)), "more than 25 cases"),
])
def test_normal_approximation_with_continuity_correction_otherwise(a, b, why):
    diff = np.subtract(a, b, dtype=float)
    assert wilcoxon_method(diff, AnalysisConfig()) == "approx", why
    row = compare_systems(_pairs(a, b), ["A", "B"]).iloc[0]
    assert row["test"] == "Wilcoxon signed-rank, normal approximation with continuity correction"
    assert row["p_value"] == pytest.approx(_normal_cc(diff), rel=1e-9)


def test_matched_pairs_rank_biserial_by_hand():
    # |d| ranks 1..4; positive ranks 1+2+4 = 7, negative 3: r = (7 - 3) / 10
    assert rank_biserial(np.array([1.0, 2.0, -3.0, 4.0, 0.0])) == pytest.approx(0.4)
    assert rank_biserial(np.array([-1.0, -2.0])) == -1.0 and np.isnan(rank_biserial(np.zeros(3)))
    row = compare_systems(_pairs([2, 4, 1, 6], [1, 2, 4, 2]), ["A", "B"]).iloc[0]
    assert row["rank_biserial"] == pytest.approx(0.4)


def test_permutation_test_matches_the_exhaustive_one_and_is_optional():
    diff = np.array([0.5, 1.0, -0.25, 0.75, 1.5, 0.2, -0.1, 0.9])
    flips = np.array(list(itertools.product((-1, 1), repeat=len(diff))))
    exhaustive = np.mean(np.abs(flips @ diff) >= abs(diff.sum()) - 1e-12)
    approx = permutation_p(diff, 50_000, np.random.default_rng(0))
    assert approx == pytest.approx(exhaustive, abs=0.01)
    rows = _pairs(list(diff + 3), [3.0] * len(diff))
    assert compare_systems(rows, ["A", "B"])["p_permutation"].isna().all()  # off by default
    on = compare_systems(rows, ["A", "B"], AnalysisConfig(n_permutations=20_000)).iloc[0]
    assert on["p_permutation"] == pytest.approx(exhaustive, abs=0.015) and np.isfinite(on["p_permutation_holm"])


def test_method_can_be_forced_and_bad_settings_are_refused():
    with pytest.raises(ValueError, match="wilcoxon_method"):
        AnalysisConfig(wilcoxon_method="fast")
    with pytest.raises(ValueError, match="n_permutations"):
        AnalysisConfig(n_permutations=-1)
    diff = np.array([0.5, 1.0, -0.25])
    assert wilcoxon_method(diff, AnalysisConfig(wilcoxon_method="approx")) == "approx"
