"""Impressions per second: the batched generator vs a per-report `model.generate` loop.

    python bench/bench_batched_generation.py [--model models/default/final] [--n 64] [--batch-size 32]
                                             [--dtype auto|float32|bfloat16] [--repeats 3]

Same model, same test findings, same prompts (with retrieved examples), same greedy decoding
and max_new_tokens; both paths use the KV cache. Each path runs in float32 and, when --dtype
resolves to bfloat16 (auto: where the CPU has AMX / AVX512-BF16), also with the weights cast
to bfloat16. Rounds alternate the paths and the median time of each is reported, because the
CPU is shared. Prints every rate, the same-dtype ratios side by side (target >= 5x), and how
many impressions each batched run shares with the float32 loop.
"""
from __future__ import annotations

import argparse
import copy
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

import torch

from generation.base import GenerationSettings
from core.prompt import extract_impression
from reports.dataset import load_split
from generation.project_lm import DTYPES, load_checkpoint_generator, resolve_dtype
from core.paths import default_model_dir


def per_report_loop(gen, findings: list[str], settings: GenerationSettings) -> list[str]:
    """The naive way: one prompt, one model.generate call, per report."""
    out = []
    kwargs = gen._generate_kwargs(settings)
    for f in findings:
        enc = gen._encode([f], settings.max_new_tokens)
        with torch.inference_mode():
            ids = gen.model.generate(**enc, **kwargs)
        out.append(extract_impression(gen.tokenizer.decode(ids[0, enc["input_ids"].shape[1]:], skip_special_tokens=True)))
    return out


def timed(fn) -> tuple[float, list[str]]:
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", type=Path, default=None, help="final model folder (default: models/default/final)")
    p.add_argument("--n", type=int, default=64, help="test reports to generate for")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--max-new-tokens", type=int, default=64)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--dtype", choices=DTYPES, default="auto", help="also measure bfloat16 when this resolves to it")
    p.add_argument("--repeats", type=int, default=3, help="alternating rounds; the median time of each path counts")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)

    split = load_split()
    findings = [r.findings for r in split.test[: args.n]]
    fp32 = load_checkpoint_generator(default_model_dir(args.model), train=split.train, dtype="float32")
    gens = {"float32": fp32}
    if resolve_dtype(args.dtype) == "bfloat16":
        gens["bfloat16"] = copy.copy(fp32)
        gens["bfloat16"].model = copy.deepcopy(fp32.model).to(torch.bfloat16)
    settings = GenerationSettings(max_new_tokens=args.max_new_tokens)
    paths = {}
    for dtype, gen in gens.items():
        gen.batch_size = args.batch_size
        gen.generate(findings[:2], settings)  # warm-up
        paths[("loop", dtype)] = lambda g=gen: per_report_loop(g, findings, settings)
        paths[("batched", dtype)] = lambda g=gen: g.generate(findings, settings)

    times: dict[tuple[str, str], list[float]] = {key: [] for key in paths}
    outputs: dict[tuple[str, str], list[str]] = {}
    for _ in range(max(1, args.repeats)):
        for key, fn in paths.items():
            seconds, outputs[key] = timed(fn)
            times[key].append(seconds)
    median = {key: statistics.median(ts) for key, ts in times.items()}
    rate = {key: len(findings) / s for key, s in median.items()}
    reference = outputs[("loop", "float32")]

    print(f"model: {fp32.source}  reports: {len(findings)}  batch size: {args.batch_size}  "
          f"max_new_tokens: {args.max_new_tokens}  threads: {args.threads}  rounds: {args.repeats} (median)")
    for (path, dtype), r in rate.items():
        same = sum(a == b for a, b in zip(outputs[(path, dtype)], reference, strict=True))
        print(f"{path:8s} {dtype:9s}: {r:7.2f} impressions/s  ({median[(path, dtype)]:.2f} s)  "
              f"same as float32 loop: {same}/{len(findings)}")
    for dtype in gens:
        print(f"speed-up, batched vs loop, both {dtype:9s}: {rate[('batched', dtype)] / rate[('loop', dtype)]:.1f}x "
              f"(target >= 5x)")
    if "bfloat16" in gens:
        print(f"speed-up, batched bfloat16 vs loop float32      : "
              f"{rate[('batched', 'bfloat16')] / rate[('loop', 'float32')]:.1f}x")


if __name__ == "__main__":
    main()
