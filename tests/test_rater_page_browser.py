"""The rater workstation in Debian chromium against the real app: never lose work, the score grid,
keyboard-only rating, drafts, phone layout, bad links, finishing with skips, the cookie session."""
from __future__ import annotations

import time

import pytest
from sqlalchemy import select

from core.display_text import display_text
from db.engine import make_session_factory, prepare_database, unit_of_work
from db.models import CRITERIA, Assignment, Rater, Rating
from tests.support.rating_support import SECRET_SYSTEMS, AppServer, make_study, make_wide_study

pytestmark = [pytest.mark.slow, pytest.mark.browser]
N_CASES = 3
HTML_TEXT = '<img src="http://127.0.0.1:9/x.png" onerror="document.title=\'pwned\'"><b>bold</b> **md**'
INSTRUCTIONS = "Read the **findings** first.\n\n<script>alert(1)</script>"


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    db = tmp_path_factory.mktemp("rater_page") / "study.db"
    created = make_study(db, n_raters=9, n_cases=N_CASES, n_calibration=0, n_repeats=0)
    wide = make_wide_study(db, n_systems=12, raters=["Wide 00"], n_cases=1, name="twelve", instructions=INSTRUCTIONS,
                           texts={5: HTML_TEXT})
    long_impression = ("Moderate cardiomegaly with mild pulmonary vascular congestion. Small bilateral pleural "
                       "effusions with adjacent atelectasis. No pneumothorax. Degenerative changes of the spine.")
    four = make_wide_study(db, n_systems=4, raters=["Four 00"], n_cases=1, name="four",
                           texts={i: f"{long_impression} Variant {'ABCD'[i] * (4 - i)}." for i in range(4)})
    srv = AppServer(db).start()
    yield {**created.rater_tokens, **wide.rater_tokens, **four.rater_tokens}, srv, db
    srv.stop()


def _open(browser, srv, token: str | None, **context):
    ctx = browser.new_context(**context)
    page = ctx.new_page()
    page.goto(srv.rater_url + (f"?token={token}" if token else ""))
    return ctx, page


def _wait_case(page, position: int):
    page.wait_for_selector(f"#rate-root[data-state=case][data-position='{position}']", timeout=30_000)


def _checked(page, label: str, criterion: str) -> int | None:
    value = page.locator(f"#cell-{label}-{criterion} button[aria-checked=true]")
    return int(value.text_content()) if value.count() else None


def _ratings(db, rater: str) -> list:
    factory = make_session_factory(prepare_database(str(db)))
    with unit_of_work(factory) as s:
        rows = s.execute(select(Assignment.position, Rating.label, Rating.coherence, Rating.comment,
                                Rating.significant_error, Rating.time_on_task_s)
                         .join(Rating, Rating.assignment_id == Assignment.id)
                         .join(Rater, Rater.id == Rating.rater_id).where(Rater.name == rater)
                         .order_by(Assignment.position, Rating.label)).all()
    factory.kw["bind"].dispose()
    return rows


