"""The seam every impression-writing system shares: findings in, impressions out.

`ImpressionGenerator` is the whole interface callers may rely on (no attribute probing):
the demo, study creation and `training.evaluate` all go through it. `GeneratorBase`
implements the parts every system shares: cleaning findings with core.cleaning and fitting
them to the system's input budget (`prepare`), streaming as one piece, and an honest
"cannot chat" answer. Systems override `_generate` (and, where they can, `stream`,
`chat`, `count_tokens`, `input_budget`).
"""
from __future__ import annotations

import platform
from dataclasses import dataclass, field
from typing import ClassVar, Iterator, Protocol, Sequence, runtime_checkable

from core.cleaning import clean_text

STRATEGIES = ("greedy", "beam", "rerank", "constrained")
KINDS = ("baseline", "model", "endpoint", "imported", "reference")

MAX_FINDINGS_CHARS = 16_000
"""Hard cap on findings characters; far above any real report (OpenI median about 200)."""


class FindingsError(ValueError):
    """Findings that cannot be used at all (empty); the message is for the user."""


class GenerationError(RuntimeError):
    """A system could not answer; the message names the system and says what failed."""


class ChatUnavailable(GenerationError):
    """The system cannot hold a follow-up conversation; the message says why."""


@dataclass(frozen=True)
class GenerationSettings:
    """Decoding options; systems that do not decode ignore them."""

    strategy: str = "greedy"
    """One of STRATEGIES. "rerank": the model picks among its greedy output and retrieved training
    impressions (systems without retrieval decode greedily). "constrained": greedy, decoded again where
    the model's own text contradicts itself (generation.constrained; other systems decode greedily)."""
    num_beams: int = 4
    """Beams for strategy "beam"."""
    max_new_tokens: int = 96
    """Upper bound on the impression's length in tokens."""

    def __post_init__(self) -> None:
        if self.strategy not in STRATEGIES:
            raise ValueError(f"strategy must be one of {', '.join(STRATEGIES)}, not {self.strategy!r}")
        if not 1 <= self.num_beams <= 16:
            raise ValueError("num_beams must lie in 1..16")
        if not 1 <= self.max_new_tokens <= 1024:
            raise ValueError("max_new_tokens must lie in 1..1024")

    def as_dict(self) -> dict:
        return {"strategy": self.strategy, "num_beams": self.num_beams, "max_new_tokens": self.max_new_tokens}


@dataclass
class PreparedFindings:
    """Findings as the system will see them, and what was changed on the way (for people)."""

    text: str
    notices: list[str] = field(default_factory=list)


@runtime_checkable
class ImpressionGenerator(Protocol):
    """Anything that writes impressions: a baseline, a checkpoint, an HF folder, an endpoint, imported text."""

    name: str
    """The system spec it was built from (e.g. "retrieval", "hf:/models/x", "openai:m@http://h/v1")."""
    kind: str
    """One of KINDS."""
    can_chat: bool
    """True when `chat` can answer follow-up questions."""
    max_concurrency: int
    """How many calls may run at once (1 for an in-process model, more for an HTTP endpoint)."""

    def prepare(self, findings: object, settings: GenerationSettings = GenerationSettings()) -> PreparedFindings:
        """Clean the findings (core.cleaning) and fit them to the input budget; FindingsError when empty."""
        ...

    def generate(self, findings: Sequence[str], settings: GenerationSettings = GenerationSettings()) -> list[str]:
        """One impression per findings text, in order (each text is prepared first)."""
        ...

    def stream(self, findings: str, settings: GenerationSettings = GenerationSettings()) -> Iterator[str]:
        """Growing partial impressions; the last one is the whole impression."""
        ...

    def chat(self, messages: Sequence[dict], settings: GenerationSettings = GenerationSettings()) -> Iterator[str]:
        """Growing partial answers to a conversation ([{"role", "content"}, ...]); ChatUnavailable if it cannot."""
        ...

    def chat_unavailable_reason(self) -> str:
        """Why `chat` is unavailable ("" when it is available)."""
        ...

    def describe(self) -> dict:
        """What exactly this system is (model, adapter and base, endpoint without secrets, decoding,
        library versions); stored with a study's system row and shown in analyses and exports."""
        ...


def library_versions(*packages: str) -> dict[str, str]:
    """Installed versions of `packages` (and Python), for describe()."""
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    for name in packages:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "not installed"
    return out


def cut_on_word(text: str, max_chars: int) -> str:
    """`text` cut to at most `max_chars`, on a word boundary when one is near the end."""
    cut = text[:max_chars]
    space = cut.rfind(" ")
    return cut[:space] if space > max_chars * 0.8 else cut


class GeneratorBase:
    """Shared behaviour; subclasses set name/kind and implement `_generate`."""

    name: str = ""
    kind: str = "baseline"
    can_chat: ClassVar[bool] = False
    max_concurrency: int = 1
    max_findings_chars: int = MAX_FINDINGS_CHARS
    libraries: ClassVar[tuple[str, ...]] = ()
    """Packages whose versions describe() reports."""

    # -- to override -------------------------------------------------------------------------
    def _generate(self, findings: list[str], settings: GenerationSettings) -> list[str]:
        raise NotImplementedError

    def _describe(self) -> dict:
        return {}

    def input_budget(self, settings: GenerationSettings) -> int | None:
        """Tokens the findings may take (None: no token limit beyond the character cap)."""
        return None

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    def cut_to_tokens(self, text: str, max_tokens: int) -> str:
        return " ".join(text.split()[:max_tokens])

    # -- shared ------------------------------------------------------------------------------
    def prepare(self, findings: object, settings: GenerationSettings = GenerationSettings()) -> PreparedFindings:
        raw = findings if isinstance(findings, str) else ""
        if "\x00" in raw:
            raw = raw.replace("\x00", " ")
        text = clean_text(raw)
        if not text:
            raise FindingsError("Please enter the findings of a report: the findings box is empty.")
        notices: list[str] = []
        if len(text) > self.max_findings_chars:
            cut = cut_on_word(text, self.max_findings_chars)
            notices.append(f"The findings were {len(text):,} characters long; only the first {len(cut):,} were used.")
            text = cut
        budget = self.input_budget(settings)
        if budget is not None:
            n_tokens = self.count_tokens(text)
            if n_tokens > budget:
                text = self.cut_to_tokens(text, budget)
                notices.append(f"The findings ({n_tokens:,} tokens) were cut to {budget:,} tokens to fit "
                               "the model's context.")
        return PreparedFindings(text, notices)

    def generate(self, findings: Sequence[str], settings: GenerationSettings = GenerationSettings()) -> list[str]:
        texts = [self.prepare(f, settings).text for f in findings]
        return self._generate(texts, settings) if texts else []

    def stream(self, findings: str, settings: GenerationSettings = GenerationSettings()) -> Iterator[str]:
        yield self.generate([findings], settings)[0]

    def chat_unavailable_reason(self) -> str:
        return (f"{self.name} writes impressions only: follow-up questions need a chat model "
                "(an openai: chat endpoint, or an hf: model with a chat template).")

    def chat(self, messages: Sequence[dict], settings: GenerationSettings = GenerationSettings()) -> Iterator[str]:
        raise ChatUnavailable(self.chat_unavailable_reason())

    def describe(self) -> dict:
        return {"system": self.name, "kind": self.kind, **self._describe(),
                "versions": library_versions(*self.libraries)}
