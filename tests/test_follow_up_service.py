"""Follow-up questions in the demo service (demo/service.py) with a real tiny chat model (hf: with a chat template)."""
from __future__ import annotations

import pytest

from demo.service import GenerationService
from generation.base import ChatUnavailable, FindingsError
from tests.support.tiny_hf import tiny_hf_folder


@pytest.fixture(scope="module")
def service_and_spec(tmp_path_factory):
    import torch

    torch.set_num_threads(1)
    folder = tiny_hf_folder(tmp_path_factory.mktemp("chat") / "m")
    spec = f"hf:{folder}"
    service = GenerationService([], [], tmp_path_factory.mktemp("none") / "no-model", "default", extra_systems=[spec])
    return service, spec


def test_answer_streams_and_depends_on_the_report_in_context(service_and_spec):
    service, spec = service_and_spec
    available, note = service.follow_up_status(spec)
    assert available and "follow-up question" in note
    steps = list(service.follow_up("Large right pleural effusion.", "Large right pleural effusion.", [],
                                   "Is the heart enlarged?", spec))
    assert len(steps) > 2 and steps[0][-1]["content"] == "..."
    final = steps[-1]
    assert [m["role"] for m in final] == ["user", "assistant"] and final[0]["content"] == "Is the heart enlarged?"
    other = list(service.follow_up("Lungs clear.", "No acute disease.", [], "Is the heart enlarged?", spec))[-1]
    assert other[-1]["content"] != final[-1]["content"]  # the findings and impression reach the model
    # A second question keeps the first turn (gradio's message format: content as a list of text parts).
    history = [{"role": "user", "content": [{"type": "text", "text": "Is the heart enlarged?"}]},
               {"role": "assistant", "content": [{"type": "text", "text": final[-1]["content"]}]}]
    second = list(service.follow_up("Large right pleural effusion.", "Large right pleural effusion.", history,
                                    "Why not pneumonia?", spec))[-1]
    assert [m["content"] for m in second[:3]] == ["Is the heart enlarged?", final[-1]["content"], "Why not pneumonia?"]


def test_unusable_questions_and_non_chat_systems_are_refused_with_a_reason(service_and_spec):
    service, spec = service_and_spec
    with pytest.raises(FindingsError, match="question"):
        list(service.follow_up("Lungs clear.", "Normal.", [], "  ", spec))
    with pytest.raises(FindingsError, match="impression first"):
        list(service.follow_up("Lungs clear.", "", [], "Why?", spec))
    with pytest.raises(FindingsError, match="limited"):
        list(service.follow_up("Lungs clear.", "Normal.", [], "x" * 5000, spec))
    available, note = service.follow_up_status("lead")
    assert not available and "unavailable" in note and "impressions only" in note
    with pytest.raises(ChatUnavailable):
        list(service.follow_up("Lungs clear.", "Normal.", [], "Why?", "lead"))
