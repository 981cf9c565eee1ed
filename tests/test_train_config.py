"""The grouped training config: recipes map 1:1, `--set` reaches any field, errors name the field."""
from __future__ import annotations

import math
from dataclasses import fields

import pytest
import yaml

from training.config import (FLAT_KEYS, RECIPES_DIR, SECTIONS, TrainConfig, config_from_dict, load_recipe,
                             parse_set)


@pytest.mark.parametrize("recipe", sorted(p.stem for p in RECIPES_DIR.glob("*.yaml")))
def test_every_recipe_loads_and_round_trips_through_yaml(recipe, tmp_path):
    cfg = load_recipe(recipe)
    raw = yaml.safe_load((RECIPES_DIR / f"{recipe}.yaml").read_text())
    for section, values in raw.items():  # every key of the file lands on the field of the same name
        if section in SECTIONS:
            for key, value in values.items():
                got = getattr(getattr(cfg, section), key)
                assert (list(got) if isinstance(got, tuple) else got) == value, (section, key)
        else:
            assert getattr(cfg, section) == values
    path = tmp_path / "again.yaml"
    cfg.to_yaml(path)
    assert load_recipe(path) == cfg


def test_default_recipe_keeps_the_values_of_the_flat_layout():
    """The regrouping changed no value: the default model is built exactly as before."""
    flat_default = {"num_threads": 2, "vocab_size": 4096, "hidden_size": 256, "num_layers": 3, "num_heads": 4,
                    "intermediate_size": 688, "max_position_embeddings": 512, "pretrain_epochs": 2,
                    "pretrain_max_steps": 62, "pretrain_learning_rate": 0.001, "pretrain_batch_size": 16,
                    "pretrain_seq_len": 256, "finetune_method": "full", "lora_r": 8, "lora_alpha": 16,
                    "lora_dropout": 0.05, "lora_target_modules": ["q_proj", "v_proj"], "epochs": 6,
                    "max_steps": 240, "learning_rate": 0.001, "weight_decay": 0.01, "warmup_ratio": 0.05,
                    "per_device_batch_size": 16, "effective_batch_size": 16, "max_seq_len": 320,
                    "retrieved_examples": 3, "max_example_words": 12, "eval_every_steps": 40,
                    "early_stopping_patience": 3, "keep_checkpoints": 1, "final_format": "merged"}
    cfg = load_recipe("default")
    for key, value in flat_default.items():
        section, _, name = FLAT_KEYS.get(key, key).rpartition(".")
        assert getattr(getattr(cfg, section) if section else cfg, name) == value, key
    # what was hard-coded in the loop, now named fields with the same values
    assert cfg.optimizer.betas == (0.9, 0.95) and cfg.optimizer.max_grad_norm == 1.0
    assert cfg.schedule.min_lr_ratio == 0.1 and cfg.pretrain.warmup_ratio == 0.05


@pytest.mark.parametrize("assignment, dotted, value", [
    ("finetune.learning_rate=1e-4", "finetune.learning_rate", 1e-4),  # YAML 1.1 alone reads 1e-4 as text
    ("optimizer.betas=[0.9, 0.999]", "optimizer.betas", (0.9, 0.999)),
    ("lora.target_modules=[q_proj, k_proj, v_proj]", "lora.target_modules", ["q_proj", "k_proj", "v_proj"]),
    ("finetune.max_steps=null", "finetune.max_steps", None),
    ("finetune.gradient_checkpointing=true", "finetune.gradient_checkpointing", True),
    ("seed=7", "seed", 7),
    ("output_dir=runs/007", "output_dir", "runs/007"),  # a text field keeps the text as typed
    ("model.name_or_path=/models/llama", "model.name_or_path", "/models/llama"),
    ("schedule.min_lr_ratio=0", "schedule.min_lr_ratio", 0.0),
])
def test_set_reaches_any_field_with_its_type(assignment, dotted, value):
    cfg = load_recipe("default", dict([parse_set(assignment)]))
    section, _, name = dotted.rpartition(".")
    got = getattr(getattr(cfg, section) if section else cfg, name)
    assert got == value and type(got) is type(value)


