"""Reading report files safely: size caps, strict decoding, strict CSV and JSON, archives checked whole.

Every function here either returns what it read or raises MalformedFile with one line naming the
file, the line/row/entry and what is wrong. Nothing is read partially:
- text is UTF-8 (with or without a byte-order mark) or UTF-16 with a byte-order mark; anything else
  is refused naming the line and byte offset of the first byte that is not UTF-8, unless an explicit
  `encoding` is given (`--encoding latin-1`);
- compressed data is decompressed to at most `max_bytes()` (RADLLAMA_MAX_DECOMPRESSED_MB, default
  2048 MiB) against decompression bombs, and a truncated or corrupt stream (bad CRC, broken deflate
  data) is an error, never the part before the damage;
- CSV is parsed strictly: an unbalanced quote, a row with more or fewer fields than the header, a
  duplicated header column and a row repeating the header (two exports pasted together) are errors
  naming the line or the column; fields up to the size cap load
  (the csv module's 128 KiB default limit is lifted);
- JSON NaN/Infinity and null are missing values; nesting too deep for the parser is an error;
- JSONL lines end at \n, \r\n or \r only (never at U+2028, U+0085 or other characters
  str.splitlines() splits on: inside a JSON string they are text);
- one byte-order mark at the very start is allowed; a second one (two BOMs, or one where a second
  file was pasted on) is an error naming its line;
- the path must be a regular file (or a folder where the format takes one): a named pipe, a device
  or a socket is refused before it is opened (opening a FIFO waits for a writer for ever).
Rules about the records themselves (types, ids, splits, repeated headers) are in reports/record_rules.py.
"""
from __future__ import annotations

import bz2
import csv
import gzip
import io
import json
import lzma
import os
import re
import stat
import zlib
from pathlib import Path
from typing import Iterator

from reports.errors import MalformedFile

MAX_DECOMPRESSED_ENV = "RADLLAMA_MAX_DECOMPRESSED_MB"
DEFAULT_MAX_DECOMPRESSED_MB = 2048
_CHUNK = 1 << 20


def max_bytes() -> int:
    """The cap on bytes read from one input after decompression (RADLLAMA_MAX_DECOMPRESSED_MB)."""
    raw = os.environ.get(MAX_DECOMPRESSED_ENV)
    try:
        mb = float(raw) if raw else DEFAULT_MAX_DECOMPRESSED_MB
    except ValueError:
        mb = DEFAULT_MAX_DECOMPRESSED_MB
    return max(1, int(mb * 2**20))


def too_big(label: str) -> MalformedFile:
    return MalformedFile(f"{label}: more than {max_bytes() / 2**20:g} MiB after decompression; refused as a possible "
                         f"decompression bomb (raise {MAX_DECOMPRESSED_ENV} if the file is genuine)")


def read_stream(stream, label: str, limit: int | None = None) -> bytes:
    """All bytes of a (possibly decompressing) stream, at most `limit` (default max_bytes())."""
    limit = max_bytes() if limit is None else limit
    out = bytearray()
    try:
        while True:
            chunk = stream.read(min(_CHUNK, limit + 1 - len(out)))
            if not chunk:
                return bytes(out)
            out += chunk
            if len(out) > limit:
                raise too_big(label)
    except MalformedFile:
        raise
    except (OSError, EOFError, zlib.error, lzma.LZMAError, ValueError) as exc:
        raise MalformedFile(f"{label}: corrupt or truncated compressed data ({_why(exc)})") from None


