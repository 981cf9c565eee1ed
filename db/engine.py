"""Engine and session set-up. SQLite gets WAL, foreign keys and a busy timeout.

The schema is versioned with Alembic (db/migrations): prepare_database() upgrades any
database to the newest revision on start, and creates it on first start. To change the
schema, edit db/models.py and add a revision under db/migrations/versions (e.g.
`alembic -c db/alembic.ini revision --autogenerate -m "..."` after upgrading a scratch DB).

SQLite transactions start with BEGIN IMMEDIATE: a transaction takes the write lock when it
begins (waiting up to the busy timeout) instead of failing later with "database is locked"
when a read turns into a write while another connection writes.

Within one process, transactions on the same SQLite file also take a per-file threading lock
before BEGIN IMMEDIATE (released after COMMIT or ROLLBACK). SQLite lets one writer in at a time
anyway; without the lock, the threads that lose the race sleep in SQLite's busy handler, which
backs off up to 100 ms per retry, so a burst of concurrent submits gets a long tail (p95 483 ms
for 20 threads). With it, waiting threads wake the moment the writer finishes. The busy timeout
still guards against other processes.

PostgreSQL (`postgresql+psycopg://user@host:port/dbname`) is the database for studies served by
several app processes or sites. There the server arbitrates: transactions run at READ COMMITTED,
writers that must not interleave take row locks (SELECT ... FOR UPDATE, e.g. the rater's row in
RatingService.submit), sessions run in UTC, and schema upgrades hold an advisory lock so that two
processes starting together do not both migrate. The in-process SQLite lock is not used.

Faults (issue 13):
- check_database() runs before anything opens a SQLite file for writing: a read-only file, a
  file from a newer schema, a corrupt file (PRAGMA quick_check) or another application's SQLite
  file is refused with one DatabaseRefused line; the check opens the file read-only, so nothing
  is ever written to a foreign file.
- Migrations run on their own connection with foreign keys OFF (a batch-mode table rebuild drops
  the old table: with foreign keys on, ON DELETE CASCADE would empty the child tables), after a
  consistent backup copy (<db>.pre-<revision>-<time>.bak); PRAGMA foreign_key_check must be clean.
- A write commits only into the file the app opened: every commit compares the path's
  (st_dev, st_ino) with the file opened at start; a deleted or replaced file rolls back and raises
  DatabaseUnavailable (nothing is acknowledged that is not in that file).
- read_only_session() reads with a deferred BEGIN and no in-process write lock, so analysis and
  export never hold the write lock (WAL readers do not block the writer).
- unit_of_work() turns SQLite's operational errors (locked, disk full, read-only) into
  DatabaseUnavailable with a plain message; the details go to the log. With less than 16 MiB free,
  each commit is followed by a passive WAL checkpoint (the WAL no longer fills the disk), and after a
  disk-full error the WAL is checkpointed and truncated: freeing space is enough, no restart needed.
- backup_sqlite(): a consistent hot copy with SQLite's online backup API.
- A failing migration is refused with one line saying which migration failed, why, and that the
  file was left unchanged (it rolled back); a killed migration's unfinished backup
  (<db>.pre-*.bak.partial) is removed at the next start (issue 22).
SQLite-specific code lives in the functions named *sqlite*; other URLs (PostgreSQL) skip them.
"""
from __future__ import annotations

import logging
import os
import re
import sqlite3
import stat
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

from sqlalchemy import Engine, create_engine, event, inspect, make_url
from sqlalchemy import exc as sa_exc
from sqlalchemy.orm import Session, sessionmaker

from core.home import home_dir

if TYPE_CHECKING:
    from alembic.config import Config

# Alembic is imported where a migration runs or the revision graph is read, not here: it takes
# 0.25 s to import, and the command-line tools that only read a study (`python -m rating.export`)
# check the database's revision with known_revision_ids() instead.

log = logging.getLogger(__name__)


MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
DB_ENV = "RADLLAMA_DB"
DEFAULT_DB_NAME = "radllama.db"
"""The default SQLite file, in the home folder (core.home: $RADLLAMA_HOME, default the project folder)."""
SQLITE_BUSY_TIMEOUT_MS = 30_000
SQLITE_POOL_SIZE = 20
"""Connections a SQLite file engine keeps open, and as many more on demand. SQLAlchemy's default
(5 + 10 overflow) made the 16th-20th of 20 concurrent threads wait in the pool while the others
kept taking connections back (1 s outliers in bench/bench_rating_submit.py's in-process run)."""
POSTGRES_POOL_SIZE = 20
"""Connections a PostgreSQL engine keeps open (plus as many on demand): one per concurrent rater request."""
MIGRATION_LOCK_KEY = 724_511_015
"""pg_advisory_xact_lock key held while a PostgreSQL schema is upgraded (any constant shared by all processes)."""


def database_url(explicit: str | None = None) -> str:
    """The URL to use: argument, else $RADLLAMA_DB, else radllama.db in the home folder (core.home).

    A bare file path is accepted and turned into a sqlite URL; postgresql:// and postgres:// URLs
    get the psycopg (3) driver.
    """
    url = explicit or os.environ.get(DB_ENV) or f"sqlite:///{home_dir() / DEFAULT_DB_NAME}"
    if "://" not in url:
        url = f"sqlite:///{Path(url).expanduser().resolve()}"
    for bare in ("postgresql://", "postgres://"):  # libpq-style URLs: the installed driver is psycopg 3
        if url.startswith(bare):
            url = "postgresql+psycopg://" + url[len(bare):]
    return url


class DatabaseRefused(RuntimeError):
    """The database cannot be used at all (start-up check); str() is one line saying why and what to do."""


class DatabaseUnavailable(RuntimeError):
    """A database operation failed for a reason the user should see in plain words (nothing was saved)."""


def sqlite_path(url: str) -> Path | None:
    """The file behind a sqlite URL, or None (in-memory database, or not SQLite)."""
    if not url.startswith("sqlite"):
        return None
    database = make_url(url).database
    if database in (None, "", ":memory:") or database.startswith("file:"):
        return None
    return Path(database)


_WRITE_LOCKS: dict[str, threading.Lock] = {}
_WRITE_LOCKS_GUARD = threading.Lock()


def dialect_of(url: str) -> str:
    """'sqlite' or 'postgresql' (the backend name of a SQLAlchemy URL)."""
    return make_url(database_url(url)).get_backend_name()


def _write_lock_for(url: str) -> threading.Lock:
    """One lock per database URL, shared by every engine of this process on that file."""
    with _WRITE_LOCKS_GUARD:
        return _WRITE_LOCKS.setdefault(url, threading.Lock())


class _SerialisedSQLiteConnection(sqlite3.Connection):
    """A sqlite3 connection whose transactions hold an in-process lock from BEGIN to COMMIT/ROLLBACK."""

    write_lock: threading.Lock | None = None
    _holds_write_lock = False
    _changes_seen = 0
    file_guard: "_FileIdentity | None" = None

    def take_write_lock(self) -> None:
        # Bounded wait: a thread that already holds a transaction on another connection to the
        # same file gets SQLite's own "database is locked" after the busy timeout, not a hang.
        if self.write_lock is not None and not self._holds_write_lock:
            self._holds_write_lock = self.write_lock.acquire(timeout=SQLITE_BUSY_TIMEOUT_MS / 1000)

    def release_write_lock(self) -> None:
        if self._holds_write_lock:
            self._holds_write_lock = False
            self.write_lock.release()

    def commit(self) -> None:
        try:
            if self.in_transaction and self.file_guard is not None:
                problem = self.file_guard.problem()
                if problem is not None:
                    super().rollback()
                    raise DatabaseUnavailable(problem)
            wrote = self.in_transaction and self.total_changes != self._changes_seen
            super().commit()
            if wrote and self.file_guard is not None:
                self._changes_seen = self.total_changes
                _checkpoint_when_disk_is_low_sqlite(self, self.file_guard.path)
        finally:
            self.release_write_lock()

    def rollback(self) -> None:
        try:
            super().rollback()
        finally:
            self.release_write_lock()

    def close(self) -> None:
        try:
            super().close()
        finally:
            self.release_write_lock()


