"""Attacks on what the rater app serves besides the rating endpoints: uploads and file routes.

Before the fix anyone could upload files of any size to /rate/gradio_api/upload (filling the
disk), and /rate/gradio_api/file=http://HOST made the server resolve and fetch a host the caller
chose (recorded by the network guard that wraps the app).
"""
from __future__ import annotations

import http.client as http_client
import select
import urllib.parse
import uuid

import pytest

from tests.security.support import http, serve_open_study

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("security_surface")]


def _multipart(name: str, payload: bytes) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"files\"; filename=\"{name}\"\r\n"
            f"Content-Type: application/octet-stream\r\n\r\n").encode() + payload + f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


def _upload_status(url: str, size: int) -> int:
    """Status of an upload of `size` bytes. The headers go first and the body only if the server has
    not answered yet: a server that refuses without reading the body answers at once (and would
    otherwise break the pipe while a large body is still being sent)."""
    parts = urllib.parse.urlsplit(url)
    body, ctype = _multipart("big.bin", b"\0" * size)
    conn = http_client.HTTPConnection(parts.hostname, parts.port, timeout=60)
    try:
        conn.putrequest("POST", parts.path)
        conn.putheader("Content-Type", ctype)
        conn.putheader("Content-Length", str(len(body)))
        conn.endheaders()
        ready, _, _ = select.select([conn.sock], [], [], 3.0)
        if not ready:  # no early answer: the server wants the body
            conn.sock.sendall(body)
        return conn.getresponse().status
    finally:
        conn.close()


def test_rater_pages_take_no_uploads(tmp_path):
    app, _ = serve_open_study(tmp_path, ["--rating-only"], netguard=False)
    try:
        for size in (2 * 1024 * 1024, 10):
            status = _upload_status(app.url + "/rate/gradio_api/upload", size)
            assert status in (403, 404, 405, 413), f"upload of {size} bytes answered {status}"
    finally:
        app.stop()


def test_file_routes_never_fetch_urls(tmp_path):
    app, _ = serve_open_study(tmp_path)  # default mode, under the network guard
    try:
        for prefix in ("/rate/gradio_api/file=", "/rate/gradio_api/file/", "/gradio_api/file="):
            for target in ("http://attacker-chosen-host.example/x.png", "https://10.1.2.3/x"):
                status, _ = http(app.url + prefix + target)
                assert status in (401, 403, 404), f"{prefix}{target} answered {status}"
        assert app.outbound() == [], f"the server reached out: {app.outbound()}"
    finally:
        app.stop()
