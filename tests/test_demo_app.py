"""The real app on a free 127.0.0.1 port, driven by gradio_client through its /generate endpoint.

The app runs with the network guard (tests/netguard/sitecustomize.py) and without the privacy
variables in its environment, so the last test proves that starting it and serving requests
sends nothing off the machine.
"""
from __future__ import annotations

import subprocess
import sys
import threading

import pytest

from tests.support.app_process import NETGUARD_DIR, ROOT, start_app

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("demo_app")]

FINDINGS = "Heart size is normal. There is a large right pleural effusion. No pneumothorax."


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("demo_app")
    # The project model points at a missing folder, so the baselines serve (the fallback path).
    running = start_app(tmp, ["--no-build-model", "--model", str(tmp / "no-model"), "--db", str(tmp / "study.db")])
    yield running
    running.stop()


@pytest.fixture(scope="module")
def client(app):
    from gradio_client import Client

    return Client(app.url + "/", verbose=False)


def test_generate_returns_an_impression_and_says_who_answered(client):
    impression, details = client.predict(FINDINGS, api_name="/generate")
    assert impression.strip()
    assert "**retrieval**" in details and " s, not by Radiology-Llama" in details
    assert "not available yet" in details  # the project model is missing: said, not hidden


def test_a_chosen_system_answers(client):
    impression, details = client.predict(FINDINGS, "lead", "greedy", 1, 32, api_name="/generate")
    assert impression == "Heart size is normal."
    assert "**lead**" in details and "not available" not in details


def test_empty_findings_get_a_clear_error(client):
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError, match="findings box is empty"):
        client.predict("   \n ", api_name="/generate")


def test_huge_findings_are_cut_with_a_notice(client):
    # 20,300 characters: over the 16,000-character cap, under the 64 KiB request cap: cut with a notice.
    impression, details = client.predict("Small left pleural effusion. " * 700, "retrieval", api_name="/generate")
    assert impression.strip()
    assert "characters long; only the first" in details
    # 101,500 characters: the request itself is refused (413) before Gradio keeps it.
    with pytest.raises(Exception, match="413"):
        client.predict("Small left pleural effusion. " * 3500, "retrieval", api_name="/generate")


def test_unknown_system_is_refused(client):
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError, match="not in the list of choices"):
        client.predict(FINDINGS, "model:/nowhere", api_name="/generate")


def test_concurrent_requests_are_all_answered(app):
    from gradio_client import Client

    results: list[str] = []
    errors: list[BaseException] = []

    def call(i: int) -> None:
        try:
            c = Client(app.url + "/", verbose=False)
            results.append(c.predict(f"Finding number {i} of four. Heart size normal.", "lead", api_name="/generate")[0])
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    # As many as one client may have queued at once (demo/queue_bound.py: 4 per client; tests/test_queue_flood.py
    # checks what happens over it).
    threads = [threading.Thread(target=call, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors
    assert sorted(results) == sorted(f"Finding number {i} of four." for i in range(4))


def test_rater_app_is_served_beside_the_workbench(app):
    import urllib.request

    with urllib.request.urlopen(app.url + "/rate/", timeout=10) as resp:
        assert resp.status == 200


def test_nothing_left_the_machine(app, client):
    client.predict(FINDINGS, api_name="/generate")
    assert app.outbound() == [], f"outbound connections: {app.outbound()}\n{app.log()[-2000:]}"


def test_the_network_guard_catches_an_outbound_connection(tmp_path):
    """The guard used above must be able to fail: a script that reaches out is recorded."""
    log = tmp_path / "outbound.log"
    code = ("import socket\ntry:\n    socket.create_connection(('example.org', 80), timeout=1)\n"
            "except OSError:\n    pass\n")
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, timeout=60,
                   env={"PYTHONPATH": str(NETGUARD_DIR), "NETGUARD_LOG": str(log), "PATH": "/usr/bin:/bin"})
    assert "example.org" in log.read_text()
