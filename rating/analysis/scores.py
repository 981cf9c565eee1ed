"""Figure 4 (mean expert score per system and criterion) and Table 1 (automatic metrics per system).

All on first ratings (repeat_index == 0; hidden repeats are excluded), seeded:
- Figure 4: mean score per system and criterion; 95% percentile interval from a two-level
  bootstrap that resamples cases and raters with replacement (the same draws for every system
  and criterion). A drawn case c with multiplicity m_c and rater r with m_r contribute all of
  r's ratings of c with weight m_c * m_r. Draw order: cases (sorted ids) first, then raters
  (sorted pseudonyms), both from one numpy default_rng(seed).
- Table 1: ROUGE-1/2/L (and the other automatic metrics) per system over its distinct rated
  outputs, with a case bootstrap.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from db.models import CRITERIA
from rating.analysis.bootstrap import bootstrap_weights, percentile_interval, resample_counts
from rating.analysis.config import AnalysisConfig
from rating.analysis.metrics import metric_columns


def _cell_sums(ci: np.ndarray, ri: np.ndarray, shape: tuple[int, int], values: np.ndarray | None = None) -> np.ndarray:
    flat = ci * shape[1] + ri
    return np.bincount(flat, weights=values, minlength=shape[0] * shape[1]).reshape(shape).astype(float)


def primary_ratings(ratings: pd.DataFrame, config: AnalysisConfig) -> pd.DataFrame:
    """First ratings (no hidden repeats), without calibration cases unless the config keeps them."""
    keep = ratings["repeat_index"] == 0
    if not config.include_calibration:
        keep &= ~ratings["calibration"].astype(bool)
    return ratings[keep]


def figure4_table(ratings: pd.DataFrame, systems: list[str] | None = None,
                  config: AnalysisConfig = AnalysisConfig()) -> pd.DataFrame:
    """Mean score per system and criterion with a two-level (cases x raters) bootstrap interval.

    Columns: system, criterion, mean, ci_low, ci_high, n_ratings, n_cases, n_raters, note (the reason
    for every undefined value, which shows as n/a).
    """
    cols = ["system", "criterion", "mean", "ci_low", "ci_high", "n_ratings", "n_cases", "n_raters", "note"]
    data = primary_ratings(ratings, config)
    if data.empty:
        return pd.DataFrame(columns=cols)
    systems = systems or sorted(data["system"].unique())
    case_ids = np.sort(data["case_id"].unique())
    rater_ids = np.sort(data["rater"].unique())
    ci = np.searchsorted(case_ids, data["case_id"].to_numpy())
    ri = np.searchsorted(rater_ids, data["rater"].to_numpy())
    wc, wr = bootstrap_weights(len(case_ids), len(rater_ids), config.n_bootstrap, config.seed,
                               config.resample_raters)
    sys_codes = data["system"].to_numpy()
    rows = []
    for system in systems:
        mask = sys_codes == system
        shape = (len(case_ids), len(rater_ids))
        counts = _cell_sums(ci[mask], ri[mask], shape)
        denom = ((wc @ counts) * wr).sum(axis=1)
        for criterion in CRITERIA:
            values = data[criterion].to_numpy(dtype=float)[mask]
            if values.size == 0:
                rows.append([system, criterion, np.nan, np.nan, np.nan, 0, 0, 0,
                             "n/a: no ratings of this system yet"])
                continue
            sums = _cell_sums(ci[mask], ri[mask], shape, values)
            with np.errstate(invalid="ignore", divide="ignore"):
                means = ((wc @ sums) * wr).sum(axis=1) / denom
            low, high = percentile_interval(means, config.confidence)
            note = "" if np.isfinite(low) else "interval n/a: no resample contained a rating of this system"
            rows.append([system, criterion, float(values.mean()), low, high, int(values.size),
                         int(len(np.unique(ci[mask]))), int(len(np.unique(ri[mask]))), note])
    return pd.DataFrame(rows, columns=cols)


# --- Table 1 ---------------------------------------------------------------------------------

def table1_rouge(ratings: pd.DataFrame, outputs: pd.DataFrame, systems: list[str] | None = None,
                 config: AnalysisConfig = AnalysisConfig()) -> pd.DataFrame:
    """ROUGE-1/2/L per system over the outputs of rated cases, with a case-bootstrap interval."""
    metric_cols = metric_columns(outputs)
    cols = ["system", "n_outputs"] + [f"{m}{s}" for m in metric_cols for s in ("", "_ci_low", "_ci_high")] + ["note"]
    rated_cases = np.sort(primary_ratings(ratings, config)["case_id"].unique())
    rated = outputs[outputs["case_id"].isin(rated_cases)]
    if rated.empty:
        return pd.DataFrame(columns=cols)
    systems = systems or sorted(rated["system"].unique())
    rng = np.random.default_rng(config.seed)
    wc = resample_counts(rng, len(rated_cases), config.n_bootstrap)
    # Per system: column 0 marks the cases it has an output for, then one column per metric.
    # One (B x cases) @ (cases x systems*(1+metrics)) product serves every bootstrap sum; one
    # matrix-vector product per system and metric re-read the (B x cases) weights each time.
    per_case = np.zeros((len(rated_cases), len(systems), 1 + len(metric_cols)))
    owns = []
    for k, system in enumerate(systems):
        own = rated[rated["system"] == system]
        idx = np.searchsorted(rated_cases, own["case_id"].to_numpy())
        per_case[idx, k, 0] = 1.0
        per_case[idx, k, 1:] = own[list(metric_cols)].to_numpy(dtype=float)
        owns.append(own)
    sums = (wc @ per_case.reshape(len(rated_cases), -1)).reshape(len(wc), len(systems), 1 + len(metric_cols))
    rows = []
    for k, (system, own) in enumerate(zip(systems, owns, strict=True)):
        row = [system, int(len(own))]
        for j, m in enumerate(metric_cols):
            with np.errstate(invalid="ignore", divide="ignore"):
                boot = sums[:, k, 1 + j] / sums[:, k, 0]
            low, high = percentile_interval(boot, config.confidence)
            row += [float(own[m].mean()) if len(own) else np.nan, low, high]
        if not len(own):
            row.append("n/a: this system has no output on a rated case")
        elif any(not np.isfinite(v) for v in row[2:]):
            row.append("n/a where blank: the metric could not be computed for these outputs")
        else:
            row.append("")
        rows.append(row)
    return pd.DataFrame(rows, columns=cols)
