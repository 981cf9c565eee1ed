"""Second red team: a remote image in the study instructions was fetched by every rater's browser.

The instructions are Markdown (raw HTML is escaped, but `![x](http://host/x.png)` is an image): each
rater who opened them told that host their address and when. Now every page carries a
Content-Security-Policy that allows only the app's own origin; this test checks in Debian chromium
that the image host hears nothing, that the rater page (sign-in by link, rating, submit) and the
workbench still work under the policy, and that nothing but the remote image is blocked.
"""
from __future__ import annotations

import http.server
import threading
from typing import ClassVar

import pytest

from db.models import CRITERIA
from tests.support.browser import launch_chromium
from tests.support.rating_support import AppServer, make_wide_study
from tests.security.support import ADMIN_SECRET

pytestmark = [pytest.mark.slow, pytest.mark.browser, pytest.mark.xdist_group("security_csp_browser")]


class _Pixel(http.server.BaseHTTPRequestHandler):
    hits: ClassVar[list[str]] = []

    def do_GET(self):
        _Pixel.hits.append(self.path)
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def pixel_server():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Pixel)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    _Pixel.hits.clear()
    yield server.server_address[1]
    server.shutdown()


def test_remote_images_are_not_fetched_and_the_pages_still_work(tmp_path, pixel_server):
    from playwright.sync_api import sync_playwright

    instructions = f"Read the findings first.\n\n![tracker](http://127.0.0.1:{pixel_server}/tracker.png)"
    db = tmp_path / "study.db"
    created = make_wide_study(db, n_systems=2, raters=["Dr CSP"], n_cases=2, instructions=instructions)
    srv = AppServer(db, rating_only=False, admin_secret=ADMIN_SECRET).start()
    try:
        with sync_playwright() as p:
            browser = launch_chromium(p)
            page = browser.new_page()
            violations: list[str] = []
            page.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None)
            page.goto(f"{srv.rater_url}?token={created.rater_tokens['Dr CSP']}")
            page.wait_for_selector("#rate-root[data-state=case][data-position='0']", timeout=60_000)
            page.locator("#rate-instructions summary").click()
            page.wait_for_selector("#rate-instructions-body img", state="attached", timeout=30_000)
            for label in ("A", "B"):
                for criterion in CRITERIA:
                    page.locator(f"#cell-{label}-{criterion} button").nth(3).click()
            page.locator("#rate-submit").click()
            page.wait_for_selector("#rate-root[data-state=case][data-position='1']", timeout=60_000)
            page.wait_for_timeout(1000)  # time for an image request to go out, if one would
            assert _Pixel.hits == []
            admin = browser.new_page()
            admin.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None)
            admin.goto(srv.app.url + "/admin/sign-in")
            admin.fill("input[name=secret]", ADMIN_SECRET)
            admin.click("button[type=submit]")
            admin.wait_for_selector("#findings textarea", timeout=90_000)
            assert [v for v in violations if "tracker.png" not in v and "img-src" not in v] == []
            browser.close()
    finally:
        srv.stop()
