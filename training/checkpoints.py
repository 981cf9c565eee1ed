"""Step-numbered checkpoint folders: trainable weights, optimizer, scheduler, config, prompt, tokenizer.

Layout: RUN/checkpoints/step-000400/{trainable.safetensors, optimizer.pt, scheduler.pt,
state.json, config.yaml, prompt_template.json, tokenizer files}. Training resumes from the
highest step folder. Only trainable parameters are stored (LoRA adapters, or all weights for
full fine-tuning); the frozen base is rebuilt from RUN/base or the hub id in config.yaml.
"""
from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from core.prompt import template_description

STEP_DIR = re.compile(r"^step-(\d{6,})$")


@dataclass
class TrainingState:
    """Where training stands; saved as state.json beside the weights."""

    step: int = 0
    best_val_loss: float = float("inf")
    best_step: int = -1
    evals_without_improvement: int = 0
    stopped: bool = False
    cut_by_time: bool = False

    def to_json(self) -> str:
        d = dict(self.__dict__)
        d["best_val_loss"] = None if d["best_val_loss"] == float("inf") else d["best_val_loss"]
        return json.dumps(d, indent=2)

    @classmethod
    def from_json(cls, text: str) -> "TrainingState":
        d = json.loads(text)
        if d.get("best_val_loss") is None:
            d["best_val_loss"] = float("inf")
        return cls(**d)


def step_dir(run_dir: Path, step: int) -> Path:
    return run_dir / "checkpoints" / f"step-{step:06d}"


def list_checkpoints(run_dir: Path) -> list[Path]:
    root = run_dir / "checkpoints"
    if not root.exists():
        return []
    found = [p for p in root.iterdir() if p.is_dir() and STEP_DIR.match(p.name) and (p / "state.json").exists()]
    return sorted(found, key=lambda p: int(STEP_DIR.match(p.name).group(1)))


def latest_checkpoint(run_dir: Path) -> Path | None:
    found = list_checkpoints(run_dir)
    return found[-1] if found else None


def trainable_state(model) -> dict[str, torch.Tensor]:
    return {n: p.detach().contiguous().cpu() for n, p in model.named_parameters() if p.requires_grad}


def write_model_side_files(folder: Path, config, tokenizer) -> None:
    """config.yaml, prompt_template.json and the tokenizer: what inference needs beside weights."""
    folder.mkdir(parents=True, exist_ok=True)
    config.to_yaml(folder / "config.yaml")
    (folder / "prompt_template.json").write_text(json.dumps(template_description(), indent=2))
    tokenizer.save_pretrained(folder)


def save_checkpoint(run_dir: Path, model, optimizer, scheduler, state: TrainingState, config, tokenizer,
                    weights: dict[str, torch.Tensor] | None = None) -> Path:
    """A step folder; `weights` (already gathered trainable weights) replaces reading them from `model`,
    and optimizer=None leaves out the optimizer state (FSDP, where it is sharded)."""
    folder = step_dir(run_dir, state.step)
    tmp = folder.with_name(folder.name + ".tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    write_model_side_files(tmp, config, tokenizer)
    save_file(weights if weights is not None else trainable_state(model), str(tmp / "trainable.safetensors"))
    if optimizer is not None:
        torch.save(optimizer.state_dict(), tmp / "optimizer.pt")
    torch.save(scheduler.state_dict(), tmp / "scheduler.pt")
    (tmp / "state.json").write_text(state.to_json())
    if folder.exists():
        shutil.rmtree(folder)
    tmp.rename(folder)
    return folder


def load_checkpoint(folder: Path, model, optimizer=None, scheduler=None) -> TrainingState:
    """Restore trainable weights (and optimizer/scheduler when given) in place; returns the state."""
    weights = load_file(str(folder / "trainable.safetensors"))
    expected = {n for n, p in model.named_parameters() if p.requires_grad}
    if set(weights) != expected:
        missing, extra = sorted(expected - set(weights))[:3], sorted(set(weights) - expected)[:3]
        raise ValueError(f"checkpoint {folder} does not match the model (missing {missing}, unexpected {extra})")
    params = dict(model.named_parameters())
    with torch.no_grad():
        for name, value in weights.items():
            params[name].copy_(value.to(params[name].dtype))
    if optimizer is not None and (folder / "optimizer.pt").exists():
        optimizer.load_state_dict(torch.load(folder / "optimizer.pt", weights_only=True))
    if scheduler is not None:
        scheduler.load_state_dict(torch.load(folder / "scheduler.pt", weights_only=True))
    return TrainingState.from_json((folder / "state.json").read_text())


def prune_checkpoints(run_dir: Path, keep: int, best_step: int) -> None:
    """Delete all but the newest `keep` step folders and the best one."""
    found = list_checkpoints(run_dir)
    newest = set(found[-max(1, keep):])  # the newest always stays: resume starts there
    for p in found:
        if p not in newest and int(STEP_DIR.match(p.name).group(1)) != best_step:
            shutil.rmtree(p, ignore_errors=True)
