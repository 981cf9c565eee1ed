"""`openai:MODEL@BASE_URL`: an OpenAI-compatible HTTP endpoint as a system.

    openai:meta-llama/Llama-2-7b-chat-hf@http://127.0.0.1:8000/v1            completions API
    openai:radiology-lora@http://gpu-box:8000/v1?max_concurrency=16           a vLLM LoRA module
    openai:gpt-4o@https://api.openai.com/v1?chat                              chat completions
    openai:m@http://h/v1?api=chat&key_env=MY_KEY&timeout=120&retries=5

vLLM, TGI, llama.cpp server, Ollama, `transformers serve` and hosted APIs speak this protocol.
The prompt is the paper's template (core/prompt.py): sent as the prompt of /completions, or
as the one user message of /chat/completions (`?chat` or `?api=chat`). Decoding is greedy
(temperature 0). The API key is read from an environment variable (OPENAI_API_KEY, or the one
`?key_env=NAME` names) when a request is made; it is never stored, logged, described or
exported. Requests time out, are retried with exponential backoff on connection errors, 429
and 5xx (the openai client's own retry logic), and up to `max_concurrency` (default 8) are
in flight at once. Every error names the system and says what failed.
"""
from __future__ import annotations

import os
import re
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Iterator, Sequence
from urllib.parse import urlsplit, urlunsplit

from core.prompt import build_prompt, extract_impression
from core.records import Report
from generation.base import ChatUnavailable, GenerationError, GenerationSettings, GeneratorBase
from generation.spec_options import flag, split_options

OPTIONS = {
    "chat": "use /chat/completions (same as api=chat)",
    "api": "completions (default) or chat",
    "key_env": "environment variable holding the API key (default OPENAI_API_KEY)",
    "max_concurrency": "requests in flight at once (default 8)",
    "timeout": "seconds before a request is given up (default 60)",
    "retries": "retries on connection errors, 429 and 5xx, with exponential backoff (default 3)",
}
DEFAULT_KEY_ENV = "OPENAI_API_KEY"
NO_KEY = "no-key"
"""Sent when the key variable is unset: local servers ignore it, hosted APIs answer 401."""

_SPEC = re.compile(r"^(?P<model>.+)@(?P<url>https?://[^?]+)(?P<query>\?.*)?$")


