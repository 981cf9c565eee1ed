"""Copy a whole study database to another one (SQLite <-> PostgreSQL), verified.

    python -m rating.study copy --from sqlite:///pilot.db --to postgresql+psycopg://user@host/radllama

A pilot run on a laptop continues on the hospital server, or a finished study goes back into one
file for archiving. Every table is copied row by row with its ids, in one transaction on the
target: either everything arrives or nothing does. Before that transaction commits, the row count
of every table and a SHA-256 checksum of the ratings (every column, timestamps in UTC) are
compared with the source; any difference rolls the copy back. The target must be empty (a new
SQLite file or a new PostgreSQL database); its schema is created by the usual migrations.

The source is read in one deferred transaction (a WAL snapshot, as export does): the copy never
takes the source's write lock (before issue 22 it read inside BEGIN IMMEDIATE, and raters' submits
failed "database is locked" for most of a long copy). A SQLite source that a running app has open
(db/process_lock.py) is refused: ratings submitted after the snapshot would exist only in the
source. `snapshot=True` (--snapshot) copies that snapshot anyway and the report says so.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timezone

from pathlib import Path

from sqlalchemy import Connection, Engine, Table, func, make_url, select, text

from db.engine import READ_ONLY_OPTION, prepare_database
from db.models import Base, Rating
from db.process_lock import claim_for_copy

BATCH_ROWS = 2000


class StudyCopyError(RuntimeError):
    """The copy cannot be done or did not verify; the target is unchanged."""


@dataclass(frozen=True)
class CopyReport:
    row_counts: dict[str, int]
    ratings_checksum: str
    live_source_pid: str | None = None
    """Set when the source was open in a running app (pid) and a snapshot was copied (--snapshot)."""

    def as_json(self) -> dict:
        out = {"row_counts": self.row_counts, "ratings_checksum": self.ratings_checksum}
        if self.live_source_pid is not None:
            out["snapshot_of_a_live_database"] = True
        return out

    def warning(self) -> str | None:
        """One line for a snapshot of a live database, else None."""
        if self.live_source_pid is None:
            return None
        return (f"warning: copied a snapshot of a database that a running app (pid {self.live_source_pid}) has open; "
                f"the snapshot holds {self.row_counts.get('rating', 0)} ratings; ratings submitted after it are only in "
                "the source. Stop the app and copy again before switching over.")


def _tables() -> list[Table]:
    return list(Base.metadata.sorted_tables)  # parents before children: foreign keys hold at every insert


def row_counts(conn: Connection) -> dict[str, int]:
    return {t.name: conn.scalar(select(func.count()).select_from(t)) or 0 for t in _tables()}


def _canonical(value: object) -> object:
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(timezone.utc).replace(tzinfo=None)
        return value.isoformat(timespec="microseconds")
    if isinstance(value, float):
        return repr(value)
    return value


def ratings_checksum(conn: Connection) -> str:
    """SHA-256 over every rating (all columns, ordered by id; timestamps as UTC), the same on any dialect."""
    table = Rating.__table__
    digest = hashlib.sha256()
    for row in conn.execute(select(table).order_by(table.c.id)).mappings():
        digest.update(json.dumps({k: _canonical(v) for k, v in row.items()}, sort_keys=True).encode())
        digest.update(b"\n")
    return digest.hexdigest()


def _reset_sequences(conn: Connection) -> None:
    """PostgreSQL: ids were inserted explicitly, so move each id sequence past the largest id."""
    for table in _tables():
        if "id" not in table.c:
            continue
        conn.execute(text("SELECT setval(pg_get_serial_sequence(:t, 'id'), "
                          f"COALESCE((SELECT MAX(id) FROM {conn.dialect.identifier_preparer.quote(table.name)}), 0)"
                          " + 1, false)"), {"t": conn.dialect.identifier_preparer.quote(table.name)})


def _copy_rows(src: Connection, dst: Connection) -> None:
    for table in _tables():
        order = list(table.primary_key.columns)
        result = src.execution_options(yield_per=BATCH_ROWS).execute(select(table).order_by(*order)).mappings()
        for batch in result.partitions(BATCH_ROWS):
            dst.execute(table.insert(), [dict(row) for row in batch])


def copy_study_database(source_url: str, target_url: str, snapshot: bool = False) -> CopyReport:
    """Copy everything from source to the empty target and verify it; raises StudyCopyError otherwise.

    A SQLite source open in a running app is refused unless `snapshot` (see the module docstring)."""
    if source_url == target_url:
        raise StudyCopyError("--from and --to name the same database")
    src_url = make_url(source_url)
    if src_url.get_backend_name() == "sqlite" and not Path(src_url.database or "").is_file():
        raise StudyCopyError(f"no database file at {src_url.database}")
    claim, live_pid = claim_for_copy(source_url)
    if live_pid is not None and not snapshot:
        raise StudyCopyError(f"{src_url.database} is open in a running app (pid {live_pid}): stop the app first "
                             "(raters' later ratings would be missing from the copy), or pass --snapshot to copy "
                             "what it holds now")
    try:
        return _copy(source_url, target_url, live_pid)
    finally:
        if claim is not None:
            claim.release()


def _copy(source_url: str, target_url: str, live_pid: str | None) -> CopyReport:
    source: Engine = prepare_database(source_url)
    target: Engine = prepare_database(target_url)
    try:
        # A deferred read transaction on SQLite (one WAL snapshot, no write lock); READ COMMITTED is not a
        # snapshot on PostgreSQL, so there the read runs at REPEATABLE READ.
        reader = source.execution_options(**{READ_ONLY_OPTION: True})
        if source.dialect.name == "postgresql":
            reader = reader.execution_options(isolation_level="REPEATABLE READ")
        with reader.connect() as src:
            expected_counts = row_counts(src)
            expected_sum = ratings_checksum(src)
            with target.begin() as dst:
                existing = {name: n for name, n in row_counts(dst).items() if n}
                if existing:
                    found = ", ".join(f"{n} rows in {t}" for t, n in existing.items())
                    raise StudyCopyError(f"the target database is not empty ({found}); "
                                         "copy into a new SQLite file or a new PostgreSQL database")
                _copy_rows(src, dst)
                if dst.dialect.name == "postgresql":
                    _reset_sequences(dst)
                counts, checksum = row_counts(dst), ratings_checksum(dst)
                if counts != expected_counts or checksum != expected_sum:
                    raise StudyCopyError(f"verification failed, nothing copied: source {expected_counts} "
                                         f"{expected_sum}, target {counts} {checksum}")
            src.rollback()
    finally:
        source.dispose()
        target.dispose()
    return CopyReport(row_counts=expected_counts, ratings_checksum=expected_sum, live_source_pid=live_pid)
