"""The background model build as a newcomer meets it: announced in the terminal, and gone with the app."""
from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest

from tests.support.app_process import start_app
from tests.support.tiny_lm import tiny_reports, write_jsonl

pytestmark = [pytest.mark.slow]


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def _build_pid(lock: Path, timeout: float = 30) -> int:
    deadline = time.time() + timeout
    while time.time() < deadline:
        text = lock.read_text().strip() if lock.exists() else ""
        if text.startswith("pid "):
            return int(text.split()[1])
        time.sleep(0.2)
    raise AssertionError(f"no build pid in {lock}")


@pytest.mark.parametrize("how", [signal.SIGINT, signal.SIGKILL], ids=["ctrl-c", "kill-9"])
def test_app_announces_the_build_and_stopping_the_app_stops_it(tmp_path, how):
    data = write_jsonl(tmp_path / "r.jsonl", tiny_reports())
    models = tmp_path / "models"
    app = start_app(tmp_path, ["--data", str(data), "--db", str(tmp_path / "s.db"), "--only", "generate"],
                    extra_env={"RADLLAMA_MODELS_DIR": str(models)})
    try:
        pid = _build_pid(models / "default" / "build.lock")
        assert _alive(pid)
        deadline = time.time() + 20
        while "Building the project model" not in app.log() and time.time() < deadline:
            time.sleep(0.2)
        log = app.log()
        assert "Building the project model in the background" in log and "minutes" in log
        assert str(models / "default" / "build.log") in log
        app.proc.send_signal(how)
        app.proc.wait(30)
        deadline = time.time() + 20
        while _alive(pid) and time.time() < deadline:
            time.sleep(0.2)
        assert not _alive(pid), f"the build (pid {pid}) outlived the app"
    finally:
        app.kill()
