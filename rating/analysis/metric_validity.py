"""Automatic metrics against the experts: is ROUGE (or a clinical F1) a valid stand-in for radiologists?

Three tables, all on first ratings (hidden repeats excluded):

- `metric_validity_table`: Kendall's tau-b (scipy.stats.kendalltau, variant "b") between each
  automatic metric (ROUGE-1/2/L, the CheXpert-style F1s, omission and addition) and the mean
  expert score, per criterion, at two levels:
    output: one point per rated output (metric of the output, mean score over its raters);
    system: one point per system (metric mean over its rated outputs, mean of its output means).
  The 95% interval is a percentile bootstrap that resamples cases (every output of a drawn case
  comes along, duplicated as often as the case is drawn; seeded, rating.analysis.bootstrap).
  Columns: metric, criterion, level, kendall_tau_b, ci_low, ci_high, n (+ note).
  Hook for expert error counts (ReXVal/RadCliQ: the number of clinically significant errors per
  output): pass `expert_targets={"significant_errors": series indexed by output_id}` and each
  becomes one more "criterion" of the table (`EXPERT_TARGET_BUILDERS` in rating.analysis.summary
  is where a protocol registers such a series).
- `rouge_vs_experts`: the older Spearman rho table (kept; no interval).
- `leave_one_reader_out` (CheXprompt): for each criterion, each reader in turn is held out; the
  metric's tau-b with the mean of the OTHER readers is set against the held-out reader's own
  tau-b with that mean, over the outputs the held-out reader rated. The metric is "closer to the
  readers than a reader is" when its mean tau over held-out readers is at least the readers' mean.

The bootstrap of tau-b is written out here (vectorised): one scipy call per resample would be
metrics x criteria x levels x 1000 calls (90,000 for the simulated study, about 40 s measured);
the vectorised form gives every resample's tau-b from case-by-case sums of concordance signs
(see `_case_sign_sums`) and equals scipy.stats.kendalltau at unit weights (tests/test_metric_validity.py).
"""
from __future__ import annotations

import warnings
from typing import Mapping

import numpy as np
import pandas as pd

from db.models import CRITERIA
from rating.analysis.agreement import spearman
from rating.analysis.bootstrap import percentile_interval, resample_counts
from rating.analysis.config import AnalysisConfig
from rating.analysis.metrics import metric_columns
from rating.analysis.scores import primary_ratings

VALIDITY_COLUMNS = ["metric", "criterion", "level", "kendall_tau_b", "ci_low", "ci_high", "n", "note"]
LORO_COLUMNS = ["metric", "criterion", "tau_metric", "tau_reader", "difference", "metric_closer", "share_closer",
                "n_readers", "n_outputs", "note"]


def kendall_tau_b(x: np.ndarray, y: np.ndarray) -> float:
    """scipy.stats.kendalltau (tau-b); nan with fewer than 2 points or a constant variable."""
    if len(x) < 2 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return float("nan")
    from scipy.stats import kendalltau

    return float(kendalltau(x, y, variant="b").statistic)


def per_output_table(data: pd.DataFrame, metrics: list[str],
                     expert_targets: Mapping[str, pd.Series] | None = None) -> pd.DataFrame:
    """One row per rated output: case, system, the mean of each criterion over raters, the metrics."""
    agg = {**{c: "mean" for c in CRITERIA}, **{m: "first" for m in metrics}, "case_id": "first", "system": "first"}
    table = data.groupby("output_id").agg(agg)
    for name, series in (expert_targets or {}).items():
        table[name] = series.reindex(table.index).astype(float)
    return table


def _signs(values: np.ndarray) -> np.ndarray:
    """Padded (cases, k) values -> sign of every difference, (cases, k, cases, k); 0 where a value is missing."""
    d = np.sign(values[:, :, None, None] - values[None, None, :, :])
    return np.nan_to_num(d, nan=0.0).astype(np.int8)


def _padded(table: pd.DataFrame, column: str, case_index: np.ndarray, slot: np.ndarray, shape: tuple[int, int]
            ) -> np.ndarray:
    out = np.full(shape, np.nan)
    out[case_index, slot] = table[column].to_numpy(dtype=float)
    return out


def _case_sign_sums(sx: np.ndarray, sy: np.ndarray) -> np.ndarray:
    """A[c, d] = sum over outputs i of case c and j of case d of sign(x_i - x_j) sign(y_i - y_j)."""
    return np.einsum("aibj,aibj->ab", sx, sy, dtype=np.float64, optimize=False)


def _tie_sums(values: np.ndarray) -> np.ndarray:
    """K[c, d] = number of (i in c, j in d) output pairs with equal, present values (i == j included)."""
    present = ~np.isnan(values)
    eq = (values[:, :, None, None] == values[None, None, :, :]) & present[:, :, None, None] & present[None, None]
    return eq.sum(axis=(1, 3), dtype=np.float64)


