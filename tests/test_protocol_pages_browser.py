"""The errors and pairwise parts of the rater workstation in Debian chromium against the real app:
keyboard-only rating, highlighted spans, missing-value marks, drafts across a reload, the harm block
only where an error is marked, blinding, and every control's own box taking its click at 390, 1280
and 1920 pixels wide (document.elementFromPoint)."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
from sqlalchemy import select

from db.engine import make_session_factory, prepare_database, unit_of_work
from db.models import Assignment, Rater
from db.protocol_models import ErrorCount, ErrorRating, Preference
from tests.support.protocol_support import make_protocol_study
from tests.support.rating_support import SECRET_KINDS, SECRET_SYSTEMS, AppServer

pytestmark = [pytest.mark.slow, pytest.mark.browser]
WAIT_MS = int(float(os.environ.get("RADLLAMA_TEST_WAIT_S", "30")) * 1000)
SCREENSHOTS = os.environ.get("RADLLAMA_SCREENSHOT_DIR")
"""Set to a folder to keep a screenshot of each protocol's page (docs/img uses them)."""


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    db = tmp_path_factory.mktemp("protocol_pages") / "study.db"
    tokens = {}
    for name, protocols, n_systems in (("errors", "errors", 2), ("pairwise", "pairwise", 2),
                                       ("combined", "likert,errors", 2), ("three", "pairwise", 3)):
        created = make_protocol_study(str(db), protocols, n_raters=4, n_cases=2, n_systems=n_systems, name=name)
        tokens[name] = list(created.rater_tokens.values())
    srv = AppServer(db).start()
    yield tokens, srv, db
    srv.stop()


def _open(browser, srv, token, width=1280, height=900):
    ctx = browser.new_context(viewport={"width": width, "height": height})
    page = ctx.new_page()
    page.goto(srv.rater_url + f"?token={token}")
    return ctx, page


def _wait_case(page, position: int):
    page.wait_for_selector(f"#rate-root[data-state=case][data-position='{position}']", timeout=WAIT_MS)


def _focused(page) -> str:
    return page.evaluate("document.activeElement.id")


def _rows(db, model, *columns):
    factory = make_session_factory(prepare_database(str(db)))
    with unit_of_work(factory) as s:
        rows = s.execute(select(*columns).select_from(model)).all()
    factory.kw["bind"].dispose()
    return rows


def _shot(page, name):
    if SCREENSHOTS:
        Path(SCREENSHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SCREENSHOTS) / name), full_page=True)


def test_errors_keyboard_only_with_a_highlighted_span(served, browser):
    tokens, srv, db = served
    ctx, page = _open(browser, srv, tokens["errors"][0])
    try:
        _wait_case(page, 0)
        assert page.locator("#rate-grid").is_hidden()  # no 1-5 grid in an errors-only study
        assert _focused(page) == "err-A-false_finding-s"
        page.keyboard.press("n")  # no errors in A: all twelve of its cells 0
        assert page.locator("#err-A .rp-value").all_text_contents() == ["0"] * 12
        assert _focused(page) == "err-B-false_finding-s"
        # select "Impression" in B's text, then mark it as a clinically significant missed finding
        page.keyboard.press("ArrowDown")  # -> B missed_finding, significant
        assert _focused(page) == "err-B-missed_finding-s"
        page.evaluate("""() => { const t = document.querySelector('#err-B-text').firstChild;
            const r = document.createRange(); r.setStart(t, 0); r.setEnd(t, 10);
            const s = window.getSelection(); s.removeAllRanges(); s.addRange(r); }""")
        page.keyboard.press("h")
        assert page.locator("#err-B-text mark.rp-sig").text_content() == "Impression"
        assert page.locator("#err-B-missed_finding-s .rp-value").text_content() == "1"
        page.keyboard.press("s")  # the not-significant cell of the same category
        assert _focused(page) == "err-B-missed_finding-i"
        page.keyboard.press("2")
        page.keyboard.press("n")
        _shot(page, "protocol_errors.png")
        page.keyboard.press("Enter")
        _wait_case(page, 1)
        rows = _joined_counts(db, tokens["errors"][0])
        assert sum(r[3] for r in rows if r[0] == "A") == 0 and len(rows) == 24
        marked = {(r[1], r[2]): (r[3], r[4]) for r in rows if r[0] == "B" and r[3]}
        assert marked == {("missed_finding", True): (1, [[0, 10]]), ("missed_finding", False): (2, [])}
    finally:
        ctx.close()