def test_a_missed_score_keeps_every_value_and_names_the_missing_field(served, browser):
    tokens, srv, db = served
    ctx, page = _open(browser, srv, tokens["Dr 00"])
    try:
        _wait_case(page, 0)
        for label in "AB":
            for criterion in CRITERIA:
                page.locator(f"#cell-{label}-{criterion} button[data-v='4']").click()
        for criterion in CRITERIA[:-1]:  # candidate C misses clinical utility
            page.locator(f"#cell-C-{criterion} button[data-v='2']").click()
        page.locator("#cand-B-comment").fill("keep this comment")
        page.locator("#cand-C-error").check()
        page.locator("#rate-submit").click()
        missing = page.locator("#rate-missing")
        assert "Candidate C: Clinical utility" in missing.text_content()
        assert "Missing (1)" in missing.text_content()
        cell = page.locator("#cell-C-clinical_utility")
        assert "missing" in cell.get_attribute("class") and cell.get_attribute("aria-invalid") == "true"
        assert page.evaluate("document.activeElement.id") == "cell-C-clinical_utility"
        assert page.locator(".rw-cell.missing").count() == 1
        assert all(_checked(page, lab, c) == 4 for lab in "AB" for c in CRITERIA)
        assert [_checked(page, "C", c) for c in CRITERIA] == [2, 2, 2, 2, None]
        assert page.locator("#cand-B-comment").input_value() == "keep this comment"
        assert page.locator("#cand-C-error").is_checked()
        assert "Case 1 of 3" in page.locator("#rate-progress").text_content()
        assert page.get_by_text("Error", exact=True).count() == 0  # no page-wide error badges
        page.keyboard.press("5")  # the focused missing cell takes the key
        assert "missing" not in cell.get_attribute("class")
        page.keyboard.press("Enter")
        _wait_case(page, 1)
        rows = _ratings(db, "Dr 00")
        assert [(r.label, r.coherence) for r in rows] == [("A", 4), ("B", 4), ("C", 2)]
        assert rows[1].comment == "keep this comment" and rows[2].significant_error
    finally:
        ctx.close()


def test_keyboard_only_rating_of_a_three_candidate_case(served, browser):
    tokens, srv, db = served
    ctx, page = _open(browser, srv, tokens["Dr 01"], viewport={"width": 1440, "height": 900})
    try:
        _wait_case(page, 0)
        assert page.evaluate("document.activeElement.id") == "cell-A-understandability"
        # no scrolling needed at 1440x900: findings, every candidate and the submit button are in view
        bar_top = page.locator(".rw-actions").bounding_box()["y"]
        for sel in ("#rate-findings", "#cand-C-head", "#cell-C-clinical_utility", "#cand-C-comment"):
            box = page.locator(sel).bounding_box()
            assert box and 0 <= box["y"] and box["y"] + box["height"] <= bar_top, sel
        assert page.locator("#rate-submit").bounding_box()["y"] + 40 <= 900
        keys = [str(1 + i % 5) for i in range(15)] + ["Enter"]
        started = time.monotonic()
        for key in keys:
            page.keyboard.press(key)
        _wait_case(page, 1)
        elapsed = time.monotonic() - started
        assert len(keys) <= 20
        rows = _ratings(db, "Dr 01")
        assert [r.coherence for r in rows] == [2, 2, 2]  # each column got 1, 2, 3, 4, 5 from top to bottom
        assert all(0 < r.time_on_task_s <= elapsed + 5 for r in rows)  # active time, not time since sign-in
        # the next case opens at the top, findings in view, first cell focused
        assert page.evaluate("window.scrollY") == 0
        assert page.evaluate("document.activeElement.id") == "cell-A-understandability"
        for key, cell in (("ArrowRight", "cell-B-understandability"), ("ArrowDown", "cell-B-coherence"),
                          ("ArrowLeft", "cell-A-coherence"), ("ArrowUp", "cell-A-understandability")):
            page.keyboard.press(key)
            assert page.evaluate("document.activeElement.id") == cell
        page.keyboard.press("3")
        assert _checked(page, "A", "understandability") == 3
        page.keyboard.press("ArrowUp")
        page.keyboard.press("Backspace")
        assert _checked(page, "A", "understandability") is None
        shortcuts = page.locator("#rate-keys").text_content()
        assert "1" in shortcuts and "Enter" in shortcuts and "arrows" in shortcuts
    finally:
        ctx.close()


