"""Report loaders: every format becomes a LoadResult of core Report records.

`load_reports(path, fmt)` is the one entry point; each format lives in its own module.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

from core.records import LoadResult
from reports.errors import MalformedFile

__all__ = ["FORMATS", "MalformedFile", "detect_format", "load_reports"]

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
    if not p.exists():
        raise FileNotFoundError(f"report file not found: {p}")
    from reports.readers import refuse_special_file

    refuse_special_file(p)
    name = p.name.lower()
    if p.is_dir() or name.endswith(".zip"):
        if p.is_dir() and (any(p.glob("*.xml")) or any(p.glob("*/*.xml"))):  # also an extracted NLMCXR archive
            return "openi-xml"
        return "mimic"
    if name.endswith((".tgz", ".tar.gz", ".tar", ".tar.bz2", ".tar.xz", ".xml")):
        return "openi-xml"
    if name.endswith(".jsonl") or name.endswith(".json"):
        return "jsonl"
    if name.endswith(".csv"):
        try:
            with open(p, "rb") as fh:
                head = fh.read(4096)
        except OSError as exc:
            raise MalformedFile(f"{path}: cannot be read ({type(exc).__name__}: {exc.strerror or exc})") from None
        if head.startswith((b"\xff\xfe", b"\xfe\xff")):
            header = head.decode("utf-16", errors="replace").lower()
        else:
            header = head.decode("utf-8", errors="replace").lower()
        header = header.splitlines()[0] if header.splitlines() else ""
        return "openi-csv" if "uid" in header and "mesh" in header else "csv"
    raise MalformedFile(f"{path}: cannot tell the format from the name; pass --test-format/--format explicitly "
                        f"(one of {', '.join(FORMATS)})")


def load_reports(path: str | Path, fmt: str | None = None, **options) -> LoadResult:
    """Load findings/impression pairs from `path` in format `fmt` (guessed when None)."""
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"report file not found: {p}")
    if options.get("encoding") is None:
        options.pop("encoding", None)
    from reports.readers import refuse_special_file

    refuse_special_file(p)  # a named pipe would block the first open() for ever
    try:
        return _loader(fmt or detect_format(p))(p, **options)
    except (MalformedFile, FileNotFoundError):
        raise
    except TypeError:
        raise
    except (ValueError, OSError, EOFError, RuntimeError, NotImplementedError, RecursionError, LookupError,
            UnicodeError, MemoryError) as exc:
        # A safety net: whatever a library raised on odd input becomes one line naming the file.
        raise MalformedFile(f"{p}: cannot be loaded as {fmt or 'its format'} ({type(exc).__name__}: {exc})") from None
