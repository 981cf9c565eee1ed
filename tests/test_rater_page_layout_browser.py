"""The rater page as a radiologist sees it on a laptop and on a phone (issue 18), in Chromium against
the real app: the keyboard focus always lands on a fully visible cell, nothing is left under the fixed
action bar, the phone shows the anchors and keeps the findings in reach, the save status never pushes
"Submit and next" off screen; the missing-score message follows the cells, a submit after editing an
earlier case returns to where the rater was working, Alt+Left leaves the finished page, and sign-out
puts the focus in the access-code box."""
from __future__ import annotations

from itertools import pairwise

import pytest
from sqlalchemy import select, update

from db.engine import make_session_factory, prepare_database, unit_of_work
from db.models import CRITERIA, Assignment, Case, Rater, Rating
from db.models import ANCHORS
from tests.support.rating_support import AppServer, make_study, make_wide_study

pytestmark = [pytest.mark.slow, pytest.mark.browser]
LONG_IMPRESSION = ("Moderate cardiomegaly with mild pulmonary vascular congestion. Small bilateral pleural effusions "
                   "with adjacent atelectasis. No pneumothorax. Degenerative changes of the thoracic spine.")
LONG_FINDINGS = ("The heart is moderately enlarged. There is mild pulmonary vascular congestion. Small bilateral "
                 "pleural effusions are present with adjacent bibasilar atelectasis. No pneumothorax. No focal "
                 "consolidation. Degenerative changes of the thoracic spine. Surgical clips in the right upper "
                 "quadrant. ") * 2
SAVE_FAILED = "Draft not saved (connection problem); it will be retried."

# Is the focused element wholly in the window, above the action bar (and the save strip), and the
# element the browser hits at its corners and centre (nothing sticky lies over it)?
FOCUS_VISIBLE = """
() => {
  const a = document.activeElement;
  const r = a.getBoundingClientRect();
  const bar = document.querySelector('#rate-actions').getBoundingClientRect();
  const saved = document.querySelector('#rate-saved').getBoundingClientRect();
  const bottom = Math.min(bar.top, saved.height ? saved.top : Infinity);
  const points = [[r.left + 4, r.top + 4], [r.right - 4, r.top + 4], [r.left + 4, r.bottom - 4],
                  [r.right - 4, r.bottom - 4], [(r.left + r.right) / 2, (r.top + r.bottom) / 2]];
  const covered = points.filter(([x, y]) => { const h = document.elementFromPoint(x, y); return !h || !a.contains(h); })
    .map(([x, y]) => { const h = document.elementFromPoint(x, y); return h ? (h.id || h.className || h.tagName) : 'none'; });
  const inside = r.top >= 0 && r.left >= 0 && r.right <= innerWidth && r.bottom <= bottom;
  return { id: a.id, ok: inside && !covered.length, rect: [r.left, r.top, r.right, r.bottom], bottom, covered };
}
"""

# Scroll the window so that `below` shows only its top 20 px above the action bar, and put the focus
# on `above` without scrolling (as after the rater scrolled with the mouse wheel).
PEEK = """
([above, below]) => {
  const bar = document.querySelector('#rate-actions').getBoundingClientRect();
  const r = document.getElementById(below).getBoundingClientRect();
  window.scrollBy(0, r.top - (bar.top - 20));
  document.getElementById(above).focus({ preventScroll: true });
}
"""


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    db = tmp_path_factory.mktemp("rater_layout") / "study.db"
    tokens = {}
    for n, name in ((4, "Four"), (6, "Six")):
        created = make_wide_study(db, n_systems=n, raters=[f"{name} {i:02d}" for i in range(3)], n_cases=2,
                                  name=f"layout-{n}", texts={i: f"{LONG_IMPRESSION} Variant {i}." for i in range(n)})
        tokens.update(created.rater_tokens)
    tokens.update(make_study(db, n_raters=4, n_cases=4, n_calibration=0, n_repeats=0, name="flow").rater_tokens)
    factory = make_session_factory(prepare_database(str(db)))
    with unit_of_work(factory) as s:
        s.execute(update(Case).values(findings=LONG_FINDINGS))
    factory.kw["bind"].dispose()
    srv = AppServer(db).start()
    yield tokens, srv, db
    srv.stop()


