"""The rater page in Chromium on a live server: keystrokes (and, by mouse, clicks and wrong cells
stored) per case, and submit-to-next-case latency.

    python bench/bench_rater_page.py [--cases 20] [--candidates 3] [--protocol likert|errors|pairwise]
                                     [--mouse-candidates 4]

Starts `app.py --rating-only` on a free 127.0.0.1 port with a fresh SQLite study (one rater,
`--cases` cases of `--candidates` blinded candidates each), opens the rater's invitation link
in Debian's chromium (headless, 1440x900) and rates every case with the keyboard only, as a
radiologist would: one digit per score (the page moves to the next cell by itself) and Enter.

Measured in the page, per case: from the Enter keydown (capture phase, before the page's own
handler) to the frame after the next case's first score cell took the focus (the last step of
drawing it; one requestAnimationFrame + task later, so the new case has been laid out and
painted). That is request, server transaction, response and rendering together.

Prints a table, then, last, one JSON line: keystrokes_per_case, submit_to_next_ms_median,
submit_to_next_ms_p95, dom_elements (after drawing a case), cases, ratings_stored.
Goals (issue 12): <= 20 keystrokes per 3-candidate case, median <= 300 ms. Exit status 0 when both hold.

Mouse run (likert, issue 18), beside the keyboard run, on a second study in the same database:
1280x720 (an ordinary laptop), `--mouse-candidates` candidates; each score button is scrolled into
view and clicked at its centre with the real mouse, then "Submit and next" is clicked. Every stored
score is then compared with the button clicked: **wrong cells stored** must be 0 (at this width a
click on A's "5" used to store B = 1). Its latency starts at the mousedown on "Submit and next".

--protocol errors (issue 24): per candidate, N ("no errors": every count 0) or, in every third
candidate, one clinically significant missed finding: ArrowDown (to that row), 1, N; then Enter.
--protocol pairwise: per pair, three digits (completeness, correctness, conciseness); in every
fourth case the right text is marked as holding an error (R) and its harm takes two more digits;
then Enter. The same latency probe, with the protocol's first cell.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from tests.support.browser import launch_chromium
from tests.support.rating_support import AppServer, make_study, make_wide_study

GOAL_KEYSTROKES = 20
GOAL_MEDIAN_MS = 300.0

PROBE = """
(first) => {
  window.__bench = { t0: null, samples: [] };
  document.addEventListener('keydown', (e) => {
    if (e.key === 'Enter') window.__bench.t0 = performance.now();
  }, true);
  document.addEventListener('mousedown', (e) => {
    if (e.target.closest('#rate-submit')) window.__bench.t0 = performance.now();
  }, true);
  document.addEventListener('focusin', (e) => {
    const b = window.__bench;
    if (b.t0 === null || e.target.id !== first) return;
    const t0 = b.t0; b.t0 = null;
    requestAnimationFrame(() => setTimeout(() => b.samples.push(performance.now() - t0), 0));
  }, true);
}
"""


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))]


FIRST_CELL = {"likert": "cell-A-understandability", "errors": "err-A-false_finding-s",
              "pairwise": "pair-A-B-completeness"}


def case_keys(protocol: str, position: int, candidates: int) -> list[str]:
    """The keys a radiologist presses for one case (module docstring)."""
    if protocol == "likert":
        return [str(1 + (position + i) % 5) for i in range(candidates * 5)] + ["Enter"]
    keys: list[str] = []
    if protocol == "errors":
        for c in range(candidates):
            keys += ["ArrowDown", "1", "n"] if (position + c) % 3 == 0 else ["n"]
        return keys + ["Enter"]
    n_pairs = candidates * (candidates - 1) // 2
    for pair in range(n_pairs):
        keys += [str(1 + (position + pair + i) % 5) for i in range(3)]
        if position % 4 == 0 and pair == 0:
            keys += ["r", "2", "2"]
    return keys + ["Enter"]


def expected_rows(protocol: str, cases: int, candidates: int) -> int:
    return cases * (candidates * (candidates - 1) // 2 if protocol == "pairwise" else candidates)


def count_ratings(db: Path, protocol: str = "likert") -> int:
    from sqlalchemy import func, select

    from db.engine import make_session_factory, prepare_database, unit_of_work
    from db.models import Rating
    from db.protocol_models import ErrorRating, Preference

    model = {"likert": Rating, "errors": ErrorRating, "pairwise": Preference}[protocol]
    factory = make_session_factory(prepare_database(str(db)))
    with unit_of_work(factory) as s:
        n = s.scalar(select(func.count(model.id)))
    factory.kw["bind"].dispose()
    return n


CENTRE = """
(sel) => {
  const b = document.querySelector(sel);
  b.scrollIntoView({ block: 'center', inline: 'center' });
  const r = b.getBoundingClientRect();
  return [r.left + r.width / 2, r.top + r.height / 2];
}
"""


def stored_scores(db: Path, rater: str) -> dict[tuple[int, str, str], int]:
    """Every stored score of `rater`: {(position, label, criterion): value}."""
    from sqlalchemy import select

    from db.engine import make_session_factory, prepare_database, unit_of_work
    from db.models import CRITERIA, Assignment, Rater, Rating

    factory = make_session_factory(prepare_database(str(db)))
    with unit_of_work(factory) as s:
        rows = s.execute(select(Assignment.position, Rating)
                         .join(Rating, Rating.assignment_id == Assignment.id)
                         .join(Rater, Rater.id == Rating.rater_id).where(Rater.name == rater)).all()
        scores = {(pos, r.label, c): getattr(r, c) for pos, r in rows for c in CRITERIA}
    factory.kw["bind"].dispose()
    return scores


def run_mouse(browser, url: str, token: str, cases: int, candidates: int) -> dict:
    """Rate every case by clicking each score button at its centre, then "Submit and next", at 1280x720."""
    from db.models import CRITERIA
    from rating.assignments import LABELS

    page = browser.new_page(viewport={"width": 1280, "height": 720})
    page.goto(f"{url}?token={token}")
    page.wait_for_selector("#rate-root[data-state=case][data-position='0']", timeout=60_000)
    page.evaluate(PROBE, FIRST_CELL["likert"])
    clicks: list[int] = []
    clicked: dict[tuple[int, str, str], int] = {}
    for position in range(cases):
        for ci, label in enumerate(LABELS[:candidates]):
            for ki, criterion in enumerate(CRITERIA):
                value = 1 + (position + 2 * ci + ki) % 5
                x, y = page.evaluate(CENTRE, f"#cell-{label}-{criterion} button[data-v='{value}']")
                page.mouse.click(x, y)
                clicked[(position, label, criterion)] = value
        x, y = page.evaluate(CENTRE, "#rate-submit")
        page.mouse.click(x, y)
        clicks.append(candidates * len(CRITERIA) + 1)
        page.wait_for_selector("#rate-root[data-state=finished]" if position + 1 == cases
                               else f"#rate-root[data-state=case][data-position='{position + 1}']", timeout=30_000)
    page.wait_for_function(f"window.__bench.samples.length >= {cases - 1}", timeout=10_000)
    samples = page.evaluate("window.__bench.samples")
    page.close()
    return {"per_case": statistics.mean(clicks), "samples": samples, "clicked": clicked}


def main() -> int:
    from playwright.sync_api import sync_playwright

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cases", type=int, default=20)
    p.add_argument("--candidates", type=int, default=None, help="default: 3 (pairwise: 2, one pair per case)")
    p.add_argument("--protocol", default="likert", choices=("likert", "errors", "pairwise"))
    p.add_argument("--mouse-candidates", type=int, default=4, help="candidates per case of the mouse run "
                   "(likert; 1280x720); 0: no mouse run")
    args = p.parse_args()
    args.candidates = args.candidates or (2 if args.protocol == "pairwise" else 3)
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "bench.db"
        if args.protocol != "likert":
            if args.candidates > 3:
                p.error("the errors and pairwise benches use at most 3 candidates")
            from tests.support.protocol_support import make_protocol_study
            created = make_protocol_study(str(db), args.protocol, n_raters=1, n_cases=args.cases,
                                          n_systems=args.candidates)
        elif args.candidates == 3:
            created = make_study(db, n_raters=1, n_cases=args.cases, n_calibration=0, n_repeats=0)
        else:
            created = make_wide_study(db, n_systems=args.candidates, raters=["Dr 00"], n_cases=args.cases)
        token = created.rater_tokens["Dr 00"]
        mouse_token = None
        if args.protocol == "likert" and args.mouse_candidates:
            mouse_token = make_wide_study(db, n_systems=args.mouse_candidates, raters=["Mouse 00"], n_cases=args.cases,
                                          name="mouse").rater_tokens["Mouse 00"]
        server = AppServer(db, log_path=Path(tmp) / "server.log").start()
        try:
            with sync_playwright() as pw:
                browser = launch_chromium(pw)
                page = browser.new_page(viewport={"width": 1440, "height": 900})
                page.goto(f"{server.rater_url}?token={token}")
                page.wait_for_selector("#rate-root[data-state=case][data-position='0']", timeout=60_000)
                page.evaluate(PROBE, FIRST_CELL[args.protocol])
                dom_elements = page.evaluate("document.querySelectorAll('*').length")
                keystrokes: list[int] = []
                for position in range(args.cases):
                    keys = case_keys(args.protocol, position, args.candidates)
                    for key in keys:
                        page.keyboard.press(key)
                    keystrokes.append(len(keys))
                    nxt = ("#rate-root[data-state=finished]" if position + 1 == args.cases
                           else f"#rate-root[data-state=case][data-position='{position + 1}']")
                    page.wait_for_selector(nxt, timeout=30_000)
                    if position == 0:
                        dom_elements = page.evaluate("document.querySelectorAll('*').length")
                page.wait_for_function(f"window.__bench.samples.length >= {args.cases - 1}", timeout=10_000)
                samples = page.evaluate("window.__bench.samples")
                mouse = run_mouse(browser, server.rater_url, mouse_token, args.cases,
                                  args.mouse_candidates) if mouse_token else None
                browser.close()
        finally:
            server.stop()
        stored = count_ratings(db, args.protocol)
        mouse_stored = stored_scores(db, "Mouse 00") if mouse else {}
    if mouse:
        stored -= len(mouse_stored) // 5  # the mouse study's ratings are in the same table
    per_case = statistics.mean(keystrokes)
    median, p95 = statistics.median(samples), percentile(samples, 95)
    wanted = expected_rows(args.protocol, args.cases, args.candidates)
    print(f"protocol {args.protocol}: {args.cases} cases x {args.candidates} candidates, keyboard only, "
          f"Chromium headless 1440x900, "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
    print(f"  keystrokes per case      {per_case:6.1f}   (goal <= {GOAL_KEYSTROKES})")
    print(f"  submit -> next case drawn  median {median:6.1f} ms, p95 {p95:6.1f} ms, max {max(samples):6.1f} ms "
          f"over {len(samples)} transitions   (goal median <= {GOAL_MEDIAN_MS:.0f} ms)")
    print(f"  DOM elements on a case page {dom_elements}; ratings stored {stored} of {wanted}")
    ok = per_case <= GOAL_KEYSTROKES and median <= GOAL_MEDIAN_MS and stored == wanted
    extra = {}
    if mouse:
        wrong = sum(1 for cell, value in mouse["clicked"].items() if mouse_stored.get(cell) != value)
        m_median, m_p95 = statistics.median(mouse["samples"]), percentile(mouse["samples"], 95)
        print(f"  mouse, 1280x720, {args.mouse_candidates} candidates: {mouse['per_case']:.1f} clicks per case; "
              f"wrong cells stored {wrong} of {len(mouse['clicked'])} (goal 0); submit -> next case drawn median "
              f"{m_median:6.1f} ms, p95 {m_p95:6.1f} ms; ratings stored {len(mouse_stored) // 5} of "
              f"{args.cases * args.mouse_candidates}")
        ok = ok and wrong == 0 and m_median <= GOAL_MEDIAN_MS and len(mouse_stored) // 5 == args.cases * args.mouse_candidates
        extra = {"mouse_candidates": args.mouse_candidates, "mouse_clicks_per_case": mouse["per_case"],
                 "mouse_wrong_cells": wrong, "mouse_cells": len(mouse["clicked"]),
                 "mouse_submit_to_next_ms_median": round(m_median, 1), "mouse_submit_to_next_ms_p95": round(m_p95, 1),
                 "mouse_ratings_stored": len(mouse_stored) // 5}
    print(json.dumps({"protocol": args.protocol, "keystrokes_per_case": per_case, "submit_to_next_ms_median": round(median, 1),
                      "submit_to_next_ms_p95": round(p95, 1), "dom_elements": dom_elements, "cases": args.cases,
                      "candidates": args.candidates, "ratings_stored": stored, **extra}))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
