"""Shared helpers of the attack tests: a study served by the real app, signed in as nobody."""
from __future__ import annotations

import urllib.error
import urllib.request
from pathlib import Path

from tests.support.app_process import AppProcess, start_app
from tests.support.rating_support import make_study

ADMIN_SECRET = "attack-test-admin-secret-0123"
"""Long enough for the admin-secret rule (at least 16 characters)."""


def http(url: str, method: str = "GET", data: bytes | None = None, headers: dict | None = None,
         timeout: float = 30) -> tuple[int, bytes]:
    """Status and body of one request (HTTP errors are answers too, not exceptions)."""
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def serve_open_study(tmp: Path, args: list[str] = (), netguard: bool = True) -> tuple[AppProcess, object]:
    """`python app.py` (the default mode: workbench at / beside /rate/) over a database with an open study."""
    db = tmp / "study.db"
    created = make_study(db, n_raters=2, n_cases=4, n_calibration=0, n_repeats=0)
    app = start_app(tmp, ["--no-build-model", "--model", str(tmp / "no-model"), "--db", str(db), *args],
                    ready_path="/rate/config", extra_env={"RADLLAMA_ADMIN_SECRET": ADMIN_SECRET}, netguard=netguard)
    return app, created