def test_four_long_candidates_fit_a_1440x900_screen_without_scrolling(served, browser):
    tokens, srv, _ = served
    ctx, page = _open(browser, srv, tokens["Four 00"], viewport={"width": 1440, "height": 900})
    try:
        _wait_case(page, 0)
        bar_top = page.locator(".rw-actions").bounding_box()["y"]
        for sel in ("#rate-findings", "#cand-D-head", "#cell-D-clinical_utility", "#cand-D-comment", "#cand-D-error"):
            box = page.locator(sel).bounding_box()
            assert box and 0 <= box["y"] and box["y"] + box["height"] <= bar_top, sel
        assert page.evaluate("document.documentElement.scrollWidth") <= 1440
    finally:
        ctx.close()


def test_reload_restores_a_draft(served, browser):
    tokens, srv, _ = served
    ctx, page = _open(browser, srv, tokens["Dr 02"])
    try:
        _wait_case(page, 0)
        for key in "4321":
            page.keyboard.press(key)
        page.locator("#cand-B-comment").fill("draft comment")
        page.locator("#cand-C-error").check()
        page.wait_for_function("document.querySelector('#rate-saved').textContent.startsWith('Draft saved')",
                               timeout=10_000)
        page.reload()
        _wait_case(page, 0)
        assert [_checked(page, "A", c) for c in CRITERIA] == [4, 3, 2, 1, None]
        assert page.locator("#cand-B-comment").input_value() == "draft comment"
        assert page.locator("#cand-C-error").is_checked()
        assert page.evaluate("document.activeElement.id") == "cell-A-clinical_utility"  # first empty cell
        page.keyboard.press("5")
        page.locator("#rate-next").click()  # leaving at once (before the autosave delay) saves the draft first
        _wait_case(page, 1)
        page.locator("#rate-prev").click()
        _wait_case(page, 0)
        assert [_checked(page, "A", c) for c in CRITERIA] == [4, 3, 2, 1, 5]
    finally:
        ctx.close()


def test_twelve_candidates_in_one_case_can_be_rated_and_texts_stay_plain(served, browser):
    tokens, srv, db = served
    ctx, page = _open(browser, srv, tokens["Wide 00"], viewport={"width": 1440, "height": 900})
    try:
        _wait_case(page, 0)
        assert page.locator("#rate-grid .rw-cand-head h3").count() == 12
        html_label = next(lab for lab in "ABCDEFGHIJKL"
                          if page.locator(f"#cand-{lab}-text").text_content() == display_text(HTML_TEXT))
        assert page.locator(f"#cand-{html_label}-head img, #cand-{html_label}-head b").count() == 0
        assert page.title() != "pwned"
        page.locator("#rate-instructions summary").click()
        body = page.locator("#rate-instructions-body")
        assert body.locator("strong").text_content() == "findings"  # the admin's Markdown is rendered...
        assert body.locator("script").count() == 0 and "<script>" in body.text_content()  # ...raw HTML is not
        page.locator("#cell-A-understandability").focus()
        for i in range(12 * 5):
            page.keyboard.press(str(1 + i % 5))
        page.keyboard.press("Enter")
        page.wait_for_selector("#rate-root[data-state=finished]", timeout=30_000)
        assert len(_ratings(db, "Wide 00")) == 12
    finally:
        ctx.close()


def test_phone_layout_stacks_the_candidates(served, browser):
    tokens, srv, _ = served
    ctx, page = _open(browser, srv, tokens["Dr 03"], viewport={"width": 390, "height": 844}, is_mobile=True,
                      has_touch=True)
    try:
        _wait_case(page, 0)
        box = {sel: page.locator(sel).bounding_box() for sel in
               ("#cand-A-head", "#cell-A-clinical_utility", "#cand-A-comment", "#cand-B-head", "#cand-C-head")}
        assert box["#cand-A-head"]["y"] < box["#cell-A-clinical_utility"]["y"] < box["#cand-A-comment"]["y"] \
            < box["#cand-B-head"]["y"] < box["#cand-C-head"]["y"]  # one candidate after the other
        assert abs(box["#cand-A-head"]["x"] - box["#cand-B-head"]["x"]) < 2
        assert page.evaluate("document.documentElement.scrollWidth") <= 390  # no sideways scrolling
        assert page.locator("#cell-B-coherence .rw-cell-title").is_visible()  # each cell names its criterion
        skip, submit = page.locator("#rate-next").bounding_box(), page.locator("#rate-submit").bounding_box()
        assert submit["x"] - (skip["x"] + skip["width"]) >= 40  # skip is set apart from submit
        for label in "ABC":
            for criterion in CRITERIA:
                page.locator(f"#cell-{label}-{criterion} button[data-v='3']").tap()
        page.locator("#rate-submit").tap()
        _wait_case(page, 1)
    finally:
        ctx.close()


