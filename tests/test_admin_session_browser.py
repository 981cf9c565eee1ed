"""The PI signed in at /admin/sign-in uses the Study admin and Analysis tabs without typing the secret
again, and an empty "Create study" names every missing field at once, beside the field (issue 18)."""
from __future__ import annotations

import pytest

from tests.support.browser import launch_chromium
from tests.support.rating_support import AppServer, make_study

pytestmark = [pytest.mark.slow, pytest.mark.browser]
SECRET = "pi-secret-long-enough-18"


def test_a_signed_in_admin_needs_no_secret_in_the_tabs_and_sees_every_missing_field(tmp_path):
    from playwright.sync_api import expect, sync_playwright

    db = tmp_path / "study.db"
    make_study(db, n_raters=2, n_cases=3, name="open-study")  # a study is open: the workbench is admin-only
    srv = AppServer(db, rating_only=False, admin_secret=SECRET).start(timeout=180)
    try:
        with sync_playwright() as p:
            browser = launch_chromium(p)
            try:
                page = browser.new_page(viewport={"width": 1280, "height": 900})
                page.goto(srv.app.url + "/admin/sign-in")
                page.locator("input[name=secret]").fill(SECRET)
                page.click("button[type=submit]")
                page.wait_for_url(srv.app.url + "/")
                page.get_by_role("tab", name="Study admin").click()
                # an empty form: every missing field is named at once, each beside its field
                page.locator("#admin-study-name textarea, #admin-study-name input").first.fill("")
                page.get_by_label("Include the original impression as a blinded system").uncheck()
                page.click("#admin-create")
                for key, words in (("name", "name"), ("raters", "rater"), ("systems", "system")):
                    expect(page.locator(f"#admin-error-{key}")).to_contain_text(words, timeout=60_000)
                expect(page.locator("#admin-created")).to_contain_text("3 fields")
                assert not page.locator("#admin-error-secret").is_visible()  # the session stands for the secret
                assert page.get_by_text("Admin secret missing or wrong").count() == 0
                # fixing one field takes its message away on the next try, the others stay
                page.locator("#admin-study-name textarea, #admin-study-name input").first.fill("Second study")
                page.click("#admin-create")
                expect(page.locator("#admin-created")).to_contain_text("2 fields", timeout=60_000)
                expect(page.locator("#admin-error-name")).to_be_hidden()
                # the studies list needs no secret either
                page.get_by_role("button", name="Studies and raters").click()
                page.get_by_role("button", name="List studies").click()
                expect(page.locator("#admin-studies")).to_contain_text("open-study", timeout=60_000)
                page.get_by_role("tab", name="Analysis").click()
                page.click("#analysis-load")
                expect(page.locator("#analysis-status")).to_contain_text("1 studies", timeout=60_000)
            finally:
                browser.close()
    finally:
        srv.stop()
