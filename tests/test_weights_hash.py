"""The weights hash that says whether two builds gave the same model (training.weights_hash, train --verify)."""
from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import pytest

from tests.support.tiny_lm import tiny_final_folder


@pytest.fixture(autouse=True)
def _single_thread(one_torch_thread):
    yield


def _independent_hash(folder: Path) -> str:
    """The recipe of tests/test_build_determinism.py, written out again as the oracle."""
    from safetensors.torch import load_file

    weights = load_file(str(folder / "model.safetensors"))
    digest = hashlib.sha256()
    for name in sorted(weights):
        digest.update(name.encode())
        digest.update(weights[name].contiguous().numpy().tobytes())
    return digest.hexdigest()


def _run(capsys, *args) -> tuple[int, str, str]:
    """The command line, in process: (exit status, stdout, stderr)."""
    module, *argv = args
    if module == "training.weights_hash":
        from training.weights_hash import main

        code = main(argv)
    else:
        from training.train import cli

        with pytest.raises(SystemExit) as exit_info:
            cli(argv)
        code = exit_info.value.code
        if isinstance(code, str):  # SystemExit("error: ...") prints the text and exits 1
            print(code, file=sys.stderr)
            code = 1
    out = capsys.readouterr()
    return code, out.out, out.err


def test_hash_equals_an_independent_computation_and_follows_every_weight(tmp_path):
    from safetensors.torch import load_file, save_file

    from training.weights_hash import state_dict_sha256

    folder = tiny_final_folder(tmp_path / "m", seed=0)
    before = state_dict_sha256(folder)
    assert before == _independent_hash(folder)
    weights = load_file(str(folder / "model.safetensors"))
    save_file(weights, str(folder / "model.safetensors"), metadata={"written": "again"})
    assert state_dict_sha256(folder) == before  # file metadata is not part of the model
    name = sorted(weights)[-1]
    weights[name] = weights[name].clone()
    weights[name].view(-1)[0] += 1e-6  # one float changed in one tensor
    save_file(weights, str(folder / "model.safetensors"))
    assert state_dict_sha256(folder) != before


def test_cli_compares_with_the_recorded_build_and_an_expected_prefix(tmp_path, capsys):
    from training.weights_hash import build_environment, state_dict_sha256

    folder = tiny_final_folder(tmp_path / "m", seed=0)
    actual = state_dict_sha256(folder)
    meta = {"format": "merged", "weights_sha256": actual, "built_with": build_environment()}
    (folder / "radllama.json").write_text(json.dumps(meta))

    code, out, err = _run(capsys, "training.weights_hash", str(folder), "--expect", actual[:16])
    assert code == 0, out + err
    assert actual in out and "environment: same as the build's" in out

    code, out, _ = _run(capsys, "training.weights_hash", str(folder), "--expect", "0" * 16)
    assert code == 1 and "DIFFERENT" in out

    meta["weights_sha256"] = "f" * 64
    meta["built_with"]["torch"] = "0.0.1"
    (folder / "radllama.json").write_text(json.dumps(meta))
    code, out, _ = _run(capsys, "training.weights_hash", str(folder))
    assert code == 1
    assert "the files changed" in out and "torch: built with 0.0.1" in out


def test_a_folder_without_weights_is_a_clear_error(tmp_path, capsys):
    code, _, err = _run(capsys, "training.weights_hash", str(tmp_path))
    assert code == 2 and "no *.safetensors weights" in err


def test_train_verify_checks_the_recipes_final_folder_without_training(tmp_path, capsys):
    from training.weights_hash import state_dict_sha256

    run = tmp_path / "run"
    final = tiny_final_folder(run / "final", seed=0)
    (final / "radllama.json").write_text(json.dumps({"weights_sha256": state_dict_sha256(final)}))
    code, out, _ = _run(capsys, "training.train", "--recipe", "default", "--output-dir", str(run), "--verify")
    assert code == 0 and "recorded at build time" in out and "same" in out
    assert not (run / "metrics.jsonl").exists()  # nothing was trained
    code, _, err = _run(capsys, "training.train", "--recipe", "default", "--output-dir", str(tmp_path / "none"),
                        "--verify")
    assert code == 1 and "build it first" in err
