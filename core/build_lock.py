"""One build per run folder: `training.train` holds RUN/build.lock (flock) while it runs.

The lock dies with the process that holds it, so a lock file left behind by a crashed or killed
build is never mistaken for a running one. The app (demo/model_builder.py) takes the lock before
it starts the build and hands the locked descriptor to the child; it tells the child so with
INHERITED_ENV, and the child then does not lock again. In a multi-process run (accelerate launch)
only rank 0 locks.
"""
from __future__ import annotations

import fcntl
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

LOCK_NAME = "build.lock"
INHERITED_ENV = "RADLLAMA_BUILD_LOCK_INHERITED"
BUSY_EXIT_CODE = 75
"""Exit status of `training.train` when another process is building the same run folder."""


class BuildBusy(RuntimeError):
    """Another process holds the run folder's build lock."""


@contextmanager
def build_lock(run_dir: Path) -> Iterator[None]:
    """Hold RUN/build.lock for the duration (no-op when the app already holds it for this process)."""
    if os.environ.get(INHERITED_ENV) == str(Path(run_dir).resolve()) or int(os.environ.get("RANK", "0") or 0) > 0:
        yield  # the app holds it for us, or we are a further process of a multi-process (accelerate) run
        return
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / LOCK_NAME
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            owner = path.read_text(errors="replace").strip() or "unknown pid"
            raise BuildBusy(f"another process is building {run_dir} ({owner}); wait for it or stop it") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"pid {os.getpid()}\n".encode())
        yield
    finally:
        os.close(fd)