class _FileIdentity:
    """The (st_dev, st_ino) of the SQLite file an engine opened; problem() says if the path changed since."""

    def __init__(self, path: Path):
        self.path = path
        self.identity: tuple[int, int] | None = None

    def remember(self) -> None:
        if self.identity is None:
            st = os.stat(self.path)
            self.identity = (st.st_dev, st.st_ino)

    def problem(self) -> str | None:
        if self.identity is None:
            return None
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            what = "was deleted"
        else:
            if (st.st_dev, st.st_ino) == self.identity:
                return None
            what = "was replaced by another file"
        log.error("database file %s %s while the app was running; refusing writes", self.path, what)
        return (f"Not saved: the study database file {what} while the app was running. "
                "Please tell the study coordinator (the app must be restarted).")


def _configure_sqlite(dbapi_conn, _record, foreign_keys: bool = True) -> None:
    dbapi_conn.isolation_level = None  # the driver's own BEGIN handling off; _begin_immediate does it
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute(f"PRAGMA foreign_keys={'ON' if foreign_keys else 'OFF'}")
    cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cur.execute("PRAGMA synchronous=FULL")  # an acknowledged commit survives a crash
    cur.close()


READ_ONLY_OPTION = "radllama_read_only"


def _begin_immediate(conn) -> None:
    if conn.get_execution_options().get(READ_ONLY_OPTION):
        conn.exec_driver_sql("BEGIN DEFERRED")  # a WAL snapshot: no write lock, the writer is never blocked
        return
    dbapi_conn = conn.connection.dbapi_connection
    take = getattr(dbapi_conn, "take_write_lock", None)
    if take is not None:
        take()
    try:
        conn.exec_driver_sql("BEGIN IMMEDIATE")
    except BaseException:
        if take is not None:
            dbapi_conn.release_write_lock()
        raise


def make_private(db_file: str) -> None:
    """Create the SQLite file readable by its owner only (0600), or make an existing one so.

    SQLite creates the -wal and -shm files with the permissions of the database file, so they
    are private too; existing ones are tightened here. Files of another owner are left alone.
    """
    path = Path(db_file)
    if not path.exists() and path.parent.is_dir():
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
    for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm"), Path(f"{path}-journal")):
        try:
            if p.exists() and p.stat().st_uid == os.getuid() and p.stat().st_mode & 0o077:
                os.chmod(p, 0o600)
        except OSError:
            pass


def make_engine(url: str | None = None, serialise_writes: bool = True, foreign_keys: bool = True) -> Engine:
    """Engine for `url`. serialise_writes=False leaves SQLite's busy handler alone to arbitrate
    between this process's threads (kept for the side-by-side in bench/bench_rating_submit.py).
    foreign_keys=False is for migrations only (see _migration_engine_sqlite)."""
    url = database_url(url)
    if url.startswith("sqlite"):
        return _make_sqlite_engine(url, serialise_writes, foreign_keys)
    if make_url(url).get_backend_name() == "postgresql":
        # UTC sessions: naive timestamps (as SQLite stores them) mean UTC, aware ones come back in UTC.
        return create_engine(url, pool_pre_ping=True, pool_size=POSTGRES_POOL_SIZE,
                             max_overflow=POSTGRES_POOL_SIZE, connect_args={"options": "-c timezone=UTC"})
    return create_engine(url, pool_pre_ping=True)


def _make_sqlite_engine(url: str, serialise_writes: bool, foreign_keys: bool) -> Engine:
    in_memory = make_url(url).database in (None, "", ":memory:")
    if not in_memory:
        make_private(make_url(url).database)
    pool = {} if in_memory else {"pool_size": SQLITE_POOL_SIZE, "max_overflow": SQLITE_POOL_SIZE}
    engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000,
                                              "factory": _SerialisedSQLiteConnection}, **pool)
    lock = _write_lock_for(url) if serialise_writes else None
    path = sqlite_path(url)
    guard = _FileIdentity(path) if path is not None else None

    def _attach(dbapi_conn, _record) -> None:
        dbapi_conn.write_lock = lock
        if guard is not None:
            guard.remember()  # the file as first opened by this engine
            dbapi_conn.file_guard = guard

    event.listen(engine, "connect", _attach)
    event.listen(engine, "connect", lambda c, r: _configure_sqlite(c, r, foreign_keys))
    event.listen(engine, "begin", _begin_immediate)
    return engine


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False)