def _open(browser, srv, token: str, width: int, height: int):
    phone = width < 500
    ctx = browser.new_context(viewport={"width": width, "height": height}, is_mobile=phone, has_touch=phone)
    page = ctx.new_page()
    page.goto(f"{srv.rater_url}?token={token}")
    return ctx, page


def _wait_case(page, position: int):
    page.wait_for_selector(f"#rate-root[data-state=case][data-position='{position}']", timeout=30_000)


def _coherence(db, rater: str) -> list:
    factory = make_session_factory(prepare_database(str(db)))
    with unit_of_work(factory) as s:
        rows = s.execute(select(Assignment.position, Rating.label, Rating.coherence)
                         .join(Rating, Rating.assignment_id == Assignment.id)
                         .join(Rater, Rater.id == Rating.rater_id).where(Rater.name == rater)
                         .order_by(Assignment.position, Rating.label)).all()
    factory.kw["bind"].dispose()
    return [tuple(r) for r in rows]


@pytest.mark.parametrize("width,height,rater,n", [(1280, 720, "Four 00", 4), (1024, 768, "Six 00", 6),
                                                   (390, 844, "Four 01", 4)])
def test_the_keyboard_focus_always_lands_on_a_fully_visible_cell(served, browser, width, height, rater, n):
    tokens, srv, _ = served
    ctx, page = _open(browser, srv, tokens[rater], width, height)
    try:
        _wait_case(page, 0)
        first = page.evaluate(FOCUS_VISIBLE)
        assert first["id"] == "cell-A-understandability" and first["ok"], first
        moves = ["ArrowDown"] * 4 + ["ArrowRight"] * (n - 1) + ["ArrowUp"] * 4 + ["ArrowLeft"] * (n - 1)
        moves += [str(1 + i % 5) for i in range(n * len(CRITERIA) - 1)]  # every cell but the last, in key order
        hidden = []
        for key in moves:
            page.keyboard.press(key)
            seen = page.evaluate(FOCUS_VISIBLE)
            if not seen["ok"]:
                hidden.append((key, seen))
        # the rater scrolled with the wheel so that the next cell down is just peeking out above the bar
        for above, below in pairwise(CRITERIA):
            page.evaluate(PEEK, [f"cell-A-{above}", f"cell-A-{below}"])
            page.keyboard.press("ArrowDown")
            seen = page.evaluate(FOCUS_VISIBLE)
            if seen["id"] != f"cell-A-{below}" or not seen["ok"]:
                hidden.append(("ArrowDown to a peeking cell", seen))
        assert not hidden, f"{len(hidden)} moves focused a cell the rater cannot fully see: {hidden[:4]}"
        # scrolled to the end, the last candidate's comment and flag sit above the bar, not under it
        page.evaluate("window.scrollTo(0, document.documentElement.scrollHeight)")
        bar_top = page.locator("#rate-actions").bounding_box()["y"]
        last = "ABCDEF"[n - 1]
        for sel in (f"#cand-{last}-comment", f"#cand-{last}-error", "#rate-findings-box"):
            box = page.locator(sel).bounding_box()
            assert box["y"] + box["height"] <= bar_top, (sel, box, bar_top)
    finally:
        ctx.close()


