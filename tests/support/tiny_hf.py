"""Tiny Hugging Face folders for the hf:/openai: backend tests: a Llama with a chat template, and its
LoRA adapter tuned for a few steps through the llama2-7b recipe (training.train.main), plus the
same adapter merged by the recipe's final_format=merged path."""
from __future__ import annotations

import shutil
from pathlib import Path

from tests.support.tiny_lm import tiny_llama, tiny_reports, tiny_tokenizer, write_jsonl

CHAT_TEMPLATE = ("{% for m in messages %}### {{ m['role'] }}:\n{{ m['content'] }}\n\n{% endfor %}"
                 "{% if add_generation_prompt %}### assistant:\n{% endif %}")


def tiny_hf_folder(folder: Path, seed: int = 0, chat_template: bool = True, weight_scale: float = 8.0) -> Path:
    """A random tiny Llama saved as a plain Hugging Face folder (weights, tokenizer, chat template).

    weight_scale: matrices scaled up from the usual init, so that greedy decoding writes varied
    text (a freshly initialised tiny model repeats one token or stops at once, which would let
    two different systems look alike).
    """
    import torch

    tok = tiny_tokenizer()
    if chat_template:
        tok.chat_template = CHAT_TEMPLATE
    model = tiny_llama(tok, seed=seed)
    with torch.no_grad():
        for p in model.parameters():
            if p.dim() == 2:
                p.mul_(weight_scale)
    model.save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder


def recipe_adapter_and_merged(tmp_path: Path) -> tuple[Path, Path, Path]:
    """(base folder, adapter folder, merged folder) from the llama2-7b recipe on a tiny local Llama.

    The recipe's settings stay (LoRA on q/v, final_format adapter) except what a CPU test needs:
    tiny data, one epoch, float32 (so that merged and unmerged weights decode alike), a higher
    learning rate (so a few steps visibly move the adapter).
    """
    from training.config import load_recipe
    from training.train import main

    base = tiny_hf_folder(tmp_path / "tiny-llama")
    data = write_jsonl(tmp_path / "reports.jsonl", tiny_reports(48))
    overrides = {"model.name_or_path": str(base), "output_dir": str(tmp_path / "run"), "data.path": str(data),
                 "finetune.epochs": 1, "finetune.per_device_batch_size": 4, "finetune.effective_batch_size": 8,
                 "data.max_seq_len": 128, "finetune.eval_every_steps": 2, "data.max_validate_reports": 4,
                 "num_threads": 1, "mixed_precision": "no", "finetune.learning_rate": 3e-2,
                 "finetune.gradient_checkpointing": False}
    final = main(load_recipe("llama2-7b", overrides))
    adapter = tmp_path / "adapter"
    shutil.copytree(final, adapter)
    merged = main(load_recipe("llama2-7b", {**overrides, "finetune.final_format": "merged"}))  # resumes: no retraining
    return base, adapter, merged