def _joined_counts(db, token):
    from rating.tokens import hash_token
    factory = make_session_factory(prepare_database(str(db)))
    with unit_of_work(factory) as s:
        rows = s.execute(select(ErrorRating.label, ErrorCount.category, ErrorCount.clinically_significant,
                                ErrorCount.count, ErrorCount.spans)
                         .join(ErrorCount, ErrorCount.error_rating_id == ErrorRating.id)
                         .join(Rater, Rater.id == ErrorRating.rater_id)
                         .where(Rater.token_hash == hash_token(token))).all()
    factory.kw["bind"].dispose()
    return rows


def test_errors_missing_counts_are_marked_and_a_draft_survives_a_reload(served, browser):
    tokens, srv, _ = served
    ctx, page = _open(browser, srv, tokens["errors"][1])
    try:
        _wait_case(page, 0)
        page.keyboard.press("3")
        page.keyboard.press("Enter")
        missing = page.locator("#rate-missing").text_content()
        assert "Missing (23)" in missing and "Candidate A, (a) False report of a finding, not significant" in missing
        assert page.locator("#rate-protocol .rp-cell.missing").count() == 23
        assert _focused(page) == "err-A-false_finding-i"
        assert page.locator("#err-A-false_finding-s .rp-value").text_content() == "3"
        page.wait_for_function("document.querySelector('#rate-saved').textContent.startsWith('Draft saved')",
                               timeout=WAIT_MS)
        page.reload()
        _wait_case(page, 0)
        assert page.locator("#err-A-false_finding-s .rp-value").text_content() == "3"
        assert _focused(page) == "err-A-false_finding-i"  # the first empty cell
    finally:
        ctx.close()


def test_pairwise_keyboard_only_and_the_harm_block_only_where_an_error_is_marked(served, browser):
    tokens, srv, db = served
    ctx, page = _open(browser, srv, tokens["pairwise"][0])
    try:
        _wait_case(page, 0)
        assert page.locator("#pair-A-B-left-harm").is_hidden() and page.locator("#pair-A-B-right-harm").is_hidden()
        assert _focused(page) == "pair-A-B-completeness"
        for key in "135":  # completeness: left much better; correctness: equal; conciseness: right much better
            page.keyboard.press(key)
        page.keyboard.press("r")  # the right text has an error: its harm questions open and take the focus
        assert page.locator("#pair-A-B-right-harm").is_visible() and page.locator("#pair-A-B-left-harm").is_hidden()
        assert _focused(page) == "pair-A-B-right-extent"
        page.keyboard.press("Enter")
        assert "Extent of possible harm, right text" in page.locator("#rate-missing").text_content()
        page.keyboard.press("3")  # severe or death
        page.keyboard.press("1")  # low
        _shot(page, "protocol_pairwise.png")
        page.keyboard.press("Enter")
        _wait_case(page, 1)
        rows = _rows(db, Preference, Preference.completeness, Preference.correctness, Preference.conciseness,
                     Preference.left_error, Preference.right_error, Preference.right_harm_extent,
                     Preference.right_harm_likelihood)
        assert rows == [(-2, 0, 2, False, True, "severe_death", "low")]
        # going back shows the saved answers, harm block included
        page.keyboard.press("Alt+ArrowLeft")
        _wait_case(page, 0)
        assert page.locator("#pair-A-B-right-harm").is_visible()
        assert page.locator("#pair-A-B-conciseness button[aria-checked=true]").text_content().startswith("5")
    finally:
        ctx.close()