def test_a_wrong_link_leaves_a_usable_page_with_the_message_in_place(served, browser):
    tokens, srv, _ = served
    ctx, page = _open(browser, srv, "not-a-real-token")
    try:
        page.wait_for_selector("#rate-root[data-state=signed-out]", timeout=30_000)
        assert "token" not in page.url
        status = page.locator("#rate-status")
        assert "not valid" in status.text_content()
        page.wait_for_timeout(13_000)  # Gradio's error toasts vanished after about 12 s
        assert "not valid" in status.text_content() and status.is_visible()
        assert page.get_by_text("Error", exact=True).count() == 0
        page.locator("#rate-token").fill(tokens["Dr 06"])
        page.locator("#rate-token").press("Enter")
        _wait_case(page, 0)
        assert "token" not in page.url and "Dr 06" in page.locator("#rate-who").text_content()
    finally:
        ctx.close()


def test_finishing_with_skips_lists_the_unrated_cases(served, browser):
    tokens, srv, _ = served
    ctx, page = _open(browser, srv, tokens["Dr 04"])
    try:
        _wait_case(page, 0)
        for _ in range(15):
            page.keyboard.press("4")
        page.keyboard.press("Enter")
        _wait_case(page, 1)
        page.locator("#rate-next").click()  # skip case 2
        _wait_case(page, 2)
        for _ in range(15):
            page.keyboard.press("4")
        page.keyboard.press("Enter")
        page.wait_for_selector("#rate-root[data-state=finished]", timeout=30_000)
        text = page.locator("#rate-finished-text").text_content()
        assert "1 of 3 cases are not rated yet: case 2" in text
        listed = page.locator("#rate-finished-unrated button")
        assert listed.count() == 1 and listed.first.text_content() == "Case 2"
        assert "1 not rated yet" in page.locator("#rate-unrated-count").text_content()
        listed.first.click()
        _wait_case(page, 1)
        page.locator("#rate-next-unrated").click()  # the only unrated case is this one
        _wait_case(page, 1)
    finally:
        ctx.close()


def test_after_sign_in_no_token_in_the_url_or_browser_storage_and_sign_out_ends_the_session(served, browser):
    tokens, srv, _ = served
    token = tokens["Dr 05"]
    ctx, page = _open(browser, srv, token)
    try:
        _wait_case(page, 0)
        assert page.url == srv.rater_url and "token" not in page.url
        assert "Signed in as Dr 05" in page.locator("#rate-who").text_content()
        findings = page.locator("#rate-findings").text_content()
        candidate = page.locator("#cand-A-text").text_content()
        for _ in range(15):
            page.keyboard.press("5")
        page.keyboard.press("Enter")
        _wait_case(page, 1)
        stored = page.evaluate("JSON.stringify([Object.entries(localStorage), Object.entries(sessionStorage)])")
        for secret in (token, findings, candidate, '"coherence"', '"5"', *SECRET_SYSTEMS):
            assert secret not in stored
        assert page.evaluate("localStorage.length") == 0
        cookie = next(c for c in ctx.cookies() if c["name"] == "radllama_rater")
        assert cookie["httpOnly"] and cookie["sameSite"] == "Lax" and cookie["value"] != token
        assert "radllama_rater" not in page.evaluate("document.cookie")
        assert token not in page.content()
        page.locator("#rate-signout").click()
        page.wait_for_selector("#rate-root[data-state=signed-out]", timeout=30_000)
        assert "signed out" in page.locator("#rate-status").text_content()
        ctx.add_cookies([{**cookie}])  # the old session cookie, put back, no longer works
        page.goto(srv.rater_url)
        page.wait_for_selector("#rate-root[data-state=signed-out]", timeout=30_000)
        assert page.locator("#rate-login").is_visible()
    finally:
        ctx.close()