@pytest.mark.parametrize("assignment, message", [
    ("finetune.learning_rat=1e-4", "unknown recipe key 'finetune.learning_rat'"),
    ("optimiser.lr=1e-4", "unknown section 'optimiser'"),
    ("learning_rate=1e-4", r"unknown recipe key 'learning_rate' \(now finetune.learning_rate\)"),
    ("finetune.learning_rate=fast", "finetune.learning_rate must be a number, not 'fast'"),
    ("finetune.learning_rate=-1", "finetune.learning_rate must be positive"),
    ("finetune.max_steps=2.5", "finetune.max_steps must be a whole number"),
    ("finetune.epochs=null", "finetune.epochs must be set"),
    ("optimizer.betas=[0.9]", "optimizer.betas must have 2 items"),
    ("optimizer.betas=[0.9, 1.5]", r"optimizer.betas must be two numbers in \[0, 1\)"),
    ("schedule.min_lr_ratio=1", r"schedule.min_lr_ratio must lie in \[0, 1\)"),
    ("finetune.gradient_checkpointing=yes please", "must be true or false"),
    ("lora=8", "lora is a section"),
    ("finetune.learning_rate", "--set needs KEY=VALUE"),
    ("finetune.method=qlora", "finetune.method must be one of"),
    ("data.max_seq_len=4096", "data.max_seq_len exceeds model.max_position_embeddings"),
])
def test_bad_set_values_are_refused_with_the_field_named(assignment, message):
    with pytest.raises(ValueError, match=message):
        load_recipe("default", dict([parse_set(assignment)]))


def test_train_command_line_applies_set_and_refuses_bad_input_without_training(tmp_path, capsys):
    from training.train import cli

    out = tmp_path / "run"
    with pytest.raises(SystemExit) as bad:
        cli(["--recipe", "default", "--output-dir", str(out), "--set", "optimizer.betas=[0.9]"])
    assert "optimizer.betas must have 2 items" in str(bad.value.code) and not out.exists()
    with pytest.raises(SystemExit) as verify:  # --verify reads the config (with --set) and trains nothing
        cli(["--recipe", "default", "--output-dir", str(out), "--set", "finetune.learning_rate=1e-4", "--verify"])
    assert "build it first" in str(verify.value.code) and not out.exists()


def test_a_recipe_in_the_old_flat_layout_names_the_new_place(tmp_path):
    old = tmp_path / "old.yaml"
    old.write_text("name: old\nlearning_rate: 0.001\n")
    with pytest.raises(ValueError, match=r"'learning_rate' \(now finetune.learning_rate\)"):
        load_recipe(old)
    with pytest.raises(ValueError, match="finetune must be a mapping"):
        config_from_dict({"finetune": 3})


def test_every_field_has_a_docstring():
    """Typed config dataclasses with a docstring per field (the developer guide)."""
    import ast
    import inspect

    for cls in (TrainConfig, *SECTIONS.values()):
        body = ast.parse(inspect.getsource(cls)).body[0].body
        documented = {node.target.id for node, after in zip(body, body[1:], strict=False)
                      if isinstance(node, ast.AnnAssign) and isinstance(after, ast.Expr)
                      and isinstance(after.value, ast.Constant) and isinstance(after.value.value, str)}
        assert {f.name for f in fields(cls)} <= documented, cls.__name__


def test_schedule_after_warmup_is_transformers_cosine_with_min_lr():
    """The hand-written schedule equals transformers' get_cosine_with_min_lr_schedule_with_warmup after the
    warm-up; during it, it is one step ahead (no step at learning rate 0: training/loop.py says why)."""
    import torch
    from transformers.optimization import get_cosine_with_min_lr_schedule_with_warmup

    from training.loop import lr_factor

    total, warmup_ratio, floor = 240, 0.05, 0.1
    warmup = int(total * warmup_ratio)
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    theirs = get_cosine_with_min_lr_schedule_with_warmup(opt, warmup, total, min_lr_rate=floor).lr_lambdas[0]
    for step in range(warmup, total + 1):
        assert math.isclose(lr_factor(step, total, warmup_ratio, floor), theirs(step), rel_tol=1e-12), step
    for step in range(warmup):
        assert lr_factor(step, total, warmup_ratio, floor) == theirs(step + 1)
    assert theirs(0) == 0.0 and lr_factor(0, total, warmup_ratio, floor) > 0
    assert lr_factor(total, total, warmup_ratio, floor) == pytest.approx(floor)
