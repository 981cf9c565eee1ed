"""HTTP-level access rules of the combined server, in front of both Gradio apps (an ASGI middleware).

1. No oracle. While a study is open (AdminService.has_open_study) everything the workbench at /
   serves (page, /config, every API endpoint, including Generate) needs the admin: a session
   cookie from /admin/sign-in, or `Authorization: Bearer <admin secret>` for API clients. With no
   study open the workbench stays public (as on a Space), except its file routes and uploads,
   which always need the admin (analysis exports pass through them). In public-demo mode no
   study is served at all (app.py), so nothing is gated.
2. The rater app at /rate takes no uploads and serves no files: the rater page needs neither.
3. File routes never fetch URLs: `.../file=http://HOST` is refused before Gradio resolves HOST.
4. Wrong admin secrets count per client (AdminService.require): a locked-out client gets 429.
5. Gradio's deep_link and monitoring routes are refused: the app uses neither, and deep_link writes
   session state (a rater's token included) to disk for anyone.
6. /admin-links/<key>.csv passes: the key is a one-time capability only the admin's page showed.
7. Cross-site browser requests that change state (any method but GET/HEAD/OPTIONS, and websockets)
   are refused before anything counts them: no login CSRF, no lockout of the admin by another web
   page (rating/ui/browser_rules.py). Responses carry the app's Content-Security-Policy, no CORS
   grant, and Secure cookies over HTTPS (or with --secure-cookies).
"""
from __future__ import annotations

import hmac
import html
import re
import secrets
import threading
import time
from typing import Callable
from urllib.parse import parse_qs, urlsplit

from rating.admin import AdminDenied, AdminLockedOut
from rating.ui.browser_rules import CHECKED, SAFE_METHODS, cross_site, response_headers

COOKIE = "radllama_admin"
SESSION_S = 12 * 3600
SIGN_IN_PATH = "/admin/sign-in"
SIGN_OUT_PATH = "/admin/sign-out"
MAX_FORM_BYTES = 4096
LINKS_PREFIX = "/admin-links/"
_UNUSED_ROUTES = re.compile(r"/gradio_api/(deep_link|monitoring)\b|/monitoring\b")
"""Gradio routes this app never uses: deep_link writes a session's state (inputs, a rater's token) to
disk for anyone who asks; monitoring reports server internals."""
_SCHEME = re.compile(r"^(/*[a-zA-Z][a-zA-Z0-9+.\-]*:|//)")


class AdminSessions:
    """Signed-in admin browsers: random session ids in memory, valid for SESSION_S."""

    def __init__(self) -> None:
        self._expiry: dict[str, float] = {}
        self._lock = threading.Lock()

    def start(self) -> str:
        sid = secrets.token_urlsafe(32)
        with self._lock:
            now = time.monotonic()
            self._expiry = {k: v for k, v in self._expiry.items() if v > now}
            self._expiry[sid] = now + SESSION_S
        return sid

    def valid(self, sid: str | None) -> bool:
        if not sid:
            return False
        with self._lock:
            for known, until in self._expiry.items():
                if hmac.compare_digest(known, sid) and until > time.monotonic():
                    return True
        return False

    def end(self, sid: str | None) -> None:
        with self._lock:
            self._expiry.pop(sid or "", None)


def _headers(scope) -> dict[str, str]:
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}


def _cookie(headers: dict[str, str], name: str) -> str | None:
    for part in headers.get("cookie", "").split(";"):
        key, _, value = part.strip().partition("=")
        if key == name:
            return value
    return None


def _client(scope) -> str | None:
    client = scope.get("client")
    return client[0] if client else None


def is_file_route(path: str) -> bool:
    return "/file=" in path or "/gradio_api/file/" in path or path.startswith("/file/")


def fetches_url(path: str) -> bool:
    """True for file routes whose target is a URL (or any scheme), which Gradio would fetch."""
    for marker in ("/file=", "/file/"):
        if marker in path and _SCHEME.match(path.split(marker, 1)[1]):
            return True
    return False


def is_upload(scope, headers: dict[str, str]) -> bool:
    return scope.get("method") == "POST" and (scope["path"].rstrip("/").endswith("/upload")
                                              or headers.get("content-type", "").startswith("multipart/"))


async def _send(send, status: int, body: str, content_type: str = "text/plain; charset=utf-8",
                extra: list[tuple[bytes, bytes]] = ()) -> None:
    payload = body.encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", content_type.encode()), (b"content-length", str(len(payload)).encode()),
                            (b"cache-control", b"no-store"), (b"x-content-type-options", b"nosniff"), *extra]})
    await send({"type": "http.response.body", "body": payload})


