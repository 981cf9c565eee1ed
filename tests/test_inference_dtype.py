"""Inference dtype: float32 by default for direct loads, bfloat16 on request, bad names refused."""
from __future__ import annotations


import pytest
import torch

from generation.base import GenerationSettings
from tests.support.tiny_lm import tiny_final_folder, tiny_reports


@pytest.fixture(autouse=True)
def _single_thread(one_torch_thread):
    yield


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return tiny_final_folder(tmp_path_factory.mktemp("final"), seed=7, retrieved_examples=1)


def test_bfloat16_casts_the_weights_and_still_generates(model_dir, monkeypatch):
    from generation.project_lm import load_checkpoint_generator

    monkeypatch.delenv("RADLLAMA_DTYPE", raising=False)
    fp32 = load_checkpoint_generator(model_dir, train=tiny_reports(8))
    assert {p.dtype for p in fp32.model.parameters()} == {torch.float32} and fp32.describe()["dtype"] == "float32"
    bf16 = load_checkpoint_generator(model_dir, train=tiny_reports(8), dtype="bfloat16")
    assert {p.dtype for p in bf16.model.parameters()} == {torch.bfloat16} and bf16.describe()["dtype"] == "bfloat16"
    out = bf16.generate(["Heart size normal. Lungs clear."], GenerationSettings(strategy="rerank", max_new_tokens=6))
    assert len(out) == 1 and isinstance(out[0], str)
    monkeypatch.setenv("RADLLAMA_DTYPE", "bfloat16")
    assert next(load_checkpoint_generator(model_dir, train=tiny_reports(8)).model.parameters()).dtype == torch.bfloat16


def test_dtype_names_resolve_or_are_refused(monkeypatch):
    from generation.project_lm import cpu_has_fast_bf16, resolve_dtype

    monkeypatch.delenv("RADLLAMA_DTYPE", raising=False)
    assert resolve_dtype() == "float32"
    assert resolve_dtype(fallback="auto") == ("bfloat16" if cpu_has_fast_bf16() else "float32")
    with pytest.raises(ValueError, match="bfloat16"):
        resolve_dtype("float8")
