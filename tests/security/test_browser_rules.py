"""The HTTP guard's browser rules on a bare ASGI app (no server): --secure-cookies marks every cookie
Secure over plain HTTP too (a proxy not named in RADLLAMA_TRUSTED_PROXIES terminates HTTPS), and
behind a proxy that rewrites Host the public URL's origin still counts as this site."""
from __future__ import annotations

import asyncio

from rating.ui.http_guard import AdminSessions, HttpGuard


async def _cookie_app(scope, receive, send):
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"set-cookie", b"radllama_rater=abc; HttpOnly; Path=/rate"),
                            (b"access-control-allow-origin", b"null")]})
    await send({"type": "http.response.body", "body": b"ok"})


def _call(guard, method="GET", headers=(), path="/rate/sign-in") -> tuple[int, dict]:
    sent = []

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "method": method, "path": path, "scheme": "http", "client": ("10.0.0.1", 1),
             "headers": [(k.encode(), v.encode()) for k, v in headers], "query_string": b""}
    asyncio.run(guard(scope, receive, send))
    start = sent[0]
    return start["status"], {k.decode(): v.decode() for k, v in start["headers"]}


def test_secure_cookies_setting_marks_cookies_secure_over_plain_http():
    _, plain = _call(HttpGuard(_cookie_app, admin=None))
    assert "secure" not in plain["set-cookie"].lower()
    _, secure = _call(HttpGuard(_cookie_app, admin=None, secure_cookies=True))
    assert secure["set-cookie"].endswith("; Secure") and "access-control-allow-origin" not in secure


def test_the_public_urls_origin_counts_as_this_site_behind_a_host_rewriting_proxy():
    behind = [("host", "127.0.0.1:7860"), ("origin", "https://ratings.example.org")]
    assert _call(HttpGuard(_cookie_app, admin=None), "POST", behind)[0] == 403
    guard = HttpGuard(_cookie_app, admin=None, public_url="https://ratings.example.org")
    assert _call(guard, "POST", behind)[0] == 200
    assert _call(guard, "POST", [("host", "127.0.0.1:7860"), ("origin", "https://evil.example")])[0] == 403


def test_no_admin_sign_out_by_a_cross_site_image_tag():
    sessions = AdminSessions()
    sid = sessions.start()
    guard = HttpGuard(_cookie_app, admin=None, sessions=sessions)
    cookie = ("cookie", f"radllama_admin={sid}")
    assert _call(guard, "GET", [cookie, ("sec-fetch-site", "cross-site")], path="/admin/sign-out")[0] == 403
    assert sessions.valid(sid)
    assert _call(guard, "GET", [cookie, ("sec-fetch-site", "same-origin")], path="/admin/sign-out")[0] == 303
    assert not sessions.valid(sid)
