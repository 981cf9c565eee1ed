"""Rating submit latency with 20 concurrent raters through gradio_client against the real app.

    python bench/bench_rating_submit.py [--raters 20] [--cases 15] [--think-min 0.5 --think-max 3.0] [--seed 0]

Starts `app.py --rating-only` on a free 127.0.0.1 port with a fresh SQLite study (3 blinded
systems per case, every rater rates every case) and measures one submit (HTTP + queue + one
committed transaction + the next case's view) under three loads, side by side in one run:

  1 rater, back to back        the latency of one submit on an otherwise idle server;
  20 raters, realistic         each rater reads a case for a seeded random think time
                               (uniform think-min..think-max seconds) before each submit;
  20 raters, think 0           every rater submits back to back: a saturating burst that
                               measures capacity, not what a rater experiences.

Then the same submits in process through RatingService (no HTTP), which isolates the database:
one thread, and 20 threads with and without the in-process SQLite write lock (db/engine.py).
Per HTTP condition it also prints the server's and the bench client's CPU time per submit:
server, clients and anything else share this machine's CPUs.

gradio_client polls for messages every 50 ms, so its latencies include up to ~50 ms of client
polling that a browser (which reads the event stream directly) does not wait for.

Target (issue 5): p95 <= 200 ms with 20 concurrent raters. The exit status is 0 when the
realistic condition meets it; the saturating one is reported alongside, met or not.
"""
from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from tests.support.rating_support import AppServer, client, make_study, submit_args

TARGET_P95_MS = 200.0
N_CANDIDATES = 3


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))]