SIGN_IN_PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>Radiology-Llama: admin sign-in</title></head>
<body style="font-family: sans-serif; max-width: 32em; margin: 4em auto">
<h1>Admin sign-in</h1><p>{message}</p>
<form method="post" action="{action}"><label>Admin secret <input type="password" name="secret" autofocus></label>
<button type="submit">Sign in</button></form>
<p>Raters use their personal link to the rating page (<code>/rate/</code>) instead.</p></body></html>"""


class HttpGuard:
    """ASGI middleware enforcing the rules in the module docstring."""

    def __init__(self, app, admin, rater_prefix: str = "/rate", public_demo: bool = False,
                 sessions: AdminSessions | None = None, now_open: Callable[[], bool] | None = None,
                 secure_cookies: bool = False, public_url: str | None = None):
        """secure_cookies: mark every cookie Secure (the site is served over HTTPS by a proxy); public_url:
        the address raters use (--public-url), whose origin counts as this site even behind a proxy that
        rewrites the Host header."""
        self.app = app
        self.secure_cookies = secure_cookies
        self.own_hosts = frozenset({urlsplit(public_url).netloc.lower()} if public_url else ())
        self.admin = admin
        self.rater_prefix = rater_prefix.rstrip("/")
        self.public_demo = public_demo
        self.sessions = sessions or AdminSessions()
        self.now_open = now_open or (admin.has_open_study if admin is not None else (lambda: False))

    async def __call__(self, scope, receive, send):
        if scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        path, headers = scope["path"], _headers(scope)
        if scope["type"] == "http":
            send = self._outgoing(send, https=self.secure_cookies or scope.get("scheme") == "https")
            if scope.get("method") not in SAFE_METHODS and cross_site(headers, self.own_hosts):
                return await _send(send, 403, "Cross-site request refused.")
            scope = {**scope, CHECKED: True}
        if scope["type"] == "websocket":
            if cross_site(headers, self.own_hosts):
                return await send({"type": "websocket.close", "code": 1008})
            if self.public_demo or path.startswith(self.rater_prefix + "/") or self._admin(scope, headers) is True:
                return await self.app(scope, receive, send)
            return await send({"type": "websocket.close", "code": 1008})
        if fetches_url(path):
            return await _send(send, 403, "File routes serve local files only.")
        if _UNUSED_ROUTES.search(path):
            return await _send(send, 404, "Not found.")
        if path == self.rater_prefix or path.startswith(self.rater_prefix + "/"):
            if is_upload(scope, headers) or is_file_route(path):
                return await _send(send, 403, "The rating page takes no uploads and serves no files.")
            return await self.app(scope, receive, send)
        if path.startswith(LINKS_PREFIX):
            # Capability URLs: a random one-time key that only the admin's page showed (rating/ui/links_route.py).
            return await self.app(scope, receive, send)
        if path == SIGN_IN_PATH and self.admin is not None and not self.public_demo:
            return await self._sign_in(scope, receive, send, headers)
        if path == SIGN_OUT_PATH:
            if headers.get("sec-fetch-site") == "cross-site":  # an image tag on another page: no logout CSRF
                return await _send(send, 403, "Cross-site request refused.")
            self.sessions.end(_cookie(headers, COOKIE))
            return await _send(send, 303, "", extra=[(b"location", SIGN_IN_PATH.encode()),
                                                     (b"set-cookie", f"{COOKIE}=; Max-Age=0; Path=/".encode())])
        if self.public_demo:
            if is_upload(scope, headers):
                return await _send(send, 403, "This demo takes no uploads.")
            return await self.app(scope, receive, send)
        admin = self._admin(scope, headers)
        if admin is True:
            return await self.app(scope, receive, send)
        if isinstance(admin, AdminLockedOut):
            return await _send(send, 429, str(admin))
        needs_admin = is_file_route(path) or is_upload(scope, headers) or self.now_open()
        if not needs_admin:
            return await self.app(scope, receive, send)
        if scope.get("method") == "GET" and "text/html" in headers.get("accept", ""):
            return await _send(send, 303, "", extra=[(b"location", SIGN_IN_PATH.encode())])
        return await _send(send, 401, "A study is open: the workbench needs the admin (sign in at "
                                      f"{SIGN_IN_PATH}, or send Authorization: Bearer <admin secret>).")

    @staticmethod
    def _outgoing(send, https: bool):
        async def wrapped(message):
            if message["type"] == "http.response.start":
                message = {**message, "headers": response_headers(list(message.get("headers", [])), https)}
            await send(message)
        return wrapped

    def _admin(self, scope, headers: dict[str, str]):
        """True for a signed-in admin; AdminLockedOut or None otherwise."""
        if self.sessions.valid(_cookie(headers, COOKIE)):
            return True
        auth = headers.get("authorization", "")
        if self.admin is None or not auth.lower().startswith("bearer "):
            return None
        try:
            self.admin.require(auth[7:].strip(), client=_client(scope) or "unknown")
        except AdminLockedOut as exc:
            return exc
        except AdminDenied:
            return None
        return True

    async def _sign_in(self, scope, receive, send, headers: dict[str, str]) -> None:
        action = SIGN_IN_PATH
        if scope.get("method") != "POST":
            return await _send(send, 200, SIGN_IN_PAGE.format(message="A study is open: the workbench (Generate, "
                                                              "Study admin, Analysis) is for the admin only.",
                                                              action=action), "text/html; charset=utf-8")
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if len(body) > MAX_FORM_BYTES:
                return await _send(send, 413, "Form too large.")
            if not message.get("more_body"):
                break
        secret = (parse_qs(body.decode("utf-8", "replace")).get("secret") or [""])[0]
        try:
            self.admin.require(secret, client=_client(scope) or "unknown")
        except AdminLockedOut as exc:
            return await _send(send, 429, str(exc))
        except AdminDenied as exc:
            page = SIGN_IN_PAGE.format(message=html.escape(str(exc)), action=action)
            return await _send(send, 401, page, "text/html; charset=utf-8")
        sid = self.sessions.start()
        cookie = f"{COOKIE}={sid}; HttpOnly; SameSite=Strict; Path=/; Max-Age={SESSION_S}"
        return await _send(send, 303, "", extra=[(b"location", b"/"), (b"set-cookie", cookie.encode())])
