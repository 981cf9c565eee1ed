"""Start the real app (or one tab) in a subprocess on a free 127.0.0.1 port, for integration tests."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from tests.lanes import require_slow

ROOT = Path(__file__).resolve().parent.parent
NETGUARD_DIR = Path(__file__).resolve().parent / "netguard"
PRIVACY_VARS = ("GRADIO_ANALYTICS_ENABLED", "HF_HUB_OFFLINE", "HF_HUB_DISABLE_TELEMETRY", "TRANSFORMERS_OFFLINE")


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
              timeout: float = 120.0, extra_env: dict | None = None, netguard: bool = True) -> AppProcess:
    """Run `python app.py ARGS --port P` (or `python -m MODULE`), by default with the network guard on.

    The privacy variables (and any admin secret of the caller's shell) are removed from the child's
    environment, so the app must set them itself. netguard=False runs the app unwrapped (benchmarks).
    """
    require_slow("an app process")
    port = free_port()
    log_path, netguard_log = tmp / "app.log", tmp / "outbound.log"
    env = {k: v for k, v in os.environ.items() if k not in PRIVACY_VARS and k != "RADLLAMA_ADMIN_SECRET"}
    env.update(PYTHONUNBUFFERED="1", **(extra_env or {}))
    if netguard:
        env.update(PYTHONPATH=os.pathsep.join([str(NETGUARD_DIR), str(ROOT)]), NETGUARD_LOG=str(netguard_log))
    cmd = [sys.executable, *(["-m", module] if module else ["app.py"]), *args, "--port", str(port)]
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
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
    raise RuntimeError(f"app did not answer within {timeout} s:\n{app.log()}")
