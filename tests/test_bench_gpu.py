"""bench/bench_gpu.py stays working: its CPU path (tiny shape) runs the recipe's LoRA step and the adapter as hf:,
and its MFU arithmetic matches the closed form for the Llama-2-7B shape."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))


def test_lora_flops_per_token_matches_the_closed_form_for_the_7b_shape():
    import torch

    import bench_gpu
    from training.base_model import prepare_for_finetuning
    from training.config import load_recipe

    shape = bench_gpu.SHAPES["7b"]
    with torch.device("meta"):
        model = bench_gpu.build_model(shape, "meta", torch.float32)
    model = prepare_for_finetuning(model, load_recipe("llama2-7b"))
    d, ff, layers, vocab, r, seq = 4096, 11008, 32, 32000, 8, 512
    frozen = layers * (4 * d * d + 3 * d * ff) + vocab * d  # attention, MLP, lm_head (embeddings are a lookup)
    lora = layers * 2 * (d * r + r * d)  # q_proj and v_proj: A (d x r) and B (r x d)
    expected = 4 * frozen + 6 * lora + 12 * layers * seq * d
    assert bench_gpu.lora_flops_per_token(model, seq) == expected
    assert 6.6e9 < frozen < 6.7e9 and lora == 4_194_304


@pytest.mark.slow
def test_cpu_run_trains_the_recipes_lora_and_generates_through_hf_adapter(tmp_path):
    out = tmp_path / "gpu.json"
    proc = subprocess.run([sys.executable, "bench/bench_gpu.py", "--shape", "tiny", "--steps", "1", "--seq-len", "64",
                           "--micro-batch", "4", "--effective-batch", "8", "--gen-n", "6", "--single-n", "3",
                           "--gen-batch", "6", "--max-new-tokens", "6", "--device", "cpu", "--out", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    results = json.loads(out.read_text())
    train, generate = results["train"], results["generate"]
    assert train["lora_target_modules"] == ["q_proj", "v_proj"] and train["gradient_checkpointing"] is True
    assert train["accumulation"] == 2 and train["effective_batch"] == 8
    assert 0 < train["trainable_parameters"] < train["parameters"] / 10
    assert train["tokens_per_s"] > 0 and all(loss == loss for loss in train["losses"])
    assert generate["impressions"] == 6 and generate["spec"].startswith("hf:ADAPTER?device=cpu")
    # Batched greedy decoding of the saved adapter writes the same texts as one at a time.
    assert generate["identical_greedy_texts"] == generate["compared"] == 3
    assert "skipped" in results["fsdp"]
