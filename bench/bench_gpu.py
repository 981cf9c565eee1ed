"""The paper's path on real hardware: the llama2-7b recipe's LoRA step, then the adapter served as `hf:ADAPTER`.

    python bench/bench_gpu.py                                  # on a GPU: Llama-2-7B shape, bf16, the recipe's batch
    python bench/bench_gpu.py --shape tiny --steps 1 ...       # on a CPU: the same code path, a tiny shape (tests)

Stages (each prints one JSON line; `--out FILE` writes them all as one JSON object):
1. train: a Llama model with the 7B dimensions (LlamaConfig, random weights: nothing is downloaded), wrapped by
   the llama2-7b recipe's own LoRA code (training.base_model.prepare_for_finetuning: LoRA on q_proj/v_proj,
   gradient checkpointing), bf16 autocast, an effective batch of 128 sequences of `--seq-len` tokens reached by
   gradient accumulation of the recipe's per-device batch. Reports tokens/s, model FLOPs utilisation (MFU)
   and peak memory over `--steps` timed optimizer steps (one untimed warm-up step first).
2. generate: the base and the adapter are saved, the adapter is loaded through the registry as
   `hf:ADAPTER?device=...` exactly as the app and the study load it, and writes impressions batched and one at a
   time (impressions/s for each, and whether the greedy texts are identical).
3. fsdp (CUDA only): `accelerate launch --config_file training/accelerate/fsdp.yaml --num_processes 1` runs
   training.train on a small local base with the recipe's LoRA settings for two steps; the adapter it writes
   from the gathered FSDP weights is loaded as `hf:` and generates.

MFU counts the model FLOPs of a LoRA step per token: the frozen weights' forward and input-gradient matmuls
(2 + 2 FLOPs per weight), the LoRA weights' forward, input- and weight-gradient (6 per weight) and attention's
score and value products (forward 4*L*T*d, backward 8*L*T*d, with T the sequence length and d the hidden size),
without the recomputed forward of gradient checkpointing (hardware FLOPs would count it). The peak is dense
bf16 (`--peak-tflops`, default: 989 for H100/H200 SXM, as NVIDIA's datasheet gives it; no default elsewhere).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

SHAPES = {
    # Llama-2-7B: meta-llama/Llama-2-7b-hf config.json
    "7b": dict(vocab_size=32000, hidden_size=4096, intermediate_size=11008, num_hidden_layers=32,
               num_attention_heads=32, num_key_value_heads=32, max_position_embeddings=4096),
    "tiny": dict(vocab_size=512, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                 num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=512),
}
PEAK_BF16_TFLOPS = {"H100": 989.0, "H200": 989.0, "A100": 312.0}

FINDINGS = [
    "There is a new patchy opacity in the left lower lobe, with a small left pleural effusion. The right lung is clear.",
    "Large right pneumothorax with leftward mediastinal shift. No pleural effusion.",
    "The heart is enlarged. Pulmonary vascular congestion and bilateral interstitial opacities. Small effusions.",
    "The lungs are clear. No pleural effusion or pneumothorax. Heart size normal.",
    "Right upper lobe nodule measuring 1.2 cm. No consolidation. Normal heart size.",
    "Hyperexpanded lungs with flattened diaphragms. No focal airspace disease.",
    "Retrocardiac opacity, likely atelectasis or pneumonia. Stable cardiomegaly.",
    "Sternotomy wires are intact. Lungs are clear. No acute osseous abnormality.",
]


def emit(results: dict, stage: str, **values) -> None:
    results[stage] = values
    print(json.dumps({"stage": stage, **values}), flush=True)


def lora_flops_per_token(model, seq_len: int) -> float:
    """Model FLOPs per trained token of a LoRA step (see the module docstring)."""
    frozen = sum(p.numel() for n, p in model.named_parameters() if not p.requires_grad and p.ndim == 2
                 and "embed_tokens" not in n)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    cfg = model.config
    attention = 12 * cfg.num_hidden_layers * seq_len * cfg.hidden_size
    return 4 * frozen + 6 * trainable + attention


def peak_tflops(device, given: float | None) -> tuple[float | None, str]:
    import torch

    if given:
        return given, "given"
    if device.type != "cuda":
        return None, "no peak known for this device"
    name = torch.cuda.get_device_name(device)
    for key, value in PEAK_BF16_TFLOPS.items():
        if key in name:
            return value, f"{key} dense bf16 (datasheet)"
    return None, f"no peak known for {name}: pass --peak-tflops"


def build_tokenizer(vocab_size: int):
    from core.records import Report
    from training.tokenizer import train_bpe_tokenizer

    reports = [Report(id=str(i), findings=f, impression=f.split(".")[0] + ".", source="bench")
               for i, f in enumerate(FINDINGS * 4)]
    return train_bpe_tokenizer(reports, vocab_size)


def recipe(name: str):
    from training.config import load_recipe

    return load_recipe(name)


def build_model(shape: dict, device, dtype):
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(**shape, bos_token_id=1, eos_token_id=2, pad_token_id=0, tie_word_embeddings=False)
    torch.manual_seed(0)
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        with torch.device(device):
            model = LlamaForCausalLM(config)
    finally:
        torch.set_default_dtype(previous)
    return model


def stage_train(args, results: dict, device, dtype, workdir: Path):
    import torch

    from training.base_model import prepare_for_finetuning

    cfg = recipe(args.recipe)
    micro = args.micro_batch or cfg.finetune.per_device_batch_size
    effective = args.effective_batch or cfg.finetune.effective_batch_size
    if effective % micro:
        raise SystemExit(f"--effective-batch {effective} must be a multiple of the micro-batch {micro}")
    accumulation = effective // micro
    model = build_model(SHAPES[args.shape], device, dtype)
    base_dir = workdir / "base"
    model.save_pretrained(base_dir)  # the adapter's base, for stage 2
    tokenizer = build_tokenizer(min(SHAPES[args.shape]["vocab_size"], 4000))
    tokenizer.save_pretrained(base_dir)
    model = prepare_for_finetuning(model, cfg)
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=cfg.finetune.learning_rate, weight_decay=cfg.optimizer.weight_decay,
                            betas=cfg.optimizer.betas)
    generator = torch.Generator(device="cpu").manual_seed(0)
    vocab = SHAPES[args.shape]["vocab_size"]
    batches = [torch.randint(3, vocab, (micro, args.seq_len), generator=generator).to(device) for _ in range(2)]

    def step() -> float:
        total = 0.0
        for i in range(accumulation):
            ids = batches[i % 2]
            with torch.autocast(device_type=device.type, dtype=dtype, enabled=dtype != torch.float32):
                loss = model(input_ids=ids, labels=ids).loss / accumulation
            loss.backward()
            total += float(loss.detach())
        opt.step()
        opt.zero_grad(set_to_none=True)
        return total

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    step()  # warm-up: kernels chosen, allocator filled
    sync()
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    started = time.perf_counter()
    losses = [step() for _ in range(args.steps)]
    sync()
    seconds = time.perf_counter() - started
    tokens = args.steps * effective * args.seq_len
    per_token = lora_flops_per_token(model, args.seq_len)
    peak, peak_source = peak_tflops(device, args.peak_tflops)
    achieved = tokens * per_token / seconds / 1e12
    trainable = sum(p.numel() for p in params)
    emit(results, "train", shape=args.shape, device=str(device), dtype=str(dtype).removeprefix("torch."),
         parameters=sum(p.numel() for p in model.parameters()), trainable_parameters=trainable,
         lora_target_modules=list(cfg.lora.target_modules),
         gradient_checkpointing=bool(cfg.finetune.gradient_checkpointing),
         seq_len=args.seq_len, micro_batch=micro, accumulation=accumulation, effective_batch=effective,
         steps=args.steps, seconds=round(seconds, 3), tokens_per_s=round(tokens / seconds, 1),
         model_tflops_per_s=round(achieved, 2), peak_tflops=peak, peak_source=peak_source,
         mfu=round(achieved / peak, 4) if peak else None,
         peak_memory_gib=round(torch.cuda.max_memory_allocated(device) / 2**30, 2) if device.type == "cuda" else None,
         losses=[round(x, 4) for x in losses])
    adapter_dir = workdir / "adapter"
    model.save_pretrained(adapter_dir)
    config_file = adapter_dir / "adapter_config.json"
    config = json.loads(config_file.read_text())
    config["base_model_name_or_path"] = str(base_dir)
    config_file.write_text(json.dumps(config, indent=2))
    return adapter_dir  # the model and optimizer are freed when this frame ends


def stage_generate(args, results: dict, device, adapter_dir: Path) -> None:
    import torch

    from generation.base import GenerationSettings
    from generation.registry import build

    dtype = "bfloat16" if device.type == "cuda" else "float32"
    spec = f"hf:{adapter_dir}?device={device.type}&dtype={dtype}&batch_size={args.gen_batch}"
    generator = build(spec)
    settings = GenerationSettings(strategy="greedy", max_new_tokens=args.max_new_tokens)
    findings = [FINDINGS[i % len(FINDINGS)] + f" Study {i}." for i in range(args.gen_n)]
    generator.generate(findings[:2], settings)  # warm-up

    def timed(fn):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        started = time.perf_counter()
        out = fn()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        return out, time.perf_counter() - started

    batched, batched_s = timed(lambda: generator.generate(findings, settings))
    single_n = min(args.single_n, len(findings))
    single, single_s = timed(lambda: [generator.generate([f], settings)[0] for f in findings[:single_n]])
    batched_rate = len(findings) / batched_s
    single_rate = single_n / single_s
    emit(results, "generate", spec=spec.replace(str(adapter_dir), "ADAPTER"), impressions=len(findings),
         max_new_tokens=args.max_new_tokens, batch_size=args.gen_batch,
         batched_impressions_per_s=round(batched_rate, 2), single_impressions_per_s=round(single_rate, 2),
         batched_over_single=round(batched_rate / single_rate, 2),
         identical_greedy_texts=sum(a == b for a, b in zip(batched[:single_n], single, strict=True)),
         compared=single_n, generator=generator.describe().get("kind"))


def stage_fsdp(args, results: dict, workdir: Path) -> None:
    """Two FSDP steps of training.train on one GPU (small local base, the recipe's LoRA), then load the adapter."""

    from core.records import Report
    from generation.base import GenerationSettings
    from generation.registry import build

    base = workdir / "fsdp-base"
    model = build_model(SHAPES["tiny"], "cpu", __import__("torch").float32)
    model.save_pretrained(base)
    build_tokenizer(SHAPES["tiny"]["vocab_size"]).save_pretrained(base)
    data = workdir / "fsdp.jsonl"
    reports = [Report(id=str(i), findings=FINDINGS[i % 8] + f" Study {i}.", impression="Impression " + str(i % 8) + ".",
                      source="bench") for i in range(80)]
    data.write_text("".join(json.dumps({"id": r.id, "findings": r.findings, "impression": r.impression,
                                        "split": ["train", "train", "train", "validate", "test"][i % 5]}) + "\n"
                            for i, r in enumerate(reports)))
    cfg = recipe(args.recipe).with_values({
        "name": "bench-fsdp", "output_dir": str(workdir / "fsdp-run"), "model.name_or_path": str(base),
        "data.path": str(data), "finetune.epochs": 1, "finetune.per_device_batch_size": 4,
        "finetune.effective_batch_size": 8, "data.max_seq_len": 128, "finetune.eval_every_steps": 1,
        "finetune.early_stopping_patience": 0, "finetune.max_steps": 2})
    recipe_file = workdir / "fsdp.yaml"
    cfg.to_yaml(recipe_file)
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--config_file", str(ROOT / "training/accelerate/fsdp.yaml"),
           "--num_processes", "1", "-m", "training.train", "--recipe", str(recipe_file)]
    started = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=args.fsdp_timeout)
    seconds = time.perf_counter() - started
    final = workdir / "fsdp-run" / "final"
    ok = proc.returncode == 0 and (final / "adapter_config.json").exists()
    texts = []
    if ok:
        texts = build(f"hf:{final}?device=cuda").generate(FINDINGS[:2], GenerationSettings(max_new_tokens=8))
    emit(results, "fsdp", returncode=proc.returncode, seconds=round(seconds, 1), adapter_written=ok,
         loaded_and_generated=len(texts) == 2, log_tail=(proc.stdout + proc.stderr)[-1500:] if not ok else "")


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--shape", choices=sorted(SHAPES), default="7b")
    p.add_argument("--recipe", default="llama2-7b", help="the recipe whose LoRA and optimizer settings are used")
    p.add_argument("--steps", type=int, default=3, help="timed optimizer steps (after one warm-up step)")
    p.add_argument("--seq-len", type=int, default=512)
    p.add_argument("--micro-batch", type=int, help="default: the recipe's finetune.per_device_batch_size")
    p.add_argument("--effective-batch", type=int, help="default: the recipe's finetune.effective_batch_size (128)")
    p.add_argument("--gen-n", type=int, default=64, help="impressions written batched")
    p.add_argument("--single-n", type=int, default=16, help="impressions written one at a time")
    p.add_argument("--gen-batch", type=int, default=64)
    p.add_argument("--max-new-tokens", type=int, default=64)
    p.add_argument("--peak-tflops", type=float, help="the device's dense bf16 peak, for MFU")
    p.add_argument("--device", help="default: cuda when present, else cpu")
    p.add_argument("--skip-fsdp", action="store_true")
    p.add_argument("--fsdp-timeout", type=float, default=600)
    p.add_argument("--workdir", help="where the base, adapter and FSDP run are written (default: a temp folder)")
    p.add_argument("--out", help="write every stage's results to this JSON file")
    return p.parse_args(argv)


def main(argv=None) -> dict:
    import torch

    args = parse_args(argv)
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    results: dict = {"device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
                     "torch": torch.__version__}
    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        workdir = Path(tmp)
        adapter = stage_train(args, results, device, dtype, workdir)
        if device.type == "cuda":
            torch.cuda.empty_cache()
        stage_generate(args, results, device, adapter)
        if device.type == "cuda" and not args.skip_fsdp:
            stage_fsdp(args, results, workdir)
        elif not args.skip_fsdp:
            emit(results, "fsdp", skipped="FSDP needs CUDA devices (accelerate's FSDP plugin); run on a GPU")
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=2))
    return results


if __name__ == "__main__":
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    main()
