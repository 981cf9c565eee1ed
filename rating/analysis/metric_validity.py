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
                "n_readers", "n_reader_outputs", "note"]


def kendall_tau_b(x: np.ndarray, y: np.ndarray) -> float:
    """scipy.stats.kendalltau (tau-b); nan with fewer than 2 points or a constant variable."""
    if len(x) < 2 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return float("nan")
    from scipy.stats import kendalltau

    return float(kendalltau(x, y, variant="b").statistic)


CONTINGENCY_CELLS = 1_000_000
"""kendall_tau_b_many counts pairs in a (levels of x) by (levels of y) table up to this size per row;
a larger one (two nearly continuous variables) goes to scipy.stats.kendalltau."""


def _tau_b_tables(codes: np.ndarray, y_codes: np.ndarray, ny: int) -> np.ndarray:
    """tau-b of each row of codes (m, n; ints from 0, the rank order of x) against y_codes (n,)."""
    m, n = codes.shape
    nx = int(codes.max()) + 1
    flat = (np.arange(m)[:, None] * nx + codes) * ny + y_codes[None, :]
    table = np.bincount(flat.ravel(), minlength=m * nx * ny).reshape(m, nx, ny)
    below = np.cumsum(table, axis=1)
    below -= table  # [k, a, b]: points with a smaller x and this y
    partner = np.cumsum(below, axis=2)  # ... and a y at most this one
    total = partner[:, :, -1:].copy()
    partner *= 2  # concordant minus discordant partners: (partner - below) - (total - partner)
    partner -= below
    partner -= total
    s = np.einsum("kab,kab->k", table, partner)
    tot = n * (n - 1) // 2
    rows = table.sum(axis=2)
    xtie = (rows * (rows - 1) // 2).sum(axis=1)
    cols = np.bincount(y_codes, minlength=ny)
    ytie = int((cols * (cols - 1) // 2).sum())
    with np.errstate(invalid="ignore", divide="ignore"):
        tau = s / np.sqrt(tot - xtie) / np.sqrt(tot - ytie)  # scipy's expression, so the same float
    tau[(xtie == tot) | (ytie == tot)] = np.nan
    return np.minimum(1.0, np.maximum(-1.0, tau))


def kendall_tau_b_many(xs: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Kendall's tau-b of every row of xs (m, n) against y (n,): the value scipy.stats.kendalltau
    (variant "b") gives, to the last bit (tests/test_metric_validity.py), nan like kendall_tau_b.

    Why not m calls of scipy: leave_one_reader_out needs one tau-b per reader, criterion and metric
    (2,750 for 50 readers x 5 criteria x 11 variables on 2,000 outputs), and scipy's kendalltau spends
    0.25 ms on each, 70% of it in argument checks and its p-value (1.1 s for 100,000 ratings, measured
    with cProfile). Scores and metrics take few distinct values, so the concordant and discordant pairs
    are counted from each row's contingency table with cumulative sums (rows grouped by their number of
    levels): 0.3 ms for all 11 rows of one reader against scipy's 3.5 ms. Rows whose table would exceed
    CONTINGENCY_CELLS go to scipy.
    """
    xs = np.atleast_2d(np.asarray(xs, dtype=float))
    y = np.asarray(y, dtype=float)
    out = np.full(xs.shape[0], np.nan)
    if len(y) < 2 or not np.isfinite(y).all() or np.ptp(y) == 0:
        return out
    y_levels, y_codes = np.unique(y, return_inverse=True)
    groups: dict[int, list[tuple[int, np.ndarray]]] = {}
    for i, x in enumerate(xs):
        if not np.isfinite(x).all() or np.ptp(x) == 0:
            continue
        levels, codes = np.unique(x, return_inverse=True)
        if len(levels) * len(y_levels) > CONTINGENCY_CELLS:
            out[i] = kendall_tau_b(x, y)
            continue
        groups.setdefault(int(len(levels) - 1).bit_length(), []).append((i, codes))
    for members in groups.values():
        rows = [i for i, _ in members]
        out[rows] = _tau_b_tables(np.vstack([c for _, c in members]), y_codes, len(y_levels))
    return out


def per_output_table(data: pd.DataFrame, metrics: list[str],
                     expert_targets: Mapping[str, pd.Series] | None = None) -> pd.DataFrame:
    """One row per rated output: case, system, the mean of each criterion over raters, the metrics."""
    agg = {**{c: "mean" for c in CRITERIA}, **{m: "first" for m in metrics}, "case_id": "first", "system": "first"}
    table = data.groupby("output_id").agg(agg)
    for name, series in (expert_targets or {}).items():
        table[name] = series.reindex(table.index).astype(float)
    return table


def _signs(values: np.ndarray) -> np.ndarray:
    """Padded (cases, k) values -> sign of every difference as (cases, cases, k, k) int8 (output
    i of case c against output j of case d at [c, d, i, j]); 0 where a value is missing (a
    comparison with NaN is false both ways)."""
    a, b = values[:, None, :, None], values[None, :, None, :]
    return (a > b).view(np.int8) - (a < b).view(np.int8)


_INT8_BLOCK = 127
"""An int8 einsum sums a k x k block of -1/0/1 cells exactly while k * k stays within int8 (k <= 11)."""


def _block_sums(cells: np.ndarray, other: np.ndarray | None = None) -> np.ndarray:
    """(cases, cases, k, k) int8 -> (cases, cases): the sum of each k x k block of cells (times other,
    cell by cell, when given). An int8 einsum while k * k <= 127 (3.4 ms against 11 ms for 500 cases
    of 4 outputs, measured), else a float32 matrix-vector product (several times faster than a
    strided reduction)."""
    c, _, k, _ = cells.shape
    if k * k <= _INT8_BLOCK:
        summed = np.einsum("cdpq->cd", cells) if other is None else np.einsum("cdpq,cdpq->cd", cells, other)
        return summed.astype(np.float64)
    if other is not None:
        cells = np.multiply(cells, other)
    return (cells.reshape(c * c, k * k).astype(np.float32) @ np.ones(k * k, dtype=np.float32)).reshape(c, c) \
        .astype(np.float64)


def _padded(table: pd.DataFrame, column: str, case_index: np.ndarray, slot: np.ndarray, shape: tuple[int, int]
            ) -> np.ndarray:
    out = np.full(shape, np.nan)
    out[case_index, slot] = table[column].to_numpy(dtype=float)
    return out


def _case_sign_sums(sx: np.ndarray, sy: np.ndarray) -> np.ndarray:
    """A[c, d] = sum over outputs i of case c and j of case d of sign(x_i - x_j) sign(y_i - y_j)."""
    return _block_sums(sx, sy)


def _tie_sums(values: np.ndarray) -> np.ndarray:
    """K[c, d] = number of (i in c, j in d) output pairs with equal, present values (i == j included)."""
    return _block_sums((values[:, None, :, None] == values[None, :, None, :]).view(np.int8))


def _quad(weights: np.ndarray, mat: np.ndarray) -> np.ndarray:
    """m' mat m for every row m of weights (in the weights' precision; the result as float64)."""
    return np.einsum("bc,bc->b", weights @ mat.astype(weights.dtype, copy=False), weights).astype(np.float64)


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
    """tau-b over systems for every resample: mx, my of shape (B, S) -> (B,).

    Means are rounded to 12 decimals first: two systems with the same mean computed through
    different sums (matrix products) must tie, as they do in scipy on pandas means."""
    mx, my = np.round(mx, 12), np.round(my, 12)
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
    with a case-bootstrap interval (columns VALIDITY_COLUMNS).

    The estimates are scipy.stats.kendalltau. The output-level resamples run in float32 (their
    quadratic forms are (B x cases) @ (cases x cases) products, the bulk of the time for large
    studies: half the time of float64, relative error about 1e-5 on an interval end); the
    system-level ones in float64 with row 0 the sample itself, which reproduces the estimate.
    """
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
    systems = np.array(sorted(table["system"].unique()), dtype=object)
    member = np.zeros((len(table), len(systems)))
    member[np.arange(len(table)), np.searchsorted(systems, table["system"].to_numpy())] = 1.0
    rng = np.random.default_rng(config.seed)
    weights = np.vstack([np.ones((1, len(cases))), resample_counts(rng, len(cases), config.n_bootstrap)])
    out_weights = weights[:, case_index]  # (1 + B, outputs), for the system level
    resampled = weights[1:].astype(np.float32)  # (B, cases), for the output level
    values = {c: table[c].to_numpy(dtype=float) for c in [*metrics, *targets]}
    full = {c: bool(np.isfinite(v).all()) for c, v in values.items()}
    padded = {c: _padded(table, c, case_index, slot, shape) for c in values}
    signs = {c: _signs(v) for c, v in padded.items()}
    tie_quads = {c: _quad(resampled, _tie_sums(v)) for c, v in padded.items()}
    sizes = np.bincount(case_index, minlength=len(cases)).astype(float)
    count = out_weights @ member
    with np.errstate(invalid="ignore", divide="ignore"):
        system_means = {c: (out_weights @ (member * v[:, None])) / count for c, v in values.items() if full[c]}
    rows = []
    for level in ("output", "system"):
        for metric in metrics:
            for target in targets:
                ok = np.isfinite(values[metric]) & np.isfinite(values[target])
                if level == "output":
                    if full[metric] and full[target]:
                        sx, sy, qx, qy, present = (signs[metric], signs[target], tie_quads[metric],
                                                   tie_quads[target], sizes)
                    else:  # an output missing either value leaves both comparisons
                        mx, my = padded[metric].copy(), padded[target].copy()
                        gone = np.isnan(mx) | np.isnan(my)
                        mx[gone] = np.nan
                        my[gone] = np.nan
                        sx, sy = _signs(mx), _signs(my)
                        qx, qy = _quad(resampled, _tie_sums(mx)), _quad(resampled, _tie_sums(my))
                        present = (~gone).sum(axis=1).astype(float)
                    boot = _weighted_tau_b(resampled, _case_sign_sums(sx, sy), qx, qy, present)
                    x = values[metric][ok]
                    n = int(ok.sum())
                    taus = np.concatenate([[kendall_tau_b(x, values[target][ok])], boot])
                else:
                    if full[metric] and full[target]:
                        mx, my = system_means[metric], system_means[target]
                    else:
                        with np.errstate(invalid="ignore", divide="ignore"):
                            c_ok = out_weights[:, ok] @ member[ok]
                            mx = (out_weights[:, ok] @ (member[ok] * values[metric][ok, None])) / c_ok
                            my = (out_weights[:, ok] @ (member[ok] * values[target][ok, None])) / c_ok
                    rated = np.isfinite(mx[0])
                    mx, my = mx[:, rated], my[:, rated]
                    taus = _system_tau_b(mx, my)
                    x = mx[0]
                    n = int(rated.sum())
                tau = float(taus[0]) if n >= 2 else float("nan")
                low = high = float("nan")
                note = ""
                if not np.isfinite(tau):
                    note = (f"n/a: fewer than 2 {level}s" if n < 2 else
                            f"n/a: the {'metric' if np.ptp(x) == 0 else 'score'} is the same for every {level}")
                else:
                    low, high = percentile_interval(taus[1:], config.confidence)
                    if not np.isfinite(low):
                        note = "interval n/a: tau-b is undefined in every resample"
                rows.append([metric, target, level, tau, low, high, n, note])
    return pd.DataFrame(rows, columns=VALIDITY_COLUMNS)


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
    outputs, out_index = np.unique(data["output_id"].to_numpy(), return_inverse=True)
    raters, rater_index = np.unique(data["rater"].to_numpy().astype(str), return_inverse=True)
    metric_of = data.groupby("output_id")[metrics].first().reindex(outputs).to_numpy(dtype=float)
    rows = []
    for criterion in CRITERIA:
        wide = np.full((len(outputs), len(raters)), np.nan)
        wide[out_index, rater_index] = data[criterion].to_numpy(dtype=float)
        total = np.nansum(wide, axis=1)
        count = np.isfinite(wide).sum(axis=1)
        per_reader = []  # (reader tau, metric taus, n)
        for r in range(len(raters)):
            own = wide[:, r]
            keep = np.isfinite(own) & (count >= 2)
            if keep.sum() < 2:
                continue
            others = (total[keep] - own[keep]) / (count[keep] - 1)
            taus = kendall_tau_b_many(np.vstack([own[keep], metric_of[keep].T]), others)
            per_reader.append((float(taus[0]), [float(t) for t in taus[1:]], int(keep.sum())))
        n_out = int(sum(n for *_, n in per_reader))
        for j, m in enumerate(metrics):
            pairs = [(t_r, taus[j]) for t_r, taus, _ in per_reader if np.isfinite(t_r) and np.isfinite(taus[j])]
            if not pairs:
                reason = ("n/a: no reader shares two or more outputs with another reader" if not per_reader else
                          "n/a: tau-b is undefined (the metric or the scores do not vary)")
                rows.append([m, criterion, np.nan, np.nan, np.nan, False, np.nan, 0, n_out, reason])
                continue
            t_reader = np.array([p[0] for p in pairs])
            t_metric = np.array([p[1] for p in pairs])
            mean_metric, mean_reader = float(t_metric.mean()), float(t_reader.mean())
            rows.append([m, criterion, mean_metric, mean_reader, mean_metric - mean_reader,
                         bool(mean_metric >= mean_reader), float((t_metric >= t_reader).mean()), len(pairs), n_out, ""])
    return pd.DataFrame(rows, columns=LORO_COLUMNS)
