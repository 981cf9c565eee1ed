"""The protocol part of a study export (rating.export calls write_protocol_files):

    errors.csv / errors.parquet            one row per error rating and category
    preferences.csv / preferences.parquet  one row per compared pair and attribute
    harm.csv / harm.parquet                one row per text judged in a pair (its own harm)
    errors_figure.{png,svg,pdf}, errors_figure_single_column.{png,svg,pdf}
    summary/<sheet>.csv                    errors_per_report, errors_per_category, preference_summary,
                                           harm_distribution, gold_accuracy, gold_answers

The same tidy tables and summaries go into ratings.xlsx as sheets (protocol_sheets). Columns are
described in rating/analysis/protocol_load.py and protocol_stats.py; text cells that a spreadsheet would run as a formula
get a leading ' in the CSVs (rating.csv_safety), as in ratings.csv.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

if TYPE_CHECKING:  # the type only: this module writes files and needs no database
    from rating.analysis.protocol_study import ProtocolAnalysis


HEADERS = {
    "n_reports": "Reports", "significant_mean": "Significant errors per report", "total_mean": "Errors per report",
    "significant_ci_low": "Significant 95% CI low", "significant_ci_high": "Significant 95% CI high",
    "total_ci_low": "Errors 95% CI low", "total_ci_high": "Errors 95% CI high", "category": "Category",
    "attribute": "Attribute", "a_better": "Share A better", "equal": "Share equal", "b_better": "Share B better",
    "p_a_better": "p (A better, one-sided Wilcoxon)", "p_b_better": "p (B better, one-sided Wilcoxon)",
    "p_a_better_bonferroni": "p (A better, Bonferroni)", "p_b_better_bonferroni": "p (B better, Bonferroni)",
    "n_judged": "Texts judged", "n_error": "Texts with an error", "share_error": "Share with an error",
    "n_gold_answers": "Gold answers", "n_correct": "Correct", "accuracy": "Accuracy", "passed": "Passed",
    "protocol": "Protocol", "expected": "Expected answer", "correct": "Correct",
}
"""Readable headers of the protocol summaries (system columns keep their names: rating.analysis.tables maps them)."""


def protocol_sheets(protocol: ProtocolAnalysis) -> tuple[dict[str, pd.DataFrame], dict[str, pd.DataFrame]]:
    """(tidy sheets with machine names, summary sheets with readable headers) for the XLSX."""
    return protocol.tidy_tables(), {name: _p_as_text(frame).rename(columns=HEADERS)
                                    for name, frame in protocol.summaries.items()}


def _p_as_text(frame: pd.DataFrame) -> pd.DataFrame:
    """p-values as a reader sees them ('< 0.001', 'n/a'), as in the other summary sheets."""
    from rating.analysis.tables import format_p

    out = frame.copy()
    for column in out.columns:
        if column.startswith("p_"):
            out[column] = out[column].map(format_p).astype(str)
    return out


def write_protocol_files(protocol: ProtocolAnalysis, out_dir: str | Path, systems: Sequence[str],
                         display_names: Mapping[str, str], simulated: bool,
                         metadata: Mapping[str, str], prefix: str = "") -> dict[str, Path]:
    """Write the tidy CSV/Parquet files and the errors figure; returns name -> path. Every file name
    starts with prefix (the Analysis tab's "study<id>_", as the other export files)."""
    import pyarrow as pa
    import pyarrow.csv as pa_csv
    import pyarrow.parquet as pq

    from rating.csv_safety import neutralise_formulas

    out = Path(out_dir)
    files: dict[str, Path] = {}
    for stem, frame in protocol.tidy_tables().items():
        table = pa.Table.from_pandas(frame.reset_index(drop=True), preserve_index=False)
        table = table.replace_schema_metadata({k.encode(): str(v).encode() for k, v in metadata.items()})
        files[f"{stem}_csv"] = out / f"{prefix}{stem}.csv"
        files[f"{stem}_parquet"] = out / f"{prefix}{stem}.parquet"
        pa_csv.write_csv(neutralise_formulas(table), files[f"{stem}_csv"])
        pq.write_table(table, files[f"{stem}_parquet"])
    if "errors_per_category" in protocol.summaries:
        from rating.analysis.protocol_figures import export_errors_figures

        files.update(export_errors_figures(protocol.summaries["errors_per_category"], systems, out, display_names,
                                           simulated, prefix))
    return files
