"""A plain ASGI middleware capping request bodies before any handler (or Gradio's session state) sees them.

Gradio keeps each session's inputs; without a cap, 900 requests of 1 MB grew the server by 1.2 GB.
Requests whose body exceeds `max_bytes` are answered 413 with a short JSON message, and their body is
neither read into memory beyond the cap, nor logged, nor echoed. File uploads (paths containing
"/upload") have their own, larger cap. Malformed JSON bodies that a route rejects (422) are answered
with a short message instead of the framework's echo of the whole input.

No third-party imports: this wraps any ASGI app (FastAPI, Starlette, Gradio).
"""
from __future__ import annotations

import json
import logging
import os

log = logging.getLogger(__name__)

MAX_REQUEST_ENV = "RADLLAMA_MAX_REQUEST_KB"
DEFAULT_MAX_REQUEST_BYTES = 64 * 1024
"""The Generate input is capped at 16,000 characters (generation.base.MAX_FINDINGS_CHARS): as UTF-8 JSON
at most ~50 KB (3 bytes a character). A rater's submission (8 candidates x 2,000-character comments)
stays under ~55 KB. Gradio keeps what it accepted (each API call is a session), so this cap also
bounds how much one request can add to the server's memory."""
MAX_UPLOAD_ENV = "RADLLAMA_MAX_UPLOAD_MB"
DEFAULT_MAX_UPLOAD_BYTES = 200 * 2**20


def _env_bytes(name: str, default: int, unit: int) -> int:
    try:
        return max(1, int(float(os.environ[name]) * unit)) if os.environ.get(name) else default
    except ValueError:
        return default


class RequestLimits:
    """ASGI middleware: `RequestLimits(app)`; limits from RADLLAMA_MAX_REQUEST_KB / RADLLAMA_MAX_UPLOAD_MB."""

    def __init__(self, app, max_bytes: int | None = None, max_upload_bytes: int | None = None):
        self.app = app
        self.max_bytes = max_bytes or _env_bytes(MAX_REQUEST_ENV, DEFAULT_MAX_REQUEST_BYTES, 1024)
        self.max_upload_bytes = max_upload_bytes or _env_bytes(MAX_UPLOAD_ENV, DEFAULT_MAX_UPLOAD_BYTES, 2**20)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope.get("method") in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        limit = self.max_upload_bytes if "/upload" in scope.get("path", "") else self.max_bytes
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await self._too_large(scope, send, limit, declared)
            return
        if limit == self.max_upload_bytes:
            await self.app(scope, _counting(receive, limit), send)  # streamed: uploads may be big
            return
        body = bytearray()
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            more = message.get("more_body", False)
            if len(body) > limit:
                await self._too_large(scope, send, limit, None)
                return
        await self.app(scope, _replay(bytes(body), receive), _short_422(send))

    async def _too_large(self, scope, send, limit: int, declared: int | None) -> None:
        log.warning("refused a request body over %d bytes on %s (%s bytes declared)", limit, scope.get("path", "?"),
                    declared if declared is not None else "unknown")
        await _send_json(send, 413, {"error": f"Request too large: the limit is {limit // 1024} KiB. "
                                              "Findings are limited to 16,000 characters."})


def _content_length(scope) -> int | None:
    for key, value in scope.get("headers", ()):
        if key == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def _replay(body: bytes, receive):
    sent = False

    async def replay():
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


def _counting(receive, limit: int):
    seen = 0

    async def counted():
        nonlocal seen
        message = await receive()
        seen += len(message.get("body", b""))
        if seen > limit:
            raise ValueError(f"upload over {limit} bytes")
        return message

    return counted


def _short_422(send):
    """Replace a 422 response body (which may echo the whole malformed input) with a short message."""
    state = {"replace": False}

    async def wrapped(message):
        if message["type"] == "http.response.start" and message.get("status") == 422:
            state["replace"] = True
            body = json.dumps({"error": "Malformed request: check the inputs' number and types."}).encode()
            headers = [(k, v) for k, v in message.get("headers", []) if k.lower() not in (b"content-length",
                                                                                          b"content-type")]
            headers += [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
            await send({**message, "headers": headers})
            await send({"type": "http.response.body", "body": body, "more_body": False})
            return
        if state["replace"]:
            return  # the original (echoing) body is dropped
        await send(message)

    return wrapped


async def _send_json(send, status: int, payload: dict) -> None:
    body = json.dumps(payload).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})


class TruncatingStream:
    """A text stream wrapper that shortens very long writes (Gradio prints a refused call's whole input
    in its traceback): the log keeps the first `max_chars` characters and says how many were dropped."""

    def __init__(self, stream, max_chars: int = 2000):
        self._stream = stream
        self._max = max_chars

    def write(self, text: str) -> int:
        if len(text) > self._max:
            text = f"{text[:self._max]}... [{len(text) - self._max} characters not logged]\n"
        return self._stream.write(text)

    def __getattr__(self, name):
        return getattr(self._stream, name)
