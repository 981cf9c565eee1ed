"""Outputs of outside models, imported from CSV or JSONL: one row per (case id, system name, text).

CSV needs a header with columns case_id, system, text (also accepted: id / case; system_name /
model; impression / output). JSONL has one object per line with the same keys. Any malformed
row makes the whole import fail with a message naming the line: nothing is half-imported.
Text is read as report files are (reports.readers): UTF-8 with or without a BOM or UTF-16 with a
BOM, strict CSV (an unbalanced quote or a duplicated column is an error naming the line or
column), JSON NaN/null as a missing value, size capped; JSONL lines end at \\n or \\r\\n only (U+2028 or
U+0085 inside a string is text); a second byte-order mark, a row repeating the header (two exports
pasted together), a named pipe or device, a lone surrogate, a JSON number/boolean/list where text is
expected (case ids may be integers), a system name over 100 or a case id over 200 characters, and
a text, name or id made only of spaces and invisible characters (zero-width space, no-break space)
are refused naming the line (the loaders' rules, reports/readers.py and reports/record_rules.py).
"""
from __future__ import annotations

from pathlib import Path

from reports.errors import MalformedFile
from reports.readers import csv_records, json_value, jsonl_lines, read_text, refuse_special_file
from reports.record_rules import text_value, visible

ALIASES = {
    "case_id": ("case_id", "case id", "caseid", "case", "id", "source_id"),
    "system": ("system", "system_name", "system name", "model", "model_name"),
    "text": ("text", "impression", "output", "generated"),
}
MAX_TEXT_CHARS = 20_000
MAX_SYSTEM_CHARS = 100
"""A system name is a label in tables and figures; the database column holds 200 with a prefix to spare."""
MAX_CASE_ID_CHARS = 200
"""The database's source_id column."""


class ImportFormatError(ValueError):
    """The file cannot be imported; the message says where and why."""


def _pick(row: dict, field: str) -> object:
    lowered = {str(k).strip().lower(): v for k, v in row.items() if k is not None}
    for name in ALIASES[field]:
        if name in lowered:
            return lowered[name]
    return None


def _field_text(value: object, where: str, what: str, limit: int, numbers: bool) -> str:
    """A case id, system name or text as stripped, visible text; anything else is refused naming `where`."""
    if numbers and isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if isinstance(value, list):
        raise ImportFormatError(f"{where}: the {what} is a JSON list; expected text")
    try:
        text = text_value(value, where, f"the {what}")
    except MalformedFile as exc:
        raise ImportFormatError(str(exc)) from None
    if text is None or not visible(text):
        raise ImportFormatError(f"{where}: the {what} is missing or empty (only spaces or invisible characters)")
    if len(text) > limit:
        raise ImportFormatError(f"{where}: the {what} is longer than {limit} characters")
    return text.strip()


def _add(result: dict[str, dict[str, str]], row: dict, where: str) -> None:
    case_key = _field_text(_pick(row, "case_id"), where, "case id", MAX_CASE_ID_CHARS, numbers=True)
    system_key = _field_text(_pick(row, "system"), where, "system name", MAX_SYSTEM_CHARS, numbers=False)
    text = _field_text(_pick(row, "text"), where, "text", MAX_TEXT_CHARS, numbers=False)
    previous = result.setdefault(system_key, {}).get(case_key)
    if previous is not None and previous != text:
        raise ImportFormatError(f"{where}: a second, different text for case {case_key!r} and system {system_key!r}")
    result[system_key][case_key] = text


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
    for number, line in enumerate(jsonl_lines(read_text(path)), start=1):
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
    try:
        refuse_special_file(path, path.name)  # a named pipe would block open() for ever
    except MalformedFile as exc:
        raise ImportFormatError(str(exc)) from None
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
