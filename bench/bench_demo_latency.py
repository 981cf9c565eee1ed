"""Demo latency: request to full impression, through gradio_client against the real app.

    python -m bench.bench_demo_latency [--n 30] [--model PATH] [--system default]

Starts `python app.py` on a free 127.0.0.1 port (temporary database, no background build),
sends `n` OpenI test findings one at a time to `/generate` (after 3 warm-up requests) and
prints p50/p95 against the 0.5 s p50 target. The project's default model is used when it
exists (models/default/final); otherwise the retrieval baseline is measured instead, and the
output says so. A second system (--compare, default lead) is measured in the same run for scale.
"""
from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

TARGET_P50_S = 0.5
WARM_UP = 3


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_app(args: list[str], log_path: Path, timeout: float = 180.0) -> tuple[subprocess.Popen, str]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([sys.executable, "app.py", *args, "--port", str(port)], cwd=ROOT,
                                stdout=log, stderr=subprocess.STDOUT)
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"app exited ({proc.returncode}); see {log_path}")
        try:
            urllib.request.urlopen(url + "/", timeout=2).close()
            return proc, url
        except OSError:
            time.sleep(0.5)
    proc.terminate()
    raise SystemExit(f"app did not start within {timeout} s; see {log_path}")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def measure(client, findings: list[str], system: str) -> dict:
    for text in findings[:WARM_UP]:
        client.predict(text, system, api_name="/generate")
    times, answered_by = [], set()
    for text in findings:
        start = time.perf_counter()
        impression, details = client.predict(text, system, api_name="/generate")
        times.append(time.perf_counter() - start)
        answered_by.add(details.split("**")[1] if "**" in details else "?")
    return {"system": system, "answered_by": sorted(answered_by), "n": len(times),
            "p50_s": round(statistics.median(times), 4), "p95_s": round(percentile(times, 0.95), 4),
            "mean_s": round(statistics.fmean(times), 4)}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=int, default=30)
    p.add_argument("--model", help="checkpoint folder to serve as the project model (default: models/default/final)")
    p.add_argument("--data", help="report data (default: the shared OpenI CSV)")
    p.add_argument("--system", default="default")
    p.add_argument("--compare", default="lead", help="a second system measured in the same run ('' for none)")
    a = p.parse_args()

    from demo.model_builder import model_is_complete
    from reports.dataset import load_split
    from core.paths import default_model_dir

    model_dir = default_model_dir(a.model)
    system = a.system
    if system == "default" and not model_is_complete(model_dir) and not (model_dir / "config.json").exists():
        print(f"NOTE: no project model at {model_dir}; measuring the retrieval baseline instead. "
              "Build the model with `python -m training.train --recipe default` to measure it.")
        system = "retrieval"
    findings = [r.findings for r in load_split(a.data).test][: a.n]
    tmp = Path(tempfile.mkdtemp(prefix="bench_demo_"))
    args = ["--no-build-model", "--db", str(tmp / "bench.db")]
    args += ["--model", str(model_dir)] if a.model else []
    args += ["--data", a.data] if a.data else []
    proc, url = start_app(args, tmp / "app.log")
    try:
        from gradio_client import Client

        client = Client(url + "/", verbose=False)
        results = [measure(client, findings, system)]
        if a.compare:
            results.append(measure(client, findings, a.compare))
    finally:
        proc.terminate()
        proc.wait(15)
    for r in results:
        print(json.dumps(r))
    main_result = results[0]
    ok = main_result["p50_s"] <= TARGET_P50_S
    print(f"demo latency ({main_result['answered_by']}): p50 {main_result['p50_s']:.3f} s, "
          f"p95 {main_result['p95_s']:.3f} s over {main_result['n']} requests; target p50 <= {TARGET_P50_S} s: "
          f"{'met' if ok else 'MISSED'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