def test_combined_likert_and_errors_needs_both_parts(served, browser):
    tokens, srv, _ = served
    ctx, page = _open(browser, srv, tokens["combined"][0])
    try:
        _wait_case(page, 0)
        assert page.locator("#rate-grid").is_visible() and page.locator("#rate-protocol").is_visible()
        assert _focused(page) == "cell-A-understandability"
        for _ in range(10):
            page.keyboard.press("4")
        page.keyboard.press("Enter")
        assert "Missing (24)" in page.locator("#rate-missing").text_content()
        assert _focused(page) == "err-A-false_finding-s"
        page.keyboard.press("n")
        page.keyboard.press("n")
        page.keyboard.press("Enter")
        _wait_case(page, 1)
    finally:
        ctx.close()


HIT_TEST = """() => {
  const bad = [];
  for (const b of document.querySelectorAll('#rate-protocol button')) {
    if (!b.offsetParent) continue;  // hidden (a closed harm block)
    b.scrollIntoView({block: 'center', inline: 'center'});
    const r = b.getBoundingClientRect();
    const points = [[r.left + r.width / 2, r.top + r.height / 2], [r.left + 3, r.top + 3],
                    [r.right - 3, r.top + 3], [r.left + 3, r.bottom - 3], [r.right - 3, r.bottom - 3]];
    for (const [x, y] of points) {
      const hit = document.elementFromPoint(x, y);
      if (!hit || !b.contains(hit)) { bad.push((b.closest('[id]') || {}).id + ' "' + b.textContent + '" at ' +
        Math.round(x) + ',' + Math.round(y) + ' hits ' + (hit ? hit.tagName + '.' + hit.className : 'nothing')); break; }
    }
    if (r.width < 24 || r.height < 24) bad.push(b.textContent + ' is ' + r.width + 'x' + r.height);
  }
  return bad;
}"""


@pytest.mark.parametrize("width", [390, 1280, 1920])
@pytest.mark.parametrize("study", ["errors", "pairwise", "three"])
def test_every_protocol_control_takes_its_own_click(served, browser, width, study):
    tokens, srv, _ = served
    ctx, page = _open(browser, srv, tokens[study][3], width=width, height=844 if width == 390 else 1000)
    try:
        _wait_case(page, 0)
        if study != "errors":  # open every harm block, so that its buttons are tested too
            closed = page.locator(".rp-flag[aria-pressed=false]")  # (a draft may have opened some)
            while closed.count():
                closed.first.click()
        assert page.evaluate(HIT_TEST) == []
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        # and a real mouse click on a control lands: the last preference/count button of the page
        target = page.locator("#rate-protocol .rp-cell button").last
        target.scroll_into_view_if_needed()
        target.click()
        assert target.get_attribute("aria-checked") == "true" or target.text_content() != "–"
        text = page.content().lower()
        # no system name reaches the page ("reference" is the third system of the "three" study)
        assert not any(s.lower() in text for s in (*SECRET_SYSTEMS, *SECRET_KINDS, "reference"))
    finally:
        ctx.close()


def test_three_systems_give_three_pairs_each_on_its_stored_sides(served, browser):
    from rating.tokens import hash_token
    tokens, srv, db = served
    ctx, page = _open(browser, srv, tokens["three"][0])
    try:
        _wait_case(page, 0)
        assert page.locator(".rp-pair").count() == 3
        for _ in range(9):
            page.keyboard.press("3")
        page.keyboard.press("Enter")
        _wait_case(page, 1)
        factory = make_session_factory(prepare_database(str(db)))
        with unit_of_work(factory) as s:
            prefs = s.execute(select(Preference.pair_key, Preference.left_output_id, Preference.right_output_id,
                                     Assignment.label_order).join(Assignment)
                              .join(Rater, Rater.id == Assignment.rater_id)
                              .where(Rater.token_hash == hash_token(tokens["three"][0]))).all()
        factory.kw["bind"].dispose()
        assert sorted(p[0] for p in prefs) == ["A-B", "A-C", "B-C"]
        for key, left, right, order in prefs:
            assert (left, right) == (order["ABC".index(key[0])], order["ABC".index(key[2])])
    finally:
        ctx.close()