def test_phone_shows_anchors_keeps_the_findings_in_reach_and_submit_on_screen(served, browser):
    tokens, srv, _ = served
    ctx, page = _open(browser, srv, tokens["Four 02"], 390, 844)
    try:
        _wait_case(page, 0)
        anchor = page.locator("#cell-D-coherence .rw-cell-anchor")
        assert anchor.is_visible()
        assert f"1 = {ANCHORS['coherence'][0]}" in anchor.text_content()
        assert f"5 = {ANCHORS['coherence'][1]}" in anchor.text_content()
        # rating candidate D, far down the page: the findings are still on screen, in a strip at the top
        page.evaluate("document.querySelector('#cell-D-relevance').scrollIntoView({block: 'center'})")
        page.wait_for_timeout(200)
        findings = page.locator("#rate-findings")
        box = page.locator("#rate-findings-box").bounding_box()
        assert findings.is_visible() and box["y"] >= 0 and box["y"] + box["height"] <= 844 * 0.4, box
        toggle = page.locator("#rate-findings-toggle")
        toggle.tap()
        assert not findings.is_visible() and toggle.get_attribute("aria-expanded") == "false"
        assert page.locator("#rate-findings-box").bounding_box()["height"] < 60  # collapsed to a slim strip
        toggle.tap()
        assert findings.is_visible() and toggle.get_attribute("aria-expanded") == "true"
        # the save status never pushes "Submit and next" off the screen
        page.locator("#cell-D-relevance button[data-v='4']").tap()
        page.wait_for_function("document.querySelector('#rate-saved').textContent.startsWith('Draft saved')",
                               timeout=30_000)
        for text in (None, SAVE_FAILED):
            if text:
                page.evaluate("(t) => { document.querySelector('#rate-saved').textContent = t; }", text)
            sub = page.locator("#rate-submit").bounding_box()
            assert sub["x"] >= 0 and sub["x"] + sub["width"] <= 390 and sub["y"] + sub["height"] <= 844, (text, sub)
            assert page.evaluate("""() => { const b = document.querySelector('#rate-submit').getBoundingClientRect();
                return document.elementFromPoint(b.left + b.width / 2, b.top + b.height / 2)
                  .closest('#rate-submit') !== null; }""")
            saved = page.locator("#rate-saved")
            assert saved.is_visible() and saved.bounding_box()["x"] + saved.bounding_box()["width"] <= 390
    finally:
        ctx.close()


def test_the_missing_score_message_goes_once_the_cells_are_filled(served, browser):
    tokens, srv, _ = served
    ctx, page = _open(browser, srv, tokens["Dr 00"], 1440, 900)
    try:
        _wait_case(page, 0)
        for _ in range(13):  # 15 cells, the last two left empty
            page.keyboard.press("3")
        page.locator("#rate-submit").click()
        missing = page.locator("#rate-missing")
        assert "Missing (2)" in missing.text_content()
        page.keyboard.press("4")  # the first missing cell has the focus
        assert "Missing (1)" in missing.text_content() and "Conciseness" not in missing.text_content()
        page.keyboard.press("4")
        assert missing.text_content() == ""
        assert page.locator(".rw-cell.missing, .rw-cell[aria-invalid]").count() == 0
    finally:
        ctx.close()


def test_submit_after_editing_an_earlier_case_returns_to_where_the_rater_was_working(served, browser):
    tokens, srv, db = served
    ctx, page = _open(browser, srv, tokens["Dr 01"], 1440, 900)
    try:
        _wait_case(page, 0)
        for position in range(2):
            for _ in range(15):
                page.keyboard.press("4")
            page.keyboard.press("Enter")
            _wait_case(page, position + 1)
        page.keyboard.press("Alt+ArrowLeft")
        _wait_case(page, 1)
        page.keyboard.press("Alt+ArrowLeft")
        _wait_case(page, 0)
        page.locator("#cell-B-coherence button[data-v='1']").click()  # change one score of case 1
        page.keyboard.press("Enter")
        _wait_case(page, 2)  # back to case 3, where the rater was, not case 2
        assert ("B", 1) in [(lab, c) for pos, lab, c in _coherence(db, "Dr 01") if pos == 0]
        for position in (2, 3):
            for _ in range(15):
                page.keyboard.press("5")
            page.keyboard.press("Enter")
            if position == 2:
                _wait_case(page, 3)  # from here on, Enter goes on as usual
        page.wait_for_selector("#rate-root[data-state=finished]", timeout=30_000)
        page.keyboard.press("Alt+ArrowLeft")  # the finished page goes back to the last case too
        _wait_case(page, 3)
    finally:
        ctx.close()


def test_after_sign_out_the_focus_is_in_the_access_code_box(served, browser):
    tokens, srv, _ = served
    ctx, page = _open(browser, srv, tokens["Dr 02"], 1280, 720)
    try:
        _wait_case(page, 0)
        page.locator("#rate-signout").click()
        page.wait_for_selector("#rate-root[data-state=signed-out]", timeout=30_000)
        page.wait_for_function("document.activeElement && document.activeElement.id === 'rate-token'",
                               timeout=10_000)
        page.keyboard.type(tokens["Dr 02"])
        page.keyboard.press("Enter")
        _wait_case(page, 0)
    finally:
        ctx.close()
