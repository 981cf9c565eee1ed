"""A visitor's answer time on the public demo while one client floods the Generate queue.

    python -m bench.bench_queue_flood [--flood 600] [--visits 5]

Starts `python app.py --public-demo --no-build-model` twice on free 127.0.0.1 ports, behind a
"trusted proxy" (RADLLAMA_TRUSTED_PROXIES=127.0.0.1) so that X-Forwarded-For tells the flooder
(10.50.0.1) from the visitor (10.50.0.2): once with the queue bound (demo/queue_bound.py, the
default limits) and once without it (RADLLAMA_QUEUE_PER_CLIENT=0, RADLLAMA_QUEUE_TOTAL=0). In each,
`--visits` visitors (each its own address, all at once) ask for a Generate answer (join to
completion, short findings) alone, then again once the flooder has sent half of its `--flood` jobs
of 16,000-character findings (8 threads, as fast as they can); the median and worst answer times
are printed side by side with their ratio. Baseline systems only (no model is
built); a real model makes every flood job slower, so the unbounded case gets worse with it.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.support.app_process import start_app
from tests.security.flood import (
    FLOOD_FINDINGS,
    VISITOR_FINDINGS,
    answer,
    generate_fn,
    join,
)

FLOODER = "10.50.0.1"


def visits(url: str, fn, n: int, tag: int) -> list[float]:
    """n visitors (each its own address) asking at once: their answer times."""
    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(lambda i: answer(url, VISITOR_FINDINGS, f"10.50.{tag}.{i + 2}", fn)[0], range(n)))


def measure(bounded: bool, n_flood: int, n_visits: int) -> dict:
    env = {"RADLLAMA_TRUSTED_PROXIES": "127.0.0.1"}
    if not bounded:
        env.update(RADLLAMA_QUEUE_PER_CLIENT="0", RADLLAMA_QUEUE_TOTAL="0")
    with tempfile.TemporaryDirectory() as tmp:
        app = start_app(Path(tmp), ["--public-demo", "--no-build-model", "--model", str(Path(tmp) / "none")],
                        ready_path="/config", netguard=False, extra_env=env)
        try:
            fn = generate_fn(app.url)
            visits(app.url, fn, 2, 0)  # warm-up
            alone = visits(app.url, fn, n_visits, 1)
            statuses: list[int] = []
            half_sent = threading.Event()

            def one(_):
                status = join(app.url, FLOOD_FINDINGS, FLOODER, fn)[0]
                statuses.append(status)
                if len(statuses) >= n_flood // 2:
                    half_sent.set()
                return status

            with ThreadPoolExecutor(8) as pool:
                pending = [pool.submit(one, i) for i in range(n_flood)]
                half_sent.wait()  # the visitors come while the flood is still being sent
                flooded = visits(app.url, fn, n_visits, 2)
                for f in pending:
                    f.result()
        finally:
            app.stop()
    return {"alone": statistics.median(alone), "flooded": statistics.median(flooded), "max_flooded": max(flooded),
            "queued": statuses.count(200), "refused": statuses.count(503)}


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--flood", type=int, default=600, help="Generate jobs the flooder sends (default 600)")
    p.add_argument("--visits", type=int, default=5, help="visitor requests per phase (default 5)")
    a = p.parse_args(argv)
    print(f"load: {os.getloadavg()[0]:.2f} (1-min average), {os.cpu_count()} CPUs; flood {a.flood} jobs of "
          f"{len(FLOOD_FINDINGS)} characters from one client")
    rows = [("bounded (default)", measure(True, a.flood, a.visits)), ("unbounded", measure(False, a.flood, a.visits))]
    print(f"{'queue':<18} {'visitor alone p50':>18} {'during flood p50':>17} {'max':>7} {'ratio':>6} "
          f"{'flood queued':>13} {'refused':>8}")
    for name, r in rows:
        print(f"{name:<18} {r['alone']:>16.2f} s {r['flooded']:>15.2f} s {r['max_flooded']:>5.1f} s "
              f"{r['flooded'] / r['alone']:>6.1f} {r['queued']:>13} {r['refused']:>8}")
    print(f"unbounded / bounded, visitor p50 during the flood: {rows[1][1]['flooded'] / rows[0][1]['flooded']:.1f}x")


if __name__ == "__main__":
    main()
