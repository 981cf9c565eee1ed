"""Impressions per second through `openai:` (1 and 8 requests in flight) against a local
`transformers serve`, side by side with the same model in process (`hf:`).

    python bench/bench_endpoint.py [--model HF_FOLDER] [--n 32] [--max-new-tokens 48] [--threads 1]
                                   [--server-modes plain,continuous-batching]

The model defaults to the project model (models/default/final) when it exists, else a tiny
random Llama built on the spot. Findings are OpenI test reports when the shared CSV is there,
else the tiny toy reports, keeping those whose prompt fits the model's context (the in-process
model cuts longer findings to fit; an endpoint cannot know the context and sends them whole).
For each server mode (plain: one request at a time on the server's inference thread;
continuous-batching: `transformers serve --continuous-batching`) one server process on
127.0.0.1 (offline), pinned to the model, with the same torch thread count as in process. Prints the rates, the ratios
to the in-process batched rate, and how many impressions equal those of the in-process model
decoding one unpadded prompt at a time, as the server does (greedy on both sides; batched
decoding pads prompts, which can flip near-ties of a random model).
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

from core.prompt import build_prompt
from generation.base import GenerationSettings
from generation.registry import build


def load_findings(generator, n: int, settings: GenerationSettings) -> tuple[list[str], str]:
    """Up to n findings whose prompt fits the generator's context, and where they come from."""
    from core.paths import DataNotFound
    from reports.dataset import load_split

    try:
        pool, source = [r.findings for r in load_split().test], "OpenI test split"
    except (DataNotFound, OSError, ValueError):
        from tests.support.tiny_lm import tiny_reports
        pool, source = [r.findings for r in tiny_reports(max(n, 48))], "tiny toy reports"
    def fits(findings: str) -> bool:  # the in-process prompt is the whole paper's prompt, not cut to the context
        prepared = generator.prepare(findings, settings)  # notices: the findings were cut to fit
        text = prepared.text
        return not prepared.notices and generator._prompts([text], settings.max_new_tokens)[0] == build_prompt(text)

    return [f for f in pool if fits(f)][:n], f"{source}, those that fit the context"


def rate(generator, findings: list[str], settings: GenerationSettings) -> tuple[float, list[str]]:
    started = time.perf_counter()
    out = generator.generate(findings, settings)
    return len(findings) / (time.perf_counter() - started), out


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", type=Path, default=None, help="HF model folder (default: models/default/final or tiny)")
    p.add_argument("--n", type=int, default=32, help="findings per measurement")
    p.add_argument("--max-new-tokens", type=int, default=48)
    p.add_argument("--threads", type=int, default=1, help="torch threads, in process and in the server")
    p.add_argument("--server-modes", default="plain,continuous-batching",
                   help="comma-separated: plain and/or continuous-batching")
    a = p.parse_args(argv)

    import torch

    from tests.support.endpoint_server import start_transformers_serve

    torch.set_num_threads(a.threads)
    work = Path(tempfile.mkdtemp(prefix="bench-endpoint-"))
    model = a.model or (ROOT / "models" / "default" / "final")
    if not (model / "config.json").exists():
        from tests.support.tiny_hf import tiny_hf_folder
        model = tiny_hf_folder(work / "tiny-llama")
    settings = GenerationSettings(max_new_tokens=a.max_new_tokens)
    local = build(f"hf:{model}?dtype=float32")
    findings, source = load_findings(local, a.n, settings)
    local.generate(findings[:2], settings)  # warm-up
    local_rate, local_out = rate(local, findings, settings)
    single = build(f"hf:{model}?dtype=float32&batch_size=1")  # unpadded, one prompt at a time, like the server
    single_rate, single_out = rate(single, findings, settings)

    rows = []
    for mode in [m.strip() for m in a.server_modes.split(",") if m.strip()]:
        extra = {"plain": [], "continuous-batching": ["--continuous-batching"]}[mode]
        served = start_transformers_serve(model, work / f"serve-{mode}.log", threads=a.threads, extra_args=extra)
        try:
            for in_flight in (1, 8):
                endpoint = build(served.spec(f"max_concurrency={in_flight}&timeout=600"))
                endpoint.generate(findings[:2], settings)  # warm-up
                endpoint_rate, endpoint_out = rate(endpoint, findings, settings)
                same = sum(x == y for x, y in zip(endpoint_out, single_out, strict=True))
                rows.append((f"openai: {mode}, {in_flight} in flight", endpoint_rate, same))
        finally:
            served.stop()

    print(f"model {model} | {len(findings)} findings ({source}) | max_new_tokens {a.max_new_tokens} | "
          f"torch threads {a.threads}")
    print(f"{'path':<44}{'impressions/s':>15}{'vs in-process':>15}{'same as hf: 1 by 1':>20}")
    print(f"{'hf: in process, batched':<44}{local_rate:>15.2f}{1.0:>14.2f}x"
          f"{sum(x == y for x, y in zip(local_out, single_out, strict=True)):>16}/{len(findings)}")
    print(f"{'hf: in process, 1 by 1':<44}{single_rate:>15.2f}{single_rate / local_rate:>14.2f}x"
          f"{len(findings):>16}/{len(findings)}")
    for name, value, same in rows:
        print(f"{name:<44}{value:>15.2f}{value / local_rate:>14.2f}x{same:>16}/{len(findings)}")
    for i in range(0, len(rows) - 1, 2):
        print(f"{rows[i + 1][0]} vs 1 in flight: {rows[i + 1][1] / rows[i][1]:.2f}x")


if __name__ == "__main__":
    main()
