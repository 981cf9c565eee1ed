"""hf:PATH: local Hugging Face folders and PEFT adapters (the llama2-7b recipe's output), real tiny models."""
from __future__ import annotations

import json

import pytest

from generation.base import ChatUnavailable, GenerationSettings
from generation.registry import build
from tests.support.tiny_hf import recipe_adapter_and_merged, tiny_hf_folder
from tests.support.tiny_lm import tiny_reports

FINDINGS = [r.findings for r in tiny_reports(10)]


@pytest.fixture(scope="module")
def recipe_folders(tmp_path_factory):
    import torch

    torch.set_num_threads(1)
    return recipe_adapter_and_merged(tmp_path_factory.mktemp("recipe"))


@pytest.mark.slow
def test_recipe_adapter_loads_unmerged_and_writes_the_merged_models_greedy_impressions(recipe_folders):
    base, adapter, merged = recipe_folders
    assert (adapter / "adapter_config.json").exists() and not (adapter / "model.safetensors").exists()
    assert json.loads((adapter / "adapter_config.json").read_text())["base_model_name_or_path"] == str(base)
    assert (merged / "model.safetensors").exists() and not (merged / "adapter_config.json").exists()
    from_adapter = build(f"hf:{adapter}")
    from_merged = build(f"hf:{merged}?dtype=float32")
    from peft import PeftModel
    assert isinstance(from_adapter.model, PeftModel)  # applied to its base, not merged on disk
    out_adapter, out_merged = from_adapter.generate(FINDINGS), from_merged.generate(FINDINGS)
    assert out_adapter == out_merged
    assert len(set(out_adapter)) > 1 and all(out_adapter)
    # The adapter matters: the bare base writes something else.
    assert build(f"hf:{base}").generate(FINDINGS) != out_adapter
    # Streaming ends on the batch's impression.
    assert list(from_adapter.stream(FINDINGS[0]))[-1] == out_adapter[0]
    described = from_adapter.describe()
    assert described["adapter"] == str(adapter) and described["model"] == str(base)
    assert described["device"] == "cpu" and described["dtype"] == "float32" and described["versions"]["peft"]


def test_adapter_whose_base_is_gone_fails_naming_the_base(recipe_folders, tmp_path):
    import shutil

    from generation.base import GenerationError
    from generation.service import SystemService

    _, adapter, _ = recipe_folders
    moved = shutil.copytree(adapter, tmp_path / "adapter")
    config = json.loads((moved / "adapter_config.json").read_text())
    config["base_model_name_or_path"] = str(tmp_path / "no-such-base")
    (moved / "adapter_config.json").write_text(json.dumps(config))
    with pytest.raises(GenerationError) as err:
        SystemService().get(f"hf:{moved}")
    assert f"hf:{moved}" in str(err.value) and "no-such-base" in str(err.value)


def test_chat_template_prompting_and_follow_up_chat(tmp_path):
    import torch

    torch.set_num_threads(1)
    folder = tiny_hf_folder(tmp_path / "m")
    plain, chat = build(f"hf:{folder}"), build(f"hf:{folder}?chat&device=cpu&dtype=float32")
    assert plain.can_chat and chat.can_chat
    assert plain._prompts(["Lungs clear."], 16)[0].startswith("### Instruction:")
    wrapped = chat._prompts(["Lungs clear."], 16)[0]
    assert wrapped.startswith("### user:\n### Instruction:") and wrapped.endswith("### assistant:\n")
    assert chat.generate(FINDINGS[:3]) != plain.generate(FINDINGS[:3])
    answers = list(chat.chat([{"role": "system", "content": "Findings: Lungs clear."},
                              {"role": "user", "content": "Why not pneumonia?"}], GenerationSettings(max_new_tokens=12)))
    assert len(answers) > 1 and answers[-1] and all(answers[i + 1].startswith(answers[i]) for i in range(len(answers) - 1))


def test_without_chat_template_chat_is_unavailable_and_says_why(tmp_path):
    folder = tiny_hf_folder(tmp_path / "m", chat_template=False)
    generator = build(f"hf:{folder}")
    assert not generator.can_chat and "no chat template" in generator.chat_unavailable_reason()
    with pytest.raises(ChatUnavailable, match="no chat template"):
        list(generator.chat([{"role": "user", "content": "Why?"}]))
    with pytest.raises(ValueError, match="chat template"):
        build(f"hf:{folder}?chat")


@pytest.mark.parametrize("spec_tail, message", [
    ("?colour=red", "unknown option"), ("?dtype=float8", "dtype must be one of"), ("?device=cuda:0", "CUDA"),
])
def test_bad_options_are_refused_with_a_reason(tmp_path, spec_tail, message):
    import torch

    if "cuda" in spec_tail and torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    folder = tiny_hf_folder(tmp_path / "m")
    with pytest.raises(ValueError, match=message):
        build(f"hf:{folder}{spec_tail}")


def test_folder_without_model_or_adapter_is_refused(tmp_path):
    from generation.project_lm import ModelNotFound

    with pytest.raises(ModelNotFound, match="neither a model"):
        build(f"hf:{tmp_path}")
