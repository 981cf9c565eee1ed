"""Outputs of outside models, imported from CSV or JSONL: one row per (case id, system name, text).

CSV needs a header with columns case_id, system, text (also accepted: id / case; system_name /
model; impression / output). JSONL has one object per line with the same keys. Any malformed
row makes the whole import fail with a message naming the line: nothing is half-imported.
Text is read as report files are (reports.readers): UTF-8 with or without a BOM or UTF-16 with a
BOM, strict CSV (an unbalanced quote or a duplicated column is an error naming the line or
column), JSON NaN/null as a missing value, size capped.
"""
from __future__ import annotations

from pathlib import Path

from reports.errors import MalformedFile
from reports.readers import csv_records, json_value, read_text

ALIASES = {
    "case_id": ("case_id", "case id", "caseid", "case", "id", "source_id"),
    "system": ("system", "system_name", "system name", "model", "model_name"),
    "text": ("text", "impression", "output", "generated"),
}
MAX_TEXT_CHARS = 20_000


class ImportFormatError(ValueError):
    """The file cannot be imported; the message says where and why."""


def _pick(row: dict, field: str) -> object:
    lowered = {str(k).strip().lower(): v for k, v in row.items() if k is not None}
    for name in ALIASES[field]:
        if name in lowered:
            return lowered[name]
    return None


def _add(result: dict[str, dict[str, str]], row: dict, where: str) -> None:
    case_id, system, text = (_pick(row, f) for f in ("case_id", "system", "text"))
    for field, value in (("case id", case_id), ("system name", system), ("text", text)):
        if value is None or not str(value).strip():
            raise ImportFormatError(f"{where}: the {field} is missing or empty")
    if not isinstance(text, str):
        raise ImportFormatError(f"{where}: the text must be a string")
    for field, value in (("case id", case_id), ("system name", system)):
        if isinstance(value, (dict, list, bool)):
            raise ImportFormatError(f"{where}: the {field} must be text or a number, not {type(value).__name__}")
    if len(text) > MAX_TEXT_CHARS:
        raise ImportFormatError(f"{where}: the text is longer than {MAX_TEXT_CHARS} characters")
    case_key, system_key = str(case_id).strip(), str(system).strip()
    previous = result.setdefault(system_key, {}).get(case_key)
    if previous is not None and previous != text.strip():
        raise ImportFormatError(f"{where}: a second, different text for case {case_key!r} and system {system_key!r}")
    result[system_key][case_key] = text.strip()


def _load_csv(path: Path) -> dict[str, dict[str, str]]:
    result: dict[str, dict[str, str]] = {}
    header_names, rows = csv_records(read_text(path), path.name)
    header = [h.lower() for h in header_names]
    missing = [f for f, names in ALIASES.items() if not any(n in header for n in names)]
    if missing:
        raise ImportFormatError(f"{path.name}: missing column(s) {', '.join(missing)}; "
                                f"expected case_id, system, text; found {header_names}")
    for line, row in rows:
        _add(result, row, f"{path.name} line {line}")
    return result


def _load_jsonl(path: Path) -> dict[str, dict[str, str]]:
    result: dict[str, dict[str, str]] = {}
    for number, line in enumerate(read_text(path).splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path.name} line {number}"
        row = json_value(line, where)
        if not isinstance(row, dict):
            raise ImportFormatError(f"{where}: expected a JSON object with case_id, system and text")
        _add(result, row, where)
    return result


def load_outputs(path: str | Path) -> dict[str, dict[str, str]]:
    """{system name: {case id: text}} from a .csv or .jsonl/.json file; ImportFormatError if malformed."""
    path = Path(path)
    if not path.exists():
        raise ImportFormatError(f"{path}: no such file")
    if not path.is_file():
        raise ImportFormatError(f"{path.name}: is a folder, not a file")
    suffix = path.suffix.lower()
    try:
        if suffix == ".csv":
            result = _load_csv(path)
        elif suffix in (".jsonl", ".json", ".ndjson"):
            result = _load_jsonl(path)
        else:
            raise ImportFormatError(f"{path.name}: unknown format {suffix!r}; use .csv or .jsonl")
    except MalformedFile as exc:
        raise ImportFormatError(str(exc).replace(str(path), path.name)) from None
    if not result:
        raise ImportFormatError(f"{path.name}: no outputs in the file")
    return result