def public_url(url: str) -> str:
    """The URL without user:password and without query or fragment (safe to show and store)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = host + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))


@dataclass
class EndpointGenerator(GeneratorBase):
    """Impressions (and follow-up answers) from an OpenAI-compatible server."""

    model: str = ""
    base_url: str = ""
    api: str = "completions"
    key_env: str = DEFAULT_KEY_ENV
    timeout_s: float = 60.0
    retries: int = 3
    name: str = ""
    kind: str = "endpoint"
    max_concurrency: int = 8
    libraries = ("openai", "httpx2", "httpx")
    _client: object = field(default=None, init=False, repr=False)
    _client_key: str | None = field(default=None, init=False, repr=False)
    _in_flight: threading.BoundedSemaphore | None = field(default=None, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def __post_init__(self) -> None:
        self._in_flight = threading.BoundedSemaphore(self.max_concurrency)

    @property
    def can_chat(self) -> bool:  # type: ignore[override]
        return self.api == "chat"

    def chat_unavailable_reason(self) -> str:
        if self.can_chat:
            return ""
        return (f"{self.name} uses the completions API; follow-up questions need chat completions: "
                "add ?chat to the system spec if the server's model has a chat template.")

    # -- the client ----------------------------------------------------------------------------
    def client(self):
        """The openai client; rebuilt when the key variable changes (the key is read, never stored elsewhere)."""
        from openai import OpenAI

        key = os.environ.get(self.key_env) or NO_KEY
        with self._lock:
            if self._client is None or self._client_key != key:
                self._client = OpenAI(api_key=key, base_url=self.base_url, timeout=self.timeout_s,
                                      max_retries=self.retries)
                self._client_key = key
            return self._client

    def _explain(self, exc: Exception) -> GenerationError:
        """A GenerationError naming the system and saying what failed (never the key)."""
        import openai

        where = public_url(self.base_url)
        if isinstance(exc, openai.APITimeoutError):
            why = f"no answer from {where} within {self.timeout_s:g} s (after {self.retries} retries)"
        elif isinstance(exc, openai.APIConnectionError):
            why = f"cannot reach {where} (after {self.retries} retries): is the server running at that URL?"
        elif isinstance(exc, openai.AuthenticationError):
            state = "is not set" if not os.environ.get(self.key_env) else "holds a key the server refused"
            why = f"{where} refused the request (HTTP 401, not authorised): ${self.key_env} {state}"
        elif isinstance(exc, openai.PermissionDeniedError):
            why = f"{where} refused the request (HTTP 403, permission denied) for the key in ${self.key_env}"
        elif isinstance(exc, (openai.NotFoundError, openai.BadRequestError)) and not self._serves_model():
            why = f"{where} does not serve a model named {self.model!r}{self._served_list()}"
        elif isinstance(exc, openai.RateLimitError):
            why = f"{where} kept answering HTTP 429 (rate limited) after {self.retries} retries"
        elif isinstance(exc, openai.APIStatusError) and exc.status_code >= 500:
            why = f"{where} answered HTTP {exc.status_code} (server error) after {self.retries} retries: {_short(exc.message)}"
        elif isinstance(exc, openai.APIStatusError):
            why = f"{where} answered HTTP {exc.status_code}: {_short(exc.message)}"
        else:
            why = f"{type(exc).__name__}: {_short(str(exc))}"
        return GenerationError(f"System {self.name!r} failed: {why}.")

    def _models(self) -> list[str] | None:
        try:
            return [m.id for m in self.client().with_options(max_retries=0).models.list()]
        except Exception:  # noqa: BLE001 - only used to explain another error
            return None

    def _serves_model(self) -> bool:
        models = self._models()
        return models is None or self.model in models

    def _served_list(self) -> str:
        models = self._models()
        return f" (it serves: {', '.join(models[:10])})" if models else ""

    # -- requests ------------------------------------------------------------------------------
    def _request(self, prompt: str | None, messages: Sequence[dict] | None, settings: GenerationSettings,
                 stream: bool):
        kwargs = dict(model=self.model, max_tokens=settings.max_new_tokens, temperature=0.0, stream=stream)
        client = self.client()
        if messages is not None:
            return client.chat.completions.create(messages=list(messages), **kwargs)
        return client.completions.create(prompt=prompt, **kwargs)

    def _messages(self, findings: str) -> list[dict]:
        return [{"role": "user", "content": build_prompt(findings).rstrip()}]

    def _one(self, findings: str, settings: GenerationSettings) -> str:
        with self._in_flight:
            try:
                if self.api == "chat":
                    reply = self._request(None, self._messages(findings), settings, stream=False)
                    text = reply.choices[0].message.content or ""
                else:
                    reply = self._request(build_prompt(findings), None, settings, stream=False)
                    text = reply.choices[0].text or ""
            except GenerationError:
                raise
            except Exception as exc:
                raise self._explain(exc) from exc
        return extract_impression(text)

    def _generate(self, findings: list[str], settings: GenerationSettings) -> list[str]:
        if len(findings) == 1 or self.max_concurrency == 1:
            return [self._one(f, settings) for f in findings]
        with ThreadPoolExecutor(max_workers=min(self.max_concurrency, len(findings)),
                                thread_name_prefix="endpoint") as pool:
            return list(pool.map(lambda f: self._one(f, settings), findings))

    def _stream_text(self, prompt: str | None, messages: Sequence[dict] | None,
                     settings: GenerationSettings) -> Iterator[str]:
        with self._in_flight:
            try:
                response = self._request(prompt, messages, settings, stream=True)
                text = ""
                with response:
                    for chunk in response:
                        if not chunk.choices:
                            continue
                        choice = chunk.choices[0]
                        piece = choice.delta.content if messages is not None else choice.text
                        if piece:
                            text += piece
                            yield text
            except GenerationError:
                raise
            except Exception as exc:
                raise self._explain(exc) from exc

    def stream(self, findings: str, settings: GenerationSettings = GenerationSettings()) -> Iterator[str]:
        findings = self.prepare(findings, settings).text
        if self.api == "chat":
            parts = self._stream_text(None, self._messages(findings), settings)
        else:
            parts = self._stream_text(build_prompt(findings), None, settings)
        last = ""
        for text in parts:
            last = extract_impression(text)
            yield last
            if len(last) < len(text.strip()):  # a section marker came: the impression is complete
                parts.close()
                return

    def chat(self, messages: Sequence[dict], settings: GenerationSettings = GenerationSettings()) -> Iterator[str]:
        if not self.can_chat:
            raise ChatUnavailable(self.chat_unavailable_reason())
        for text in self._stream_text(None, [dict(m) for m in messages], settings):
            yield text.strip()

    def _describe(self) -> dict:
        return {"model": self.model, "base_url": public_url(self.base_url), "api": self.api,
                "decoding": {"temperature": 0.0, "strategy": "greedy (beam and rerank are not sent to endpoints)"},
                "prompt": "the paper's template (core/prompt.py)" + (" as one user message" if self.can_chat else ""),
                "api_key_from": f"${self.key_env}", "timeout_s": self.timeout_s, "retries": self.retries,
                "max_concurrency": self.max_concurrency}


def _short(text: str, limit: int = 300) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[:limit] + " ..."


def parse_spec(spec: str) -> dict:
    """The parts of `openai:MODEL@BASE_URL[?options]` as EndpointGenerator keyword arguments."""
    argument = spec.split(":", 1)[1].strip()
    match = _SPEC.match(argument)
    if not match:
        raise ValueError(f"system {spec!r}: expected openai:MODEL@BASE_URL (e.g. openai:my-model@http://127.0.0.1:8000/v1)")
    _, options = split_options(match["query"] or "", OPTIONS, spec)
    api = options.get("api", "chat" if flag(options, "chat") else "completions")
    if api not in ("chat", "completions"):
        raise ValueError(f"system {spec!r}: api must be chat or completions, not {api!r}")
    url = match["url"].rstrip("/")
    if urlsplit(url).username or urlsplit(url).password:
        raise ValueError(f"system {public_url(url)!r}: put the API key in an environment variable (key_env), "
                         "not in the URL")
    try:
        numbers = {"max_concurrency": int(options.get("max_concurrency", 8)),
                   "timeout_s": float(options.get("timeout", 60)), "retries": int(options.get("retries", 3))}
    except ValueError as exc:
        raise ValueError(f"system {spec!r}: max_concurrency, timeout and retries take numbers ({exc})") from None
    if not 1 <= numbers["max_concurrency"] <= 256 or numbers["timeout_s"] <= 0 or not 0 <= numbers["retries"] <= 20:
        raise ValueError(f"system {spec!r}: max_concurrency must lie in 1..256, timeout above 0, retries in 0..20")
    key_env = options.get("key_env", DEFAULT_KEY_ENV)
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key_env):
        raise ValueError(f"system {spec!r}: key_env must name an environment variable")
    return {"model": match["model"].strip(), "base_url": url, "api": api, "key_env": key_env, **numbers}


def openai_system(spec: str, train: Sequence[Report]) -> EndpointGenerator:
    """`openai:MODEL@BASE_URL[?chat|api=...&key_env=...&max_concurrency=N&timeout=S&retries=N]`."""
    return EndpointGenerator(name=spec, **parse_spec(spec))
