"""The rater page in Chromium on a live server: keystrokes per case and submit-to-next-case latency.

    python bench/bench_rater_page.py [--cases 20] [--candidates 3]

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

from tests.browser import launch_chromium
from tests.rating_support import AppServer, make_study, make_wide_study

GOAL_KEYSTROKES = 20
GOAL_MEDIAN_MS = 300.0

PROBE = """
() => {
  window.__bench = { t0: null, samples: [] };
  document.addEventListener('keydown', (e) => {
    if (e.key === 'Enter') window.__bench.t0 = performance.now();
  }, true);
  document.addEventListener('focusin', (e) => {
    const b = window.__bench;
    if (b.t0 === null || !e.target.id || !e.target.id.endsWith('-understandability')) return;
    if (!e.target.id.startsWith('cell-A-')) return;
    const t0 = b.t0; b.t0 = null;
    requestAnimationFrame(() => setTimeout(() => b.samples.push(performance.now() - t0), 0));
  }, true);
}
"""


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))]


def count_ratings(db: Path) -> int:
    from sqlalchemy import func, select

    from db.engine import make_session_factory, prepare_database, unit_of_work
    from db.models import Rating

    factory = make_session_factory(prepare_database(str(db)))
    with unit_of_work(factory) as s:
        n = s.scalar(select(func.count(Rating.id)))
    factory.kw["bind"].dispose()
    return n


def main() -> int:
    from playwright.sync_api import sync_playwright

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cases", type=int, default=20)
    p.add_argument("--candidates", type=int, default=3)
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "bench.db"
        if args.candidates == 3:
            created = make_study(db, n_raters=1, n_cases=args.cases, n_calibration=0, n_repeats=0)
        else:
            created = make_wide_study(db, n_systems=args.candidates, raters=["Dr 00"], n_cases=args.cases)
        token = created.rater_tokens["Dr 00"]
        server = AppServer(db, log_path=Path(tmp) / "server.log").start()
        try:
            with sync_playwright() as pw:
                browser = launch_chromium(pw)
                page = browser.new_page(viewport={"width": 1440, "height": 900})
                page.goto(f"{server.rater_url}?token={token}")
                page.wait_for_selector("#rate-root[data-state=case][data-position='0']", timeout=60_000)
                page.evaluate(PROBE)
                dom_elements = page.evaluate("document.querySelectorAll('*').length")
                keystrokes: list[int] = []
                for position in range(args.cases):
                    keys = [str(1 + (position + i) % 5) for i in range(args.candidates * 5)] + ["Enter"]
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
                browser.close()
        finally:
            server.stop()
        stored = count_ratings(db)
    per_case = statistics.mean(keystrokes)
    median, p95 = statistics.median(samples), percentile(samples, 95)
    print(f"{args.cases} cases x {args.candidates} candidates, keyboard only, Chromium headless 1440x900, "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
    print(f"  keystrokes per case      {per_case:6.1f}   (goal <= {GOAL_KEYSTROKES})")
    print(f"  submit -> next case drawn  median {median:6.1f} ms, p95 {p95:6.1f} ms, max {max(samples):6.1f} ms "
          f"over {len(samples)} transitions   (goal median <= {GOAL_MEDIAN_MS:.0f} ms)")
    print(f"  DOM elements on a case page {dom_elements}; ratings stored {stored} of {args.cases * args.candidates}")
    ok = per_case <= GOAL_KEYSTROKES and median <= GOAL_MEDIAN_MS and stored == args.cases * args.candidates
    print(json.dumps({"keystrokes_per_case": per_case, "submit_to_next_ms_median": round(median, 1),
                      "submit_to_next_ms_p95": round(p95, 1), "dom_elements": dom_elements, "cases": args.cases,
                      "candidates": args.candidates, "ratings_stored": stored}))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