CONTRAST = """
(sel) => {
  const rgb = (s) => s.match(/[\\d.]+/g).slice(0, 3).map(Number);
  const lin = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
  const lum = (c) => { const [r, g, b] = c.map(lin); return 0.2126 * r + 0.7152 * g + 0.0722 * b; };
  const el = document.querySelector(sel);
  let bg = el, colour = 'rgba(0, 0, 0, 0)';
  while (bg && (colour === 'rgba(0, 0, 0, 0)' || colour === 'transparent')) {
    colour = getComputedStyle(bg).backgroundColor;
    bg = bg.parentElement;
  }
  const [a, b] = [lum(rgb(getComputedStyle(el).color)), lum(rgb(colour))];
  return (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
}
"""


def test_anchors_meet_aa_contrast_in_both_themes_and_nothing_loads_from_elsewhere(served, browser):
    tokens, srv, _ = served
    ctx = browser.new_context(viewport={"width": 1440, "height": 900})
    page = ctx.new_page()
    hosts: set[str] = set()
    page.on("request", lambda r: hosts.add(r.url.split("/")[2]))
    try:
        page.goto(f"{srv.rater_url}?token={tokens['Dr 07']}")
        _wait_case(page, 0)
        page.evaluate("document.fonts.ready")
        assert hosts == {srv.rater_url.split("/")[2]}  # fonts, scripts and styles come from the app itself
        checks = ("#rate-grid .rw-anchor", "#rate-keys", "#rate-progress", "#cand-A-text", "#rate-findings",
                  "#cell-A-coherence button")
        light = {sel: page.evaluate(CONTRAST, sel) for sel in checks}
        page.locator("#rate-theme").click()
        assert page.evaluate("document.body.classList.contains('dark')")
        dark = {sel: page.evaluate(CONTRAST, sel) for sel in checks}
        for sel in checks:
            assert light[sel] >= 4.5 and dark[sel] >= 4.5, (sel, light[sel], dark[sel])
        page.reload()  # the theme choice is kept (in a plain cookie, not in browser storage)
        _wait_case(page, 0)
        assert page.evaluate("document.body.classList.contains('dark')")
        assert page.evaluate("localStorage.length") == 0
    finally:
        ctx.close()


def test_the_rater_app_launched_on_its_own_signs_in_the_same_way(served, browser):
    """`app.py --rating-only --share` launches the rater app alone at / with the same sign-in routes."""
    from app import AppConfig, build_rater_app, build_services
    from rating.ui.rater_session import rater_session_app_kwargs
    from tests.support.app_process import free_port

    tokens, _, db = served
    services = build_services(AppConfig(db_url=str(db), rating_only=True))
    port = free_port()
    app = build_rater_app(services).queue()
    app.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True,
               footer_links=[], run_history=False, app_kwargs=rater_session_app_kwargs(services.rating))
    ctx = browser.new_context()
    page = ctx.new_page()
    try:
        page.goto(f"http://127.0.0.1:{port}/?token={tokens['Dr 08']}")
        _wait_case(page, 0)
        assert page.url == f"http://127.0.0.1:{port}/"
        assert "Dr 08" in page.locator("#rate-who").text_content()
        page.locator("#rate-signout").click()
        page.wait_for_selector("#rate-root[data-state=signed-out]", timeout=30_000)
    finally:
        ctx.close()
        app.close()
