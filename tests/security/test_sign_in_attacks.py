"""Second red team, sign-in over HTTP (the real app behind a trusted proxy on 127.0.0.1).

1. One address locked out every rater: the HTTP sign-in routes ran outside a Gradio event, so every
   wrong code counted under one shared key ("unknown"); ten wrong links from one computer locked all
   raters of the study out, and they were told their link "is not valid".
2. A plain GET of /rate/?token= signed the browser in (login CSRF by link) and counted wrong codes
   (any web page could lock raters out with image tags).
3. The sign-in routes and the rater page's server functions took cross-site text/plain posts.
4. Five cross-site posts of wrong secrets to /admin/sign-in locked the admin out.
5. CORS reflected any origin (including `null`) with credentials when the app was reached by host name.
6. Cookies lacked Secure behind an HTTPS proxy.
7. No Content-Security-Policy: a remote image in the instructions was fetched by every rater's browser.
Every request names its client with X-Forwarded-For (the proxy is trusted), so the tests share one app.
"""
from __future__ import annotations

import http.client
import json
import uuid
from urllib.parse import urlsplit

import pytest

from tests.support.app_process import start_app
from tests.support.rating_support import make_study
from tests.security.support import ADMIN_SECRET

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("security_sign_in")]

EVIL = "http://evil.example"
FORM = "application/x-www-form-urlencoded"


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("sign-in")
    db = tmp / "study.db"
    created = make_study(db, n_raters=2, n_cases=2, n_calibration=0, n_repeats=0)
    server = start_app(tmp, ["--no-build-model", "--model", str(tmp / "no-model"), "--db", str(db)],
                       ready_path="/rate/config", netguard=False,
                       extra_env={"RADLLAMA_ADMIN_SECRET": ADMIN_SECRET, "RADLLAMA_TRUSTED_PROXIES": "127.0.0.1"})
    yield server, created.rater_tokens
    server.stop()


def request(app, method: str, path: str, body: bytes | str = b"", headers: dict | None = None):
    """(status, headers as a lower-case dict of lists, body): no redirect is followed."""
    url = urlsplit(app.url)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=60)
    try:
        conn.request(method, path, body=body.encode() if isinstance(body, str) else body, headers=headers or {})
        resp = conn.getresponse()
        found: dict[str, list[str]] = {}
        for k, v in resp.getheaders():
            found.setdefault(k.lower(), []).append(v)
        return resp.status, found, resp.read()
    finally:
        conn.close()


def sign_in(app, code: str, address: str, extra: dict | None = None):
    return request(app, "POST", "/rate/sign-in", f"code={code}",
                   {"Content-Type": FORM, "X-Forwarded-For": address, **(extra or {})})


def location(headers) -> str:
    return (headers.get("location") or [""])[0]


def rater_cookie(headers) -> str:
    cookies = [c for c in headers.get("set-cookie", []) if c.startswith("radllama_rater=") and "Max-Age=0" not in c]
    return cookies[0].split(";")[0] if cookies else ""


def test_wrong_codes_from_one_address_lock_out_only_that_address(app):
    server, tokens = app
    for i in range(11):
        sign_in(server, f"wrong-code-{i:02d}-" + "x" * 30, "10.1.0.1")
    status, headers, _ = sign_in(server, tokens["Dr 00"], "10.1.0.2")  # another rater, another address
    assert status == 303 and location(headers) == "/rate/" and rater_cookie(headers)
    status, headers, _ = sign_in(server, tokens["Dr 01"], "10.1.0.1")  # the guesser's address is refused
    assert "signin=too_many" in location(headers) and not rater_cookie(headers)
    _, _, page = request(server, "GET", "/rate/config", headers={"X-Forwarded-For": "10.1.0.1"})
    assert "too many attempts from this address" in page.decode().lower()


def test_a_link_opened_by_get_does_not_sign_in_and_counts_nothing(app):
    server, tokens = app
    for i in range(12):  # what image tags on any web page can fire
        request(server, "GET", f"/rate/?token=img-tag-{i:02d}-" + "y" * 30,
                headers={"X-Forwarded-For": "10.2.0.1", "Sec-Fetch-Site": "cross-site"})
    status, headers, body = request(server, "GET", f"/rate/?token={tokens['Dr 00']}",
                                    headers={"X-Forwarded-For": "10.2.0.1", "Sec-Fetch-Site": "cross-site"})
    assert status == 200 and not rater_cookie(headers)  # a page that signs in on the rater's click
    assert b'method="post"' in body and b"/rate/sign-in" in body
    status, headers, _ = sign_in(server, tokens["Dr 00"], "10.2.0.1")  # the image tags locked nobody out
    assert status == 303 and rater_cookie(headers)


