"""Invitation links for raters: built on the server's public base URL, handed out once as CSV.

The public base URL is what raters type or click (`--public-url` / RADLLAMA_PUBLIC_URL, by
default the server's own http://HOST:PORT), never the host the admin's browser happened to use.

The links of one study creation (or one reissue) can be downloaded ONCE as a CSV (rater, link,
access code): the CSV is written to a private temporary file (its folder 0700, the file 0600),
handed to the first request that presents its random key, and deleted right then. Keys are
unguessable (256 bits), expire after DOWNLOAD_TTL_S, and live only in this process's memory.
"""
from __future__ import annotations

import csv
import io
import os
import secrets
import shutil
import tempfile
import threading
import time
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable
from urllib.parse import urlsplit

DOWNLOAD_TTL_S = 15 * 60
LINKS_CSV_HEADER = ("rater", "link", "access_code")


def normalise_public_url(url: str) -> str:
    """'https://host[:port][/prefix]' without a trailing slash; ValueError with a reason otherwise."""
    text = (url or "").strip()
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"public URL must look like https://host[:port][/path], not {url!r}")
    if parts.query or parts.fragment or parts.username or parts.password:
        raise ValueError(f"public URL must not carry a query, fragment or credentials: {url!r}")
    try:
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError:
        raise ValueError(f"public URL has a bad port: {url!r}") from None
    return text.rstrip("/")


def default_public_url(host: str, port: int) -> str:
    """The server's own address; a wildcard bind address becomes this machine's host name."""
    import socket

    if host in ("", "0.0.0.0", "::", "[::]"):
        host = socket.gethostname()
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"http://{host}:{port}"


@dataclass(frozen=True)
class Invitation:
    """One rater's way in: their personal link and the same secret as an access code."""

    rater: str
    link: str
    access_code: str


def _cell(text: str) -> str:
    # A spreadsheet runs a cell that starts with = + - @ as a formula: rater names are free text.
    return f"'{text}" if text.startswith(("=", "+", "-", "@", "\t", "\r")) else text


def links_csv(rows: Iterable[Invitation]) -> bytes:
    """UTF-8 CSV with a header: rater, link, access_code (names guarded against formula injection)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(LINKS_CSV_HEADER)
    for row in rows:
        writer.writerow([_cell(row.rater), row.link, row.access_code])
    return buffer.getvalue().encode("utf-8")


@dataclass
class _Entry:
    path: Path
    filename: str
    expires: float


class OneTimeDownloads:
    """Private temporary files, each handed out once by its random key and deleted at that moment."""

    def __init__(self, ttl_s: float = DOWNLOAD_TTL_S, root: str | Path | None = None):
        self.ttl_s = ttl_s
        self._root = Path(tempfile.mkdtemp(prefix="radllama-links-", dir=root))  # mode 0700
        self._entries: dict[str, _Entry] = {}
        self._lock = threading.Lock()
        # Files never fetched are deleted when the store goes away or the process exits normally.
        self._cleanup = weakref.finalize(self, shutil.rmtree, str(self._root), True)

    @property
    def folder(self) -> Path:
        return self._root

    def put(self, data: bytes, filename: str) -> str:
        """Store data in a new 0600 file; returns the key that fetches it once."""
        self.purge_expired()
        key = secrets.token_urlsafe(32)
        path = self._root / f"{secrets.token_hex(16)}.csv"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        with self._lock:
            self._entries[key] = _Entry(path, filename, time.monotonic() + self.ttl_s)
        timer = threading.Timer(self.ttl_s + 0.05, self.purge_expired)  # the file goes when the key expires
        timer.daemon = True
        timer.start()
        return key

    def take(self, key: str) -> tuple[str, bytes] | None:
        """(file name, content) the first time a live key is presented; None ever after."""
        with self._lock:
            entry = self._entries.pop(key, None) if isinstance(key, str) else None
        if entry is None:
            return None
        try:
            if entry.expires < time.monotonic():
                return None
            return entry.filename, entry.path.read_bytes()
        finally:
            entry.path.unlink(missing_ok=True)

    def purge_expired(self) -> int:
        """Delete the files of expired keys; returns how many."""
        now = time.monotonic()
        with self._lock:
            expired = [k for k, e in self._entries.items() if e.expires < now]
            entries = [self._entries.pop(k) for k in expired]
        for entry in entries:
            entry.path.unlink(missing_ok=True)
        return len(entries)

    def pending(self) -> int:
        with self._lock:
            return len(self._entries)

    def close(self) -> None:
        """Delete every file not yet taken and the folder."""
        with self._lock:
            self._entries.clear()
        self._cleanup()