def _why(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


_FILE_KINDS = ((stat.S_ISFIFO, "a named pipe"), (stat.S_ISCHR, "a character device"),
               (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))


def refuse_special_file(path: Path, label: str | None = None) -> None:
    """Raise MalformedFile for a named pipe, device or socket (checked with stat, never opened)."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return  # missing or unreadable: the caller's own error says so
    for test, kind in _FILE_KINDS:
        if test(mode):
            raise MalformedFile(f"{label or path}: is {kind}, not a regular file; give the path of a report "
                                "file or folder")


def read_file_bytes(path: Path, decompress: bool = True) -> bytes:
    """The bytes of one file (gunzipped/bunzipped/unxz'ed when `decompress` and the magic says so), capped."""
    label = str(path)
    if path.is_dir():
        raise MalformedFile(f"{label}: is a folder, not a file")
    refuse_special_file(path, label)
    try:
        with open(path, "rb") as fh:
            head = fh.read(6)
            fh.seek(0)
            opener = _decompressor(head) if decompress else None
            if opener is None:
                return read_stream(fh, label)
            with opener(fh) as inner:
                return read_stream(inner, label)
    except MalformedFile:
        raise
    except OSError as exc:
        raise MalformedFile(f"{label}: cannot be read ({_why(exc)})") from None


def _decompressor(head: bytes):
    if head.startswith(b"\x1f\x8b"):
        return lambda fh: gzip.GzipFile(fileobj=fh, mode="rb")
    if head.startswith(b"BZh"):
        return lambda fh: bz2.BZ2File(fh, mode="rb")
    if head.startswith(b"\xfd7zXZ\x00"):
        return lambda fh: lzma.LZMAFile(fh, mode="rb")
    return None


def decompress_bytes(data: bytes, label: str) -> bytes:
    """`data` decompressed when it starts with a gzip/bz2/xz magic number, else unchanged (capped either way)."""
    opener = _decompressor(data[:6])
    if opener is None:
        return data
    with opener(io.BytesIO(data)) as inner:
        return read_stream(inner, label)


def decode_text(data: bytes, label: str, encoding: str | None = None) -> str:
    """Text of `data`: UTF-8 (BOM optional), UTF-16 with BOM, or the explicit `encoding`."""
    if encoding:
        try:
            return data.decode(encoding)
        except LookupError:
            raise MalformedFile(f"{label}: unknown encoding {encoding!r}") from None
        except UnicodeDecodeError as exc:
            raise MalformedFile(f"{label}: line {_line_of(data, exc.start)}, byte {exc.start}: "
                                f"not valid {encoding} ({exc.reason})") from None
    if data.startswith(b"\xef\xbb\xbf"):
        codec, body = "utf-8", data[3:]
    elif data.startswith((b"\xff\xfe", b"\xfe\xff")):
        codec, body = "utf-16", data
    else:
        codec, body = "utf-8", data
    try:
        text = body.decode(codec)
    except UnicodeDecodeError as exc:
        offset = exc.start + (len(data) - len(body))
        what = "not valid UTF-16" if codec == "utf-16" else f"byte 0x{data[offset]:02X} is not UTF-8"
        raise MalformedFile(f"{label}: line {_line_of(data, offset)}, byte {offset}: {what}; save the file as "
                            "UTF-8 (or UTF-16 with a byte-order mark), or give its encoding with --encoding") from None
    if "\ufeff" in text:
        line = text.count("\n", 0, text.index("\ufeff")) + 1
        raise MalformedFile(f"{label}: line {line}: a second byte-order mark (U+FEFF), where a second file was "
                            "pasted on or a file was saved twice with a BOM; remove it")
    if "\x00" in text:
        line = text.count("\n", 0, text.index("\x00")) + 1
        raise MalformedFile(f"{label}: line {line}: contains NUL characters; this looks like a binary file, "
                            "not text (UTF-16 needs a byte-order mark)")
    return text


def _line_of(data: bytes, offset: int) -> int:
    return data.count(b"\n", 0, offset) + 1


def read_text(path: Path, encoding: str | None = None) -> str:
    """A text file (compressed or not) decoded as decode_text() does."""
    return decode_text(read_file_bytes(path), str(path), encoding)


_JSONL_LINE_END = re.compile(r"\r\n|\r|\n")


def jsonl_lines(text: str) -> list[str]:
    """The lines of JSONL text, split at \\n, \\r\\n and \\r only: raw CR/LF cannot occur inside a JSON
    string, while U+2028, U+0085, form feed ... can (str.splitlines() would cut those strings in two)."""
    lines = _JSONL_LINE_END.split(text)
    if lines and lines[-1] == "":
        lines.pop()
    return lines


# ------------------------------------------------------------------------------------------- CSV

def csv_records(text: str, label: str) -> tuple[list[str], Iterator[tuple[int, dict[str, str]]]]:
    """(header, iterator of (line number, row dict)) of CSV text, parsed strictly.

    Column names are stripped; a duplicated column name, an unbalanced quote or a row whose field
    count differs from the header's raises MalformedFile naming the line or column.
    """
    csv.field_size_limit(max(csv.field_size_limit(), min(max_bytes(), 2**31 - 1)))  # a C long on every platform
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next(reader, None)
    except csv.Error as exc:
        raise MalformedFile(f"{label}: line 1 (the header): {exc}") from None
    if header is None or not any(h.strip() for h in header):
        raise MalformedFile(f"{label}: empty file or empty header line")
    names = [h.strip() for h in header]
    seen: dict[str, int] = {}
    for number, name in enumerate(names, 1):
        key = name.lower()
        if key in seen:
            raise MalformedFile(f"{label}: line 1: column {number} {name!r} duplicates column {seen[key]}; "
                                "every column name must be unique")
        seen[key] = number
    return names, _rows(reader, names, label)


def _rows(reader, names: list[str], label: str) -> Iterator[tuple[int, dict[str, str]]]:
    start = reader.line_num + 1
    lowered = [n.lower() for n in names]
    while True:
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise MalformedFile(f"{label}: line {start}: {_csv_why(exc)}") from None
        if not fields or (len(fields) == 1 and not fields[0].strip() and len(names) > 1):
            start = reader.line_num + 1
            continue  # a blank line
        if len(fields) != len(names):
            span = f"lines {start}-{reader.line_num}" if reader.line_num > start else f"line {start}"
            quote = " (an unbalanced quote?)" if reader.line_num > start else ""
            raise MalformedFile(f"{label}: {span}: {len(fields)} fields where the header has {len(names)}{quote}")
        if [f.strip().lower() for f in fields] == lowered:
            raise MalformedFile(f"{label}: line {start}: the header row again (two files pasted together?); "
                                "remove it, and check that the second file's rows are not duplicates")
        yield start, dict(zip(names, fields, strict=True))
        start = reader.line_num + 1


def _csv_why(exc: csv.Error) -> str:
    text = str(exc)
    if "unexpected end of data" in text or "EOF" in text:
        return "a quoted field is never closed (unbalanced quote)"
    if "field larger than field limit" in text:
        return f"a field larger than {max_bytes() / 2**20:g} MiB"
    return f"malformed CSV ({text}; a quote inside a field must be doubled)"


# ------------------------------------------------------------------------------------------ JSON

def _no_constant(_name: str) -> None:
    return None  # NaN / Infinity / -Infinity: a missing value


def json_value(text: str, where: str, whole_file: bool = False) -> object:
    """One JSON document; NaN and Infinity become None; errors name `where` (file and line)."""
    try:
        return json.loads(text, parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        at = f"line {exc.lineno}, column {exc.colno}" if whole_file else f"column {exc.colno}"
        raise MalformedFile(f"{where}: not valid JSON ({exc.msg} at {at})") from None
    except RecursionError:
        raise MalformedFile(f"{where}: JSON nested too deeply") from None
    except ValueError as exc:  # e.g. an integer with too many digits
        raise MalformedFile(f"{where}: unreadable JSON value ({exc})") from None
