"""Server memory over accepted Generate calls whose results nobody reads: the RSS curve, before and after.

    python bench/bench_generate_memory.py [--n 2000] [--kb 50] [--every 250] [--idle 60]

Starts `python app.py --only generate --no-build-model` twice on free 127.0.0.1 ports, one after the
other, and POSTs --n valid calls (findings of --kb KB, system constant, greedy) to
/gradio_api/call/generate without fetching the results, as a careless API client does:
  before: RADLLAMA_GENERATE_QUEUE_MAX=0, Gradio's queue defaults (what the app did before issue 22:
          every call waits with its request; unread results of 2,000 sessions; 10,000 analytics events);
  after:  the bounds of demo/queue_bounds.py (64 waiting calls, 200 sessions, 1,000 analytics events).
Prints the server's RSS (psutil) every --every requests, then after --idle seconds without requests,
and the HTTP statuses (503: "queue is full").
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def _rss_mb(pid: int) -> float:
    import psutil

    return round(psutil.Process(pid).memory_info().rss / 2**20, 1)


def run(label: str, n: int, kb: int, every: int, idle: float, env: dict) -> dict:
    from tests.support.app_process import post_json, start_app

    with tempfile.TemporaryDirectory() as tmp:
        app = start_app(Path(tmp), ["--only", "generate", "--no-build-model", "--db", str(Path(tmp) / "g.db")],
                        netguard=False, extra_env={"OMP_NUM_THREADS": "1", **env})
        try:
            time.sleep(2)
            curve = [(0, _rss_mb(app.proc.pid))]
            findings = "Lungs are clear. " * (kb * 1024 // 17)
            body = json.dumps({"data": [findings, "constant", "greedy", 4, 96]}).encode()
            statuses: dict[int, int] = {}
            for i in range(1, n + 1):
                status = post_json(app.url + "/gradio_api/call/generate", body)
                statuses[status] = statuses.get(status, 0) + 1
                if i % every == 0:
                    curve.append((i, _rss_mb(app.proc.pid)))
            time.sleep(idle)
            after_idle = _rss_mb(app.proc.pid)
        finally:
            app.stop()
    result = {"label": label, "rss_curve_mb": curve, f"rss_after_{idle:g}s_idle_mb": after_idle,
              "growth_mb": round(after_idle - curve[0][1], 1), "statuses": statuses}
    print(json.dumps(result), flush=True)
    return result


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=int, default=2000)
    p.add_argument("--kb", type=int, default=50)
    p.add_argument("--every", type=int, default=250)
    p.add_argument("--idle", type=float, default=60.0)
    a = p.parse_args(argv)
    before = run("before (Gradio's queue defaults)", a.n, a.kb, a.every, a.idle, {"RADLLAMA_GENERATE_QUEUE_MAX": "0"})
    after = run("after (demo/queue_bounds.py)", a.n, a.kb, a.every, a.idle, {})
    print("requests  " + "  ".join(f"{i:>6}" for i, _ in before["rss_curve_mb"]))
    for r in (before, after):
        print(f"{r['label'][:6]:<8}  " + "  ".join(f"{mb:>6.0f}" for _, mb in r["rss_curve_mb"]) + " MB")
    print(f"RSS growth after {a.n} requests and {a.idle:g} s idle: before {before['growth_mb']} MB, "
          f"after {after['growth_mb']} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
