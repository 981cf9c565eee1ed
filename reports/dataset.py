"""Load a report set with splits: the one call evaluation, training and studies start from."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from core.records import LoadResult, Report
from core.splits import SplitSpec, assign_splits, select
from reports import detect_format, load_reports
from core.paths import default_data_path


@dataclass
class SplitReports:
    train: list[Report]
    validate: list[Report]
    test: list[Report]
    load: LoadResult
    path: Path
    fmt: str


def load_split(data: str | Path | None = None, fmt: str | None = None, spec: SplitSpec = SplitSpec(),
               remove_deid: bool = False, encoding: str | None = None) -> SplitReports:
    """Load `data` (default: the shared OpenI CSV) and split it (official split when present)."""
    path = default_data_path(data)
    fmt = fmt or detect_format(path)
    loaded = load_reports(path, fmt, remove_deid=remove_deid, encoding=encoding)
    reports = assign_splits(loaded.reports, spec)
    return SplitReports(select(reports, "train"), select(reports, "validate"), select(reports, "test"),
                        loaded, path, fmt)
