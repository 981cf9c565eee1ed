"""openai:MODEL@BASE_URL against a real `transformers serve` on 127.0.0.1 (tiny local model, offline)."""
from __future__ import annotations

import pytest

from generation.base import ChatUnavailable, GenerationError, GenerationSettings
from generation.registry import build
from generation.service import SystemService
from tests.support.app_process import free_port
from tests.support.endpoint_server import start_unauthorised_server
from tests.support.tiny_lm import tiny_reports

FINDINGS = [r.findings for r in tiny_reports(8)]
# One `transformers serve` per worker (conftest.served_tiny_model): keep its users on one worker.
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("transformers_serve")]


def test_endpoint_greedy_outputs_equal_the_same_models_hf_outputs(served_tiny_model, one_torch_thread):
    local = build(f"hf:{served_tiny_model.model}")
    before = served_tiny_model.requests("/v1/completions")
    remote = build(served_tiny_model.spec())
    assert remote.generate(FINDINGS) == local.generate(FINDINGS)
    assert served_tiny_model.requests("/v1/completions") - before == len(FINDINGS)
    # Chat completions: the paper's prompt as the user turn of the model's chat template.
    chat_remote = build(served_tiny_model.spec("chat"))
    assert chat_remote.can_chat and not remote.can_chat
    assert chat_remote.generate(FINDINGS[:3]) == build(f"hf:{served_tiny_model.model}?chat").generate(FINDINGS[:3])


def test_endpoint_streams_partial_impressions(served_tiny_model):
    remote = build(served_tiny_model.spec())
    parts = list(remote.stream(FINDINGS[0]))
    whole = remote.generate(FINDINGS[:1])[0]
    assert len(parts) > 3 and all(parts[i + 1].startswith(parts[i][:-1]) for i in range(len(parts) - 1))
    # The stream cannot show a last byte sequence the tiny model left incomplete as U+FFFD.
    assert parts[-1].rstrip("\ufffd") == whole.rstrip("\ufffd")


def test_follow_up_chat_streams_from_a_chat_endpoint(served_tiny_model):
    chat = build(served_tiny_model.spec("api=chat"))
    answers = list(chat.chat([{"role": "system", "content": "Findings: Lungs clear."},
                              {"role": "user", "content": "Is the heart enlarged?"}], GenerationSettings(max_new_tokens=16)))
    assert len(answers) > 1 and answers[-1]
    completions = build(served_tiny_model.spec())
    with pytest.raises(ChatUnavailable, match=r"\?chat"):
        list(completions.chat([{"role": "user", "content": "Why?"}]))


def test_unreachable_url_names_the_system_and_says_so():
    spec = f"openai:m@http://127.0.0.1:{free_port()}/v1?retries=0&timeout=5"
    with pytest.raises(GenerationError) as err:
        SystemService().generate(spec, ["Lungs clear."])
    assert spec in str(err.value) and "cannot reach" in str(err.value)


def test_401_names_the_system_and_the_key_variable_and_never_shows_the_key(monkeypatch):
    server, url = start_unauthorised_server()
    secret = "sk-test-secret-never-shown-123"
    monkeypatch.setenv("RADLLAMA_TEST_KEY", secret)
    spec = f"openai:m@{url}?key_env=RADLLAMA_TEST_KEY&retries=0"
    try:
        generator = build(spec)
        with pytest.raises(GenerationError) as err:
            generator.generate(["Lungs clear."])
        with pytest.raises(GenerationError) as streamed:
            list(generator.stream("Lungs clear."))
    finally:
        server.shutdown()
    for message in (str(err.value), str(streamed.value)):
        assert spec in message and "401" in message and "$RADLLAMA_TEST_KEY" in message and secret not in message
    assert server.seen[0][2] == f"Bearer {secret}"  # the key came from the variable the spec names
    assert secret not in repr(generator.describe()) and secret not in repr(generator)
    monkeypatch.delenv("RADLLAMA_TEST_KEY")
    server, url = start_unauthorised_server()
    try:
        with pytest.raises(GenerationError, match="is not set"):
            build(f"openai:m@{url}?key_env=RADLLAMA_TEST_KEY&retries=0").generate(["Lungs clear."])
    finally:
        server.shutdown()


def test_unknown_model_names_the_system_and_lists_what_the_server_serves(served_tiny_model):
    spec = f"openai:no-such-model@{served_tiny_model.base_url}"
    with pytest.raises(GenerationError) as err:
        build(spec).generate(["Lungs clear."])
    message = str(err.value)
    assert spec in message and "does not serve a model named 'no-such-model'" in message
    assert served_tiny_model.model in message


def test_describe_says_what_was_asked_and_no_credentials(served_tiny_model):
    described = build(served_tiny_model.spec("chat&max_concurrency=4")).describe()
    assert described["model"] == served_tiny_model.model and described["base_url"] == served_tiny_model.base_url
    assert described["api"] == "chat" and described["max_concurrency"] == 4 and described["kind"] == "endpoint"
    assert described["decoding"]["temperature"] == 0.0 and described["versions"]["openai"] != "not installed"


@pytest.mark.parametrize("spec, message", [
    ("openai:m@http://user:pw@127.0.0.1:1/v1", "environment variable"),
    ("openai:no-url", "expected openai:MODEL@BASE_URL"),
    ("openai:m@http://127.0.0.1:1/v1?api=embeddings", "chat or completions"),
    ("openai:m@http://127.0.0.1:1/v1?max_concurrency=0", "max_concurrency"),
    ("openai:m@http://127.0.0.1:1/v1?token=abc", "unknown option"),
])
def test_bad_specs_are_refused_before_any_request(spec, message):
    with pytest.raises(ValueError, match=message) as err:
        build(spec)
    assert "pw" not in str(err.value)


@pytest.mark.parametrize("status, words", [(429, "429 (rate limited) after 2 retries"), (503, "HTTP 503 (server error) after 2 retries")])
def test_429_and_5xx_are_retried_with_backoff_then_reported(status, words):
    server, url = start_unauthorised_server(status, b"busy")
    spec = f"openai:m@{url}?retries=2"
    try:
        with pytest.raises(GenerationError) as err:
            build(spec).generate(["Lungs clear."])
    finally:
        server.shutdown()
    posts = [s for s in server.seen if s[0] == "POST"]
    assert len(posts) == 3  # the first try and two retries
    assert spec in str(err.value) and words in str(err.value)
