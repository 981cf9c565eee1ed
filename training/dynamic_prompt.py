"""Prompts with retrieved similar TRAINING reports (ImpressionGPT-style), shared by training and inference."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

from core.prompt import Example, build_prompt
from core.records import Report


def cut_words(text: str, max_words: int) -> str:
    words = text.split()
    return text if len(words) <= max_words else " ".join(words[:max_words]) + " ..."


@dataclass
class PromptBuilder:
    """Builds the one prompt template, with `k` retrieved training reports as examples.

    Only training reports are ever retrieved. `exclude_self` (training time) skips neighbours
    whose findings equal the query, so the model never sees its own answer in the prompt.
    """

    train: Sequence[Report] = ()
    k: int = 0
    max_example_words: int = 40
    _index: object = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.k and not self.train:
            raise ValueError("retrieved examples need training reports")

    def examples_for(self, findings: Sequence[str], exclude_self: bool = False) -> list[list[Example]]:
        if not self.k:
            return [[] for _ in findings]
        if self._index is None:
            from training.baselines import RetrievalIndex
            self._index = RetrievalIndex(list(self.train))
        out = []
        for neighbours in self._index.nearest(list(findings), k=self.k, exclude_self=exclude_self):
            # Most similar last, so it sits right before the findings it resembles.
            out.append([Example(cut_words(self.train[j].findings, self.max_example_words), self.train[j].impression)
                        for j in reversed(neighbours)])
        return out

    def prompts(self, findings: Sequence[str], exclude_self: bool = False) -> list[str]:
        return [build_prompt(f, ex) for f, ex in zip(findings, self.examples_for(findings, exclude_self))]

    def describe(self) -> dict:
        return {"retrieved_examples": self.k, "max_example_words": self.max_example_words,
                "retrieval": "tfidf over training findings", "train_reports": len(self.train)}
