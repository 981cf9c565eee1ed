"""OpenI CSV export (indiana_reports.csv): uid,MeSH,Problems,image,indication,comparison,findings,impression."""
from __future__ import annotations

import csv
from pathlib import Path

from core.cleaning import clean_text
from core.records import LoadResult, Report

REQUIRED_COLUMNS = ("uid", "findings", "impression")


class MalformedFile(ValueError):
    """The file cannot be read as the format claims (e.g. required columns are missing)."""


def load_openi_csv(path: str | Path, remove_deid: bool = False, source: str = "openi") -> LoadResult:
    result = LoadResult(reports=[])
    with open(path, newline="", encoding="utf-8", errors="replace") as fh:
        reader = csv.DictReader(fh)
        missing = [c for c in REQUIRED_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise MalformedFile(f"{path}: missing column(s) {', '.join(missing)}; found {reader.fieldnames}")
        for row in reader:
            if None in row:  # more fields than the header: a broken line
                result.skip("malformed row")
                continue
            findings = clean_text(row.get("findings"), remove_deid)
            impression = clean_text(row.get("impression"), remove_deid)
            if not findings:
                result.skip("no findings")
                continue
            if not impression:
                result.skip("no impression")
                continue
            meta = {k: row.get(k, "") for k in ("MeSH", "Problems", "indication", "comparison") if row.get(k)}
            result.reports.append(Report(id=str(row["uid"]).strip(), findings=findings, impression=impression,
                                         source=source, meta=meta))
    return result
