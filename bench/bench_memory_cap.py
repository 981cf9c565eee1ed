"""Server memory under oversized Generate requests: RSS before and after N requests of 1 MB each.

    python -m bench.bench_memory_cap [--n 1000] [--n-uncapped 200] [--mb 1]

Starts `python app.py --only generate --no-build-model` twice on free 127.0.0.1 ports, side by side:
  capped:   the default request cap (core/request_limits.py, 64 KiB): each 1 MB body is answered 413
            before Gradio reads it;
  uncapped: RADLLAMA_MAX_REQUEST_KB raised above the body size (what the app did before the cap):
            Gradio accepts each body and keeps it in its session state.
Each request is a POST of {"data": [<1 MB of findings>]} to /gradio_api/call/generate, as any API
client can send. RSS (psutil) of the server process is read after start-up and after the requests.
A third run sends bodies just under the cap (accepted): their growth is bounded by the number of
sessions Gradio keeps for the workbench (app.WORKBENCH_STATE_SESSIONS).
Target: the capped server grows by at most 100 MB over 1,000 requests.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import urllib.error
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

TARGET_GROWTH_MB = 100


def _rss_mb(pid: int) -> float:
    import psutil

    return psutil.Process(pid).memory_info().rss / 2**20


def _post(url: str, body: bytes) -> int:
    from tests.support.app_process import post_json

    try:
        return post_json(url, body, timeout=60)
    except (ConnectionError, urllib.error.URLError):
        return -1  # the server closed the connection after answering 413 before the upload ended


def run(label: str, n: int, size_mb: float, extra_env: dict, valid: bool = False) -> dict:
    from tests.support.app_process import start_app

    with tempfile.TemporaryDirectory() as tmp:
        app = start_app(Path(tmp), ["--only", "generate", "--no-build-model", "--db", str(Path(tmp) / "b.db")],
                        netguard=False, extra_env={"OMP_NUM_THREADS": "1", **extra_env})
        try:
            time.sleep(2)
            before = _rss_mb(app.proc.pid)
            findings = "Lungs are clear. " * int(size_mb * 2**20 / 17)
            # valid: all five inputs of /generate; else only the findings (a malformed call Gradio refuses)
            body = json.dumps({"data": [findings, "constant", "greedy", 4, 96] if valid else [findings]}).encode()
            statuses: dict[int, int] = {}
            started = time.perf_counter()
            for _ in range(n):
                status = _post(app.url + "/gradio_api/call/generate", body)
                statuses[status] = statuses.get(status, 0) + 1
            seconds = time.perf_counter() - started
            time.sleep(2)
            after = _rss_mb(app.proc.pid)
        finally:
            app.stop()
    result = {"label": label, "n": n, "body_mb": round(len(body) / 2**20, 2), "rss_before_mb": round(before, 1),
              "rss_after_mb": round(after, 1), "growth_mb": round(after - before, 1),
              "growth_per_1000_mb": round((after - before) * 1000 / max(n, 1), 1), "statuses": statuses,
              "seconds": round(seconds, 1)}
    print(json.dumps(result), flush=True)
    return result


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=int, default=1000, help="requests to the capped server")
    p.add_argument("--n-uncapped", type=int, default=200, help="requests to the uncapped server (0: skip)")
    p.add_argument("--mb", type=float, default=1.0, help="body size in MiB")
    p.add_argument("--n-small", type=int, default=1000,
                   help="requests just under the cap (0.06 MiB, accepted) to the capped server (0: skip)")
    a = p.parse_args(argv)
    capped = run("capped (default 64 KiB)", a.n, a.mb, {})
    if a.n_small:
        small = run("capped, bodies just under the cap (accepted, malformed: 1 of 5 inputs)", a.n_small, 0.06, {})
        valid = run("capped, bodies just under the cap (accepted, valid: 5 inputs)", a.n_small, 0.06, {}, valid=True)
        print(f"accepted 0.06 MiB requests: the server grew {small['growth_mb']} MB (malformed) and "
              f"{valid['growth_mb']} MB (valid) over {a.n_small}")
    if a.n_uncapped:
        uncapped = run("uncapped (cap raised to 4 MiB)", a.n_uncapped, a.mb, {"RADLLAMA_MAX_REQUEST_KB": "4096"})
        print(f"growth per 1,000 requests: capped {capped['growth_per_1000_mb']} MB, "
              f"uncapped {uncapped['growth_per_1000_mb']} MB")
    ok = capped["growth_mb"] <= TARGET_GROWTH_MB * a.n / 1000
    print(f"capped server grew {capped['growth_mb']} MB over {a.n} requests of {a.mb} MiB "
          f"(target <= {TARGET_GROWTH_MB} MB per 1,000): {'met' if ok else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