@contextmanager
def unit_of_work(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session whose transaction commits on success and rolls back on error.

    SQLite's operational failures (locked past the busy timeout, disk full, read-only file) come
    out as DatabaseUnavailable with a plain message; the details go to the log."""
    try:
        with factory() as session:
            with session.begin():
                yield session
    except sa_exc.OperationalError as exc:
        if _is_disk_full(exc):
            _truncate_wal_after_disk_full_sqlite(factory)
        raise DatabaseUnavailable(plain_database_message(exc)) from exc


LOW_DISK_BYTES = 16 * 2**20
"""Below this much free space beside a SQLite file, every write is followed by a passive WAL checkpoint."""


def _checkpoint_when_disk_is_low_sqlite(conn: sqlite3.Connection, path: Path) -> None:
    """After a commit, with less than LOW_DISK_BYTES free: PRAGMA wal_checkpoint(PASSIVE).

    SQLite checkpoints on its own only when the WAL passes 1000 pages (about 4 MB): with less free
    space than that the WAL filled the disk and every later write failed until a restart (issue 22).
    A passive checkpoint waits for nobody; once it has copied every frame, the next write starts the
    WAL from its beginning instead of growing it, so the WAL stays about one transaction long."""
    try:
        st = os.statvfs(path.parent)
        if st.f_bavail * st.f_frsize >= LOW_DISK_BYTES:
            return
        conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
    except (OSError, sqlite3.Error) as exc:  # the commit stands; the next one tries again
        log.warning("low disk: passive WAL checkpoint of %s failed (%s)", path, exc)


def _is_disk_full(exc: BaseException) -> bool:
    orig = getattr(exc, "orig", exc)
    return getattr(orig, "sqlite_errorname", "") == "SQLITE_FULL" or "disk is full" in str(orig).lower()


def _truncate_wal_after_disk_full_sqlite(factory: sessionmaker[Session]) -> None:
    """After SQLITE_FULL (the transaction has rolled back): PRAGMA wal_checkpoint(TRUNCATE).

    SQLite checkpoints the WAL only when it passes 1000 pages (about 4 MB). With less free space
    than that, the WAL fills the disk and stays full, so every later write fails until the last
    connection closes (a restart). Copying the WAL into the database and truncating it to zero
    frees that space at once: the next submit is stored again (issue 22, tests/test_db_disk_full.py)."""
    bind = factory.kw.get("bind")
    path = sqlite_path(str(bind.url)) if bind is not None else None
    if path is None:
        return
    try:
        con = sqlite3.connect(path, timeout=2, isolation_level=None)  # a reader may hold it: do not wait long
        try:
            busy, wal_pages, moved = con.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        finally:
            con.close()
    except sqlite3.Error as exc:
        log.warning("disk full: could not checkpoint the WAL of %s (%s)", path, exc)
        return
    log.warning("disk full: checkpointed the WAL of %s (%s of %s pages moved%s) and truncated it; free disk space "
                "soon", path, moved, wal_pages, ", a reader kept it from finishing" if busy else "")


@contextmanager
def read_only_session(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session for reading only: one deferred transaction (a consistent snapshot) that never takes
    the write lock, rolled back at the end. The database refuses writes in it (flush and commit
    included): SQLite with PRAGMA query_only on the session's one connection, reset before the
    connection goes back to the pool; PostgreSQL with a READ ONLY transaction. A refused write is a
    DatabaseUnavailable ("read-only") and changes nothing."""
    bind = factory.kw["bind"].execution_options(**{READ_ONLY_OPTION: True}, postgresql_readonly=True)
    try:
        with bind.connect() as conn:  # one connection for the whole session, even across a commit
            sqlite = conn.dialect.name == "sqlite"
            if sqlite:
                conn.connection.dbapi_connection.execute("PRAGMA query_only=ON")
            try:
                with factory(bind=conn) as session:
                    yield session
            finally:
                if sqlite:
                    conn.connection.dbapi_connection.execute("PRAGMA query_only=OFF")
    except (sa_exc.OperationalError, sa_exc.InternalError) as exc:  # PostgreSQL: ReadOnlySqlTransaction
        raise DatabaseUnavailable(plain_database_message(exc)) from exc


def plain_database_message(exc: BaseException) -> str:
    """What a rater or admin is told about a database failure (the details go to the log)."""
    text = str(getattr(exc, "orig", exc)).lower()
    log.error("database operation failed: %s", getattr(exc, "orig", exc), exc_info=exc)
    if "locked" in text or "busy" in text:
        return "The study database is busy right now; nothing was saved. Please try again in a moment."
    if "full" in text:
        return ("Not saved: the server's disk is full. Please tell the study coordinator; "
                "your earlier ratings are safe.")
    if "readonly" in text or "read-only" in text:
        return ("Not saved: the study database cannot be written (read-only). Please tell the study "
                "coordinator; your earlier ratings are safe.")
    if "no such table" in text or "malformed" in text or "not a database" in text:
        return "The study database is damaged or incomplete; nothing was saved. Please tell the study coordinator."
    return "The study database could not be reached; nothing was saved. Please try again or tell the study coordinator."


def alembic_config() -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    return cfg


def upgrade_schema(engine: Engine, revision: str = "head") -> None:
    """Bring the schema to `revision` (creates every table on an empty database).

    A database made by the old create_all() (tables but no alembic_version) is stamped with
    the revision it matches first, then upgraded. On SQLite the migration runs with foreign keys
    off after a backup copy (see _migrate_sqlite).
    """
    if str(engine.url).startswith("sqlite"):
        _migrate_sqlite(engine, revision, downgrade=False)
        return
    cfg = alembic_config()
    with engine.begin() as conn:
        _run_migration(cfg, conn, revision, downgrade=False)


def downgrade_schema(engine: Engine, revision: str) -> None:
    """Take the schema back to `revision` (same safeguards as upgrade_schema)."""
    if str(engine.url).startswith("sqlite"):
        _migrate_sqlite(engine, revision, downgrade=True)
        return
    with engine.begin() as conn:
        _run_migration(alembic_config(), conn, revision, downgrade=True)


def _run_migration(cfg: Config, conn, revision: str, downgrade: bool) -> None:
    from alembic import command

    cfg.attributes["connection"] = conn
    if conn.dialect.name == "postgresql":
        # Several app processes may start at once on one database: one migrates, the others wait.
        conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK_KEY})")
    insp = inspect(conn)
    tables = set(insp.get_table_names())
    if "study" in tables and "alembic_version" not in tables:
        rater_cols = {c["name"] for c in insp.get_columns("rater")}
        command.stamp(cfg, "0002" if "last_position" in rater_cols else "0001")
    if downgrade:
        command.downgrade(cfg, revision)
    else:
        command.upgrade(cfg, revision)


