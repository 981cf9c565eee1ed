"""The model build is bounded in steps and reproducible: same recipe and seed, same weights."""
from __future__ import annotations

import hashlib
import json

import pytest

from tests.support.tiny_lm import tiny_config


@pytest.fixture(autouse=True)
def _single_thread(one_torch_thread):
    yield


def _state_dict_hash(folder) -> str:
    from safetensors.torch import load_file

    weights = load_file(str(folder / "model.safetensors"))
    digest = hashlib.sha256()
    for name in sorted(weights):
        digest.update(name.encode())
        digest.update(weights[name].contiguous().numpy().tobytes())
    return digest.hexdigest()


def _build(tmp_path, run: str, **overrides):
    from training.train import main

    cfg = tiny_config(tmp_path, {"output_dir": str(tmp_path / run), "data.max_validate_reports": 4,
                                 "finetune.epochs": 50, "finetune.max_steps": 5, "pretrain.max_steps": 3, **overrides})
    return main(cfg)


def test_same_recipe_and_seed_give_identical_weights_and_steps_bound_the_build(tmp_path):
    first = _build(tmp_path, "a")
    second = _build(tmp_path, "b")
    other_seed = _build(tmp_path, "c", seed=1)
    assert _state_dict_hash(first) == _state_dict_hash(second)
    assert _state_dict_hash(first) != _state_dict_hash(other_seed)
    meta = json.loads((first / "radllama.json").read_text())
    assert meta["steps"] == 5 and meta["cut_by_time"] is False  # 50 epochs asked, max_steps bounds it
    assert meta["weights_sha256"] == _state_dict_hash(first)  # what `train --verify` compares with
    assert meta["built_with"]["torch"] == __import__("torch").__version__
    pretrain_steps = [json.loads(x) for x in (tmp_path / "a" / "metrics.jsonl").read_text().splitlines()]
    assert max(r.get("step", 0) for r in pretrain_steps if r.get("stage") == "pretrain") <= 3


def test_the_opt_in_wall_clock_cap_says_loudly_that_it_cut_training(tmp_path, capsys):
    final = _build(tmp_path, "timed", **{"finetune.max_minutes": 1e-9})
    out = capsys.readouterr()
    meta = json.loads((final / "radllama.json").read_text())
    assert meta["cut_by_time"] is True and meta["steps"] < 5
    assert "CUT" in out.out + out.err and "max-minutes" in out.out + out.err


def test_default_recipe_is_bounded_in_steps_without_a_clock():
    from training.config import load_recipe

    cfg = load_recipe("default")
    assert cfg.finetune.max_minutes is None and cfg.finetune.max_steps and cfg.pretrain.max_steps


def test_a_second_build_of_the_same_folder_is_refused_but_further_ranks_of_one_run_are_not(tmp_path, monkeypatch):
    from core.build_lock import BuildBusy, build_lock

    with build_lock(tmp_path):
        with pytest.raises(BuildBusy, match="another process is building"):
            with build_lock(tmp_path):
                pass
        monkeypatch.setenv("RANK", "1")
        with build_lock(tmp_path):  # rank 1 of an accelerate run: rank 0 holds the lock
            pass