def test_cross_site_posts_are_refused_on_every_state_changing_route(app):
    server, tokens = app
    cross = {"Origin": EVIL, "Content-Type": "text/plain"}
    status, headers, _ = sign_in(server, tokens["Dr 01"], "10.3.0.1", cross)
    assert status == 403 and not rater_cookie(headers)
    status, headers, _ = sign_in(server, tokens["Dr 01"], "10.3.0.1", {"Origin": "null"})
    assert status == 403 and not rater_cookie(headers)
    _, headers, _ = sign_in(server, tokens["Dr 01"], "10.3.0.2")
    cookie = rater_cookie(headers)
    join = json.dumps({"data": [{"position": 0}], "fn_index": 0, "session_hash": uuid.uuid4().hex})
    status, _, _ = request(server, "POST", "/rate/gradio_api/queue/join", join,
                           {**cross, "Cookie": cookie, "X-Forwarded-For": "10.3.0.2"})
    assert status == 403
    status, _, _ = request(server, "POST", "/rate/sign-out", "", {**cross, "Cookie": cookie})
    assert status == 403
    same = {"Origin": server.url, "Cookie": cookie, "Content-Type": "application/json", "X-Forwarded-For": "10.3.0.2"}
    assert request(server, "POST", "/rate/gradio_api/queue/join", join, same)[0] == 200  # the page itself


def test_cross_site_admin_posts_do_not_lock_the_admin_out(app):
    server, _ = app
    for i in range(6):
        status, _, _ = request(server, "POST", "/admin/sign-in", f"secret=wrong-{i:02d}-abcdefghijklmnop",
                               {"Origin": EVIL, "Content-Type": FORM, "X-Forwarded-For": "10.4.0.1"})
        assert status == 403
    status, headers, _ = request(server, "POST", "/admin/sign-in", f"secret={ADMIN_SECRET}",
                                 {"Origin": server.url, "Content-Type": FORM, "X-Forwarded-For": "10.4.0.1"})
    assert status == 303 and any(c.startswith("radllama_admin=") for c in headers.get("set-cookie", []))


@pytest.mark.parametrize("origin", ["null", EVIL])
def test_cors_reflects_no_foreign_origin(app, origin):
    server, _ = app
    for method, extra in (("GET", {}), ("OPTIONS", {"Access-Control-Request-Method": "POST"})):
        _, headers, _ = request(server, method, "/rate/config",
                                headers={"Host": "ratings.example.org", "Origin": origin, **extra})
        assert headers.get("access-control-allow-origin") in (None, []), (method, headers)


def test_cookies_are_secure_behind_an_https_proxy(app):
    server, tokens = app
    https = {"X-Forwarded-Proto": "https", "Origin": "https://ratings.example.org", "Host": "ratings.example.org"}
    _, headers, _ = sign_in(server, tokens["Dr 00"], "10.5.0.1", https)
    assert rater_cookie(headers) and "secure" in headers["set-cookie"][-1].lower()
    _, headers, _ = request(server, "POST", "/admin/sign-in", f"secret={ADMIN_SECRET}",
                            {"Content-Type": FORM, "X-Forwarded-For": "10.5.0.2", **https})
    admin = [c for c in headers.get("set-cookie", []) if c.startswith("radllama_admin=")]
    assert admin and "secure" in admin[0].lower()


@pytest.mark.parametrize("path", ["/rate/", "/admin/sign-in"])
def test_pages_carry_a_content_security_policy_of_the_own_origin(app, path):
    server, _ = app
    _, headers, _ = request(server, "GET", path, headers={"X-Forwarded-For": "10.6.0.1"})
    policy = (headers.get("content-security-policy") or [""])[0]
    assert "default-src 'self'" in policy and "img-src 'self'" in policy and "http:" not in policy
    assert "frame-ancestors 'self'" in policy