def _current_revision(conn) -> str | None:
    tables = set(inspect(conn).get_table_names())
    if "alembic_version" in tables:
        return conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()
    return "legacy" if "study" in tables else None


def known_revisions() -> set[str]:
    from alembic.script import ScriptDirectory

    return {rev.revision for rev in ScriptDirectory.from_config(alembic_config()).walk_revisions()}


_REVISION_LINE = re.compile(r"""^revision\s*=\s*['"]([^'"]+)['"]""", re.MULTILINE)


def known_revision_ids() -> set[str]:
    """The `revision = "..."` ids of the migration files, read as text: equal to known_revisions()
    (tests/test_db_faults.py) without importing Alembic, whose import is 0.25 s of the start of
    every read-only tool (measured with python -X importtime for `python -m rating.export`)."""
    return {m.group(1) for path in (MIGRATIONS_DIR / "versions").glob("*.py")
            for m in _REVISION_LINE.finditer(path.read_text(encoding="utf-8"))}


def head_revision() -> str:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def _migrate_sqlite(engine: Engine, revision: str, downgrade: bool) -> None:
    """Run a migration on SQLite safely.

    - Nothing to do (already at the target): nothing is written, no backup is made.
    - Otherwise, when the file holds a schema already, a consistent copy is written first
      (<db>.pre-<target>-<UTC time>.bak, SQLite online backup API).
    - The migration runs on its own connection with PRAGMA foreign_keys=OFF: Alembic's batch mode
      rebuilds a table by copy, drop and rename, and with foreign keys on the DROP would cascade
      (ON DELETE CASCADE) into every child table, e.g. all ratings of the raters of a rebuilt
      rater table. Afterwards PRAGMA foreign_key_check must be empty, else the whole migration
      rolls back (SQLite DDL is transactional).
    """
    url = str(engine.url)
    path = sqlite_path(url)
    target = revision if revision != "head" else head_revision()
    with engine.connect() as conn:
        current = _current_revision(conn)
        conn.rollback()
    if current == target:
        return
    backup = None
    if path is not None and current is not None and path.exists():
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        backup = path.with_name(f"{path.name}.pre-{target}-{stamp}.bak")
        backup_sqlite(path, backup)
        log.warning("database %s: migrating %s -> %s; backup copy at %s", path, current, target, backup)
    migration_engine = make_engine(url, foreign_keys=False) if path is not None else engine
    try:
        cfg = alembic_config()
        with migration_engine.begin() as conn:
            _run_migration(cfg, conn, revision, downgrade)
            problems = conn.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
            if problems:
                raise DatabaseRefused(f"migration to {target} would leave {len(problems)} rows with a broken "
                                      f"reference (first: table {problems[0][0]}); nothing was changed")
    except sa_exc.SQLAlchemyError as exc:
        # The migration is one transaction (SQLite DDL is transactional): it rolled back, the file is as it was.
        reason = " ".join(str(getattr(exc, "orig", None) or exc).split())[:300]
        log.debug("migration %s -> %s of %s failed", current, target, path, exc_info=exc)
        raise DatabaseRefused(
            f"{path or url}: the migration from schema {current} to {target} failed ({reason}); it was rolled back "
            f"and the file was left unchanged" + (f" (backup copy: {backup})" if backup else "")
            + ". Fix the cause (a hand-edited table?) or restore a backup, then start again") from None
    finally:
        if migration_engine is not engine:
            migration_engine.dispose()


