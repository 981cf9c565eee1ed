"""Issue 22: accepted Generate calls whose results nobody reads must not grow the server without bound.

The whole workbench runs in this process (uvicorn on a free 127.0.0.1 port), so Gradio's queue can be
inspected; 300 POSTs of 50 KB findings to /gradio_api/call/generate arrive faster than two workers answer.
Before the bounds (demo/queue_bounds.py) every one of them waited with its request body, and every waiting
session collected queue-position messages nobody read."""
from __future__ import annotations

import gc
import json
import threading
import time
import urllib.request

import pytest

from tests.support.app_process import post_json

N_REQUESTS = 300
BODY_KB = 50

pytestmark = pytest.mark.slow


@pytest.fixture
def workbench(tmp_path, monkeypatch):
    import uvicorn

    import app as app_module
    from tests.support.app_process import free_port

    monkeypatch.setenv("RADLLAMA_ADMIN_SECRET", "admin-secret-for-tests-0123")
    cfg = app_module.parse_args(["--only", "generate", "--no-build-model", "--db", str(tmp_path / "g.db")])
    server = app_module.create_server(cfg)
    port = free_port()
    uv = uvicorn.Server(uvicorn.Config(server, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=uv.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 120
    while time.time() < deadline:
        try:
            urllib.request.urlopen(url + "/", timeout=5).read()
            break
        except OSError:
            time.sleep(0.5)
    yield url
    uv.should_exit = True
    thread.join(30)


def _queues():
    from gradio.queueing import Queue

    return [o for o in gc.get_objects() if isinstance(o, Queue) and o.event_queue_per_concurrency_id]


def test_unread_generate_results_are_bounded(workbench):
    findings = "Lungs are clear. " * (BODY_KB * 1024 // 17)
    body = json.dumps({"data": [findings, "constant", "greedy", 4, 96]}).encode()
    statuses: dict[int, int] = {}
    for _ in range(N_REQUESTS):
        status = post_json(workbench + "/gradio_api/call/generate", body)
        statuses[status] = statuses.get(status, 0) + 1
    [queue] = _queues()
    waiting = len(queue.event_ids_to_events)
    assert waiting <= 64, f"{waiting} events wait in the queue, each with its 50 KB request ({statuses})"
    assert queue.pending_messages_per_session.max_size <= 200  # unread results of at most 200 API sessions
    assert statuses.get(200, 0) >= 64 and set(statuses) <= {200, 503}, statuses  # the rest: "queue is full"
    # The memory curve over 2,000 such requests: python bench/bench_generate_memory.py (a bench, not a unit test).
