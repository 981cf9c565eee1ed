"""An analyst in Debian chromium: the Analysis tab on a simulated study shows Figure 4 and offers downloads."""
from __future__ import annotations

import json
import re
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from rating.simulate import DISPLAY_NAMES
from tests.support.app_process import ROOT, start_app
from tests.support.browser import launch_chromium

pytestmark = [pytest.mark.slow, pytest.mark.browser, pytest.mark.xdist_group("analysis_browser")]
SECRET = "analyst-secret-42"


def test_analysis_tab_in_browser_refuses_a_wrong_secret_then_shows_figure_and_downloads(tmp_path):
    from playwright.sync_api import expect, sync_playwright

    db = tmp_path / "sim.db"
    summary = json.loads(subprocess.run([sys.executable, "-m", "rating.simulate", "--db", str(db), "--n-cases", "6",
                                         "--n-raters", "2"], cwd=ROOT, capture_output=True, text=True, check=True,
                                        timeout=120).stdout)
    app = start_app(tmp_path, ["--no-build-model", "--only", "analysis", "--admin-secret", SECRET, "--db", str(db)])
    try:
        with sync_playwright() as p:
            browser = launch_chromium(p)
            try:
                page = browser.new_page()
                # exports are served to the admin only: sign in first (a session cookie)
                page.goto(app.url + "/admin/sign-in")
                page.locator("input[name=secret]").fill(SECRET)
                page.click("button[type=submit]")
                page.wait_for_url(app.url + "/")
                page.locator("#analysis-secret input").fill("wrong")
                page.click("#analysis-load")
                expect(page.locator("#analysis-status")).to_contain_text("secret", timeout=30_000)
                expect(page.locator("#analysis-download-csv")).to_be_hidden()

                page.locator("#analysis-secret input").fill(SECRET)
                page.click("#analysis-load")
                expect(page.locator("#analysis-study input")).to_have_value(re.compile(re.escape(summary["study_name"])),
                                                                     timeout=30_000)
                page.click("#analysis-run")
                expect(page.locator("#analysis-figure img")).to_be_visible(timeout=90_000)
                for key in ("csv", "xlsx", "parquet", "png", "svg", "pdf", "png_single", "svg_single", "pdf_single",
                            "report"):
                    expect(page.locator(f"#analysis-download-{key}")).to_be_visible()
                with page.expect_download() as info:
                    page.click("#analysis-download-pdf_single")
                # the downloaded file says which study it is from
                assert info.value.suggested_filename == f"study{summary['study_id']}_figure4_single_column.pdf"
                assert Path(info.value.path()).read_bytes()[:5] == b"%PDF-"
                # report.md is shown in the tab: the methods-and-results paragraph with this study's numbers
                page.get_by_text("Report: methods and results").click()
                report = page.locator("#analysis-report")
                expect(report).to_contain_text("Methods.", timeout=30_000)
                expect(report).to_contain_text(f"{summary['n_ratings']} ratings")
                figure4 = page.locator("#analysis-table-figure4").inner_text()
                for system in summary["systems"]:
                    assert DISPLAY_NAMES[system] in figure4
                # the export files are served to the signed-in admin only, not to anyone with the URL
                src = urllib.parse.urljoin(app.url + "/", page.locator("#analysis-figure img").get_attribute("src"))
                assert page.request.get(src).status == 200
                with pytest.raises(urllib.error.HTTPError) as refused:
                    urllib.request.urlopen(src, timeout=30)
                assert refused.value.code == 401
            finally:
                browser.close()
        assert app.outbound() == []
    finally:
        app.stop()
