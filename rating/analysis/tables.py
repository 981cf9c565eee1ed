"""Summary tables as a reader sees them: readable headers, display names, p-values as `p < 0.001`.

`rating.analysis` keeps machine names (rouge1, p_holm, ci_low ...) and exact numbers; this module
turns one of its summary frames into the version shown in the Analysis tab and written to the
XLSX summary sheets and the summary CSVs. Pure pandas: no database, no plotting.
"""
from __future__ import annotations

import math
from typing import Mapping

import pandas as pd

from db.models import CRITERIA, CRITERION_TITLES

METRIC_LABELS = {
    "rouge1": "ROUGE-1", "rouge2": "ROUGE-2", "rougeL": "ROUGE-L", "rougeLsum": "ROUGE-Lsum",
    "chexpert_micro_f1": "Clinical micro-F1 (14)", "chexpert_macro_f1": "Clinical macro-F1 (14)",
    "chexpert_micro_f1_top5": "Clinical micro-F1 (5)", "chexpert_macro_f1_top5": "Clinical macro-F1 (5)",
    "omission_rate": "Omission rate", "addition_rate": "Addition rate", "contradiction_rate": "Contradiction rate",
}
"""Automatic metrics by column name."""

P_COLUMNS = ("p_value", "p_holm", "p_permutation", "p_permutation_holm")
"""Columns holding p-values: shown as text, `< 0.001` below one in a thousand, each followed by
the same p-value as a number (header + " (numeric)") for scripts and spreadsheets."""
SYSTEM_COLUMNS = ("system", "system_a", "system_b")
"""Columns holding system names: shown as display names."""

COLUMN_LABELS = {
    "system": "System", "criterion": "Criterion", "mean": "Mean", "ci_low": "95% CI low", "ci_high": "95% CI high",
    "n_ratings": "Ratings", "n_cases": "Cases", "n_raters": "Raters", "n_outputs": "Outputs",
    "alpha": "Krippendorff's alpha", "n_units": "Outputs (units)",
    "rater": "Rater", "n_pairs": "Pairs", "exact": "Exact agreement", "within_one": "Within one point",
    "weighted_kappa": "Weighted kappa (quadratic)", "spearman": "Spearman rho",
    "level": "Level", "metric": "Metric", "rho": "Spearman rho", "p_value": "p", "n": "n",
    "system_a": "System A", "system_b": "System B", "mean_a": "Mean A", "mean_b": "Mean B",
    "mean_diff": "Difference (A - B)", "statistic": "Wilcoxon W", "p_holm": "p (Holm)",
    "significant": "Significant (Holm)", "test": "Test", "rank_biserial": "Rank-biserial r",
    "p_permutation": "p (permutation)", "p_permutation_holm": "p (permutation, Holm)",
    "kendall_tau_b": "Kendall tau-b", "icc": "ICC", "icc_type": "ICC type",
    "tau_metric": "tau-b metric vs other readers", "tau_reader": "tau-b held-out reader vs other readers",
    "difference": "Difference (metric - reader)", "metric_closer": "Metric at least as close",
    "share_closer": "Share of held-out readers", "n_readers": "Held-out readers",
    "n_reader_outputs": "Outputs (summed over held-out readers)",
    "case_id": "Case", "assignments": "Assignments", "complete": "Complete", "ratings_done": "Ratings done",
    "ratings_expected": "Ratings expected", "percent_done": "% done", "note": "Note",
}
"""Machine column name -> header; metric columns and their _ci_low/_ci_high are added below."""


def format_p(p: object) -> str:
    """A p-value for a reader: '< 0.001' below 0.001, else three decimals; 'n/a' when undefined."""
    try:
        value = float(p)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return "n/a"
    if not math.isfinite(value):
        return "n/a"
    return "< 0.001" if value < 0.001 else f"{value:.3f}"


def column_label(column: str) -> str:
    """The header for a machine column name (unknown names are returned unchanged)."""
    if column.endswith("_numeric") and column[:-len("_numeric")] in P_COLUMNS:
        label = COLUMN_LABELS[column[:-len("_numeric")]]
        return f"{label[:-1]}, numeric)" if label.endswith(")") else f"{label} (numeric)"
    if column in COLUMN_LABELS:
        return COLUMN_LABELS[column]
    for suffix, words in (("_ci_low", "95% CI low"), ("_ci_high", "95% CI high")):
        if column.endswith(suffix) and column[:-len(suffix)] in METRIC_LABELS:
            return f"{METRIC_LABELS[column[:-len(suffix)]]} {words}"
    return METRIC_LABELS.get(column, column)


