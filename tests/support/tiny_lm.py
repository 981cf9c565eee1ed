"""Tiny locally built models, tokenizers and report files for the training and generator tests."""
from __future__ import annotations

import json
from pathlib import Path

from core.records import Report

FINDINGS = [
    ("The heart is normal in size. The lungs are clear.", "No acute cardiopulmonary abnormality."),
    ("Heart size normal. Lungs clear. No pneumothorax.", "No acute disease."),
    ("Large right pleural effusion. Heart size is normal.", "Large right pleural effusion."),
    ("Left lower lobe airspace opacity. Heart normal.", "Left lower lobe pneumonia."),
    ("Cardiomegaly. Pulmonary vascular congestion.", "Congestive heart failure."),
    ("Right upper lobe nodule measuring 1 cm.", "Right upper lobe nodule."),
    ("Sternotomy wires. Heart size normal. Lungs clear.", "No acute disease. Prior sternotomy."),
    ("Hyperexpanded lungs. No focal consolidation.", "Emphysema. No acute process."),
]


def tiny_reports(n: int = 48) -> list[Report]:
    """n distinct reports (numbered findings so no two are identical), cycling the toy rows."""
    out = []
    for i in range(n):
        f, imp = FINDINGS[i % len(FINDINGS)]
        out.append(Report(id=str(i), findings=f"{f} Study {i}.", impression=imp, source="tiny"))
    return out


def write_jsonl(path: Path, reports: list[Report]) -> Path:
    path.write_text("".join(json.dumps({"id": r.id, "findings": r.findings, "impression": r.impression}) + "\n"
                            for r in reports))
    return path


def tiny_config(tmp_path: Path, overrides: dict | None = None):
    """A tiny LoRA recipe on 24 tiny reports; `overrides` by dotted key ({"finetune.max_steps": 5})."""
    from training.config import config_from_dict

    data = str(write_jsonl(tmp_path / "r.jsonl", tiny_reports()))
    values = {"name": "tiny", "output_dir": str(tmp_path / "run"), "num_threads": 1, "seed": 0,
              "data": {"path": data, "max_seq_len": 192, "retrieved_examples": 1, "max_example_words": 8},
              "model": {"vocab_size": 320, "hidden_size": 32, "num_layers": 2, "num_heads": 2, "intermediate_size": 64,
                        "max_position_embeddings": 256},
              "pretrain": {"epochs": 1, "batch_size": 4, "seq_len": 32},
              "finetune": {"method": "lora", "epochs": 2, "learning_rate": 3e-3, "per_device_batch_size": 4,
                           "effective_batch_size": 8, "eval_every_steps": 2, "early_stopping_patience": 0,
                           "keep_checkpoints": 1}}
    return config_from_dict(values).with_values(overrides or {})


def tiny_tokenizer(reports: list[Report] | None = None, vocab_size: int = 320):
    from training.tokenizer import train_bpe_tokenizer

    return train_bpe_tokenizer(reports or tiny_reports(), vocab_size)


def tiny_llama(tokenizer, seed: int = 0, **shape):
    from training.base_model import build_scratch_model
    from training.config import TrainConfig

    from training.config import DataConfig, ModelConfig

    cfg = TrainConfig(model=ModelConfig(hidden_size=shape.get("hidden_size", 32), num_layers=shape.get("num_layers", 2),
                                        num_heads=2, intermediate_size=64, max_position_embeddings=256),
                      data=DataConfig(max_seq_len=192), seed=seed)
    return build_scratch_model(cfg, tokenizer)


def tiny_final_folder(folder, seed: int, **meta):
    """A tiny random Llama saved as a final model folder (weights, side files, radllama.json with `meta`)."""
    import json

    from core.paths import FINAL_META
    from training.checkpoints import write_model_side_files
    from training.config import TrainConfig

    tok = tiny_tokenizer()
    tiny_llama(tok, seed=seed).save_pretrained(folder)
    write_model_side_files(folder, TrainConfig(), tok)
    (folder / FINAL_META).write_text(json.dumps({"format": "merged", **meta}))
    return folder
