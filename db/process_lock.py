"""Which processes have a SQLite study file open: an advisory lock file beside it (`<db>.app-lock`).

SQLite serves one app process well. Two processes on one file work (every write waits for the other
process in SQLite's busy handler, which backs off up to 100 ms per retry: p95 4.4 s at 20 raters in
issue 22's measurement) but nothing says so; and `rating.study copy` of a file an app still writes to
misses every rating submitted after its snapshot. So:

- every app process holds a shared flock(2) on `<db>.app-lock` while it runs (the kernel drops it when
  the process ends, even on SIGKILL: no stale locks). At start it first tries the lock exclusively:
  when that fails another app process (or a copy) has the file, and the app refuses with one line
  (`claim_for_app`), unless started with --shared-sqlite (then it warns and shares);
- `rating.study copy` takes the lock exclusively while it copies (`claim_for_copy`); when an app holds
  it, the copy is refused, or, with --snapshot, goes ahead from a read snapshot and says so.
Within one process the lock is taken once per file (several engines and services share it).
PostgreSQL URLs and in-memory databases need none of this (None is returned).
"""
from __future__ import annotations

import fcntl
import os
import threading
from dataclasses import dataclass
from pathlib import Path

from db.engine import DatabaseRefused, database_url, sqlite_path

POSTGRES_HINT = ("for several app processes use PostgreSQL (README: \"PostgreSQL as the study database\" and "
                 "\"Several app processes behind a reverse proxy\")")


@dataclass
class FileClaim:
    """An open lock file and the mode held on it (LOCK_SH or LOCK_EX)."""

    path: Path
    fd: int
    mode: int

    def release(self) -> None:
        _release(self)


_HELD: dict[Path, FileClaim] = {}
_GUARD = threading.Lock()


def lock_path_for(db_file: Path) -> Path:
    return db_file.with_name(db_file.name + ".app-lock")


def _holder_pid(lock_file: Path) -> str:
    try:
        text = lock_file.read_text().strip()
    except OSError:
        return "?"
    return text if text.isdigit() else "?"


def _open(lock_file: Path) -> int:
    return os.open(lock_file, os.O_RDWR | os.O_CREAT, 0o600)


def _write_pid(fd: int) -> None:
    os.ftruncate(fd, 0)
    os.pwrite(fd, str(os.getpid()).encode(), 0)


def _try(fd: int, mode: int) -> bool:
    try:
        fcntl.flock(fd, mode | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def claim_for_app(url: str | None, shared: bool = False, warn=print) -> FileClaim | None:
    """Hold the app's shared lock on the SQLite file of `url` for the life of this process.

    Refuses (DatabaseRefused, one line) when another app process or a copy has the file, unless
    `shared` (--shared-sqlite): then `warn` is called with one line and the lock is shared."""
    db_file = sqlite_path(database_url(url))
    if db_file is None:
        return None
    lock_file = lock_path_for(db_file.resolve())
    with _GUARD:
        if lock_file in _HELD:
            return _HELD[lock_file]
        fd = _open(lock_file)
        if _try(fd, fcntl.LOCK_EX):  # nobody else: record this pid, then share (copies stay refused)
            _write_pid(fd)
            fcntl.flock(fd, fcntl.LOCK_SH)
        else:
            pid = _holder_pid(lock_file)
            if not shared:
                os.close(fd)
                raise DatabaseRefused(f"{db_file}: another app process (pid {pid}) serves this SQLite file. SQLite serves "
                                      f"one app process well; {POSTGRES_HINT}; or stop the other process, or start "
                                      "this one with --shared-sqlite to share the file anyway (slower writes)")
            if not _try(fd, fcntl.LOCK_SH):
                os.close(fd)
                raise DatabaseRefused(f"{db_file}: the file is being copied (rating.study copy, pid {pid}); start the "
                                      "app when the copy has finished")
            warn(f"warning: another app process (pid {pid}) serves {db_file} too (--shared-sqlite). SQLite "
                 f"serves one app process well: writes wait for each other; {POSTGRES_HINT}.")
        claim = FileClaim(lock_file, fd, fcntl.LOCK_SH)
        _HELD[lock_file] = claim
        return claim


def claim_for_copy(url: str) -> tuple[FileClaim | None, str | None]:
    """(the exclusive lock while copying, None) or (None, the pid of an app holding the file) for a SQLite URL."""
    db_file = sqlite_path(database_url(url))
    if db_file is None or not db_file.exists():
        return None, None
    lock_file = lock_path_for(db_file.resolve())
    with _GUARD:
        if lock_file in _HELD:  # this very process serves the file
            return None, str(os.getpid())
        fd = _open(lock_file)
        if not _try(fd, fcntl.LOCK_EX):
            os.close(fd)
            return None, _holder_pid(lock_file)
        _write_pid(fd)
        claim = FileClaim(lock_file, fd, fcntl.LOCK_EX)
        _HELD[lock_file] = claim
        return claim, None


def _release(claim: FileClaim) -> None:
    with _GUARD:
        if _HELD.get(claim.path) is claim:
            del _HELD[claim.path]
            try:
                fcntl.flock(claim.fd, fcntl.LOCK_UN)
            finally:
                os.close(claim.fd)
