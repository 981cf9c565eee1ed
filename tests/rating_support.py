"""Helpers for the rating tests and bench: a toy study on a real SQLite file, the real app as a
subprocess on a free 127.0.0.1 port, and gradio_client argument builders."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from core.records import Report
from db.engine import make_session_factory, prepare_database, unit_of_work
from db.models import CRITERIA
from rating.study_setup import CreatedStudy, RaterSpec, StudySpec, SystemOutputs, create_study, reference_outputs

ROOT = Path(__file__).resolve().parent.parent
SECRET_SYSTEMS = ("zebra-model-9", "okapi-baseline-7")
"""Distinctive system names: if either string reaches a rater, blinding is broken."""
SECRET_KINDS = ("quagga-kind",)
MAX_CANDIDATES = 8
SLOT_WIDTH = len(CRITERIA) + 2


def toy_cases(n: int) -> list[Report]:
    rows = []
    for i in range(n):
        abnormal = i % 2 == 1
        findings = (f"Case {i}: right lower lobe opacity measuring {i + 1} cm." if abnormal
                    else f"Case {i}: heart size normal, lungs clear, no effusion ({i}).")
        impression = f"Right lower lobe pneumonia ({i})." if abnormal else "No acute cardiopulmonary abnormality."
        rows.append(Report(id=f"c{i:03d}", findings=findings, impression=impression, source="toy"))
    return rows


def make_study(db_path: Path, n_raters: int = 3, n_cases: int = 6, k: int | None = None, n_calibration: int = 1,
               n_repeats: int = 1, name: str = "blind-test") -> CreatedStudy:
    cases = toy_cases(n_cases)
    outputs = {
        SECRET_SYSTEMS[0]: SystemOutputs(kind=SECRET_KINDS[0], texts_by_case={c.id: f"Impression one for {c.id}."
                                                                              for c in cases}),
        SECRET_SYSTEMS[1]: SystemOutputs(kind="baseline", texts_by_case={c.id: f"Impression two for {c.id}."
                                                                         for c in cases}),
        "reference": reference_outputs(cases),
    }
    factory = make_session_factory(prepare_database(str(db_path)))
    with unit_of_work(factory) as session:
        created = create_study(session, StudySpec(name=name, seed=7, k=k, n_calibration=n_calibration,
                                                  n_repeats=n_repeats),
                               cases, outputs, [RaterSpec(f"Dr {i:02d}") for i in range(n_raters)])
    factory.kw["bind"].dispose()
    return created


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_env() -> dict:
    env = dict(os.environ, GRADIO_ANALYTICS_ENABLED="False", HF_HUB_OFFLINE="1", HF_HUB_DISABLE_TELEMETRY="1",
               PYTHONUNBUFFERED="1")
    env.pop("RADLLAMA_ADMIN_SECRET", None)
    return env


class AppServer:
    """`python app.py` on a free port; start() waits until /rate/ answers."""

    def __init__(self, db_path: Path, rating_only: bool = True, admin_secret: str | None = "test-admin-secret",
                 log_path: Path | None = None):
        self.db_path = Path(db_path)
        self.rating_only = rating_only
        self.admin_secret = admin_secret
        self.log_path = log_path or self.db_path.with_suffix(".server.log")
        self.port = 0
        self.proc: subprocess.Popen | None = None

    @property
    def rater_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/rate/"

    @property
    def root_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def start(self, timeout: float = 90.0) -> "AppServer":
        self.port = free_port()
        cmd = [sys.executable, str(ROOT / "app.py"), "--port", str(self.port), "--db", str(self.db_path),
               "--no-build-model"]
        if self.rating_only:
            cmd.append("--rating-only")
        if self.admin_secret:
            cmd += ["--admin-secret", self.admin_secret]
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(cmd, cwd=ROOT, env=server_env(), stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}:\n{self.log_path.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(self.rater_url + "config", timeout=2) as resp:
                    if resp.status == 200:
                        return self
            except OSError:
                time.sleep(0.3)
        self.stop()
        raise RuntimeError(f"server did not start in {timeout}s:\n{self.log_path.read_text()[-3000:]}")

    def kill(self) -> None:
        """SIGKILL: no shutdown handlers run."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


_TLS_CONTEXT = None


def client(url: str):
    """A gradio_client Client for `url`.

    gradio_client opens fresh httpx clients for every call, and each one builds a TLS context
    by loading the CA bundle (~25 ms of CPU) even for plain http. One default context, built
    once and shared, keeps the same verification and takes that cost off the client side,
    which in the bench shares the CPUs with the server it measures.
    """
    import ssl

    import certifi
    from gradio_client import Client

    global _TLS_CONTEXT
    if _TLS_CONTEXT is None:
        _TLS_CONTEXT = ssl.create_default_context(cafile=certifi.where())
    return Client(url, verbose=False, download_files=False, ssl_verify=_TLS_CONTEXT)


def submit_args(token: str, position: int, n_candidates: int, score: int = 4, comment: str = "",
                flag: bool = False, overrides: dict | None = None) -> list:
    """Arguments of the rater app's /submit endpoint: token, position, then MAX_CANDIDATES slots."""
    args: list = [token, position]
    for i in range(MAX_CANDIDATES):
        if i < n_candidates:
            slot = [score] * len(CRITERIA) + [comment, flag]
        else:
            slot = [None] * len(CRITERIA) + ["", False]
        args += slot
    for index, value in (overrides or {}).items():
        args[index] = value
    return args


def view_position(result) -> int:
    """The 0-based position in a view response (first output of the view endpoints)."""
    return int(result[0])


def visible_candidates(result, offset: int = 5) -> int:
    """How many candidate slots a view response shows (slot groups start after the head outputs)."""
    n = 0
    for i in range(MAX_CANDIDATES):
        update = result[offset + i * (SLOT_WIDTH + 2)]
        if isinstance(update, dict) and update.get("visible"):
            n += 1
    return n
