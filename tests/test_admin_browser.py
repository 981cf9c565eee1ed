"""Study admin in Debian chromium: create a study from the tab, then a rater opens the emailed link."""
from __future__ import annotations

import re

import pytest

from tests.app_process import start_app
from tests.browser import launch_chromium

pytestmark = [pytest.mark.slow, pytest.mark.browser, pytest.mark.xdist_group("admin_browser")]
SECRET = "admin-secret-7-long-enough"


def test_admin_creates_a_study_in_the_browser_and_a_rater_link_opens_the_first_case(tmp_path, openi_csv_path):
    from playwright.sync_api import expect, sync_playwright

    app = start_app(tmp_path, ["--no-build-model", "--model", str(tmp_path / "no-model"), "--admin-secret", SECRET,
                               "--db", str(tmp_path / "study.db"), "--data", str(openi_csv_path)])
    try:
        with sync_playwright() as p:
            browser = launch_chromium(p)
            try:
                page = browser.new_page()
                page.goto(app.url + "/")
                page.get_by_role("tab", name="Study admin").click()
                page.locator("#admin-secret input").fill(SECRET)
                page.locator("#admin-study-name textarea, #admin-study-name input").first.fill("Browser pilot")
                page.locator("#admin-n input").fill("4")
                page.locator("#admin-calibration input").fill("0")
                page.locator("#admin-repeats input").fill("0")
                for system in ("constant", "retrieval"):
                    page.locator("#admin-systems").get_by_label(system, exact=True).check()
                page.locator("#admin-raters textarea, #admin-raters input").first.fill("Dr Blue, Dr Green")
                page.click("#admin-create")
                created = page.locator("#admin-created")
                expect(created).to_contain_text("Created study", timeout=120_000)
                expect(created).to_contain_text("4 cases")
                links = re.findall(r"http://\S+/rate/\?token=[\w-]+", created.inner_text())
                assert len(links) == 2

                rater = browser.new_page()
                rater.goto(links[0])
                expect(rater.locator("#rate-progress")).to_contain_text("Case 1 of 4", timeout=30_000)
                page_text = rater.content()
                for hidden in ("constant", "retrieval", "reference"):
                    assert hidden not in page_text.lower()
            finally:
                browser.close()
        assert app.outbound() == []
    finally:
        app.stop()
