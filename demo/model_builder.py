"""Build the project's default model in a background subprocess, at most once across app processes.

The first `python app.py` on a fresh checkout has no model yet. Rather than stop, the app
starts `python -m training.train --recipe default` in the background (logging to
RUN/build.log), says so in the terminal (how long it takes, where the log is), keeps serving
the baselines, and reports progress from RUN/metrics.jsonl.

One build per run folder: RUN/build.lock is held with flock by whoever builds (the app, whose
child inherits the locked descriptor, or `training.train` started by hand, core.build_lock).
A lock dies with its process, so a lock file left by a killed build is stale by construction and
the build starts again. The build lives and dies with the app: the child stays in the app's
process group (Ctrl-C reaches it), is terminated when the app exits (atexit), and on Linux gets
SIGTERM when the app is killed outright (PR_SET_PDEATHSIG).
"""
from __future__ import annotations

import atexit
import ctypes
import json
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from core.paths import BUILD_COMMAND_TEXT, BUILD_TIME_TEXT, FINAL_META, PROJECT_ROOT
from core.build_lock import BUSY_EXIT_CODE, INHERITED_ENV, LOCK_NAME

_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:  # runs in the child between fork and exec
    try:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        pass


def model_is_complete(folder: Path) -> bool:
    """True when `folder` holds a finished model built by training.train (its marker is written last)."""
    return (Path(folder) / FINAL_META).is_file()


def checkpoint_exists(folder: Path) -> bool:
    """True when `folder` looks like any loadable checkpoint (ours, or a plain HF model / adapter)."""
    folder = Path(folder)
    return model_is_complete(folder) or (folder / "config.json").is_file() or (folder / "adapter_config.json").is_file()


@dataclass(frozen=True)
class BuildStatus:
    """What the Generate tab shows about the project's model."""

    state: str
    """One of: ready, building, building-elsewhere, failed, missing."""
    message: str
    """One line (Markdown) for people."""
    log_path: Path | None = None
    """The build log, when there is one."""

    @property
    def ready(self) -> bool:
        return self.state == "ready"


def _try_lock(fd: int) -> bool:
    import fcntl

    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except OSError:
        return False


