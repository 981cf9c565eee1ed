"""OpenI CSV export (indiana_reports.csv): uid,MeSH,Problems,image,indication,comparison,findings,impression.

A uid given twice with different texts is refused naming both lines (reports/record_rules.py)."""
from __future__ import annotations

from pathlib import Path

from core.cleaning import clean_text
from core.records import LoadResult, Report
from reports.errors import MalformedFile
from reports.readers import csv_records, read_text
from reports.record_rules import UniqueIds, visible

__all__ = ["MalformedFile", "load_openi_csv"]

REQUIRED_COLUMNS = ("uid", "findings", "impression")


def load_openi_csv(path: str | Path, remove_deid: bool = False, source: str = "openi",
                   encoding: str | None = None) -> LoadResult:
    result = LoadResult(reports=[])
    label = str(path)
    header, rows = csv_records(read_text(Path(path), encoding), label)
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        raise MalformedFile(f"{path}: missing column(s) {', '.join(missing)}; found {header}")
    ids = UniqueIds(label)
    for line, row in rows:
        uid = str(row["uid"]).strip()
        if not uid:
            raise MalformedFile(f"{label}: line {line}: empty uid")
        findings = clean_text(row.get("findings"), remove_deid)
        impression = clean_text(row.get("impression"), remove_deid)
        if not visible(findings):
            result.skip("no findings")
            continue
        if not visible(impression):
            result.skip("no impression")
            continue
        meta = {k: row.get(k, "") for k in ("MeSH", "Problems", "indication", "comparison") if row.get(k)}
        ids.add(result, Report(id=uid, findings=findings, impression=impression, source=source, meta=meta),
                f"{label}: line {line}", f"line {line}")
    return result