PARTIAL_MIGRATION_BACKUP = ".pre-*.bak.partial"
"""What a migration backup is called while it is written (backup_sqlite renames it when complete)."""


def _remove_partial_migration_backups_sqlite(path: Path) -> None:
    """Delete `<db>.pre-<revision>-<time>.bak.partial` files: a migration killed while writing its backup
    leaves one behind (never a complete backup: those are renamed to .bak first)."""
    for leftover in path.parent.glob(path.name + PARTIAL_MIGRATION_BACKUP):
        try:
            if leftover.is_file() and leftover.stat().st_uid == os.getuid():
                leftover.unlink()
                log.warning("removed %s, the unfinished backup of an interrupted migration", leftover)
        except OSError as exc:
            log.warning("could not remove %s (%s)", leftover, exc)


def prepare_database(url: str | None = None) -> Engine:
    """Engine for `url` with the schema brought up to date (created on first start).

    The file is checked first (check_database): DatabaseRefused says why it cannot be used."""
    url = database_url(url)
    check_database(url, write=True)
    path = sqlite_path(url)
    if path is not None:
        _remove_partial_migration_backups_sqlite(path)
    engine = make_engine(url)
    try:
        upgrade_schema(engine)
    except sa_exc.OperationalError as exc:
        engine.dispose()
        raise DatabaseRefused(f"{sqlite_path(url) or url}: {plain_database_message(exc)}") from None
    return engine


# ------------------------------------------------------------------------------ SQLite file checks

def check_database(url: str | None = None, write: bool = True) -> None:
    """Refuse (DatabaseRefused, one line) a database the app must not use. SQLite only; other URLs pass."""
    url = database_url(url)
    path = sqlite_path(url)
    if path is not None:
        _check_sqlite_file(path, write)


