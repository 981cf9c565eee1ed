"""The same model folder writes the same greedy text in process (hf:FOLDER) and behind a server
(openai:FOLDER@URL): the endpoint builds the prompt the folder was trained with (retrieved examples,
its tokenizer's budget), unless ?prompt=paper asks for the bare template (recorded in describe())."""
from __future__ import annotations

import pytest

from generation.base import GenerationSettings
from generation.registry import build
from tests.support.endpoint_server import start_recording_server
from tests.support.tiny_lm import tiny_reports, tiny_final_folder

pytestmark = pytest.mark.xdist_group("transformers_serve")
TRAIN = tiny_reports(24)
SHORT = GenerationSettings(max_new_tokens=16)  # room for the examples in the tiny model's 256-token context
FINDINGS = [r.findings.replace("Study", "Exam") for r in tiny_reports(32)[24:]]


def test_endpoint_sends_the_prompt_hf_builds_for_the_same_folder(tmp_path):
    folder = tiny_final_folder(tmp_path / "final", seed=1, retrieved_examples=2, max_example_words=6)
    local = build(f"hf:{folder}", TRAIN)
    long_findings = " ".join(["Moderate right pleural effusion with adjacent atelectasis."] * 60)
    findings = [*FINDINGS[:3], long_findings]
    expected = local._prompts([local.prepare(f, SHORT).text for f in findings], SHORT.max_new_tokens)
    server, url = start_recording_server()
    try:
        remote = build(f"openai:{folder}@{url}?max_concurrency=1", TRAIN)
        remote.generate(findings, SHORT)
        sent = [body["prompt"] for body in server.bodies]
        assert sent == expected
        assert all("### Similar report 1:" in p for p in sent[:3])  # the folder's retrieved examples
        described = remote.describe()
        assert described["prompt_mode"] == "model" and described["retrieved_examples"] == 2
        # A served model named by id, with the folder given: the same prompts.
        server.bodies.clear()
        build(f"openai:radiology@{url}?model_dir={folder}&max_concurrency=1", TRAIN).generate(findings, SHORT)
        assert [b["prompt"] for b in server.bodies] == expected
        # The bare paper template, on request, and said so.
        server.bodies.clear()
        paper = build(f"openai:{folder}@{url}?prompt=paper&max_concurrency=1", TRAIN)
        paper.generate(findings[:1], SHORT)
        assert "Similar report" not in server.bodies[0]["prompt"]
        assert paper.describe()["prompt_mode"] == "paper" and paper.describe()["retrieved_examples"] == 0
    finally:
        server.shutdown()


def test_prompt_model_without_a_local_folder_is_refused_with_the_fix():
    with pytest.raises(ValueError, match=r"model_dir"):
        build("openai:remote-model@http://127.0.0.1:9/v1?prompt=model", TRAIN)


@pytest.mark.slow
def test_same_folder_same_greedy_text_in_process_and_behind_transformers_serve(served_tiny_model, one_torch_thread):
    local = build(f"hf:{served_tiny_model.model}", TRAIN)
    remote = build(served_tiny_model.spec(), TRAIN)
    in_process = local.generate(FINDINGS, SHORT)
    assert remote.generate(FINDINGS, SHORT) == in_process
    assert len(set(in_process)) > 1  # the texts differ by report: equality is not two degenerate outputs
    # Without the folder's examples the server's text differs: the prompt is what made them equal.
    assert build(served_tiny_model.spec("prompt=paper"), TRAIN).generate(FINDINGS, SHORT) != in_process
