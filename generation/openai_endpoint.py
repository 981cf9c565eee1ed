"""`openai:MODEL@BASE_URL`: an OpenAI-compatible HTTP endpoint as a system.

    openai:meta-llama/Llama-2-7b-chat-hf@http://127.0.0.1:8000/v1            completions API
    openai:radiology-lora@http://gpu-box:8000/v1?max_concurrency=16           a vLLM LoRA module
    openai:gpt-4o@https://api.openai.com/v1?chat                              chat completions
    openai:m@http://h/v1?api=chat&key_env=MY_KEY&timeout=120&retries=5

vLLM, TGI, llama.cpp server, Ollama, `transformers serve` and hosted APIs speak this protocol.
The prompt is the paper's template (core/prompt.py): sent as the prompt of /completions, or
as the one user message of /chat/completions (`?chat` or `?api=chat`). Decoding is greedy
(temperature 0).

The same model gives the same text in process and behind a server. When the served model is a
local folder written by training.train (`transformers serve FOLDER` names the model by its path;
elsewhere `?model_dir=FOLDER` names it), the prompt is built exactly as `hf:FOLDER` builds it:
the retrieved training examples its radllama.json asks for, fitted to its context with its own
tokenizer, and the findings cut to the same token budget (`?prompt=model`, the default then).
`?prompt=paper` sends the bare template instead. describe() records which was used. The API key is read from an environment variable (OPENAI_API_KEY, or the one
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

from pathlib import Path

from core.prompt import extract_impression
from core.records import Report
from generation.base import ChatUnavailable, GenerationError, GenerationSettings, GeneratorBase
from generation.prompting import PromptBuilder, TokenizedPrompts, builder_for_folder
from generation.spec_options import flag, split_options

OPTIONS = {
    "chat": "use /chat/completions (same as api=chat)",
    "api": "completions (default) or chat",
    "key_env": "environment variable holding the API key (default OPENAI_API_KEY)",
    "max_concurrency": "requests in flight at once (default 8)",
    "timeout": "seconds before a request is given up (default 60)",
    "retries": "retries on connection errors, 429 and 5xx, with exponential backoff (default 3)",
    "prompt": "model (as hf:FOLDER builds it, for a served local folder; the default when there is one) or paper",
    "model_dir": "the local folder the server serves, when MODEL is not its path (for prompt=model)",
}
PROMPT_MODES = ("model", "paper")
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
class EndpointGenerator(TokenizedPrompts, GeneratorBase):
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
    prompts: PromptBuilder = field(default_factory=PromptBuilder)
    """Retrieved training examples shown in the prompt (none for prompt=paper)."""
    tokenizer: object = None
    """The served folder's tokenizer (prompt=model): fits prompts and findings as hf: does; None: no token budget."""
    context_length: int = 0
    """The served folder's max_position_embeddings (prompt=model)."""
    model_dir: str = ""
    """The local folder the server serves, when known."""
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

    def _context_length(self) -> int:
        return self.context_length or 2048

    def _messages(self, prompt: str) -> list[dict]:
        return [{"role": "user", "content": prompt.rstrip()}]

    def _one(self, prompt: str, settings: GenerationSettings) -> str:
        with self._in_flight:
            try:
                if self.api == "chat":
                    reply = self._request(None, self._messages(prompt), settings, stream=False)
                    text = reply.choices[0].message.content or ""
                else:
                    reply = self._request(prompt, None, settings, stream=False)
                    text = reply.choices[0].text or ""
            except GenerationError:
                raise
            except Exception as exc:
                raise self._explain(exc) from exc
        return extract_impression(text)

    def _generate(self, findings: list[str], settings: GenerationSettings) -> list[str]:
        prompts = self._prompts(findings, settings.max_new_tokens)
        if len(prompts) == 1 or self.max_concurrency == 1:
            return [self._one(p, settings) for p in prompts]
        with ThreadPoolExecutor(max_workers=min(self.max_concurrency, len(prompts)),
                                thread_name_prefix="endpoint") as pool:
            return list(pool.map(lambda p: self._one(p, settings), prompts))

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
        prompt = self._prompts([self.prepare(findings, settings).text], settings.max_new_tokens)[0]
        if self.api == "chat":
            parts = self._stream_text(None, self._messages(prompt), settings)
        else:
            parts = self._stream_text(prompt, None, settings)
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
                "prompt_mode": "model" if self.tokenizer is not None else "paper",
                "prompt_as_in": f"hf:{self.model_dir}" if self.tokenizer is not None else None,
                "token_budget": "the served folder's tokenizer and context" if self.tokenizer is not None else "none",
                **self.prompts.describe(),
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
    prompt = options.get("prompt", "")
    if prompt and prompt not in PROMPT_MODES:
        raise ValueError(f"system {spec!r}: prompt must be model or paper, not {prompt!r}")
    key_env = options.get("key_env", DEFAULT_KEY_ENV)
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key_env):
        raise ValueError(f"system {spec!r}: key_env must name an environment variable")
    return {"model": match["model"].strip(), "base_url": url, "api": api, "key_env": key_env, "prompt": prompt,
            "model_dir": options.get("model_dir", ""), **numbers}


def served_folder(model: str, model_dir: str) -> Path | None:
    """The local model folder behind the endpoint: `model_dir`, or MODEL when it names a local folder."""
    for candidate in (model_dir, model):
        if candidate and (Path(candidate).expanduser() / "config.json").is_file():
            return Path(candidate).expanduser().resolve()
    if model_dir:
        raise ValueError(f"model_dir {model_dir!r} is not a local model folder (no config.json)")
    return None


def prompt_side(model: str, model_dir: str, prompt: str, train: Sequence[Report]) -> dict:
    """prompts, tokenizer, context length and folder for prompt=model (as hf:FOLDER builds them), or none."""
    folder = served_folder(model, model_dir)
    if prompt == "model" and folder is None:
        raise ValueError(f"prompt=model needs the served model's local folder: MODEL {model!r} is none; "
                         "name it with ?model_dir=FOLDER")
    if folder is None or prompt == "paper":
        return {}
    import json

    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(folder)
    config = json.loads((folder / "config.json").read_text())
    return {"prompts": builder_for_folder(folder, train), "tokenizer": tokenizer,
            "context_length": int(config.get("max_position_embeddings") or 2048), "model_dir": str(folder)}


def openai_system(spec: str, train: Sequence[Report]) -> EndpointGenerator:
    """`openai:MODEL@BASE_URL[?chat|api=...&key_env=...&max_concurrency=N&timeout=S&retries=N&prompt=...&model_dir=...]`."""
    parts = parse_spec(spec)
    side = prompt_side(parts["model"], parts.pop("model_dir"), parts.pop("prompt"), train)
    return EndpointGenerator(name=spec, **{**parts, **side})
