"""Rating submits through one vs two app processes on one PostgreSQL database, side by side.

    python bench/bench_multiprocess.py [--raters 40] [--cases 8] [--rounds 2]

Starts a throwaway PostgreSQL server (tests/support/pg_server.py: initdb + pg_ctl in a temp folder, a free
127.0.0.1 port) with one study (3 blinded candidates per case, every rater rates every case) and
two `app.py --rating-only` processes on it. Every rater submits back to back (think time 0: a
saturating burst that measures capacity) through gradio_client:

  1 process     all raters on process A (B idle);
  2 processes   half the raters on A, half on B.

The two conditions alternate for --rounds rounds (each round on fresh cases), so drift in the
machine's load hits both. It prints per condition: submits/s, p50, p95 and the app processes'
CPU time per submit. Clients, both app processes and PostgreSQL share this machine's CPUs, so two
processes can only help as far as there are idle cores.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from bench.bench_rating_submit import percentile, process_cpu_s
from tests.support.pg_server import start_postgres
from tests.support.rating_support import AppServer, client, make_study, submit_args

N_CANDIDATES = 3


def run(label: str, servers: list[AppServer], clients: dict, tokens: dict[str, str], positions: range) -> dict:
    """Rater i submits `positions` back to back on servers[i % len(servers)] (its client is prebuilt)."""
    barrier = threading.Barrier(len(tokens))
    latencies: list[float] = []
    lock = threading.Lock()

    def rater(name: str, token: str) -> None:
        barrier.wait()
        for position in positions:
            t0 = time.perf_counter()
            clients[name].predict(*submit_args(token, position, N_CANDIDATES), api_name="/submit")
            with lock:
                latencies.append((time.perf_counter() - t0) * 1000)

    pids = [s.app.proc.pid for s in servers]
    cpu0, t0 = sum(process_cpu_s(p) or 0 for p in pids), time.perf_counter()
    threads = [threading.Thread(target=rater, args=item) for item in tokens.items()]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    cpu = sum(process_cpu_s(p) or 0 for p in pids) - cpu0
    return {"label": label, "latencies": latencies, "wall": wall, "cpu_ms": cpu / len(latencies) * 1000}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--raters", type=int, default=40)
    p.add_argument("--cases", type=int, default=8, help="submits per rater per condition and round")
    p.add_argument("--rounds", type=int, default=2)
    args = p.parse_args()
    pg = start_postgres()
    results: dict[str, list[dict]] = {"1 process": [], "2 processes": []}
    try:
        url = pg.new_database("bench")
        n_conditions = 2 * args.rounds
        tokens = make_study(url, n_raters=args.raters, n_cases=n_conditions * args.cases, n_calibration=0,
                            n_repeats=0, name="bench").rater_tokens
        with tempfile.TemporaryDirectory() as tmp:
            servers = [AppServer(url, log_path=Path(tmp) / f"{s}.log") for s in "ab"]
            with ThreadPoolExecutor(2) as pool:
                list(pool.map(lambda s: s.start(timeout=180), servers))
            try:
                names = list(tokens)
                one = {n: client(servers[0].rater_url) for n in names}
                two = {n: client(servers[i % 2].rater_url) for i, n in enumerate(names)}
                for c in (one, two):
                    for n in names:
                        c[n].predict(tokens[n], api_name="/sign_in")
                block = 0
                for _ in range(args.rounds):
                    for label, group, clients in (("1 process", servers[:1], one), ("2 processes", servers, two)):
                        positions = range(block * args.cases, (block + 1) * args.cases)
                        block += 1
                        results[label].append(run(label, group, clients, tokens, positions))
            finally:
                for s in servers:
                    s.stop()
    finally:
        pg.stop()
    print(f"{args.raters} raters x {args.cases} submits x {args.rounds} rounds per condition, think 0, "
          f"{N_CANDIDATES} candidates per case, PostgreSQL 127.0.0.1, {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.1f} after the run")
    summary = {}
    for label, runs in results.items():
        lat = [x for r in runs for x in r["latencies"]]
        rate = len(lat) / sum(r["wall"] for r in runs)
        cpu = statistics.mean(r["cpu_ms"] for r in runs)
        summary[label] = rate
        print(f"  {label:<12} n={len(lat):5d}  {rate:6.1f} submits/s  p50={statistics.median(lat):7.1f}  "
              f"p95={percentile(lat, 95):7.1f} ms  app CPU/submit {cpu:5.1f} ms")
    print(f"2 processes / 1 process throughput: {summary['2 processes'] / summary['1 process']:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
