"""Helpers for the rating tests and bench: a toy study on a real SQLite file, the real app as a
subprocess on a free 127.0.0.1 port, and gradio_client argument builders."""
from __future__ import annotations

import os
from pathlib import Path

from core.records import Report
from db.engine import make_session_factory, prepare_database, unit_of_work
from db.models import CRITERIA
from rating.assignments import LABELS
from rating.study_setup import CreatedStudy, RaterSpec, StudySpec, SystemOutputs, create_study, reference_outputs
from tests.support.app_process import AppProcess, start_app

ROOT = Path(__file__).resolve().parents[2]
SECRET_SYSTEMS = ("zebra-model-9", "okapi-baseline-7")
"""Distinctive system names: if either string reaches a rater, blinding is broken."""
SECRET_KINDS = ("quagga-kind",)


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


def make_wide_study(db_path: Path, n_systems: int, raters: list[str], n_cases: int = 2, name: str = "wide",
                    instructions: str = "", texts: dict[int, str] | None = None) -> CreatedStudy:
    """A study with `n_systems` candidates per case (every rater rates every case, no calibration or
    repeats); texts overrides the text of system i in every case."""
    cases = toy_cases(n_cases)
    outputs = {f"wide-system-{i:02d}": SystemOutputs(kind="baseline", texts_by_case={
        c.id: (texts or {}).get(i, f"Wide impression {i} for {c.id}.") for c in cases}) for i in range(n_systems)}
    factory = make_session_factory(prepare_database(str(db_path)))
    with unit_of_work(factory) as session:
        created = create_study(session, StudySpec(name=name, seed=3, instructions=instructions), cases, outputs,
                               [RaterSpec(r) for r in raters])
    factory.kw["bind"].dispose()
    return created


def server_env() -> dict:
    """The caller's environment for CLI subprocesses, offline, without a shell's admin secret."""
    env = dict(os.environ, GRADIO_ANALYTICS_ENABLED="False", HF_HUB_OFFLINE="1", HF_HUB_DISABLE_TELEMETRY="1",
               PYTHONUNBUFFERED="1")
    env.pop("RADLLAMA_ADMIN_SECRET", None)
    return env


class AppServer:
    """`python app.py` on a free port for one study database; start() waits until /rate/ answers.

    It can be killed and started again on the same database (a new port each time).
    """

    def __init__(self, db_path: Path | str, rating_only: bool = True, admin_secret: str | None = "test-admin-secret",
                 log_path: Path | None = None):
        """db_path: a SQLite file, or a database URL (then log_path names where the logs go)."""
        self.db = str(db_path)
        if "://" in self.db and log_path is None:
            raise ValueError("AppServer on a database URL needs log_path")
        self.db_path = Path(db_path) if "://" not in self.db else None
        self.rating_only = rating_only
        self.admin_secret = admin_secret
        self.log_dir = (log_path or self.db_path.with_suffix(".server.log")).with_suffix(".logs")
        self.app: AppProcess | None = None
        self.starts = 0

    @property
    def rater_url(self) -> str:
        return self.app.url + "/rate/"

    def start(self, timeout: float | None = None) -> "AppServer":
        self.starts += 1
        run_dir = self.log_dir / f"start-{self.starts}"
        run_dir.mkdir(parents=True, exist_ok=True)
        args = ["--db", self.db, "--no-build-model"]
        args += ["--rating-only"] if self.rating_only else []
        args += ["--admin-secret", self.admin_secret] if self.admin_secret else []
        self.app = start_app(run_dir, args, ready_path="/rate/config", timeout=timeout, netguard=False)
        return self

    def kill(self) -> None:
        """SIGKILL: no shutdown handlers run."""
        if self.app:
            self.app.kill()

    def stop(self) -> None:
        if self.app:
            self.app.stop()


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
                flag: bool = False) -> list:
    """Arguments of the rater app's /submit endpoint: token, position, one rating per candidate."""
    ratings = [{"label": LABELS[i], **{c: score for c in CRITERIA}, "comment": comment, "significant_error": flag}
               for i in range(n_candidates)]
    return [token, position, ratings]


def view_position(result) -> int:
    """The 0-based position in a view response of the rater API."""
    return int(result["position"])


def visible_candidates(result) -> int:
    """How many candidates a view response of the rater API shows."""
    return len(result["candidates"])