def process_cpu_s(pid: int) -> float | None:
    """User + system CPU seconds of process `pid` so far (Linux /proc), None elsewhere."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class Result:
    label: str
    latencies_ms: list[float]
    wall_s: float
    server_cpu_ms: float | None = None
    client_cpu_ms: float | None = None


def run_http(label: str, server: AppServer, clients: dict, tokens: dict[str, str], positions: range,
             think: tuple[float, float] | None, seed: int) -> Result:
    """Every rater in `tokens` submits the cases at `positions`; think=(lo, hi) seconds before each."""
    barrier = threading.Barrier(len(tokens))
    latencies: list[float] = []
    lock = threading.Lock()

    def rater(index: int, name: str, token: str) -> None:
        rng = random.Random(seed * 1000 + index)
        barrier.wait()
        for position in positions:
            if think:
                time.sleep(rng.uniform(*think))  # the rater reads the case before submitting
            t0 = time.perf_counter()
            clients[name].predict(*submit_args(token, position, N_CANDIDATES), api_name="/submit")
            with lock:
                latencies.append((time.perf_counter() - t0) * 1000)

    threads = [threading.Thread(target=rater, args=(i, *item)) for i, item in enumerate(tokens.items())]
    server_cpu0, client_cpu0, t0 = process_cpu_s(server.app.proc.pid), time.process_time(), time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    server_cpu1, n = process_cpu_s(server.app.proc.pid), len(latencies)
    return Result(label, latencies, wall,
                  server_cpu_ms=None if server_cpu0 is None else (server_cpu1 - server_cpu0) / n * 1000,
                  client_cpu_ms=(time.process_time() - client_cpu0) / n * 1000)


def run_in_process(label: str, db: Path, tokens: list[str], positions: range, serialise_writes: bool) -> Result:
    from db.engine import make_engine, make_session_factory
    from db.models import CRITERIA
    from rating.service import RatingService

    engine = make_engine(str(db), serialise_writes=serialise_writes)
    service = RatingService(make_session_factory(engine))
    barrier = threading.Barrier(len(tokens))
    latencies: list[float] = []
    lock = threading.Lock()
    form = [{"label": lab, **{c: 3 for c in CRITERIA}} for lab in "ABC"[:N_CANDIDATES]]

    def rater(token: str) -> None:
        barrier.wait()
        for position in positions:
            t0 = time.perf_counter()
            service.submit(token, position, form)
            with lock:
                latencies.append((time.perf_counter() - t0) * 1000)

    threads = [threading.Thread(target=rater, args=(tok,)) for tok in tokens]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    engine.dispose()
    return Result(label, latencies, wall)


def report(r: Result, judge: bool = False) -> None:
    p95 = percentile(r.latencies_ms, 95)
    cpu = ""
    if r.client_cpu_ms is not None:
        server = "n/a" if r.server_cpu_ms is None else f"{r.server_cpu_ms:5.1f}"
        cpu = f"  cpu/submit server {server} ms, client {r.client_cpu_ms:5.1f} ms"
    verdict = f"  [{'meets' if p95 <= TARGET_P95_MS else 'MISSES'} p95 <= {TARGET_P95_MS:.0f}]" if judge else ""
    print(f"  {r.label:<44} n={len(r.latencies_ms):4d}  p50={statistics.median(r.latencies_ms):7.1f}  "
          f"p95={p95:7.1f}  max={max(r.latencies_ms):7.1f} ms  {len(r.latencies_ms) / r.wall_s:5.1f}/s"
          f"{cpu}{verdict}")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--raters", type=int, default=20)
    p.add_argument("--cases", type=int, default=15, help="submits per rater in each condition")
    p.add_argument("--think-min", type=float, default=0.5, help="shortest think time (s), realistic condition")
    p.add_argument("--think-max", type=float, default=3.0, help="longest think time (s), realistic condition")
    p.add_argument("--seed", type=int, default=0, help="seed of the think times")
    args = p.parse_args()
    n = args.cases
    single, realistic, burst = range(0, n), range(n, 2 * n), range(2 * n, 3 * n)
    with tempfile.TemporaryDirectory() as tmp:
        http_db, local_db = Path(tmp) / "http.db", Path(tmp) / "local.db"
        study = dict(n_raters=args.raters, n_cases=3 * n, n_calibration=0, n_repeats=0)
        http_tokens = make_study(http_db, **study).rater_tokens
        local_tokens = list(make_study(local_db, **study).rater_tokens.values())
        server = AppServer(http_db, log_path=Path(tmp) / "server.log").start()
        try:
            clients = {name: client(server.rater_url) for name in http_tokens}
            for name, tok in http_tokens.items():
                clients[name].predict(tok, api_name="/sign_in")
            first = dict(list(http_tokens.items())[:1])
            http = [
                run_http("1 rater, back to back", server, clients, first, single, None, args.seed),
                run_http(f"{args.raters} raters, think {args.think_min:g}-{args.think_max:g} s (realistic)", server,
                         clients, http_tokens, realistic, (args.think_min, args.think_max), args.seed),
                run_http(f"{args.raters} raters, think 0 (saturating burst)", server, clients, http_tokens, burst,
                         None, args.seed),
            ]
        finally:
            server.stop()
        local = [
            run_in_process("1 thread", local_db, local_tokens[:1], single, True),
            run_in_process(f"{args.raters} threads, in-process write lock", local_db, local_tokens, realistic, True),
            run_in_process(f"{args.raters} threads, SQLite busy handler only", local_db, local_tokens, burst, False),
        ]
    print(f"{args.raters} raters x {n} submits per condition ({N_CANDIDATES} candidates per case), SQLite WAL, "
          f"synchronous=FULL, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} after the run")
    print("gradio_client -> app.py --rating-only (end to end):")
    for i, r in enumerate(http):
        report(r, judge=i > 0)
    print("RatingService.submit in process (no HTTP):")
    for r in local:
        report(r)
    ok = percentile(http[1].latencies_ms, 95) <= TARGET_P95_MS
    print(f"target p95 <= {TARGET_P95_MS:.0f} ms with {args.raters} concurrent raters: "
          f"{'met' if ok else 'NOT met'} under the realistic load; "
          f"{'met' if percentile(http[2].latencies_ms, 95) <= TARGET_P95_MS else 'not met'} under the saturating burst")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
