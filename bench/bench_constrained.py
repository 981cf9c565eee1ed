"""What strategy "constrained" costs over plain greedy decoding, side by side in one run.

    python -m bench.bench_constrained [--split validate|test] [--repeats 3] [--threads 1]

Same default model, same held-out findings; rounds alternate greedy and constrained (the CPU is
shared) and the median time of each is reported with their ratio, how many impressions were decoded
again (they differ from greedy) and how many greedy impressions contradict themselves
(core.consistency.check).
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--split", choices=("validate", "test"), default="validate")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=1, help="torch threads (1: the shared-machine setting)")
    args = p.parse_args(argv)

    import torch

    import generation.project_lm  # noqa: F401  (registers default)
    from core.consistency import check
    from generation import registry
    from generation.base import GenerationSettings
    from reports.dataset import load_split

    torch.set_num_threads(args.threads)
    split = load_split(None)
    findings = [r.findings for r in getattr(split, args.split)]
    gen = registry.build("default", split.train)
    times: dict[str, list[float]] = {"greedy": [], "constrained": []}
    outputs: dict[str, list[str]] = {}
    for _ in range(args.repeats):
        for strategy in times:
            start = time.perf_counter()
            outputs[strategy] = gen.generate(findings, GenerationSettings(strategy))
            times[strategy].append(time.perf_counter() - start)
    greedy, constrained = (statistics.median(times[s]) for s in times)
    changed = sum(a != b for a, b in zip(outputs["greedy"], outputs["constrained"], strict=True))
    flagged = sum(not check(o, f).consistent for o, f in zip(outputs["greedy"], findings, strict=True))
    print(f"{args.split}: {len(findings)} reports, torch threads {args.threads}, median of {args.repeats}")
    print(f"greedy {greedy:.2f} s, constrained {constrained:.2f} s, ratio {constrained / greedy:.2f}x")
    print(f"greedy impressions that contradict themselves: {flagged}; decoded again (differ from greedy): {changed}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
