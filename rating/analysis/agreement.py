"""Agreement between raters and within a rater.

- Krippendorff's alpha (ordinal by default, the `krippendorff` package) per criterion: units are
  outputs, coders are raters; interval from resampling units (rating.analysis.bootstrap).
- ICC per criterion (pingouin.intraclass_corr): two-way random effects, absolute agreement,
  single rater (ICC2, McGraw & Wong's ICC(A,1)) and the mean of k raters (ICC2k, ICC(A,k)), with
  the F-based 95% interval, on the outputs rated by every rater of the study (a crossed design;
  with fewer than two such outputs it is n/a).
- Self-consistency: each rater's first rating against their hidden repeat of the same output:
  exact and within-one agreement, quadratic-weighted Cohen's kappa (scikit-learn), Spearman rho.
All on first ratings (repeat_index == 0) except self-consistency.
"""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from db.models import CRITERIA
from rating.analysis.bootstrap import percentile_interval, resample_counts
from rating.analysis.config import AnalysisConfig
from rating.analysis.scores import primary_ratings

SCORE_VALUES = (1, 2, 3, 4, 5)


def value_counts_matrix(ratings: pd.DataFrame, criterion: str) -> np.ndarray:
    """Units (outputs) x score values 1..5: how many raters gave each score (first ratings)."""
    data = ratings[ratings["repeat_index"] == 0]
    if data.empty:
        return np.zeros((0, len(SCORE_VALUES)))
    units, _ = pd.factorize(data["output_id"], sort=True)
    n_units, n_values = int(units.max()) + 1, len(SCORE_VALUES)
    flat = units * n_values + (data[criterion].to_numpy(dtype=np.int64) - SCORE_VALUES[0])
    return np.bincount(flat, minlength=n_units * n_values).reshape(n_units, n_values).astype(float)


def _alpha_from_counts(counts: np.ndarray, level: str) -> float:
    pairable = counts[counts.sum(axis=1) >= 2]
    if pairable.shape[0] < 1 or np.count_nonzero(pairable.sum(axis=0)) < 2:
        return float("nan")  # fewer than two values in use: alpha is undefined
    import krippendorff  # imported where used: keeps `import rating.analysis` light for CLIs and the UI

    return float(krippendorff.alpha(value_counts=pairable, value_domain=list(SCORE_VALUES),
                                     level_of_measurement=level))


def unit_coincidences(counts: np.ndarray) -> np.ndarray:
    """Each pairable unit's contribution to Krippendorff's coincidence matrix: shape (U, V, V)."""
    m = counts.sum(axis=1)
    outer = counts[:, :, None] * counts[:, None, :]
    idx = np.arange(counts.shape[1])
    outer[:, idx, idx] -= counts
    return outer / (m - 1)[:, None, None]


def _delta_squared(marginals: np.ndarray, level: str) -> np.ndarray:
    """Squared distance between score values per resample: (B, V) marginals -> (B, V, V)."""
    v = np.asarray(SCORE_VALUES, dtype=float)
    b = marginals.shape[0]
    if level == "nominal":
        return np.broadcast_to((v[:, None] != v[None, :]).astype(float), (b, len(v), len(v)))
    if level == "interval":
        return np.broadcast_to((v[:, None] - v[None, :]) ** 2, (b, len(v), len(v)))
    if level == "ratio":
        return np.broadcast_to(((v[:, None] - v[None, :]) / (v[:, None] + v[None, :])) ** 2, (b, len(v), len(v)))
    cum = np.cumsum(marginals, axis=1)
    between = cum[:, None, :] - cum[:, :, None] + marginals[:, :, None]  # sum of n_g for g = c..k (c <= k)
    upper = np.triu(np.ones((len(v), len(v))))
    d = ((between - (marginals[:, :, None] + marginals[:, None, :]) / 2) ** 2) * upper
    return d + np.transpose(d, (0, 2, 1))


def alpha_from_weights(coincidences: np.ndarray, weights: np.ndarray, level: str) -> np.ndarray:
    """Krippendorff's alpha for each row of unit weights (B, U): a vectorised bootstrap."""
    u, v, _ = coincidences.shape
    o = (weights @ coincidences.reshape(u, v * v)).reshape(-1, v, v)
    n_c = o.sum(axis=2)
    n = n_c.sum(axis=1)
    delta = _delta_squared(n_c, level)
    observed = (o * delta).sum(axis=(1, 2))
    expected = (n_c[:, :, None] * n_c[:, None, :] * delta).sum(axis=(1, 2))
    with np.errstate(invalid="ignore", divide="ignore"):
        return 1 - (n - 1) * observed / expected


def krippendorff_table(ratings: pd.DataFrame, config: AnalysisConfig = AnalysisConfig()) -> pd.DataFrame:
    """Krippendorff's alpha per criterion (units = outputs) with a unit-bootstrap interval.

    The estimate comes from the `krippendorff` package; the bootstrap recomputes the same
    formula from resampled units' coincidence matrices in one vectorised step.
    """
    data = primary_ratings(ratings, config)
    rows = []
    rng = np.random.default_rng(config.seed)
    for criterion in CRITERIA:
        counts = value_counts_matrix(data, criterion)
        counts = counts[counts.sum(axis=1) >= 2]
        alpha = _alpha_from_counts(counts, config.alpha_level)
        low = high = float("nan")
        if counts.shape[0] == 0:
            note = "n/a: no output has been rated by two or more raters"
        elif not np.isfinite(alpha):
            note = "n/a: every rating uses the same score, so agreement beyond chance is undefined"
        elif counts.shape[0] == 1:
            note = "interval n/a: only one output rated by two or more raters"
        else:
            note = ""
        if np.isfinite(alpha) and counts.shape[0] > 1:
            weights = resample_counts(rng, counts.shape[0], config.n_bootstrap_alpha)
            boot = alpha_from_weights(unit_coincidences(counts), weights, config.alpha_level)
            low, high = percentile_interval(boot, config.confidence)
        if note == "" and not (np.isfinite(low) and np.isfinite(high)):
            note = "interval n/a: alpha is undefined in the resamples"
        rows.append([criterion, alpha, low, high, int(counts.shape[0]), int(data["rater"].nunique()),
                     int(counts.sum()), note])
    return pd.DataFrame(rows, columns=["criterion", "alpha", "ci_low", "ci_high", "n_units", "n_raters",
                                       "n_ratings", "note"])


