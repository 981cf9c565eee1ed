"""Request bodies are capped before Gradio keeps them; malformed bodies are neither echoed nor logged."""
from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest

from tests.support.app_process import start_app

pytestmark = pytest.mark.slow  # one app process for the module


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("limits")
    server = start_app(tmp, ["--only", "generate", "--no-build-model", "--db", str(tmp / "x.db")],
                       extra_env={"OMP_NUM_THREADS": "1"})
    yield server
    server.stop()


def _post(url: str, body: bytes) -> tuple[int, bytes]:
    req = urllib.request.Request(url, data=body, headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def _post_refused_early(url: str, body: bytes) -> tuple[int, bytes]:
    """POST whose server may answer (and close) before the body is sent: the answer is read anyway."""
    import http.client
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        conn.putrequest("POST", parts.path)
        conn.putheader("Content-Type", "application/json")
        conn.putheader("Content-Length", str(len(body)))
        conn.endheaders()
        try:
            for i in range(0, len(body), 65_536):
                conn.send(body[i:i + 65_536])
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server refused the body part-way; its answer is already on the wire
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def test_oversized_body_is_refused_with_413(app):
    status, body = _post_refused_early(app.url + "/gradio_api/call/generate",
                                       json.dumps({"data": ["x" * 2_000_000]}).encode())
    assert status == 413
    assert json.loads(body)["error"].startswith("Request too large: the limit is 64 KiB")


@pytest.mark.parametrize("body", [b'{"data": "' + b"q" * 50_000 + b'"',  # not even JSON
                                  json.dumps({"dataa": ["q" * 50_000]}).encode()],  # wrong shape
                         ids=["not-json", "wrong-shape"])
def test_malformed_body_is_neither_echoed_nor_logged(app, body):
    status, answer = _post(app.url + "/gradio_api/call/generate", body)
    assert status == 422
    assert len(answer) < 200 and b"qqqq" not in answer
    assert "q" * 1000 not in app.log()


def test_findings_box_has_a_length_limit_in_the_browser(app):
    with urllib.request.urlopen(app.url + "/config", timeout=30) as resp:
        config = json.loads(resp.read())
    boxes = [c["props"] for c in config["components"] if c["props"].get("elem_id") == "findings"]
    assert boxes and boxes[0]["max_length"] == 16_000


def test_a_normal_request_still_works(app):
    from gradio_client import Client

    client = Client(app.url + "/", verbose=False)
    impression, _details = client.predict("Heart size normal. Lungs are clear.", "constant", api_name="/generate")
    assert impression.strip()


def test_a_call_with_too_few_inputs_is_not_logged_in_full(app):
    """Gradio refuses it in the queue and prints the received inputs in its traceback: the log keeps a prefix."""
    import time

    status, _ = _post(app.url + "/gradio_api/call/generate", json.dumps({"data": ["r" * 50_000]}).encode())
    assert status in (200, 422)
    deadline = time.time() + 20
    while "characters not logged" not in app.log() and time.time() < deadline:
        time.sleep(0.5)
    assert "characters not logged" in app.log()
    assert "r" * 3000 not in app.log()