def _check_sqlite_file(path: Path, write: bool) -> None:
    def refuse(why: str) -> DatabaseRefused:
        return DatabaseRefused(f"{path}: {why}")

    if not path.exists():
        if not path.parent.is_dir():
            raise refuse(f"the folder {path.parent} does not exist")
        if write and not os.access(path.parent, os.W_OK):
            raise refuse(f"cannot create the database: the folder {path.parent} is read-only")
        if not write:
            raise refuse("no such database file")
        return
    if path.is_dir():
        raise refuse("is a folder, not a database file")
    st = path.stat()
    if write and (not st.st_mode & stat.S_IWUSR or not os.access(path, os.W_OK)):
        raise refuse("the database file is read-only; ratings could not be saved. Make it writable "
                     "(chmod u+w) or give another file with --db")
    if write and not os.access(path.parent, os.W_OK):
        raise refuse(f"the folder {path.parent} is read-only (SQLite needs to write its journal beside the file)")
    if st.st_size == 0:
        return  # an empty file: SQLite treats it as a new database
    # The header is read through SQLite, never with open(): closing any descriptor of a file drops every
    # POSIX lock this process holds on it, SQLite's too, and another process closing its last connection
    # would then delete the WAL this process still writes to (issue 22; SQLite's "How To Corrupt", 2.2).
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=SQLITE_BUSY_TIMEOUT_MS / 1000)
    except sqlite3.Error as exc:
        raise refuse(f"cannot be opened ({exc})") from None
    try:
        try:
            conn.execute("PRAGMA schema_version").fetchone()
        except sqlite3.DatabaseError as exc:
            if getattr(exc, "sqlite_errorname", "") == "SQLITE_NOTADB" or "not a database" in str(exc):
                raise refuse("not a SQLite database (corrupt, or another kind of file); nothing was changed") from None
            raise
        problems = [row[0] for row in conn.execute("PRAGMA quick_check").fetchall()]
        if problems != ["ok"]:
            raise refuse(f"the database is corrupt (PRAGMA quick_check: {problems[0]}"
                         f"{f' and {len(problems) - 1} more' if len(problems) > 1 else ''}); restore a backup")
        tables = {row[0] for row in conn.execute(
            "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%'")}
        _check_sqlite_tables(path, conn, tables, refuse)
    except sqlite3.DatabaseError as exc:
        raise refuse(f"the database is corrupt or not a SQLite database ({exc}); nothing was changed") from None
    finally:
        conn.close()


def _check_sqlite_tables(path: Path, conn: sqlite3.Connection, tables: set[str], refuse) -> None:
    from db.models import Base

    ours = set(Base.metadata.tables)
    if not tables or tables == {"alembic_version"}:
        return
    if not {"study", "rating"} <= tables:
        foreign = ", ".join(sorted(tables - ours - {"alembic_version"})[:5]) or ", ".join(sorted(tables)[:5])
        raise refuse(f"this SQLite file belongs to another application (tables: {foreign}); it is not a "
                     "Radiology-Llama study database. Nothing was written to it; give another file with --db")
    if "alembic_version" in tables:
        version = conn.execute("SELECT version_num FROM alembic_version").fetchone()
        if version is not None and version[0] not in known_revision_ids():
            raise refuse(f"the database was written by a newer version of Radiology-Llama (schema revision "
                         f"{version[0]}, this version knows up to {head_revision()}); upgrade the app, or restore "
                         "a backup made by this version")


# ------------------------------------------------------------------------------------ SQLite backup

def backup_sqlite(source: str | Path, out: str | Path) -> Path:
    """A consistent copy of a live SQLite database at `out` (SQLite's online backup API).

    Safe while the app writes: the copy is one read transaction (a WAL snapshot), writers go on.
    `out` must not exist; the copy is written beside it, checked (PRAGMA integrity_check), synced,
    then renamed into place. Restore: stop the app, move the database file and its -wal/-shm files
    aside, copy the backup to the database's name, start the app (README: Backup and restore).
    """
    src_path = sqlite_path(database_url(str(source))) if "://" in str(source) else Path(source)
    out = Path(out)
    if src_path is None or not src_path.is_file():
        raise DatabaseRefused(f"{source}: no SQLite database file to back up")
    if out.exists():
        raise FileExistsError(f"{out} already exists; choose a new file name for the backup")
    if not out.parent.is_dir():
        raise FileNotFoundError(f"the folder {out.parent} does not exist")
    partial = out.with_name(out.name + ".partial")
    partial.unlink(missing_ok=True)
    src = sqlite3.connect(f"{src_path.resolve().as_uri()}?mode=ro", uri=True, timeout=SQLITE_BUSY_TIMEOUT_MS / 1000)
    try:
        dst = sqlite3.connect(partial)
        try:
            src.backup(dst)  # all pages in one step: one consistent snapshot
            dst.execute("PRAGMA journal_mode=DELETE")
            check = dst.execute("PRAGMA integrity_check").fetchone()[0]
            if check != "ok":
                raise DatabaseRefused(f"the backup copy failed its integrity check ({check})")
        finally:
            dst.close()
    finally:
        src.close()
    with open(partial, "rb+") as fh:
        os.fsync(fh.fileno())
    if out.exists():
        partial.unlink(missing_ok=True)
        raise FileExistsError(f"{out} appeared while the backup was written; nothing overwritten")
    os.replace(partial, out)
    return out