def summarize_metrics(metrics_path: Path) -> str:
    """A short progress line from the training run's metrics.jsonl (stage, step, epoch, loss, time)."""
    try:
        with metrics_path.open("rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - 64_000))
            lines = fh.read().decode("utf-8", "replace").splitlines()
    except OSError:
        return "starting"
    records = []
    for line in lines:
        try:
            records.append(json.loads(line))
        except ValueError:
            continue
    if not records:
        return "starting"
    start = next((r for r in reversed(records) if r.get("stage") == "start"), None)
    last = records[-1]
    stage = last.get("stage", "?")
    parts = [f"stage **{stage}**"]
    if "step" in last:
        parts.append(f"step {last['step']}")
    if "epoch" in last:
        total = None
        if start and isinstance(start.get("config"), dict):
            total = start["config"].get("pretrain_epochs" if stage == "pretrain" else "epochs")
        parts.append(f"epoch {last['epoch']}" + (f"/{total}" if total else ""))
    for key in ("loss", "val_loss"):
        if isinstance(last.get(key), (int, float)):
            parts.append(f"{key.replace('_', ' ')} {last[key]:.3f}")
    if "event" in last:
        parts.append(str(last["event"]))
    if start and isinstance(start.get("time"), (int, float)):
        parts.append(f"{(time.time() - start['time']) / 60:.1f} min elapsed")
    return ", ".join(parts)


class ModelBuilder:
    """Starts, watches and reports the background build of one model folder.

    model_dir: the final folder to wait for (RUN/final).
    command: the build command (default: this Python running training.train --recipe default).
    """

    def __init__(self, model_dir: Path, command: list[str] | None = None, data_path: str | None = None):
        self.model_dir = Path(model_dir)
        self.run_dir = self.model_dir.parent
        self.log_path = self.run_dir / "build.log"
        self.lock_path = self.run_dir / LOCK_NAME
        self.metrics_path = self.run_dir / "metrics.jsonl"
        self.command = command or [sys.executable, "-m", "training.train", "--recipe", "default",
                                   "--output-dir", str(self.run_dir)] + (["--data", str(data_path)] if data_path else [])
        self._proc: subprocess.Popen | None = None
        self._failed_rc: int | None = None
        self._started_here = False
        self._keep_building = False
        self._mutex = threading.RLock()

    # -- starting ---------------------------------------------------------------------------
    def start_if_missing(self) -> BuildStatus:
        """Start the build unless the model exists or another process is building it."""
        with self._mutex:
            self._keep_building = True
            if model_is_complete(self.model_dir) or (self._proc is not None and self._proc.poll() is None):
                return self.status()
            if self._failed_rc is not None:
                return self.status()  # a failed build is reported, not retried in a loop
            self.run_dir.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                if not _try_lock(fd):
                    return self.status()  # someone else holds it: building elsewhere
                if model_is_complete(self.model_dir):  # finished while we waited for the lock
                    return self.status()
                os.ftruncate(fd, 0)
                with open(self.log_path, "ab") as log:  # the child keeps its own copy of the descriptor
                    log.write(f"\n=== {time.strftime('%Y-%m-%d %H:%M:%S')} {' '.join(self.command)}\n".encode())
                    log.flush()
                    # The child inherits the locked descriptor, so the lock lives exactly as long as the build.
                    # Same process group as the app (Ctrl-C reaches both); SIGTERM when the app dies.
                    in_main = threading.current_thread() is threading.main_thread()  # PDEATHSIG follows the thread
                    self._proc = subprocess.Popen(self.command, cwd=PROJECT_ROOT, stdout=log, stderr=subprocess.STDOUT,
                                                  stdin=subprocess.DEVNULL, pass_fds=(fd,),
                                                  preexec_fn=_die_with_parent if in_main else None,
                                                  env={**os.environ, "PYTHONUNBUFFERED": "1",
                                                       INHERITED_ENV: str(self.run_dir.resolve())})
                    os.write(fd, f"pid {self._proc.pid}\n".encode())
                if not self._started_here:
                    atexit.register(self.stop)
                self._started_here = True
                print(f"Building the project model in the background: `{BUILD_COMMAND_TEXT}` ({BUILD_TIME_TEXT}). "
                      f"The baselines answer meanwhile; the Generate tab switches to the model when it is ready. "
                      f"Log: {self.log_path}. Stopping the app stops the build.", file=sys.stderr, flush=True)
            finally:
                os.close(fd)  # the child keeps its copy (and the lock) until it exits
            return self.status()

    # -- watching ---------------------------------------------------------------------------
    def _lock_held_elsewhere(self) -> bool:
        if not self.lock_path.exists():
            return False
        fd = os.open(self.lock_path, os.O_RDWR)
        try:
            if _try_lock(fd):
                import fcntl

                fcntl.flock(fd, fcntl.LOCK_UN)
                return False
            return True
        finally:
            os.close(fd)

    def status(self) -> BuildStatus:
        """Where the build stands; when this app was asked to build and nobody builds any more (the other
        app's build was stopped, its lock is stale), the build starts again here."""
        with self._mutex:
            status = self._status()
            if status.state == "missing" and self._keep_building:
                return self.start_if_missing()
            return status

    def _status(self) -> BuildStatus:
        if model_is_complete(self.model_dir):
            return BuildStatus("ready", f"Project model ready: `{self.model_dir}`.")
        manual = f"Build it by hand with `{BUILD_COMMAND_TEXT}` ({BUILD_TIME_TEXT})."
        if self._proc is not None:
            rc = self._proc.poll()
            if rc is None:
                return BuildStatus("building", f"Building the project model in the background "
                                   f"({summarize_metrics(self.metrics_path)}; {BUILD_TIME_TEXT}). Baselines serve "
                                   f"meanwhile; log: `{self.log_path}`.", self.log_path)
            if rc == BUSY_EXIT_CODE:  # someone else took the lock first: theirs is the build
                self._proc = None
            elif rc != 0 or not model_is_complete(self.model_dir):
                self._failed_rc = rc
        if self._failed_rc is not None:
            return BuildStatus("failed", f"Building the project model failed (exit code {self._failed_rc}); "
                               f"see `{self.log_path}`. {manual}", self.log_path)
        if self._lock_held_elsewhere():
            return BuildStatus("building-elsewhere", "Another process is building the project model "
                               f"({summarize_metrics(self.metrics_path)}); it is picked up when done. "
                               f"Log: `{self.log_path}`.", self.log_path)
        return BuildStatus("missing", f"The project model is missing (`{self.model_dir}`); the baselines serve. "
                           + manual, self.log_path if self.log_path.exists() else None)

    def wait(self, timeout: float | None = None) -> BuildStatus:
        """Block until the build this object started ends (tests and scripts)."""
        if self._proc is not None:
            try:
                self._proc.wait(timeout)
            except subprocess.TimeoutExpired:
                pass
        return self.status()

    def stop(self) -> None:
        """Terminate a build this object started (at app exit, and in tests)."""
        self._keep_building = False
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
