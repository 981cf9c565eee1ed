"""Same model, same text? One model folder in process (`hf:FOLDER`) and behind `transformers serve`
(`openai:FOLDER@URL`), both greedy, on held-out OpenI test reports (issue 26).

    python bench/bench_endpoint_parity.py [--model models/default/final] [--n 40] [--threads 1]

Three runs side by side, each against the in-process text:
  hf:FOLDER                      in process, the folder's prompt (retrieved training examples, token budget)
  openai:FOLDER@URL              the server; the prompt built as hf: builds it (the default since issue 26)
  openai:FOLDER@URL?prompt=paper the server with the bare paper template (what every endpoint sent before)
Prints ROUGE-1 of each against the radiologists' impressions and how many texts equal the in-process
ones, then one JSON line.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default=str(ROOT / "models" / "default" / "final"))
    p.add_argument("--n", type=int, default=40)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch

    from core.metrics import rouge_per_report
    from generation.base import GenerationSettings
    from generation.registry import build
    from reports.dataset import load_split
    from tests.support.endpoint_server import start_transformers_serve

    torch.set_num_threads(args.threads)
    folder = Path(args.model).resolve()
    split = load_split()
    test = split.test[: args.n]
    findings, references = [r.findings for r in test], [r.impression for r in test]
    greedy = GenerationSettings(strategy="greedy")
    with tempfile.TemporaryDirectory() as tmp:
        served = start_transformers_serve(folder, Path(tmp) / "serve.log", threads=args.threads, timeout=600)
        try:
            runs = {}
            for label, spec in (("hf: in process", f"hf:{folder}"),
                                ("openai: prompt as hf:", served.spec()),
                                ("openai: prompt=paper", served.spec("prompt=paper"))):
                started = time.perf_counter()
                texts = build(spec, split.train).generate(findings, greedy)
                runs[label] = (texts, time.perf_counter() - started)
        finally:
            served.stop()
    base = runs["hf: in process"][0]
    out = {"model": str(folder), "n": len(test), "load_average": os.getloadavg()[0]}
    print(f"{len(test)} OpenI test reports, greedy, model {folder}")
    for label, (texts, seconds) in runs.items():
        r1 = sum(s["rouge1"] for s in rouge_per_report(texts, references)) / len(texts)
        same = sum(a == b for a, b in zip(texts, base, strict=True))
        print(f"  {label:24s} ROUGE-1 {r1:.3f}   identical to in-process {same:3d}/{len(texts)}   {seconds:6.1f} s")
        out[label] = {"rouge1": round(r1, 4), "identical": same, "seconds": round(seconds, 1)}
    for label in runs:
        print(f"  first text, {label}: {runs[label][0][0]!r}")
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
