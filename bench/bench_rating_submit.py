"""Rating submit latency with 20 concurrent raters through gradio_client against the real app.

    python bench/bench_rating_submit.py [--raters 20] [--cases 15]

Starts `app.py --rating-only` on a free 127.0.0.1 port with a fresh SQLite study (3 blinded
systems), lets every rater submit their cases back to back, all at once, and prints p50/p95/max
of the end-to-end submit latency (HTTP + queue + one committed transaction). Side by side it
prints the same submits made in-process through RatingService, which isolates the database
part. Target: p95 <= 200 ms.
"""
from __future__ import annotations

import argparse
import random
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from tests.rating_support import AppServer, client, make_study, submit_args  # noqa: E402

TARGET_P95_MS = 200.0


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))]


def run_http(url: str, tokens: dict[str, str], n_cases: int, think_s: float = 0.0) -> list[float]:
    clients = {name: client(url) for name in tokens}
    for name, tok in tokens.items():
        clients[name].predict(tok, api_name="/sign_in")
    barrier = threading.Barrier(len(tokens))
    latencies: list[float] = []
    lock = threading.Lock()

    def rater(name: str, token: str) -> None:
        barrier.wait()
        for position in range(n_cases):
            t0 = time.perf_counter()
            clients[name].predict(*submit_args(token, position, 3), api_name="/submit")
            with lock:
                latencies.append((time.perf_counter() - t0) * 1000)
            if think_s:
                time.sleep(think_s * (0.5 + random.random()))  # a rater reads the next case

    threads = [threading.Thread(target=rater, args=item) for item in tokens.items()]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return latencies


def run_in_process(db: Path, tokens: dict[str, str], n_cases: int) -> list[float]:
    from db.engine import make_session_factory, prepare_database
    from db.models import CRITERIA
    from rating.service import RatingService

    service = RatingService(make_session_factory(prepare_database(str(db))))
    barrier = threading.Barrier(len(tokens))
    latencies: list[float] = []
    lock = threading.Lock()

    def rater(token: str) -> None:
        barrier.wait()
        for position in range(n_cases):
            form = [{"label": lab, **{c: 3 for c in CRITERIA}} for lab in "ABC"]
            t0 = time.perf_counter()
            service.submit(token, position, form)
            with lock:
                latencies.append((time.perf_counter() - t0) * 1000)

    threads = [threading.Thread(target=rater, args=(tok,)) for tok in tokens.values()]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return latencies


def report(label: str, values: list[float]) -> None:
    print(f"{label:<38} n={len(values):4d}  p50={statistics.median(values):7.1f} ms  "
          f"p95={percentile(values, 95):7.1f} ms  max={max(values):7.1f} ms")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--raters", type=int, default=20)
    p.add_argument("--cases", type=int, default=15)
    p.add_argument("--think-ms", type=float, default=0.0,
                   help="pause between a rater's submits (0: every rater submits back to back, a worst-case burst)")
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        http_db, local_db = Path(tmp) / "http.db", Path(tmp) / "local.db"
        http_study = make_study(http_db, n_raters=args.raters, n_cases=args.cases, n_calibration=0, n_repeats=0)
        local_study = make_study(local_db, n_raters=args.raters, n_cases=args.cases, n_calibration=0, n_repeats=0)
        server = AppServer(http_db, log_path=Path(tmp) / "server.log").start()
        try:
            t0 = time.perf_counter()
            http = run_http(server.rater_url, http_study.rater_tokens, args.cases, args.think_ms / 1000)
            wall = time.perf_counter() - t0
        finally:
            server.stop()
        local = run_in_process(local_db, local_study.rater_tokens, args.cases)
    print(f"{args.raters} concurrent raters x {args.cases} submits each (3 candidates per case), "
          f"think time {args.think_ms:.0f} ms, SQLite WAL, synchronous=FULL, {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.1f} (server, clients and anything else share the CPUs)")
    report("gradio_client -> app (end to end)", http)
    report("RatingService.submit (in process)", local)
    print(f"throughput end to end: {len(http) / wall:.1f} submits/s")
    ok = percentile(http, 95) <= TARGET_P95_MS
    print(f"target p95 <= {TARGET_P95_MS:.0f} ms: {'met' if ok else 'NOT met'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
