"""Rating submits while an export runs: the export must not hold the write lock.

    python bench/bench_submit_during_export.py [--ratings 50000] [--raters 10] [--seconds 15]

One SQLite file holds a big study (bench_export.build_database, --ratings ratings) and a small one
whose --raters raters submit in threads of this process (think time 0.1-0.4 s, each submit a real
write: a rating edit; the time measured is opening the case plus submitting it). Two phases of
--seconds each, measured in one run:
  1. no export;
  2. exports back to back in another process, each in db.engine.read_only_session (what
     rating.export and the Analysis tab do now: a deferred read transaction, no write lock).
`--write-locking` adds a third phase with the exports in a BEGIN IMMEDIATE transaction (what
every session did before); its numbers vary from run to run with who gets the lock first.
The export process runs at nice 10, so that what is compared is locking, not the CPU share of a
small shared machine. Prints p50/p95 submit latency per phase and the ratio of phase 2's p95 to phase 1's (target <= 2).
"""
from __future__ import annotations

import argparse
import json
import os
import random
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


def exporter(db: str, mode: str, seconds: float, out_root: str) -> int:
    """Child process: export study 1 back to back for `seconds`, in a read-only or a write-locking session."""
    from db.engine import make_engine, make_session_factory, read_only_session, unit_of_work
    from sqlalchemy import text

    from rating.analysis.export import export_study

    os.nice(10)  # CPU goes to the raters first: this bench measures locking, not a 2-core machine's CPU share
    factory = make_session_factory(make_engine(db))
    session_for = (lambda: read_only_session(factory)) if mode == "read-only" else (lambda: unit_of_work(factory))
    print("ready", flush=True)
    sys.stdin.readline()  # the parent says go
    deadline = time.perf_counter() + seconds
    n = 0
    durations = []
    while time.perf_counter() < deadline:
        t = time.perf_counter()
        with session_for() as session:
            session.execute(text("SELECT count(*) FROM rating")).scalar()  # the transaction has begun
            if n == 0:
                print("started", flush=True)
            export_study(session, 1, Path(out_root) / f"{mode}-{n}")
        durations.append(time.perf_counter() - t)
        n += 1
    print(json.dumps({"exports": n, "mean_export_s": round(statistics.mean(durations), 2)}), flush=True)
    return 0


def _percentile(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


def run_phase(svc, tokens: list[str], n_positions: int, seconds: float, form_for, export_mode: str | None,
              db: Path, out_root: Path) -> dict:
    child = None
    if export_mode is not None:
        child = subprocess.Popen([sys.executable, __file__, "--exporter", str(db), export_mode, str(seconds + 2),
                                  str(out_root)], cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                 env={**os.environ, "OMP_NUM_THREADS": "1"})
        assert child.stdout.readline().strip() == "ready"
        child.stdin.write("go\n")
        child.stdin.flush()
        assert child.stdout.readline().strip() == "started"  # the export's transaction is open
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    stop_at = time.perf_counter() + seconds

    def rater(token: str, seed: int) -> None:
        rng = random.Random(seed)
        score = 3
        while time.perf_counter() < stop_at:
            time.sleep(rng.uniform(0.1, 0.4))
            position = rng.randrange(n_positions)
            score = 2 if score == 3 else 3
            try:
                t = time.perf_counter()  # a rater's round trip: open the case, submit it (both write)
                view = svc.open_case(token, position)
                svc.submit(token, position, form_for(view, score))
                elapsed = time.perf_counter() - t
                with lock:
                    latencies.append(elapsed)
            except Exception as exc:  # noqa: BLE001 - reported
                errors.append(repr(exc))

    threads = [threading.Thread(target=rater, args=(tok, i)) for i, tok in enumerate(tokens)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    info = {}
    if child is not None:
        out, _ = child.communicate(timeout=600)
        info = json.loads(out.strip().splitlines()[-1])
    return {"export": export_mode or "none", "submits": len(latencies), "errors": len(errors),
            "p50_ms": round(_percentile(latencies, 0.5) * 1000, 1), "p95_ms": round(_percentile(latencies, 0.95) * 1000, 1),
            "max_ms": round(max(latencies) * 1000, 1),
            **info}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "--exporter":
        return exporter(argv[1], argv[2], float(argv[3]), argv[4])
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--ratings", type=int, default=50_000)
    p.add_argument("--raters", type=int, default=10)
    p.add_argument("--seconds", type=float, default=15.0)
    p.add_argument("--write-locking", action="store_true", help="add the old, write-locking export phase")
    a = p.parse_args(argv)
    from bench.live_study import form_for, submitters_study

    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "bench.db"
        factory, svc, tokens = submitters_study(db, a.ratings, a.raters)
        results = [run_phase(svc, tokens, 6, a.seconds, form_for, mode, db, Path(tmp))
                   for mode in (None, "read-only", *(("write-locking",) if a.write_locking else ()))]
        factory.kw["bind"].dispose()
    for r in results:
        print(json.dumps(r))
    base, ro = results[0]["p95_ms"], results[1]["p95_ms"]
    print(f"submit p95: {base} ms alone, {ro} ms during read-only exports ({ro / base:.2f}x, target <= 2x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
