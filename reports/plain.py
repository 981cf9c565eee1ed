"""Plain report files: JSONL (one object per line) or CSV, with `findings`, `impression` and an optional `id`.

An optional `split` field/column with train/validate/test is kept as the report's split.
A JSON file holding one array of such objects is accepted too.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterable, Iterator

from core.cleaning import clean_text
from core.records import LoadResult, Report
from core.splits import SPLITS
from reports.errors import MalformedFile
from reports.readers import csv_records, json_value, read_text

REQUIRED_FIELDS = ("findings", "impression")


def load_plain(path: str | Path, remove_deid: bool = False, source: str | None = None,
               encoding: str | None = None) -> LoadResult:
    """Load a JSONL/JSON file (by suffix .jsonl/.json) or a CSV file (any other suffix)."""
    p = Path(path)
    if p.suffix.lower() in (".jsonl", ".json", ".ndjson"):
        return load_jsonl(p, remove_deid, source or "jsonl", encoding)
    return load_csv(p, remove_deid, source or "csv", encoding)


def load_jsonl(path: str | Path, remove_deid: bool = False, source: str = "jsonl",
               encoding: str | None = None) -> LoadResult:
    """JSONL (one object per line) or one JSON array of objects; any line that is not an object is an error."""
    result = LoadResult(reports=[])
    text = read_text(Path(path), encoding)
    if text.lstrip().startswith("["):
        rows = json_value(text, str(path), whole_file=True)
        if not isinstance(rows, list):
            raise MalformedFile(f"{path}: expected a JSON array of objects")
        records: Iterable[tuple[str, object]] = ((f"{path} entry {i}", row) for i, row in enumerate(rows, 1))
    else:
        records = _json_lines(str(path), text.splitlines())
    n_objects = 0
    keys_seen: set[str] = set()
    for number, (where, row) in enumerate(records, 1):
        if not isinstance(row, dict):
            raise MalformedFile(f"{where}: expected a JSON object with findings and impression, "
                                f"got {type(row).__name__}")
        n_objects += 1
        keys_seen.update(row)
        _add(result, row, number, remove_deid, source, where)
    if not n_objects:
        raise MalformedFile(f"{path}: no reports in the file; expected JSONL with findings and impression per line")
    missing = [f for f in REQUIRED_FIELDS if f not in keys_seen]
    if missing:
        raise MalformedFile(f"{path}: no record has the field(s) {', '.join(missing)}; "
                            f"found {', '.join(sorted(keys_seen)) or 'none'}")
    return result


def _json_lines(label: str, lines: list[str]) -> Iterator[tuple[str, object]]:
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        where = f"{label} line {number}"
        yield where, json_value(line, where)


def load_csv(path: str | Path, remove_deid: bool = False, source: str = "csv",
             encoding: str | None = None) -> LoadResult:
    result = LoadResult(reports=[])
    header, rows = csv_records(read_text(Path(path), encoding), str(path))
    fields = [f.lower() for f in header]
    missing = [c for c in REQUIRED_FIELDS if c not in fields]
    if missing:
        raise MalformedFile(f"{path}: missing column(s) {', '.join(missing)}; found {header}. "
                            "A plain CSV needs the columns findings,impression (and optionally id).")
    for number, (line, row) in enumerate(rows, 1):
        row = {k.lower(): v for k, v in row.items()}
        _add(result, row, number, remove_deid, source, f"{path} line {line}")
    return result


def _add(result: LoadResult, row: dict, number: int, remove_deid: bool, source: str, where: str) -> None:
    """Clean one row and append it, or count why it was skipped."""
    findings = clean_text(_as_text(row.get("findings"), where, "findings"), remove_deid)
    impression = clean_text(_as_text(row.get("impression"), where, "impression"), remove_deid)
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


def _as_text(value: object, where: str, field: str) -> str | None:
    if value is None:
        return None
    if isinstance(value, list):  # sentences given as a list
        return " ".join(str(v) for v in value if v is not None)
    if isinstance(value, dict):
        raise MalformedFile(f"{where}: {field} is a JSON object; expected text")
    if isinstance(value, float) and value != value:
        return None
    return str(value)
