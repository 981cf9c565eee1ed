"""Plain report files: JSONL (one object per line) or CSV, with `findings`, `impression` and an optional `id`.

An optional `split` field/column with train/validate/test is kept as the report's split.
A JSON file holding one array of such objects is accepted too.
"""
from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Iterable, Iterator

from core.cleaning import clean_text
from core.records import LoadResult, Report
from core.splits import SPLITS
from reports.openi_csv import MalformedFile

REQUIRED_FIELDS = ("findings", "impression")


def load_plain(path: str | Path, remove_deid: bool = False, source: str | None = None) -> LoadResult:
    """Load a JSONL/JSON file (by suffix .jsonl/.json) or a CSV file (any other suffix)."""
    p = Path(path)
    if p.suffix.lower() in (".jsonl", ".json"):
        return load_jsonl(p, remove_deid, source or "jsonl")
    return load_csv(p, remove_deid, source or "csv")


def load_jsonl(path: str | Path, remove_deid: bool = False, source: str = "jsonl") -> LoadResult:
    result = LoadResult(reports=[])
    text = Path(path).read_text(encoding="utf-8", errors="replace")
    if text.lstrip().startswith("["):
        try:
            rows = json.loads(text)
        except json.JSONDecodeError as exc:
            raise MalformedFile(f"{path}: not valid JSON ({exc})") from None
        if not isinstance(rows, list):
            raise MalformedFile(f"{path}: expected a JSON array of objects")
        records: Iterable[object] = rows
    else:
        records = _json_lines(text.splitlines())
    n_objects = 0
    n_malformed = 0
    keys_seen: set[str] = set()
    for number, row in enumerate(records, 1):
        if not isinstance(row, dict):
            n_malformed += 1
            result.skip("malformed line")
            continue
        n_objects += 1
        keys_seen.update(row)
        _add(result, row, number, remove_deid, source)
    if n_malformed and not n_objects:
        raise MalformedFile(f"{path}: no line is a JSON object; expected JSONL with findings and impression per line")
    missing = [f for f in REQUIRED_FIELDS if n_objects and f not in keys_seen]
    if missing:
        raise MalformedFile(f"{path}: no record has the field(s) {', '.join(missing)}; "
                            f"found {', '.join(sorted(keys_seen)) or 'none'}")
    return result


def _json_lines(lines: list[str]) -> Iterator[object]:
    for line in lines:
        if not line.strip():
            continue
        try:
            yield json.loads(line)
        except json.JSONDecodeError:
            yield None  # counted as a malformed line by the caller


def load_csv(path: str | Path, remove_deid: bool = False, source: str = "csv") -> LoadResult:
    result = LoadResult(reports=[])
    with open(path, newline="", encoding="utf-8", errors="replace") as fh:
        reader = csv.DictReader(fh)
        fields = [f.strip().lower() for f in (reader.fieldnames or [])]
        missing = [c for c in REQUIRED_FIELDS if c not in fields]
        if missing:
            raise MalformedFile(f"{path}: missing column(s) {', '.join(missing)}; found {reader.fieldnames or 'no header'}. "
                                "A plain CSV needs the columns findings,impression (and optionally id).")
        reader.fieldnames = fields
        for number, row in enumerate(reader, 1):
            if None in row:  # more fields than the header: a broken line
                result.skip("malformed row")
                continue
            _add(result, row, number, remove_deid, source)
    return result


def _add(result: LoadResult, row: dict, number: int, remove_deid: bool, source: str) -> None:
    """Clean one row and append it, or count why it was skipped."""
    findings = clean_text(_as_text(row.get("findings")), remove_deid)
    impression = clean_text(_as_text(row.get("impression")), remove_deid)
    if not findings:
        result.skip("no findings")
        return
    if not impression:
        result.skip("no impression")
        return
    raw_id = row.get("id")
    report_id = str(raw_id).strip() if raw_id not in (None, "") else str(number)
    split = str(row.get("split") or "").strip().lower() or None
    if split == "val":
        split = "validate"
    result.reports.append(Report(id=report_id, findings=findings, impression=impression, source=source,
                                 split=split if split in SPLITS else None))


def _as_text(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, list):  # sentences given as a list
        return " ".join(str(v) for v in value)
    return str(value)
