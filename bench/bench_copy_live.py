"""Rating submits while `rating.study copy` copies a large live SQLite study: who holds the write lock.

    python bench/bench_copy_live.py [--ratings 48000] [--raters 10]

One SQLite file holds a big study (bench_export.build_database, --ratings ratings) and a small one
whose --raters raters submit in threads of this process (think time 0.1-0.4 s; each submit a real
write, an edit of a rating, through RatingService with the app's 30 s busy timeout). While they
submit, another process (nice 10) copies the whole database into a new SQLite file, twice, in one run:
  1. "write-locking": the copy as it was before issue 22, reading inside BEGIN IMMEDIATE (the same
     code with the read-only begin switched off);
  2. "snapshot": the copy now (`copy_study_database(..., snapshot=True)`: one deferred read
     transaction, a WAL snapshot, no write lock).
A probe thread takes the write lock (BEGIN IMMEDIATE, then ROLLBACK) every 50 ms on its own
connection and records how long it waited. Prints, per phase: copy duration, the probe's longest
wait during the copy (raters' submits hold the lock briefly; a copy holding it shows as a wait as
long as the copy) and its waits over 1 s, submits stored, submits refused
("database is locked" after the busy timeout), p50/p95/max submit latency.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def copier(source: str, target: str, mode: str) -> int:
    """Child process: one copy of `source` into the new file `target`, the old way or the new way."""
    from rating import study_copy

    os.nice(10)  # CPU goes to the raters first: this bench measures locking, not a 2-core machine's CPU share
    if mode == "write-locking":
        study_copy.READ_ONLY_OPTION = "bench_no_such_option"  # the begin is BEGIN IMMEDIATE again: the old copy
    start = time.time()
    report = study_copy.copy_study_database(f"sqlite:///{source}", f"sqlite:///{target}", snapshot=True)
    end = time.time()
    print(json.dumps({"start": start, "end": end, "copy_s": round(end - start, 1),
                      "copied_ratings": report.row_counts["rating"]}), flush=True)
    return 0


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


def run_phase(svc, tokens: list[str], form_for, db: Path, target: Path, mode: str) -> dict:
    child = subprocess.Popen([sys.executable, __file__, "--copier", str(db), str(target), mode], cwd=ROOT,
                             stdout=subprocess.PIPE, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    done = threading.Event()
    waits: list[tuple[float, float]] = []  # (time.time() at the start, seconds BEGIN IMMEDIATE waited)

    def rater(token: str, seed: int) -> None:
        rng = random.Random(seed)
        score = 3
        while not done.is_set():
            time.sleep(rng.uniform(0.1, 0.4))
            position = rng.randrange(6)
            score = 2 if score == 3 else 3
            t = time.perf_counter()
            try:
                view = svc.open_case(token, position)
                svc.submit(token, position, form_for(view, score))
            except Exception as exc:  # noqa: BLE001 - counted
                errors.append(repr(exc)[:200])
                continue
            with lock:
                latencies.append(time.perf_counter() - t)

    def prober() -> None:
        conn = sqlite3.connect(db, timeout=600, isolation_level=None)
        while not done.is_set():
            start, t = time.time(), time.perf_counter()
            conn.execute("BEGIN IMMEDIATE")
            waits.append((start, time.perf_counter() - t))
            conn.execute("ROLLBACK")
            time.sleep(0.05)
        conn.close()

    threads = [threading.Thread(target=rater, args=(tok, i)) for i, tok in enumerate(tokens)]
    threads.append(threading.Thread(target=prober))
    for t in threads:
        t.start()
    out, _ = child.communicate(timeout=3600)
    time.sleep(1.0)
    done.set()
    for t in threads:
        t.join()
    info = json.loads(out.strip().splitlines()[-1])
    window = [w for t, w in waits if info["start"] - 1 <= t <= info["end"]]
    kinds = sorted({e.split("(")[0] for e in errors})
    return {"copy": mode, **{k: v for k, v in info.items() if k not in ("start", "end")},
            "probe_longest_wait_s": round(max(window, default=0.0), 1), "probe_waits_over_1s": sum(w > 1 for w in window),
            "submits_stored": len(latencies), "submits_refused": len(errors), "refusal_kinds": kinds,
            "p50_ms": round(_percentile(latencies, 0.5) * 1000, 1), "p95_ms": round(_percentile(latencies, 0.95) * 1000, 1),
            "max_ms": round(max(latencies, default=float("nan")) * 1000, 1),
            "mean_ms": round(statistics.mean(latencies) * 1000, 1) if latencies else None}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "--copier":
        return copier(argv[1], argv[2], argv[3])
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--ratings", type=int, default=48_000)
    p.add_argument("--raters", type=int, default=10)
    a = p.parse_args(argv)
    from bench.live_study import form_for, submitters_study

    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "live.db"
        factory, svc, tokens = submitters_study(db, a.ratings, a.raters)
        results = [run_phase(svc, tokens, form_for, db, Path(tmp) / f"copy-{mode}.db", mode)
                   for mode in ("write-locking", "snapshot")]
        factory.kw["bind"].dispose()
    for r in results:
        print(json.dumps(r))
    old, new = results
    print(f"longest wait for the write lock during the copy: {old['probe_longest_wait_s']} s of a {old['copy_s']} s "
          f"copy before (BEGIN IMMEDIATE), {new['probe_longest_wait_s']} s of a {new['copy_s']} s copy now (snapshot); "
          f"submits refused {old['submits_refused']} before, {new['submits_refused']} now; "
          f"submit p95 {old['p95_ms']} ms before, {new['p95_ms']} ms now")
    return 0


if __name__ == "__main__":
    sys.exit(main())
