"""What a rater clicks is what is stored, at every window width and number of candidates (issue 18).

In Chromium against the real app: for 2, 4, 6 and 12 candidates at widths 390 to 1920 px, every
score button is the element the browser hits at its own centre (so no neighbour's button lies over
it), and a real mouse click at that centre stores that value for that candidate and criterion in the
draft the server keeps (read back from the database).
"""
from __future__ import annotations

import pytest
from sqlalchemy import select

from db.engine import make_session_factory, prepare_database, unit_of_work
from db.models import CRITERIA, Assignment, Rater, RatingDraft
from rating.assignments import LABELS
from tests.support.rating_support import AppServer, make_wide_study

pytestmark = [pytest.mark.slow, pytest.mark.browser]
COUNTS = (2, 4, 6, 12)
WIDTHS = (390, 800, 1024, 1280, 1366, 1440, 1920)
LONG = ("Moderate cardiomegaly with mild pulmonary vascular congestion. Small bilateral pleural effusions with "
        "adjacent atelectasis. No pneumothorax.")

# Every score button: scrolled into view, is it what the browser hits at its centre? One round trip per width.
HIT_TEST = """
() => {
  const bad = [];
  const buttons = [...document.querySelectorAll('#rate-grid .rw-cell button[data-v]')];
  for (const b of buttons) {
    b.scrollIntoView({ block: 'center', inline: 'center' });
    const r = b.getBoundingClientRect();
    const x = r.left + r.width / 2, y = r.top + r.height / 2;
    const hit = document.elementFromPoint(x, y);
    if (hit !== b) {
      const cell = b.closest('.rw-cell');
      const other = hit && hit.closest('.rw-cell');
      bad.push(cell.id + '=' + b.dataset.v + ' hits ' +
               (other ? other.id + '=' + (hit.dataset.v || '?') : (hit ? hit.tagName + '.' + hit.className : 'nothing')));
    }
  }
  return { n: buttons.length, bad };
}
"""

CENTRE = """
(sel) => {
  const b = document.querySelector(sel);
  b.scrollIntoView({ block: 'center', inline: 'center' });
  const r = b.getBoundingClientRect();
  return [r.left + r.width / 2, r.top + r.height / 2];
}
"""


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    db = tmp_path_factory.mktemp("hit_targets") / "study.db"
    tokens = {}
    for n in COUNTS:
        created = make_wide_study(db, n_systems=n, raters=[f"Hit {n:02d}"], n_cases=1, name=f"hit-{n}",
                                  texts={i: f"{LONG} Variant {i}." for i in range(n)})
        tokens.update(created.rater_tokens)
    srv = AppServer(db).start()
    yield tokens, srv, db
    srv.stop()


def _draft(db, rater: str) -> dict:
    factory = make_session_factory(prepare_database(str(db)))
    with unit_of_work(factory) as s:
        data = s.scalar(select(RatingDraft.data).join(Assignment, Assignment.id == RatingDraft.assignment_id)
                        .join(Rater, Rater.id == Assignment.rater_id).where(Rater.name == rater))
    factory.kw["bind"].dispose()
    return data or {}


def _sample(n: int) -> list[str]:
    """Candidates whose every cell is clicked at each width: the first, a middle one and the last."""
    return sorted({LABELS[0], LABELS[n // 2], LABELS[n - 1]}, key=LABELS.index)


@pytest.mark.parametrize("n", COUNTS)
def test_every_score_button_receives_its_own_click_at_every_width(served, browser, n):
    tokens, srv, db = served
    rater = f"Hit {n:02d}"
    ctx = browser.new_context(viewport={"width": WIDTHS[0], "height": 844})
    page = ctx.new_page()
    expected: dict[str, dict[str, int]] = {}
    wrong: list[str] = []
    try:
        page.goto(f"{srv.rater_url}?token={tokens[rater]}")
        page.wait_for_selector("#rate-root[data-state=case][data-position='0']", timeout=60_000)
        for wi, width in enumerate(WIDTHS):
            page.set_viewport_size({"width": width, "height": 844 if width < 700 else 720 if width < 1400 else 900})
            hits = page.evaluate(HIT_TEST)
            assert hits["n"] == n * len(CRITERIA) * 5
            wrong += [f"{width}px: {b}" for b in hits["bad"]]
            before = len(wrong)
            for ci, label in enumerate(_sample(n)):
                for ki, criterion in enumerate(CRITERIA):
                    value = 1 + (wi + ki + ci) % 5  # over the seven widths each sampled cell gets every value
                    x, y = page.evaluate(CENTRE, f"#cell-{label}-{criterion} button[data-v='{value}']")
                    page.mouse.click(x, y)
                    expected.setdefault(label, {})[criterion] = value
            page.wait_for_function("document.querySelector('#rate-saved').textContent.startsWith('Draft saved')",
                                   timeout=30_000)
            stored = _draft(db, rater)
            got = {lab: {c: stored.get(lab, {}).get(c) for c in CRITERIA} for lab in LABELS[:n]}
            want = {lab: {c: expected.get(lab, {}).get(c) for c in CRITERIA} for lab in LABELS[:n]}
            wrong += [f"{width}px: clicked {lab}/{c}={want[lab][c]}, stored {got[lab][c]}"
                      for lab in want for c in CRITERIA if got[lab][c] != want[lab][c]]
            clicks = len(_sample(n)) * len(CRITERIA)
            print(f"{n} candidates, {width} px: {len(hits['bad'])} of {hits['n']} buttons not hit at their centre; "
                  f"{len(wrong) - before} of {n * len(CRITERIA)} stored cells differ after {clicks} mouse clicks")
        assert not wrong, f"{len(wrong)} wrong hits/cells with {n} candidates: " + "; ".join(wrong[:12])
    finally:
        ctx.close()