def _quad(weights: np.ndarray, mat: np.ndarray) -> np.ndarray:
    """m' mat m for every row m of weights."""
    return np.einsum("bc,bc->b", weights @ mat, weights)


def _weighted_tau_b(weights: np.ndarray, a: np.ndarray, qx: np.ndarray, qy: np.ndarray, sizes: np.ndarray
                    ) -> np.ndarray:
    """tau-b of the sample in which case c occurs weights[b, c] times, for every row b.

    With m the case multiplicities: S = m'Am / 2 (concordant minus discordant pairs; copies of one
    output are tied in both variables and add nothing), N = m'sizes, pairs tied in x
    n1 = (m'Kx m - N) / 2 (and n2 likewise), tau-b = S / sqrt((n0 - n1)(n0 - n2)), n0 = N(N-1)/2.
    qx, qy: m'Kx m and m'Ky m (see _tie_sums, _quad).
    """
    n = weights @ sizes
    n0 = n * (n - 1) / 2
    s = _quad(weights, a) / 2
    n1 = (qx - n) / 2
    n2 = (qy - n) / 2
    with np.errstate(invalid="ignore", divide="ignore"):
        return s / np.sqrt((n0 - n1) * (n0 - n2))


def _system_tau_b(mx: np.ndarray, my: np.ndarray) -> np.ndarray:
    """tau-b over systems for every resample: mx, my of shape (B, S) -> (B,)."""
    sx = np.sign(mx[:, :, None] - mx[:, None, :])
    sy = np.sign(my[:, :, None] - my[:, None, :])
    iu = np.triu_indices(mx.shape[1], 1)
    sx, sy = sx[:, iu[0], iu[1]], sy[:, iu[0], iu[1]]
    s = np.nansum(sx * sy, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return s / np.sqrt((sx != 0).sum(axis=1) * (sy != 0).sum(axis=1))


def metric_validity_table(ratings: pd.DataFrame, config: AnalysisConfig = AnalysisConfig(),
                          expert_targets: Mapping[str, pd.Series] | None = None) -> pd.DataFrame:
    """Kendall's tau-b of every metric against every criterion's mean score, output and system level,
    with a case-bootstrap interval (columns VALIDITY_COLUMNS)."""
    data = primary_ratings(ratings, config)
    metrics = metric_columns(data)
    if data.empty or not metrics:
        return pd.DataFrame(columns=VALIDITY_COLUMNS)
    targets = [*CRITERIA, *(expert_targets or {})]
    table = per_output_table(data, metrics, expert_targets)
    cases = np.sort(table["case_id"].unique())
    case_index = np.searchsorted(cases, table["case_id"].to_numpy())
    slot = table.groupby("case_id").cumcount().to_numpy()
    shape = (len(cases), int(slot.max()) + 1)
    systems = sorted(table["system"].unique())
    sys_index = np.searchsorted(systems, table["system"].to_numpy())
    rng = np.random.default_rng(config.seed)
    weights = resample_counts(rng, len(cases), config.n_bootstrap)
    out_weights = weights[:, case_index]  # (B, outputs)
    columns = {c: _padded(table, c, case_index, slot, shape) for c in [*metrics, *targets]}
    signs = {c: _signs(v) for c, v in columns.items()}
    tie_quads = {c: _quad(weights, _tie_sums(v)) for c, v in columns.items()}
    rows = []
    for level in ("output", "system"):
        for metric in metrics:
            for target in targets:
                pair = table[[metric, target]].dropna()
                if level == "output":
                    x, y = pair[metric].to_numpy(dtype=float), pair[target].to_numpy(dtype=float)
                else:
                    means = pair.join(table["system"]).groupby("system")[[metric, target]].mean()
                    x, y = means[metric].to_numpy(dtype=float), means[target].to_numpy(dtype=float)
                tau = kendall_tau_b(x, y)
                low = high = float("nan")
                note = ""
                if not np.isfinite(tau):
                    note = (f"n/a: fewer than 2 {level}s" if len(x) < 2 else
                            f"n/a: the {'metric' if np.ptp(x) == 0 else 'score'} is the same for every {level}")
                elif level == "output":
                    present = (~np.isnan(columns[metric]) & ~np.isnan(columns[target])).sum(axis=1).astype(float)
                    mx, my = columns[metric].copy(), columns[target].copy()
                    both = ~np.isnan(mx) & ~np.isnan(my)
                    if not both.all():  # an output missing either value leaves both comparisons
                        mx[~both] = np.nan
                        my[~both] = np.nan
                        sx, sy = _signs(mx), _signs(my)
                        qx, qy = _quad(weights, _tie_sums(mx)), _quad(weights, _tie_sums(my))
                    else:
                        sx, sy, qx, qy = signs[metric], signs[target], tie_quads[metric], tie_quads[target]
                    boot = _weighted_tau_b(weights, _case_sign_sums(sx, sy), qx, qy, present)
                    low, high = percentile_interval(boot, config.confidence)
                else:
                    ok = table[metric].notna().to_numpy() & table[target].notna().to_numpy()
                    mx, my = _system_means(out_weights[:, ok], sys_index[ok], table[metric].to_numpy(float)[ok],
                                           table[target].to_numpy(float)[ok], len(systems))
                    boot = _system_tau_b(mx, my)
                    low, high = percentile_interval(boot, config.confidence)
                if note == "" and not np.isfinite(low):
                    note = "interval n/a: tau-b is undefined in every resample"
                rows.append([metric, target, level, tau, low, high, int(len(x)), note])
    return pd.DataFrame(rows, columns=VALIDITY_COLUMNS)


def _system_means(out_weights: np.ndarray, sys_index: np.ndarray, x: np.ndarray, y: np.ndarray, n_systems: int
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Per resample and system: weighted mean of x and y over the system's outputs, (B, S) each."""
    member = np.zeros((len(sys_index), n_systems))
    member[np.arange(len(sys_index)), sys_index] = 1.0
    count = out_weights @ member
    with np.errstate(invalid="ignore", divide="ignore"):
        return (out_weights @ (member * x[:, None])) / count, (out_weights @ (member * y[:, None])) / count


def rouge_vs_experts(ratings: pd.DataFrame, config: AnalysisConfig = AnalysisConfig()) -> pd.DataFrame:
    """Spearman rho between each automatic metric and each criterion, per output and per system."""
    cols = ["level", "criterion", "metric", "rho", "p_value", "n", "note"]
    data = primary_ratings(ratings, config)
    metrics = metric_columns(data)
    if data.empty:
        return pd.DataFrame(columns=cols)
    per_output = data.groupby("output_id").agg({**{c: "mean" for c in CRITERIA}, **{m: "first" for m in metrics},
                                                "system": "first"})
    per_system = data.groupby("system")[list(CRITERIA)].mean().join(
        per_output.groupby("system")[metrics].mean())
    rows = []
    for level, table in (("output", per_output), ("system", per_system)):
        for criterion in CRITERIA:
            for m in metrics:
                pair = table[[criterion, m]].dropna()
                x, y = pair[m].to_numpy(dtype=float), pair[criterion].to_numpy(dtype=float)
                rho, p = spearman(x, y)
                note = ""
                if not np.isfinite(rho):
                    note = (f"n/a: fewer than 3 {level}s" if len(pair) < 3
                            else f"n/a: the {'metric' if np.ptp(x) == 0 else 'score'} is the same for every {level}")
                rows.append([level, criterion, m, rho, p, int(len(pair)), note])
    return pd.DataFrame(rows, columns=cols)


def leave_one_reader_out(ratings: pd.DataFrame, config: AnalysisConfig = AnalysisConfig()) -> pd.DataFrame:
    """CheXprompt's test per metric and criterion: the metric's tau-b with the other readers' mean
    against a held-out reader's tau-b with it, averaged over held-out readers (columns LORO_COLUMNS)."""
    data = primary_ratings(ratings, config)
    metrics = metric_columns(data)
    if data.empty or not metrics:
        return pd.DataFrame(columns=LORO_COLUMNS)
    rows = []
    raters = sorted(data["rater"].unique())
    metric_of = data.groupby("output_id")[metrics].first()
    for criterion in CRITERIA:
        wide = data.pivot_table(index="output_id", columns="rater", values=criterion, aggfunc="first")
        total = wide.sum(axis=1, min_count=1)
        count = wide.notna().sum(axis=1)
        per_reader = []  # (reader tau, {metric: tau}, n)
        for r in raters:
            own = wide[r]
            keep = own.notna() & (count >= 2)
            if keep.sum() < 2:
                continue
            others = ((total - own.fillna(0)) / (count - 1))[keep].to_numpy(dtype=float)
            reader_tau = kendall_tau_b(own[keep].to_numpy(dtype=float), others)
            metric_taus = {m: kendall_tau_b(metric_of.loc[keep[keep].index, m].to_numpy(dtype=float), others)
                           for m in metrics}
            per_reader.append((reader_tau, metric_taus, int(keep.sum())))
        for m in metrics:
            pairs = [(t_r, taus[m]) for t_r, taus, _ in per_reader if np.isfinite(t_r) and np.isfinite(taus[m])]
            n_out = int(sum(n for *_, n in per_reader))
            if not pairs:
                rows.append([m, criterion, np.nan, np.nan, np.nan, False, np.nan, 0, n_out,
                             "n/a: no reader shares two or more outputs with another reader (with a varying score)"])
                continue
            t_reader = np.array([p[0] for p in pairs])
            t_metric = np.array([p[1] for p in pairs])
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                mean_metric, mean_reader = float(t_metric.mean()), float(t_reader.mean())
            rows.append([m, criterion, mean_metric, mean_reader, mean_metric - mean_reader,
                         bool(mean_metric >= mean_reader), float((t_metric >= t_reader).mean()), len(pairs), n_out, ""])
    return pd.DataFrame(rows, columns=LORO_COLUMNS)
