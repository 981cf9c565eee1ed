"""The checkpoint-backed generator: lazy registration, determinism, EOS, left-padded batching, streaming."""
from __future__ import annotations


import pytest
import torch

from generation.base import GenerationSettings
from tests.support.tiny_lm import tiny_final_folder, tiny_reports

FINDINGS = ["Heart size normal. Lungs clear.",
            "Large right pleural effusion. Heart size is normal. No pneumothorax. Sternotomy wires.",
            "Cardiomegaly.",
            "Left lower lobe airspace opacity. Heart normal. Hyperexpanded lungs. No focal consolidation."]


@pytest.fixture(autouse=True)
def _single_thread(one_torch_thread):
    yield


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    """A tiny random Llama saved as a final folder that uses one retrieved example per prompt."""
    return tiny_final_folder(tmp_path_factory.mktemp("final"), seed=3, retrieved_examples=1, max_example_words=6)


@pytest.fixture()
def generator(model_dir):
    from generation.project_lm import load_checkpoint_generator
    return load_checkpoint_generator(model_dir, train=tiny_reports(16))


def test_import_registers_default_and_base_without_loading(monkeypatch, tmp_path):
    import generation.project_lm  # noqa: F401  (registers default and base)
    from generation import registry as generators

    assert {"default", "base"} <= set(generators.available())
    monkeypatch.setenv("RADLLAMA_MODEL", str(tmp_path / "missing"))
    for name in ("default", "base"):
        with pytest.raises(FileNotFoundError, match="python -m training.train --recipe default"):
            generators.build(name, tiny_reports(4))


def test_generation_is_deterministic_and_uses_training_examples(generator):
    settings = GenerationSettings(max_new_tokens=12)
    first = generator.generate(FINDINGS, settings)
    assert first == generator.generate(FINDINGS, settings)
    assert len(first) == len(FINDINGS) and all(isinstance(x, str) for x in first)
    prompt = generator.prompts.prompts(["Heart size normal. Lungs clear."])[0]
    # the nearest tiny training report, its findings cut to max_example_words (6)
    assert "### Similar report 1:\nFindings: Heart size normal. Lungs clear. No ...\nImpression: No acute disease." in prompt
    assert generator.describe()["retrieved_examples"] == 1


def _token_ids(generator, findings, settings):
    enc = generator._encode(findings, settings.max_new_tokens)
    with torch.inference_mode():
        out = generator.model.generate(**enc, **generator._generate_kwargs(settings))
    return out[:, enc["input_ids"].shape[1]:]


def test_left_padded_batch_equals_one_by_one(generator):
    settings = GenerationSettings(max_new_tokens=10)
    generator.batch_size = 4
    batched = _token_ids(generator, FINDINGS, settings)
    for i, f in enumerate(FINDINGS):
        alone = _token_ids(generator, [f], settings)[0]
        assert torch.equal(batched[i, :len(alone)], alone), f
    assert generator.generate(FINDINGS, settings) == [generator.generate([f], settings)[0] for f in FINDINGS]


def test_generation_stops_at_eos(generator):
    """Force EOS as the third new token: nothing after it is generated or returned."""
    eos = generator.tokenizer.eos_token_id
    calls = {"n": 0}

    def force_eos(module, args, output):
        calls["n"] += 1
        if calls["n"] == 3:
            output[:, -1, :] = -1e4
            output[:, -1, eos] = 1e4
        return output

    settings = GenerationSettings(max_new_tokens=30)
    handle = generator.model.lm_head.register_forward_hook(force_eos)
    try:
        ids = _token_ids(generator, FINDINGS[:2], settings)
    finally:
        handle.remove()
    assert ids.shape[1] == 3 and (ids[:, 2] == eos).all()
    free = _token_ids(generator, FINDINGS[:2], settings)
    assert free.shape[1] > 3  # without the forced EOS it would have gone on
    text = generator.tokenizer.decode(ids[0], skip_special_tokens=True)
    assert generator.tokenizer.decode(free[0, :2], skip_special_tokens=True) == text


def test_beam_search_and_streaming_agree_with_generate(generator):
    beam = GenerationSettings(strategy="beam", num_beams=3, max_new_tokens=8)
    assert generator.generate(FINDINGS[:2], beam) == generator.generate(FINDINGS[:2], beam)
    greedy = GenerationSettings(max_new_tokens=8)
    parts = list(generator.stream(FINDINGS[0], greedy))
    assert parts and parts[-1] == generator.generate([FINDINGS[0]], greedy)[0]


def test_base_generator_prompts_without_examples(tmp_path, model_dir, monkeypatch):
    import shutil

    from generation import registry as generators

    run = tmp_path / "run"
    shutil.copytree(model_dir, run / "final")
    shutil.copytree(model_dir, run / "base")
    (run / "base" / "radllama.json").unlink()
    monkeypatch.setenv("RADLLAMA_MODEL", str(run / "final"))
    base = generators.build("base", tiny_reports(8))
    assert base.name == "base" and base.prompts.k == 0
    assert "Similar report" not in base.prompts.prompts(["Lungs clear."])[0]
    assert len(base.generate(["Lungs clear."], GenerationSettings(max_new_tokens=4))) == 1
