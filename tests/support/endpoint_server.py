"""A real OpenAI-compatible server for the endpoint tests and the benchmark: `transformers serve`
pinned to a tiny local model on 127.0.0.1 (free port, offline), and a tiny http.server that
answers every request with HTTP 401 (a server that wants an API key)."""
from __future__ import annotations

import http.server
import os
import shutil
import subprocess
import threading
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from tests.support.app_process import free_port, start_timeout, stop_process
from tests.support.lanes import require_slow


@dataclass
class ServedModel:
    """A running `transformers serve` process and how to reach it."""

    proc: subprocess.Popen
    model: str
    """The model id requests must name (the local folder the server is pinned to)."""
    base_url: str
    """http://127.0.0.1:PORT/v1"""
    log_path: Path

    def spec(self, options: str = "") -> str:
        return f"openai:{self.model}@{self.base_url}" + (f"?{options}" if options else "")

    def requests(self, route: str = "/v1/") -> int:
        """POST requests the server has logged (uvicorn's access log) whose path starts with `route`."""
        lines = self.log_path.read_text(errors="replace").splitlines()
        return sum(1 for line in lines if f'"POST {route}' in line)

    def stop(self) -> None:
        stop_process(self.proc)


def start_transformers_serve(model_dir: Path, log_path: Path, threads: int = 1, timeout: float | None = None,
                             extra_args: list[str] | None = None) -> ServedModel:
    """`transformers serve MODEL_DIR --host 127.0.0.1 --port P --device cpu`, offline; waits for /health
    (tests.support.app_process.start_timeout: at least $RADLLAMA_TEST_START_TIMEOUT)."""
    timeout = start_timeout(timeout)
    require_slow("a transformers serve process")
    exe = shutil.which("transformers")
    if exe is None:
        raise RuntimeError("the `transformers` command is missing: pip install -r requirements-dev.txt "
                           "(transformers[serving])")
    port = free_port()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_HUB_DISABLE_TELEMETRY": "1",
           "OMP_NUM_THREADS": str(threads), "TOKENIZERS_PARALLELISM": "false", "NO_COLOR": "1"}
    with open(log_path, "w") as log:  # the server keeps its own copy of the descriptor
        proc = subprocess.Popen([exe, "serve", str(model_dir), "--host", "127.0.0.1", "--port", str(port),
                                 "--device", "cpu", "--dtype", "float32", "--log-level", "info", *(extra_args or [])],
                                stdout=log, stderr=subprocess.STDOUT, env=env)
    served = ServedModel(proc, str(model_dir), f"http://127.0.0.1:{port}/v1", log_path)
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"transformers serve exited ({proc.returncode}):\n{log_path.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2):
                return served
        except OSError:
            time.sleep(0.5)
    served.stop()
    raise RuntimeError(f"transformers serve did not answer within {timeout:.0f} s:\n{log_path.read_text()[-3000:]}")


class _Refusing(http.server.BaseHTTPRequestHandler):
    status = 401
    message = b"Incorrect API key provided"

    def _refuse(self) -> None:
        self.server.seen.append((self.command, self.path, self.headers.get("Authorization", "")))
        body = b'{"error": {"message": "' + self.message + b'", "type": "invalid_request_error"}}'
        self.send_response(self.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _refuse

    def log_message(self, *args) -> None:  # quiet
        pass


def start_unauthorised_server(status: int = 401, message: bytes = b"Incorrect API key provided"
                              ) -> tuple[http.server.ThreadingHTTPServer, str]:
    """(server, base URL) of a 127.0.0.1 server that answers every request with `status` (401: wants an API
    key; 429/503: overloaded); server.seen lists (method, path, Authorization) per request; call server.shutdown()."""
    handler = type("Refusing", (_Refusing,), {"status": status, "message": message})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.seen = []
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/v1"


class _Recording(http.server.BaseHTTPRequestHandler):
    """Answers /v1/completions with a fixed text and records each request's JSON body."""

    def do_POST(self) -> None:
        import json

        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
        self.server.bodies.append(body)
        reply = json.dumps({"id": "cmpl-1", "object": "text_completion", "created": 0, "model": body.get("model", ""),
                            "choices": [{"text": " Clear lungs.", "index": 0, "finish_reason": "stop",
                                         "logprobs": None}]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, *args) -> None:  # quiet
        pass


def start_recording_server() -> tuple[http.server.ThreadingHTTPServer, str]:
    """(server, base URL) of a 127.0.0.1 completions server; server.bodies lists the request bodies."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Recording)
    server.bodies = []
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/v1"
