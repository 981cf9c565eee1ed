"""Plain report files: JSONL (one object per line) or CSV, with `findings`, `impression` and an optional `id`.

An optional `split` field/column with train/validate/test is kept as the report's split.
A JSON file holding one array of such objects is accepted too. The rules of reports/readers.py and
reports/record_rules.py apply: a split that is not train/validate/test, a JSON number/boolean/object
where text is expected, a lone surrogate, or one id with two different texts is refused naming the
line. Rows without an id are numbered by their position among the records.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterable, Iterator

from core.cleaning import clean_text
from core.records import LoadResult, Report
from reports.errors import MalformedFile
from reports.readers import csv_records, json_value, jsonl_lines, read_text
from reports.record_rules import UniqueIds, id_value, split_value, text_value, visible

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
        records = _json_lines(str(path), jsonl_lines(text))
    n_objects = 0
    ids = UniqueIds(str(path))
    keys_seen: set[str] = set()
    for number, (where, row) in enumerate(records, 1):
        if not isinstance(row, dict):
            raise MalformedFile(f"{where}: expected a JSON object with findings and impression, "
                                f"got {type(row).__name__}")
        n_objects += 1
        keys_seen.update(row)
        _add(result, ids, row, number, remove_deid, source, where)
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
    ids = UniqueIds(str(path))
    for number, (line, row) in enumerate(rows, 1):
        row = {k.lower(): v for k, v in row.items()}
        _add(result, ids, row, number, remove_deid, source, f"{path} line {line}")
    return result


def _add(result: LoadResult, ids: UniqueIds, row: dict, number: int, remove_deid: bool, source: str,
         where: str) -> None:
    """Check and clean one row and append it, or count why it was skipped."""
    findings = clean_text(text_value(row.get("findings"), where, "findings"), remove_deid)
    impression = clean_text(text_value(row.get("impression"), where, "impression"), remove_deid)
    report_id = id_value(row.get("id"), where) or str(number)
    split = split_value(row.get("split"), where)
    if not visible(findings):
        result.skip("no findings")
        return
    if not visible(impression):
        result.skip("no impression")
        return
    place = where.rsplit(" ", 2)[-2:]
    ids.add(result, Report(id=report_id, findings=findings, impression=impression, source=source, split=split),
            where, " ".join(place))
