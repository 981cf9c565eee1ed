"""Paired comparisons between systems, with the test named and an effect size beside each p-value.

Per criterion and pair of systems, each case contributes the mean over its raters of each
system's score (first ratings); the pair is compared over cases with
- the Wilcoxon signed-rank test (scipy.stats.wilcoxon, zero differences dropped, "wilcox"): the
  exact null distribution only where it is valid and cheap (no tied absolute differences, no
  zero difference, at most `AnalysisConfig.wilcoxon_exact_max_n` cases), else the normal
  approximation with a continuity correction; the method used is named in the `test` column;
- optionally (AnalysisConfig.n_permutations > 0) an approximate-randomization test: the mean
  paired difference against random sign flips of the differences, p = (1 + #|T*| >= |T|) / (1 + R);
- the matched-pairs rank-biserial correlation (Kerby 2014): (R+ - R-) / (R+ + R-) from the
  signed ranks of the non-zero differences, in [-1, 1], positive when system_a scores higher.
p-values are Holm corrected over the pairs of one criterion (the Wilcoxon ones; the
permutation ones separately).
"""
from __future__ import annotations

import itertools

import numpy as np
import pandas as pd

from db.models import CRITERIA
from rating.analysis.config import AnalysisConfig
from rating.analysis.scores import primary_ratings

COLUMNS = ["criterion", "system_a", "system_b", "n_cases", "mean_a", "mean_b", "mean_diff", "test", "statistic",
           "p_value", "p_holm", "significant", "rank_biserial", "p_permutation", "p_permutation_holm", "note"]


def holm_adjust(p_values: list[float] | np.ndarray) -> np.ndarray:
    """Holm step-down adjusted p-values (nan stays nan and is not counted)."""
    p = np.asarray(p_values, dtype=float)
    out = np.full_like(p, np.nan)
    ok = np.flatnonzero(np.isfinite(p))
    m = len(ok)
    running = 0.0
    for rank, i in enumerate(ok[np.argsort(p[ok], kind="stable")]):
        running = max(running, min(1.0, (m - rank) * p[i]))
        out[i] = running
    return out


def wilcoxon_method(diff: np.ndarray, config: AnalysisConfig) -> str:
    """"exact" or "approx" for these paired differences (see the module docstring)."""
    nonzero = diff[diff != 0]
    if config.wilcoxon_method != "auto":
        return config.wilcoxon_method
    ties = len(np.unique(np.abs(nonzero))) < len(nonzero)
    exact_ok = len(nonzero) == len(diff) and not ties and len(nonzero) <= config.wilcoxon_exact_max_n
    return "exact" if exact_ok else "approx"


TEST_NAMES = {"exact": "Wilcoxon signed-rank, exact",
              "approx": "Wilcoxon signed-rank, normal approximation with continuity correction"}


def rank_biserial(diff: np.ndarray) -> float:
    """Matched-pairs rank-biserial correlation of paired differences (zeros dropped); nan when all zero."""
    from scipy.stats import rankdata

    nonzero = diff[diff != 0]
    if nonzero.size == 0:
        return float("nan")
    ranks = rankdata(np.abs(nonzero))
    return float((ranks[nonzero > 0].sum() - ranks[nonzero < 0].sum()) / ranks.sum())


def permutation_p(diff: np.ndarray, n_permutations: int, rng: np.random.Generator) -> float:
    """Approximate-randomization p-value of the mean paired difference (random sign flips)."""
    if diff.size == 0:
        return float("nan")
    observed = abs(diff.mean())
    signs = rng.choice(np.array([-1.0, 1.0]), size=(n_permutations, diff.size))
    flipped = np.abs(signs @ diff) / diff.size
    return float((1 + np.count_nonzero(flipped >= observed - 1e-12)) / (1 + n_permutations))


def compare_systems(ratings: pd.DataFrame, systems: list[str] | None = None,
                    config: AnalysisConfig = AnalysisConfig()) -> pd.DataFrame:
    """Every pair of systems and criterion over cases: Wilcoxon (method named), effect size, Holm.

    mean_diff is system_a minus system_b; p_holm is Holm corrected over the pairs of one criterion.
    """
    data = primary_ratings(ratings, config)
    if data.empty:
        return pd.DataFrame(columns=COLUMNS)
    from scipy import stats  # imported where used (scipy.stats takes ~0.5 s to import)

    systems = systems or sorted(data["system"].unique())
    case_means = data.groupby(["case_id", "system"])[list(CRITERIA)].mean()
    rng = np.random.default_rng(config.seed)
    rows = []
    for criterion in CRITERIA:
        wide = case_means[criterion].unstack("system")
        block = []
        for a, b in itertools.combinations([s for s in systems if s in wide.columns], 2):
            pair = wide[[a, b]].dropna()
            diff = (pair[a] - pair[b]).to_numpy()
            stat = p = p_perm = float("nan")
            test = ""
            if len(diff) and np.any(diff != 0):
                method = wilcoxon_method(diff, config)
                test = TEST_NAMES[method]
                res = stats.wilcoxon(diff, zero_method="wilcox", correction=method == "approx", method=method)
                stat, p = float(res.statistic), float(res.pvalue)
            elif len(diff):
                p = 1.0
            if config.n_permutations and len(diff):
                p_perm = permutation_p(diff, config.n_permutations, rng)
            block.append([criterion, a, b, int(len(pair)), float(pair[a].mean()), float(pair[b].mean()),
                          float(diff.mean()) if len(diff) else float("nan"), test, stat, p, rank_biserial(diff),
                          p_perm])
        adjusted = holm_adjust([r[9] for r in block])
        adjusted_perm = holm_adjust([r[11] for r in block])
        for r, adj, adj_perm in zip(block, adjusted, adjusted_perm, strict=True):
            note = ""
            if r[3] == 0:
                note = "n/a: no case has ratings of both systems"
            elif not np.isfinite(r[8]):
                note = "statistic n/a: every paired difference is zero (p = 1)"
            rows.append(r[:10] + [float(adj), bool(np.isfinite(adj) and adj < config.significance), r[10], r[11],
                                  float(adj_perm), note])
    return pd.DataFrame(rows, columns=COLUMNS)