def weighted_kappa(a: np.ndarray, b: np.ndarray) -> float:
    """Cohen's kappa with quadratic weights on the 1..5 scale (scikit-learn); nan when undefined
    (both ratings use one and the same score value only)."""
    if len(a) == 0 or (np.ptp(a) == 0 and np.ptp(b) == 0 and a[0] == b[0]):
        return float("nan")
    from sklearn.metrics import cohen_kappa_score  # imported where used (start-up of the CLI)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return float(cohen_kappa_score(a, b, labels=list(SCORE_VALUES), weights="quadratic"))


def spearman(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Spearman rho and its p-value; nan with fewer than 3 pairs or a constant variable."""
    if len(x) < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return float("nan"), float("nan")
    from scipy import stats  # imported where used (scipy.stats takes ~0.5 s to import)

    res = stats.spearmanr(x, y)
    return float(res.statistic), float(res.pvalue)


def self_consistency_table(ratings: pd.DataFrame) -> pd.DataFrame:
    """Each rater's first rating of an output against their hidden repeat, per criterion.

    Rows per rater and criterion, plus rater "ALL" pooling every pair.
    Columns: rater, criterion, n_pairs, exact, within_one, weighted_kappa, spearman.
    """
    cols = ["rater", "criterion", "n_pairs", "exact", "within_one", "weighted_kappa", "spearman", "note"]
    first = ratings[ratings["repeat_index"] == 0]
    again = ratings[ratings["repeat_index"] == 1]
    pairs = first.merge(again, on=["rater", "output_id"], suffixes=("_1", "_2"))
    if pairs.empty:
        return pd.DataFrame(columns=cols)
    rows = []
    groups = [(r, g) for r, g in pairs.groupby("rater", sort=True)] + [("ALL", pairs)]
    for rater, g in groups:
        for criterion in CRITERIA:
            a = g[f"{criterion}_1"].to_numpy()
            b = g[f"{criterion}_2"].to_numpy()
            diff = np.abs(a - b)
            kappa, rho = weighted_kappa(a, b), spearman(a, b)[0]
            reasons = []
            if not np.isfinite(kappa):
                reasons.append("weighted kappa n/a: one score value only in both ratings")
            if not np.isfinite(rho):
                reasons.append("spearman n/a: " + ("fewer than 3 pairs" if len(a) < 3 else "a constant score"))
            rows.append([rater, criterion, int(len(g)), float((diff == 0).mean()), float((diff <= 1).mean()),
                         kappa, rho, "; ".join(reasons)])
    return pd.DataFrame(rows, columns=cols)


ICC_TYPES = {"ICC2": "ICC(A,1)", "ICC2k": "ICC(A,k)"}
"""The ICCs reported (Shrout & Fleiss names) -> pingouin's Type label (McGraw & Wong)."""
ICC_COLUMNS = ["criterion", "icc", "ci_low", "ci_high", "icc_type", "n_outputs", "n_raters", "note"]


def icc_table(ratings: pd.DataFrame, config: AnalysisConfig = AnalysisConfig()) -> pd.DataFrame:
    """ICC2 and ICC2k per criterion with pingouin's 95% interval (rows: criterion x type).

    Targets are outputs, raters are raters; only outputs rated by every rater who rated any of
    them enter (pingouin needs a complete two-way table; nan_policy="omit" drops the rest).
    """
    data = primary_ratings(ratings, config)
    rows = []
    wide = {c: data.pivot_table(index="output_id", columns="rater", values=c, aggfunc="first").dropna()
            for c in CRITERIA} if not data.empty else {}
    for criterion in CRITERIA:
        table = wide.get(criterion, pd.DataFrame())
        n_out, n_rat = int(table.shape[0]), int(table.shape[1])
        result = None
        note = ""
        if n_out < 2 or n_rat < 2:
            note = (f"n/a: {n_out} output(s) rated by all {n_rat} rater(s); the ICC needs at least 2 outputs "
                    "rated by the same 2 or more raters")
        elif np.ptp(table.to_numpy()) == 0:
            note = "n/a: every rating uses the same score"
        else:
            import pingouin  # imported where used: loads statsmodels (start-up of the CLI)

            long = table.rename_axis(columns="rater").stack().rename("score").reset_index()
            with warnings.catch_warnings(), np.errstate(all="ignore"):
                warnings.simplefilter("ignore")
                result = pingouin.intraclass_corr(long, targets="output_id", raters="rater", ratings="score"
                                                  ).set_index("Type")
            note = f"outputs rated by all {n_rat} raters" if n_rat < data["rater"].nunique() else ""
        for name, label in ICC_TYPES.items():
            if result is None:
                rows.append([criterion, np.nan, np.nan, np.nan, name, n_out, n_rat, note])
            else:
                low, high = result.at[label, "CI95"]
                rows.append([criterion, float(result.at[label, "ICC"]), float(low), float(high), name, n_out, n_rat,
                             note])
    return pd.DataFrame(rows, columns=ICC_COLUMNS)
