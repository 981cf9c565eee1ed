"""Summaries of the errors and pairwise protocols' tidy tables (rating.analysis.protocol_load).

Rater pseudonyms only; gold cases, hidden repeats and calibration cases are never part of them, as
for Figure 4:
- errors_per_report: mean clinically significant and mean total errors per report per system,
  95% interval from the same two-level (cases x raters) bootstrap as Figure 4.
- errors_per_category: the same per category (the error figure).
- preference_summary: per pair of systems and attribute, mean preference with a two-level bootstrap
  interval, shares of a better / equal / b better, and clin-summ's one-sided Wilcoxon signed-rank
  tests (each direction) on per-case means, Bonferroni-corrected over every test of the table.
- harm_distribution: per system, texts judged, texts marked with an error, and the AHRQ extent and
  likelihood of their possible harm (counts and shares of the texts judged).

Pure: DataFrames in, DataFrames out (no database, no UI).
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from core.protocol_scales import ATTRIBUTES, ERROR_CATEGORIES, HARM_EXTENTS, HARM_LIKELIHOODS
from rating.analysis.bootstrap import bootstrap_weights
from rating.analysis.config import AnalysisConfig


def analysed(frame: pd.DataFrame, config: AnalysisConfig) -> pd.DataFrame:
    """What the summaries use: first ratings, never gold cases, calibration cases as for Figure 4."""
    keep = (frame["repeat_index"] == 0) & ~frame["gold"].astype(bool)
    if not config.include_calibration:
        keep &= ~frame["calibration"].astype(bool)
    return frame[keep]


def _bootstrap_mean(case_ids: np.ndarray, raters: np.ndarray, values: np.ndarray,
                    config: AnalysisConfig) -> tuple[float, float, float]:
    """Mean with the Figure 4 interval: resample cases and raters (two levels), percentile interval."""
    if values.size == 0:
        return np.nan, np.nan, np.nan
    cases_u, ci = np.unique(case_ids, return_inverse=True)
    raters_u, ri = np.unique(raters, return_inverse=True)
    wc, wr = bootstrap_weights(len(cases_u), len(raters_u), config.n_bootstrap, config.seed, config.resample_raters)
    flat = ci * len(raters_u) + ri
    shape = (len(cases_u), len(raters_u))
    counts = np.bincount(flat, minlength=shape[0] * shape[1]).reshape(shape).astype(float)
    sums = np.bincount(flat, weights=values.astype(float), minlength=shape[0] * shape[1]).reshape(shape)
    with np.errstate(invalid="ignore", divide="ignore"):
        means = ((wc @ sums) * wr).sum(axis=1) / ((wc @ counts) * wr).sum(axis=1)
    means = means[np.isfinite(means)]
    alpha = (1 - config.confidence) / 2
    if means.size == 0:
        return float(values.mean()), np.nan, np.nan
    return float(values.mean()), float(np.quantile(means, alpha)), float(np.quantile(means, 1 - alpha))


def per_report(errors: pd.DataFrame) -> pd.DataFrame:
    """One row per error rating (one report as one rater judged it): significant and total errors."""
    cols = ["rating_id", "case_id", "rater", "system"]
    if errors.empty:
        return pd.DataFrame(columns=[*cols, "significant", "total"])
    sig = errors["count"].where(errors["clinically_significant"], 0)
    frame = errors.assign(significant=sig)
    return frame.groupby(cols, as_index=False).agg(significant=("significant", "sum"), total=("count", "sum"))


def errors_per_report(errors: pd.DataFrame, systems: list[str], config: AnalysisConfig) -> pd.DataFrame:
    """Mean clinically significant and total errors per report, per system, with 95% intervals."""
    reports = per_report(analysed(errors, config))
    rows = []
    for system in systems:
        part = reports[reports["system"] == system]
        row = {"system": system, "n_reports": len(part), "n_cases": part["case_id"].nunique(),
               "n_raters": part["rater"].nunique()}
        for what in ("significant", "total"):
            mean, low, high = _bootstrap_mean(part["case_id"].to_numpy(), part["rater"].to_numpy(),
                                              part[what].to_numpy(), config)
            row.update({f"{what}_mean": mean, f"{what}_ci_low": low, f"{what}_ci_high": high})
        row["note"] = "" if len(part) else "n/a: no error ratings of this system yet"
        rows.append(row)
    return pd.DataFrame(rows, columns=["system", "n_reports", "n_cases", "n_raters", "significant_mean",
                                       "significant_ci_low", "significant_ci_high", "total_mean", "total_ci_low",
                                       "total_ci_high", "note"])


def errors_per_category(errors: pd.DataFrame, systems: list[str], config: AnalysisConfig) -> pd.DataFrame:
    """Mean errors per report per category and system (all, and clinically significant), with 95% intervals."""
    data = analysed(errors, config)
    rows = []
    for system in systems:
        for category in ERROR_CATEGORIES:
            part = data[(data["system"] == system) & (data["category"] == category)]
            per_rating = part.assign(sig=part["count"].where(part["clinically_significant"], 0)).groupby(
                ["rating_id", "case_id", "rater"], as_index=False).agg(total=("count", "sum"), sig=("sig", "sum"))
            row = {"system": system, "category": category, "n_reports": len(per_rating)}
            for what, column in (("total", "total"), ("significant", "sig")):
                mean, low, high = _bootstrap_mean(per_rating["case_id"].to_numpy(), per_rating["rater"].to_numpy(),
                                                  per_rating[column].to_numpy(), config)
                row.update({f"{what}_mean": mean, f"{what}_ci_low": low, f"{what}_ci_high": high})
            rows.append(row)
    return pd.DataFrame(rows, columns=["system", "category", "n_reports", "total_mean", "total_ci_low",
                                       "total_ci_high", "significant_mean", "significant_ci_low",
                                       "significant_ci_high"])


def _one_sided(values: np.ndarray, alternative: str) -> float:
    if values.size == 0 or not np.any(values != 0):
        return np.nan
    return float(stats.wilcoxon(values, alternative=alternative, zero_method="wilcox").pvalue)


def preference_summary(preferences: pd.DataFrame, config: AnalysisConfig, systems: list[str] | None = None
                       ) -> pd.DataFrame:
    """Per pair of systems and attribute: mean preference (-2 = a much better .. 2 = b much better) with a
    two-level bootstrap interval, shares, and one-sided Wilcoxon signed-rank tests on per-case means
    (p_a_better: preference < 0; p_b_better: > 0), Bonferroni-corrected over every test in the table."""
    cols = ["system_a", "system_b", "attribute", "n_ratings", "n_cases", "mean", "ci_low", "ci_high", "a_better",
            "equal", "b_better", "p_a_better", "p_b_better", "p_a_better_bonferroni", "p_b_better_bonferroni",
            "note"]
    data = analysed(preferences, config)
    rank = {s: i for i, s in enumerate(systems or sorted(set(data["system_a"]) | set(data["system_b"])))}
    pairs = sorted({(a, b) for a, b in zip(data["system_a"], data["system_b"], strict=True)},
                   key=lambda p: (rank.get(p[0], len(rank)), rank.get(p[1], len(rank))))
    rows = []
    for a, b in pairs:
        pair = data[(data["system_a"] == a) & (data["system_b"] == b)]
        for attribute in ATTRIBUTES:
            part = pair[pair["attribute"] == attribute]
            values = part["preference"].to_numpy()
            mean, low, high = _bootstrap_mean(part["case_id"].to_numpy(), part["rater"].to_numpy(), values, config)
            per_case = part.groupby("case_id")["preference"].mean().to_numpy()
            p_a, p_b = _one_sided(per_case, "less"), _one_sided(per_case, "greater")
            note = "" if np.isfinite(p_a) else "test n/a: every case's mean preference is 0 (no difference to test)"
            rows.append([a, b, attribute, len(part), part["case_id"].nunique(), mean, low, high,
                         float((values < 0).mean()) if values.size else np.nan,
                         float((values == 0).mean()) if values.size else np.nan,
                         float((values > 0).mean()) if values.size else np.nan, p_a, p_b, np.nan, np.nan, note])
    table = pd.DataFrame(rows, columns=cols)
    n_tests = int(table[["p_a_better", "p_b_better"]].notna().sum().sum())
    for side in ("a", "b"):
        table[f"p_{side}_better_bonferroni"] = (table[f"p_{side}_better"] * n_tests).clip(upper=1.0)
    return table


def harm_distribution(harm: pd.DataFrame, systems: list[str], config: AnalysisConfig) -> pd.DataFrame:
    """Per system: texts judged, texts marked with an error, and the harm of those (counts and shares)."""
    data = analysed(harm, config)
    rows = []
    for system in systems:
        part = data[data["system"] == system]
        n = len(part)
        row = {"system": system, "n_judged": n, "n_error": int(part["error_marked"].sum()),
               "share_error": part["error_marked"].mean() if n else np.nan}
        for extent in HARM_EXTENTS:
            k = int((part["harm_extent"] == extent).sum())
            row[f"extent_{extent}"], row[f"share_extent_{extent}"] = k, (k / n if n else np.nan)
        for likelihood in HARM_LIKELIHOODS:
            k = int((part["harm_likelihood"] == likelihood).sum())
            row[f"likelihood_{likelihood}"], row[f"share_likelihood_{likelihood}"] = k, (k / n if n else np.nan)
        rows.append(row)
    return pd.DataFrame(rows)
