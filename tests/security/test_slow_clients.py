"""Second red team: 400 connections that never finish their headers stayed open (slowloris).

uvicorn has an idle timeout only after a response (keep-alive); a connection that sends part of
its request line, or nothing, was held open for ever, each one a file descriptor and a buffer.
Now a request's headers must arrive within RADLLAMA_HEADER_TIMEOUT_S (set short here) or the
connection is closed, while a normal request is answered as before.
"""
from __future__ import annotations

import os
import socket
import time
from urllib.parse import urlsplit

import pytest

from tests.support.app_process import start_app
from tests.support.rating_support import make_study
from tests.security.support import ADMIN_SECRET, http

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("security_slow_clients")]

N_CONNECTIONS = 400
HEADER_TIMEOUT_S = 3
GRACE_S = float(os.environ.get("RADLLAMA_TEST_SLOW_CLIENT_GRACE_S", "20"))
"""How long after the timeout the server may take to close them all (a loaded 2-core machine)."""


def _closed(sock: socket.socket) -> bool:
    try:
        return sock.recv(1024) == b"" or True  # any answer (408/400) and then EOF counts as closed
    except (ConnectionResetError, BrokenPipeError):
        return True
    except (TimeoutError, BlockingIOError):
        return False


def test_half_open_connections_are_closed(tmp_path):
    db = tmp_path / "s.db"
    make_study(db, n_raters=1, n_cases=2, n_calibration=0, n_repeats=0)
    app = start_app(tmp_path, ["--db", str(db), "--no-build-model", "--rating-only"], ready_path="/rate/config",
                    extra_env={"RADLLAMA_ADMIN_SECRET": ADMIN_SECRET,
                               "RADLLAMA_HEADER_TIMEOUT_S": str(HEADER_TIMEOUT_S)}, netguard=False)
    url = urlsplit(app.url)
    socks = []
    try:
        for i in range(N_CONNECTIONS):
            s = socket.create_connection((url.hostname, url.port), timeout=30)
            if i % 2:
                s.sendall(b"GET /rate/config HTTP/1.1\r\nHost: x\r\nX-Slow: ")  # headers never finished
            socks.append(s)
        started = time.monotonic()
        deadline = started + HEADER_TIMEOUT_S + GRACE_S
        open_ones = list(socks)
        while open_ones and time.monotonic() < deadline:
            time.sleep(1)
            for s in open_ones:
                s.setblocking(False)
            open_ones = [s for s in open_ones if not _closed(s)]
        print(f"{N_CONNECTIONS - len(open_ones)} of {N_CONNECTIONS} half-open connections closed "
              f"{time.monotonic() - started:.1f} s after the last was opened (header timeout {HEADER_TIMEOUT_S} s)")
        assert open_ones == [], f"{len(open_ones)} of {N_CONNECTIONS} half-open connections still open"
        assert http(app.url + "/rate/config")[0] == 200  # the server still answers
    finally:
        for s in socks:
            s.close()
        app.stop()
