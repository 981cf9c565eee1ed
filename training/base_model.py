"""Base models: a small LlamaConfig model built from scratch, or a pretrained hub/local model; LoRA wrapping."""
from __future__ import annotations

import torch

from training.config import TrainConfig


def build_scratch_model(cfg: TrainConfig, tokenizer):
    """A small Llama-architecture model sized by the recipe, with tied input/output embeddings."""
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=cfg.model.hidden_size, intermediate_size=cfg.model.intermediate_size,
        num_hidden_layers=cfg.model.num_layers, num_attention_heads=cfg.model.num_heads, num_key_value_heads=cfg.model.num_heads,
        max_position_embeddings=cfg.model.max_position_embeddings, tie_word_embeddings=True,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(cfg.seed)
    return LlamaForCausalLM(config)


def load_pretrained_model(name_or_path: str, mixed_precision: str = "no"):
    from transformers import AutoModelForCausalLM

    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(mixed_precision, torch.float32)
    return AutoModelForCausalLM.from_pretrained(name_or_path, dtype=dtype)


def wrap_lora(model, cfg: TrainConfig):
    """LoRA adapters on cfg.lora.target_modules; every other weight is frozen."""
    from peft import LoraConfig, get_peft_model

    lora = LoraConfig(r=cfg.lora.r, lora_alpha=cfg.lora.alpha, lora_dropout=cfg.lora.dropout,
                      target_modules=list(cfg.lora.target_modules), bias="none", task_type="CAUSAL_LM")
    return get_peft_model(model, lora)


def prepare_for_finetuning(model, cfg: TrainConfig):
    if cfg.finetune.gradient_checkpointing:
        model.gradient_checkpointing_enable()
        if cfg.finetune.method == "lora":
            model.enable_input_require_grads()
    if cfg.finetune.method == "lora":
        return wrap_lora(model, cfg)
    for p in model.parameters():
        p.requires_grad_(True)
    return model


def count_parameters(model) -> tuple[int, int]:
    """(trainable, total) parameter counts."""
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return trainable, total
