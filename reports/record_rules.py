"""Rules every loaded record obeys, whatever its format (issue 22: plausible files that loaded wrong).

Each rule either passes the value on or raises MalformedFile with one line naming the file, the line
(row, entry) and the problem:
- a field that should be text is text: a JSON number, boolean, object, or a list holding anything but
  text is refused (a list of strings is sentences, joined with spaces); ids may be JSON integers;
- text is valid Unicode: a lone surrogate (a JSON escape such as "\\ud800") is refused;
- text made only of spaces and invisible characters (zero-width space, word joiner, variation
  selectors, no-break space) counts as missing;
- a split is train, validate (val, validation) or test, or empty; anything else is refused;
- one id with two different texts is refused naming both lines; the same report twice is loaded
  once and counted as "duplicate of an earlier report".
"""
from __future__ import annotations

import math
import unicodedata
from dataclasses import dataclass, field

from core.records import LoadResult, Report
from reports.errors import MalformedFile

SPLIT_ALIASES = {"train": "train", "training": "train", "validate": "validate", "validation": "validate",
                 "val": "validate", "valid": "validate", "dev": "validate", "test": "test"}
_INVISIBLE_CATEGORIES = ("Cf", "Zs", "Zl", "Zp", "Cc", "Mn", "Me")
DUPLICATE_SKIP = "duplicate of an earlier report"


def _json_kind(value: object) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "list"
    return type(value).__name__


def check_unicode(text: str, where: str, what: str) -> str:
    """`text` unless it holds a lone surrogate (valid JSON, not valid text: it cannot be stored or shown)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise MalformedFile(f"{where}: {what} holds a lone surrogate (U+{ord(text[exc.start]):04X} at character "
                            f"{exc.start + 1}), which is not valid text; fix the program that wrote the file") from None
    return text


def text_value(value: object, where: str, what: str) -> str | None:
    """A field that must be text: None for a missing value, the text (a list of strings joined), else refused."""
    if value is None:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, list):  # sentences given as a list
        odd = [v for v in value if v is not None and not isinstance(v, str)]
        if odd:
            raise MalformedFile(f"{where}: {what} is a JSON list holding a {_json_kind(odd[0])}; expected text")
        value = " ".join(v for v in value if v is not None)
    if not isinstance(value, str):
        raise MalformedFile(f"{where}: {what} is a JSON {_json_kind(value)}; expected text")
    return check_unicode(value, where, what)


def id_value(value: object, where: str) -> str | None:
    """An id: text or a JSON integer (1 and "1" are the same id); None when missing or blank."""
    if value is None or value == "":
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    text = text_value(value, where, "id")
    return text.strip() if text is not None and visible(text) else None


def visible(text: str | None) -> bool:
    """True when `text` has at least one character a reader can see (not only spaces or zero-width marks)."""
    return bool(text) and any(not ch.isspace() and unicodedata.category(ch) not in _INVISIBLE_CATEGORIES
                              for ch in text)


def split_value(value: object, where: str) -> str | None:
    """train/validate/test (aliases val, validation, ...), None when empty; anything else is refused."""
    if value is None:
        return None
    text = text_value(value, where, "split")
    if text is None or not text.strip():
        return None
    split = SPLIT_ALIASES.get(text.strip().lower())
    if split is None:
        raise MalformedFile(f"{where}: split {text.strip()[:40]!r} is not train, validate or test "
                            "(leave it empty for a seeded split)")
    return split


@dataclass
class UniqueIds:
    """Refuses one id with two different texts; the same report twice is kept once and counted."""

    label: str
    seen: dict[str, tuple[str, str, str]] = field(default_factory=dict)

    def add(self, result: LoadResult, report: Report, where: str, place: str) -> None:
        """Append `report` (found at `where`, described as `place`, e.g. "line 5") unless its id was seen."""
        first = self.seen.get(report.id)
        if first is None:
            self.seen[report.id] = (place, report.findings, report.impression)
            result.reports.append(report)
            return
        if (first[1], first[2]) == (report.findings, report.impression):
            result.skip(DUPLICATE_SKIP)
            return
        before = first[0].replace("line ", "on line ", 1) if first[0].startswith("line ") else f"in {first[0]}"
        raise MalformedFile(f"{where}: id {report.id!r} again (first {before}) with a different text; "
                            "every report needs its own id")
