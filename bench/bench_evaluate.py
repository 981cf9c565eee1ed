"""Speed of `training.evaluate` on the baselines: 3,000 OpenI reports, every registered metric.

    python -m bench.bench_evaluate [--data PATH] [--n 3000] [--systems constant,lead,retrieval]

Runs the evaluation in process (generation, per-report metrics, 1,000-resample bootstrap over both
subsets) on the first `n` reports of the data as test set, with the data's train split for
retrieval, and prints the time of each step against the one-minute target. The ROUGE-only time
is measured in the same run, so the share of any extra metric is visible side by side.
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

from training import evaluate, metric_registry
from reports import load_reports
from core.paths import default_data_path

TARGET_SECONDS = 60.0


def _timed_run(argv: list[str]) -> float:
    start = time.perf_counter()
    args = evaluate.build_parser().parse_args(argv)
    evaluate.evaluate(args)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", help="report data (default: the shared OpenI CSV)")
    parser.add_argument("--n", type=int, default=3000)
    parser.add_argument("--systems", default="constant,lead,retrieval")
    args = parser.parse_args()
    reports = load_reports(default_data_path(args.data)).reports[: args.n]
    with tempfile.TemporaryDirectory() as tmp:
        test_file = Path(tmp) / "test.jsonl"
        test_file.write_text("".join(json.dumps({"id": r.id, "findings": r.findings, "impression": r.impression}) + "\n"
                                     for r in reports), encoding="utf-8")
        argv = ["--test-file", str(test_file), "--systems", args.systems, "--no-progress", "--bootstrap", "1000"]
        if args.data:
            argv += ["--data", args.data]
        all_metrics = [m.name for m in metric_registry.active_metrics()]
        full = _timed_run(argv)
        saved = list(metric_registry.METRICS)
        metric_registry.METRICS[:] = [metric_registry.ROUGE]
        metric_registry.OPTIONAL_METRICS, optional = (), metric_registry.OPTIONAL_METRICS
        try:
            rouge_only = _timed_run(argv)
        finally:
            metric_registry.METRICS[:] = saved
            metric_registry.OPTIONAL_METRICS = optional
    n_systems = len(args.systems.split(","))
    print(f"{len(reports)} reports x {n_systems} systems ({args.systems})")
    print(f"all metrics ({', '.join(all_metrics)}): {full:.1f} s  ({full / TARGET_SECONDS:.2f} x the {TARGET_SECONDS:.0f} s target)")
    print(f"ROUGE only:                   {rouge_only:.1f} s  ({rouge_only / TARGET_SECONDS:.2f} x the target)")
    return 0 if full < TARGET_SECONDS else 1


if __name__ == "__main__":
    sys.exit(main())
