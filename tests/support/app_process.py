"""Start the real app (or one tab) in a subprocess on a free 127.0.0.1 port, for integration tests."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from tests.support.lanes import require_slow

ROOT = Path(__file__).resolve().parents[2]
NETGUARD_DIR = Path(__file__).resolve().parents[1] / "netguard"
PRIVACY_VARS = ("GRADIO_ANALYTICS_ENABLED", "HF_HUB_OFFLINE", "HF_HUB_DISABLE_TELEMETRY", "TRANSFORMERS_OFFLINE")
START_TIMEOUT_ENV = "RADLLAMA_TEST_START_TIMEOUT"
DEFAULT_START_TIMEOUT_S = 480.0
"""How long the test helpers wait for a server (the app, transformers serve, PostgreSQL) to answer, at least.
The app starts in ~10-30 s on 2 quiet cores, but 120 s was exceeded at load average 13-23 (several app
processes importing torch and gradio at once); 480 s stays under pytest.ini's 600 s per test. Set
RADLLAMA_TEST_START_TIMEOUT (seconds) to wait longer on a slower machine."""


def start_timeout(requested: float | None = None) -> float:
    """The wait for a server to start: the caller's figure, raised to $RADLLAMA_TEST_START_TIMEOUT (default 480 s)."""
    floor = float(os.environ.get(START_TIMEOUT_ENV) or DEFAULT_START_TIMEOUT_S)
    return max(requested or 0.0, floor)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stop_process(proc: subprocess.Popen) -> None:
    """SIGTERM, then SIGKILL if it is still running after 15 s."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


@dataclass
class AppProcess:
    proc: subprocess.Popen
    url: str
    log_path: Path
    netguard_log: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def outbound(self) -> list[str]:
        return self.netguard_log.read_text().splitlines() if self.netguard_log.exists() else []

    def kill(self) -> None:
        """SIGKILL: no shutdown handlers run."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def stop(self) -> None:
        stop_process(self.proc)


def start_app(tmp: Path, args: list[str], module: str | None = None, ready_path: str = "/",
              timeout: float | None = None, extra_env: dict | None = None, netguard: bool = True,
              cwd: Path | None = None) -> AppProcess:
    """Run `python app.py ARGS --port P` (or `python -m MODULE`), by default with the network guard on.

    The privacy variables (and any admin secret of the caller's shell) are removed from the child's
    environment, so the app must set them itself. netguard=False runs the app unwrapped (benchmarks).
    timeout: seconds to wait for an answer (start_timeout: at least $RADLLAMA_TEST_START_TIMEOUT).
    cwd: the project folder to run (default: this one; e.g. a clone without ../shared beside it).
    """
    require_slow("an app process")
    timeout = start_timeout(timeout)
    root = Path(cwd) if cwd else ROOT
    port = free_port()
    log_path, netguard_log = tmp / "app.log", tmp / "outbound.log"
    env = {k: v for k, v in os.environ.items() if k not in PRIVACY_VARS and k != "RADLLAMA_ADMIN_SECRET"}
    env.update(PYTHONUNBUFFERED="1", **(extra_env or {}))
    if netguard:
        env.update(PYTHONPATH=os.pathsep.join([str(NETGUARD_DIR), str(root)]), NETGUARD_LOG=str(netguard_log))
    cmd = [sys.executable, *(["-m", module] if module else ["app.py"]), *args, "--port", str(port)]
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(cmd, cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT)
    app = AppProcess(proc, f"http://127.0.0.1:{port}", log_path, netguard_log)
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"app exited with {proc.returncode}:\n{app.log()}")
        try:
            with urllib.request.urlopen(app.url + ready_path, timeout=2) as resp:
                if resp.status == 200:
                    return app
        except OSError:
            time.sleep(0.5)
    app.stop()
    raise RuntimeError(f"app did not answer within {timeout:.0f} s (set {START_TIMEOUT_ENV} to wait longer):\n{app.log()}")


def post_json(url: str, body: bytes, timeout: float = 120) -> int:
    """POST a JSON body; the HTTP status, an error status included (the body is read either way)."""
    req = urllib.request.Request(url, data=body, headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            resp.read()
            return resp.status
    except urllib.error.HTTPError as exc:
        exc.read()
        return exc.code
