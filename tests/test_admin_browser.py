"""Study admin in Debian chromium: create a study from the tab, copy and download the links, a rater opens one.

The admin's browser reaches the server as http://localhost:PORT, while the app is told its public
address (--public-url): every link must start with the public address, never the browser's host.
"""
from __future__ import annotations

import csv
import io
import json
import re
import sqlite3
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from tests.support.app_process import start_app
from tests.support.browser import launch_chromium

pytestmark = [pytest.mark.slow, pytest.mark.browser, pytest.mark.xdist_group("admin_browser")]
SECRET = "admin-secret-7-long-enough"
PUBLIC = "https://ratings.example.org/pilot"


def test_admin_creates_a_study_in_the_browser_and_a_rater_link_opens_the_first_case(tmp_path, openi_csv_path):
    from playwright.sync_api import expect, sync_playwright

    temp = tmp_path / "server-tmp"
    temp.mkdir()
    app = start_app(tmp_path, ["--no-build-model", "--model", str(tmp_path / "no-model"), "--admin-secret", SECRET,
                               "--db", str(tmp_path / "study.db"), "--data", str(openi_csv_path),
                               "--public-url", PUBLIC + "/"], extra_env={"TMPDIR": str(temp)})
    browser_url = app.url.replace("127.0.0.1", "localhost")
    try:
        with sync_playwright() as p:
            browser = launch_chromium(p)
            try:
                context = browser.new_context(accept_downloads=True)
                context.grant_permissions(["clipboard-read", "clipboard-write"], origin=browser_url)
                page = context.new_page()
                page.goto(browser_url + "/")
                page.get_by_role("tab", name="Study admin").click()
                page.locator("#admin-secret input").fill(SECRET)
                page.locator("#admin-study-name textarea, #admin-study-name input").first.fill("Browser pilot")
                page.locator("#admin-n input").fill("4")
                page.locator("#admin-calibration input").fill("0")
                page.locator("#admin-repeats input").fill("0")
                for system in ("constant", "retrieval"):
                    page.locator("#admin-systems").get_by_label(system, exact=True).check()
                page.locator("#admin-raters textarea, #admin-raters input").first.fill("Dr Blue, Dr Green")
                page.locator("#admin-display-names textarea, #admin-display-names input").first.fill(
                    "retrieval=Retrieval (TF-IDF), constant=Constant baseline")
                page.click("#admin-create")
                created = page.locator("#admin-created")
                expect(created).to_contain_text("Created study", timeout=120_000)
                expect(created).to_contain_text("4 cases")
                text = created.inner_text()
                links = re.findall(r"https?://\S+/rate/\?token=[\w-]+", text)
                assert len(links) == 2 and all(link.startswith(PUBLIC + "/rate/?token=") for link in links)
                assert "localhost" not in text and "127.0.0.1" not in text
                # Workload: every case shows 2 systems and the reference, less those with the same text, which
                # are shown as one candidate (counted from the stored queue: what Dr Blue will see).
                assert "Estimated workload per rater" in text
                with sqlite3.connect(tmp_path / "study.db") as con:
                    shown = [len(json.loads(order)) for (order,) in con.execute(
                        "SELECT label_order FROM assignment JOIN rater ON rater.id = assignment.rater_id "
                        "WHERE rater.name = 'Dr Blue'")]
                span = f"{min(shown)}-{max(shown)}" if min(shown) != max(shown) else str(shown[0])
                minutes = max(1, round(sum(shown) * 30 / 60))
                assert f"Dr Blue: 4 cases x {span} candidates = {sum(shown)} ratings, about {minutes} min" in text

                # One copy button per link; clicking it puts exactly that link on the clipboard.
                copy_buttons = created.locator(".copy_code_button")
                expect(copy_buttons).to_have_count(2)
                copy_buttons.nth(1).click()
                assert page.evaluate("navigator.clipboard.readText()").strip() == links[1]

                # The CSV downloads once.
                download_link = created.get_by_role("link", name=re.compile("Download the links as CSV"))
                href = download_link.get_attribute("href")
                with page.expect_download() as info:
                    download_link.click(modifiers=[])
                rows = list(csv.reader(io.StringIO(Path(info.value.path()).read_text(encoding="utf-8"))))
                assert rows[0] == ["rater", "link", "access_code"]
                assert [r[0] for r in rows[1:]] == ["Dr Blue", "Dr Green"] and [r[1] for r in rows[1:]] == links
                assert all(r[1].endswith("token=" + r[2]) for r in rows[1:])
                again = urllib.parse.urljoin(app.url + "/", href)
                with pytest.raises(urllib.error.HTTPError) as gone:
                    urllib.request.urlopen(again, timeout=10)
                assert gone.value.code == 404
                leftovers = [f for f in temp.rglob("*.csv")]
                assert leftovers == []  # the private temp file is gone

                rater = context.new_page()
                rater.goto(links[0].replace(PUBLIC, app.url))
                expect(rater.locator("#rate-progress")).to_contain_text("Case 1 of 4", timeout=30_000)
                page_text = rater.content()
                for hidden in ("constant", "retrieval", "reference", "tf-idf"):
                    assert hidden not in page_text.lower()
            finally:
                browser.close()
        with sqlite3.connect(tmp_path / "study.db") as con:
            shown = con.execute("select name, display_name, position from system order by position").fetchall()
        assert shown == [("constant", "Constant baseline", 0), ("retrieval", "Retrieval (TF-IDF)", 1),
                         ("reference", None, 2)]
        assert app.outbound() == []
    finally:
        app.stop()
