"""A rater in Debian chromium: open the personal link, rate a case, see progress advance."""
from __future__ import annotations


import pytest

from tests.support.browser import launch_chromium
from tests.support.rating_support import SECRET_SYSTEMS, AppServer, make_study

pytestmark = [pytest.mark.slow, pytest.mark.browser]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    db = tmp_path_factory.mktemp("rating_browser") / "study.db"
    created = make_study(db, n_raters=1, n_cases=3, n_calibration=0, n_repeats=0)
    srv = AppServer(db).start()
    yield created, srv
    srv.stop()


def test_rater_logs_in_with_link_rates_a_case_and_progress_advances(server):
    from playwright.sync_api import expect, sync_playwright

    created, srv = server
    token = created.rater_tokens["Dr 00"]
    with sync_playwright() as p:
        browser = launch_chromium(p)
        try:
            page = browser.new_page()
            page.goto(f"{srv.rater_url}?token={token}")
            progress = page.locator("#rate-progress")
            expect(progress).to_contain_text("Case 1 of 3", timeout=30_000)
            expect(page.locator("#cand-A-head")).to_contain_text("Candidate A")
            for label in "ABC":
                for criterion in ("understandability", "coherence", "relevance", "conciseness", "clinical_utility"):
                    page.locator(f"#cell-{label}-{criterion} button[data-v='4']").click()
            page.locator("#cand-B-error").check()
            page.locator("#rate-submit").click()
            expect(progress).to_contain_text("Case 2 of 3", timeout=30_000)
            expect(page.locator("#rate-status")).to_contain_text("Saved your ratings of case 1")
            page.locator("#rate-prev").click()
            expect(progress).to_contain_text("Case 1 of 3 (1 rated)", timeout=30_000)
            html = page.content()
            assert not any(name in html for name in SECRET_SYSTEMS)
        finally:
            browser.close()