def readable_table(frame: pd.DataFrame, display_names: Mapping[str, str] | None = None,
                   digits: int | None = None) -> pd.DataFrame:
    """A summary frame for readers: display names, criterion and metric labels, p as text, headers.

    digits rounds the remaining float columns (None keeps full precision, e.g. for XLSX); rounded
    columns show an undefined statistic (NaN) as "n/a" (its reason is in the table's `note`).
    """
    out = frame.copy()
    names = dict(display_names or {})
    for c in out.columns:
        if c in SYSTEM_COLUMNS:
            out[c] = out[c].map(lambda s: names.get(s, s))
        elif c == "criterion":
            out[c] = out[c].map(lambda s: CRITERION_TITLES.get(s, s))
        elif c == "metric":
            out[c] = out[c].map(lambda s: METRIC_LABELS.get(s, s))
        elif c in P_COLUMNS:
            numeric = pd.to_numeric(out[c], errors="coerce")
            out[c] = out[c].map(format_p).astype(str)
            out.insert(out.columns.get_loc(c) + 1, f"{c}_numeric", numeric)
        elif digits is not None and pd.api.types.is_float_dtype(out[c]):
            rounded = out[c].round(digits)
            out[c] = rounded.astype(object).where(rounded.notna(), "n/a") if rounded.isna().any() else rounded
    return out.rename(columns=column_label)


def readable_sheets(sheets: Mapping[str, pd.DataFrame], display_names: Mapping[str, str] | None = None,
                    digits: int | None = None) -> dict[str, pd.DataFrame]:
    """readable_table for every summary sheet (sheet names stay)."""
    return {name: readable_table(frame, display_names, digits) for name, frame in sheets.items()}


def figure4_wide(table: pd.DataFrame, display_names: Mapping[str, str]) -> pd.DataFrame:
    """Figure 4 as a table: one row per system (display name), 'mean [low, high]' per criterion."""
    if table.empty:
        return pd.DataFrame(columns=["System", *[CRITERION_TITLES[c] for c in CRITERIA]])

    def fmt(v: float) -> str:
        return f"{v:.2f}" if pd.notna(v) else "n/a"

    text = table["mean"].map(fmt) + " [" + table["ci_low"].map(fmt) + ", " + table["ci_high"].map(fmt) + "]"
    text = text.where(table["mean"].notna(), "n/a (no ratings of this system yet)")
    wide = table.assign(text=text).pivot(index="system", columns="criterion", values="text")
    wide = wide.reindex(columns=list(CRITERIA)).reindex(list(dict.fromkeys(table["system"])))
    wide.index = [display_names.get(s, s) for s in wide.index]
    return wide.rename(columns=CRITERION_TITLES).rename_axis("System").reset_index()


def validity_wide(table: pd.DataFrame, level: str = "output") -> pd.DataFrame:
    """Metric validity at one level as metric x criterion cells 'tau-b [low, high]'."""
    part = table[table["level"] == level] if not table.empty else table
    if part.empty:
        return pd.DataFrame(columns=["Metric"])

    def fmt(v: float) -> str:
        return f"{v:.2f}" if pd.notna(v) else "n/a"

    text = part["kendall_tau_b"].map(fmt) + " [" + part["ci_low"].map(fmt) + ", " + part["ci_high"].map(fmt) + "]"
    wide = part.assign(text=text).pivot(index="metric", columns="criterion", values="text")
    wide = wide.reindex(list(dict.fromkeys(part["metric"])))
    wide = wide.reindex(columns=list(dict.fromkeys(part["criterion"])))
    wide.index = [METRIC_LABELS.get(m, m) for m in wide.index]
    return wide.rename(columns=lambda c: CRITERION_TITLES.get(c, c)).rename_axis("Metric").reset_index()


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(frame: pd.DataFrame) -> pd.DataFrame:
    """Text cells that a spreadsheet would run as a formula (=, +, -, @ first) get a leading "'"."""
    out = frame.copy()
    for c in out.columns:
        if out[c].dtype == object or pd.api.types.is_string_dtype(out[c]):
            out[c] = out[c].map(lambda v: f"'{v}" if isinstance(v, str) and v.startswith(_FORMULA_START) else v)
    return out
