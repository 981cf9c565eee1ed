"""Impressions per second: the batched generator vs a per-report `model.generate` loop.

    python bench/bench_batched_generation.py [--model models/default/final] [--n 64] [--batch-size 32]

Same model, same test findings, same prompts (with retrieved examples), same greedy decoding
and max_new_tokens; both paths use the KV cache. Prints both rates and their ratio (target >= 5x)
and checks that the two paths wrote the same impressions.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

import torch  # noqa: E402

from core.generator import GenerationSettings  # noqa: E402
from core.prompt import extract_impression  # noqa: E402
from training.dataset import load_split  # noqa: E402
from training.lm_generator import load_checkpoint_generator  # noqa: E402
from training.paths import default_model_dir  # noqa: E402


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


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", type=Path, default=None, help="final model folder (default: models/default/final)")
    p.add_argument("--n", type=int, default=64, help="test reports to generate for")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--max-new-tokens", type=int, default=64)
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)

    split = load_split()
    findings = [r.findings for r in split.test[: args.n]]
    gen = load_checkpoint_generator(default_model_dir(args.model), train=split.train)
    gen.batch_size = args.batch_size
    settings = GenerationSettings(max_new_tokens=args.max_new_tokens)
    gen.generate(findings[:2], settings)  # warm-up

    t0 = time.perf_counter()
    batched = gen.generate(findings, settings)
    t_batched = time.perf_counter() - t0
    t0 = time.perf_counter()
    looped = per_report_loop(gen, findings, settings)
    t_loop = time.perf_counter() - t0

    same = sum(a == b for a, b in zip(batched, looped))
    print(f"model: {gen.source}  reports: {len(findings)}  batch size: {args.batch_size}  "
          f"max_new_tokens: {args.max_new_tokens}  threads: {args.threads}")
    print(f"per-report loop : {len(findings) / t_loop:7.2f} impressions/s  ({t_loop:.1f} s)")
    print(f"batched         : {len(findings) / t_batched:7.2f} impressions/s  ({t_batched:.1f} s)")
    print(f"speed-up        : {t_loop / t_batched:.1f}x (target >= 5x); identical outputs: {same}/{len(findings)}")


if __name__ == "__main__":
    main()
