"""Report loaders: every format becomes a LoadResult of core Report records.

`load_reports(path, fmt)` is the one entry point; each format lives in its own module.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

from core.records import LoadResult

FORMATS = ("openi-csv", "openi-xml", "mimic", "jsonl", "csv")


def _loader(fmt: str) -> Callable[..., LoadResult]:
    if fmt == "openi-csv":
        from reports.openi_csv import load_openi_csv
        return load_openi_csv
    if fmt == "openi-xml":
        from reports.openi_xml import load_openi_xml
        return load_openi_xml
    if fmt == "mimic":
        from reports.mimic import load_mimic
        return load_mimic
    if fmt in ("jsonl", "csv"):
        from reports.plain import load_plain
        return load_plain
    raise ValueError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")


def detect_format(path: str | Path) -> str:
    """Guess the format from the path; raise ValueError when it cannot be guessed."""
    p = Path(path)
    name = p.name.lower()
    if p.is_dir() or name.endswith(".zip"):
        if p.is_dir() and (any(p.glob("*.xml")) or any(p.glob("*/*.xml"))):  # also an extracted NLMCXR archive
            return "openi-xml"
        return "mimic"
    if name.endswith((".tgz", ".tar.gz", ".xml")):
        return "openi-xml"
    if name.endswith(".jsonl") or name.endswith(".json"):
        return "jsonl"
    if name.endswith(".csv"):
        with open(p, encoding="utf-8", errors="replace") as fh:
            header = fh.readline().lower()
        return "openi-csv" if "uid" in header and "mesh" in header else "csv"
    raise ValueError(f"cannot tell the format of {path}; pass --test-format/--format explicitly")


def load_reports(path: str | Path, fmt: str | None = None, **options) -> LoadResult:
    """Load findings/impression pairs from `path` in format `fmt` (guessed when None)."""
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"report file not found: {p}")
    return _loader(fmt or detect_format(p))(p, **options)
