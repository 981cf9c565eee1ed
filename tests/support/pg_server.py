"""A throwaway PostgreSQL server for tests and benches: initdb + pg_ctl in a temp folder.

The server listens on a free port on 127.0.0.1 only, with its unix socket inside the temp folder,
trust authentication for the local user, fsync on (the SIGKILL tests rely on durable commits).
initdb refuses to run as root, so under root the cluster is made and run by the `postgres` user
in a folder that user owns. stop() is `pg_ctl stop -m immediate` and removes the folder.
"""
from __future__ import annotations

import atexit
import getpass
import os
import shutil
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.app_process import free_port, start_timeout

PG_BIN_DIRS = ("/usr/lib/postgresql/15/bin", "/usr/lib/postgresql/16/bin", "/usr/lib/postgresql/17/bin")


def pg_bin_dir() -> Path | None:
    """Folder holding initdb and pg_ctl: $RADLLAMA_PG_BIN, Debian's versioned folder, or PATH."""
    candidates = [os.environ.get("RADLLAMA_PG_BIN", ""), *PG_BIN_DIRS]
    for folder in candidates:
        if folder and (Path(folder) / "initdb").is_file():
            return Path(folder)
    found = shutil.which("initdb")
    return Path(found).parent if found else None


def _run_as(user: str | None, cmd: list[str], **kw) -> subprocess.CompletedProcess:
    full = (["runuser", "-u", user, "--"] + cmd) if user else cmd
    return subprocess.run(full, capture_output=True, text=True, **kw)


@dataclass
class PostgresServer:
    """One running cluster; url_for(dbname) gives a SQLAlchemy URL, new_database() a fresh database."""

    folder: Path
    port: int
    user: str
    run_as: str | None
    bin_dir: Path
    databases: list[str] = field(default_factory=list)

    @property
    def data_dir(self) -> Path:
        return self.folder / "data"

    def url_for(self, dbname: str) -> str:
        return f"postgresql+psycopg://{self.user}@127.0.0.1:{self.port}/{dbname}"

    def admin_connect(self):
        import psycopg

        return psycopg.connect(host="127.0.0.1", port=self.port, user=self.user, dbname="postgres",
                               autocommit=True, connect_timeout=10)

    def new_database(self, prefix: str = "t") -> str:
        """CREATE DATABASE with a unique name; returns its URL."""
        name = f"{prefix}_{uuid.uuid4().hex[:12]}"
        with self.admin_connect() as con:
            con.execute(f'CREATE DATABASE "{name}"')
        self.databases.append(name)
        return self.url_for(name)

    def stop(self) -> None:
        if not self.data_dir.exists():
            return  # stopped already
        pg_ctl = str(self.bin_dir / "pg_ctl")
        _run_as(self.run_as, [pg_ctl, "stop", "-D", str(self.data_dir), "-m", "immediate", "-w"], timeout=60)
        shutil.rmtree(self.folder, ignore_errors=True)


def start_postgres(timeout: float | None = None) -> PostgresServer:
    """initdb a new cluster in a temp folder and start it; raises RuntimeError with the log on failure.
    timeout: tests.support.app_process.start_timeout (at least $RADLLAMA_TEST_START_TIMEOUT)."""
    timeout = start_timeout(timeout)
    bin_dir = pg_bin_dir()
    if bin_dir is None:
        raise RuntimeError("PostgreSQL server binaries (initdb, pg_ctl) not found: install postgresql-15 "
                           "(apt-get install postgresql-15) or set RADLLAMA_PG_BIN")
    run_as = "postgres" if os.geteuid() == 0 else None
    user = run_as or getpass.getuser()
    folder = Path(tempfile.mkdtemp(prefix="radllama-pg-"))
    os.chmod(folder, 0o700)
    if run_as:
        shutil.chown(folder, user=run_as, group=None)
    data, log = folder / "data", folder / "server.log"
    init = _run_as(run_as, [str(bin_dir / "initdb"), "-D", str(data), "-U", user, "--auth=trust",
                            "--encoding=UTF8", "--locale=C.UTF-8", "--no-instructions"], timeout=120)
    if init.returncode != 0:
        shutil.rmtree(folder, ignore_errors=True)
        raise RuntimeError(f"initdb failed:\n{init.stdout}\n{init.stderr}")
    port = free_port()
    opts = (f"-c listen_addresses=127.0.0.1 -c port={port} -c unix_socket_directories={folder} "
            f"-c max_connections=300 -c shared_buffers=32MB -c timezone=UTC")
    start = _run_as(run_as, [str(bin_dir / "pg_ctl"), "start", "-D", str(data), "-l", str(log), "-o", opts,
                             "-w", "-t", str(int(timeout))], timeout=timeout + 10)
    server = PostgresServer(folder=folder, port=port, user=user, run_as=run_as, bin_dir=bin_dir)
    if start.returncode != 0:
        text = log.read_text(errors="replace") if log.exists() else ""
        server.stop()
        raise RuntimeError(f"pg_ctl start failed:\n{start.stdout}\n{start.stderr}\n{text}")
    atexit.register(server.stop)  # also when the caller forgets or dies of an exception
    deadline = time.time() + timeout
    while True:
        try:
            with server.admin_connect() as con:
                con.execute("select 1")
            return server
        except Exception:  # not accepting connections yet
            if time.time() > deadline:
                server.stop()
                raise
            time.sleep(0.2)
