"""Attacks found by a fresh-eyes review of the merged app (a rater with only a link, on the same machine).

1. X-Forwarded-For picked the client address the lockout counts against: a locked-out guesser sent
   another address and went on guessing (uvicorn trusted proxy headers from 127.0.0.1).
2. Gradio's deep-link route wrote each session's state (up to the request cap, a rater's token
   included) to disk for anyone, without a login, as often as asked.
3. SIGTERM left Gradio's private file cache behind: uvicorn re-raises the signal after shutdown
   and the default handler ended the process before atexit removed the folder.
"""
from __future__ import annotations

import json
import os
import signal
import urllib.error
import urllib.request
import uuid

import pytest

from tests.support.app_process import start_app
from tests.support.rating_support import make_study
from tests.security.support import ADMIN_SECRET

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("security_review")]


def _post(url: str, payload: dict, headers: dict | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=json.dumps(payload).encode(), method="POST",
                                     headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=30) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def _get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=30) as resp:
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code


@pytest.fixture
def server(tmp_path):
    """The rater app on a study, with its own TMPDIR (so what it leaves on disk can be inspected)."""
    db = tmp_path / "s.db"
    created = make_study(db, n_raters=1, n_cases=2, n_calibration=0, n_repeats=0)
    temp = tmp_path / "server-tmp"
    temp.mkdir()
    app = start_app(tmp_path, ["--db", str(db), "--no-build-model", "--rating-only"], ready_path="/rate/config",
                    extra_env={"TMPDIR": str(temp), "RADLLAMA_ADMIN_SECRET": ADMIN_SECRET}, netguard=False)
    yield app, next(iter(created.rater_tokens.values())), temp
    app.stop()


def test_a_forwarded_for_header_does_not_choose_the_locked_out_address(server):
    app, _, _ = server
    wrong = {"Authorization": "Bearer wrong-secret-0000-abcdefgh"}
    for i in range(6):  # 5 wrong admin secrets lock the client out
        _post(app.url + "/gradio_api/queue/join", {}, {**wrong, "X-Forwarded-For": f"10.9.9.{i}"})
    right = {"Authorization": f"Bearer {ADMIN_SECRET}", "X-Forwarded-For": "10.8.8.8"}
    status, _ = _post(app.url + "/gradio_api/queue/join", {}, right)
    assert status == 429  # the guesser is the same client whatever address it claims


def test_the_deep_link_route_writes_nothing_for_anyone(server):
    app, token, temp = server
    session = uuid.uuid4().hex
    _post(app.url + "/rate/gradio_api/queue/join", {"data": [token], "fn_index": 0, "session_hash": session})
    assert _get(app.url + f"/rate/gradio_api/deep_link?session_hash={session}") in (403, 404)
    written = [p for p in temp.rglob("*") if p.is_file() and token.encode() in p.read_bytes()]
    assert written == []


def test_sigterm_removes_the_private_file_cache(server):
    app, _, temp = server
    assert [p.name for p in temp.iterdir() if p.name.startswith("radllama-gradio-")]  # made at start
    os.kill(app.proc.pid, signal.SIGTERM)
    app.proc.wait(30)
    assert [p.name for p in temp.iterdir() if p.name.startswith("radllama-gradio-")] == []
