"""The seam every impression-writing system shares: a batch of findings in, impressions out."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, Protocol, Sequence, runtime_checkable

STRATEGIES = ("greedy", "beam", "rerank")


@dataclass(frozen=True)
class GenerationSettings:
    """Decoding options; systems that do not decode ignore them."""

    strategy: str = "greedy"  # one of STRATEGIES; "rerank": the model picks among its greedy output and
    #                           retrieved training impressions (models without retrieval fall back to greedy)
    num_beams: int = 4
    max_new_tokens: int = 96

    def __post_init__(self) -> None:
        if self.strategy not in STRATEGIES:
            raise ValueError(f"strategy must be one of {', '.join(STRATEGIES)}, not {self.strategy!r}")
        if not 1 <= self.num_beams <= 16:
            raise ValueError("num_beams must lie in 1..16")
        if not 1 <= self.max_new_tokens <= 1024:
            raise ValueError("max_new_tokens must lie in 1..1024")

    def as_dict(self) -> dict:
        return {"strategy": self.strategy, "num_beams": self.num_beams, "max_new_tokens": self.max_new_tokens}


@runtime_checkable
class ImpressionGenerator(Protocol):
    """Anything that writes impressions: a baseline, a checkpoint, imported outputs, an endpoint."""

    name: str
    kind: str  # "baseline", "model", "imported", "reference", ...

    def generate(self, findings: Sequence[str], settings: GenerationSettings = GenerationSettings()) -> list[str]:
        """One impression per findings text, in order."""
        ...

    def describe(self) -> dict:
        """Configuration and version, stored with a study's system row."""
        ...


@dataclass
class StreamingMixin:
    """Default streaming: yield the whole impression once. Models override `stream`."""

    def stream(self, findings: str, settings: GenerationSettings = GenerationSettings()) -> Iterator[str]:
        yield self.generate([findings], settings)[0]  # type: ignore[attr-defined]
