"""Prompts with retrieved similar TRAINING reports (ImpressionGPT-style), shared by training and inference."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
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

    @property
    def index(self):
        """The TF-IDF index over the training findings (built on first use)."""
        if self._index is None:
            from generation.baselines import RetrievalIndex
            self._index = RetrievalIndex(list(self.train))
        return self._index

    def neighbour_impressions(self, findings: Sequence[str], k: int) -> list[dict[str, float]]:
        """For each findings text: the distinct impressions of its k nearest training reports,
        each with the best cosine similarity of the findings that carry it (most similar first)."""
        if not self.train or k < 1:
            return [{} for _ in findings]
        out = []
        for neighbours in self.index.nearest_scored(list(findings), k=k):
            best: dict[str, float] = {}
            for j, sim in neighbours:
                text = self.train[j].impression
                best[text] = max(sim, best.get(text, float("-inf")))
            out.append(best)
        return out

    def examples_for(self, findings: Sequence[str], exclude_self: bool = False) -> list[list[Example]]:
        if not self.k:
            return [[] for _ in findings]
        out = []
        for neighbours in self.index.nearest(list(findings), k=self.k, exclude_self=exclude_self):
            # Most similar last, so it sits right before the findings it resembles.
            out.append([Example(cut_words(self.train[j].findings, self.max_example_words), self.train[j].impression)
                        for j in reversed(neighbours)])
        return out

    def prompts(self, findings: Sequence[str], exclude_self: bool = False, tokenizer=None,
                budget: int | None = None) -> list[str]:
        """One prompt per findings; with a tokenizer and budget, examples are dropped to fit."""
        examples = self.examples_for(findings, exclude_self)
        if tokenizer is None or budget is None:
            return [build_prompt(f, ex) for f, ex in zip(findings, examples, strict=True)]
        return [fit_prompt(tokenizer, f, ex, budget) for f, ex in zip(findings, examples, strict=True)]

    def describe(self) -> dict:
        return {"retrieved_examples": self.k, "max_example_words": self.max_example_words,
                "retrieval": "tfidf over training findings", "train_reports": len(self.train)}


def builder_for_folder(folder: Path, train: Sequence[Report], meta_name: str = "radllama.json") -> PromptBuilder:
    """The prompt builder a model folder was trained with: its `retrieved_examples` and `max_example_words`
    (from `meta_name`, written by training.train), retrieving from `train`; no examples without `train`.

    hf: folders and openai: endpoints serving such a folder both use it, so the same model sees the same
    prompt in process and behind a server."""
    meta_file = Path(folder) / meta_name
    meta = json.loads(meta_file.read_text()) if meta_file.is_file() else {}
    k = int(meta.get("retrieved_examples", 0)) if train else 0
    return PromptBuilder(list(train) if k else [], k, int(meta.get("max_example_words", 40)))


def fit_prompt(tokenizer, findings: str, examples: Sequence[Example], budget: int) -> str:
    """The prompt with as many examples as fit in `budget` tokens (least similar dropped first).

    If the findings alone are too long, their end is cut (word by word) until the prompt fits.
    """
    examples = list(examples)
    while True:
        prompt = build_prompt(findings, examples)
        if len(tokenizer(prompt, add_special_tokens=True)["input_ids"]) <= budget:
            return prompt
        if examples:
            examples.pop(0)
            continue
        words = findings.split()
        if len(words) <= 1:
            return prompt
        findings = " ".join(words[: max(1, int(len(words) * 0.8))])


class TokenizedPrompts:
    """Prompts and the findings' token budget measured with the model's own tokenizer.

    Shared by the in-process model (generation.project_lm.LMGenerator, hf:) and an openai: endpoint that
    serves a local folder, so both cut the same findings and drop the same examples. Subclasses provide
    `tokenizer` (None: fall back to the next class's character budget), `prompts` (a PromptBuilder),
    `max_prompt_tokens`, `special_tokens`, `_context_length()` and `_wrap()`.
    """

    max_prompt_tokens: int | None = None
    special_tokens: bool = True
    """Whether tokenizing a prompt adds the tokenizer's special tokens (BOS); False when a chat template
    already writes them (generation.hf_local)."""

    def _wrap(self, prompt: str) -> str:
        """The text the model sees for a prompt (hf_local wraps it in a chat template)."""
        return prompt

    def _prompt_budget(self, max_new_tokens: int) -> int:
        return self.max_prompt_tokens or self._context_length() - max_new_tokens

    def input_budget(self, settings) -> int | None:
        """Findings tokens that fit beside the prompt scaffold and the new tokens."""
        if self.tokenizer is None:
            return super().input_budget(settings)
        scaffold = len(self.tokenizer(self._wrap(build_prompt("")), add_special_tokens=self.special_tokens)["input_ids"])
        return max(16, self._prompt_budget(settings.max_new_tokens) - scaffold)

    def count_tokens(self, text: str) -> int:
        if self.tokenizer is None:
            return super().count_tokens(text)
        return len(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def cut_to_tokens(self, text: str, max_tokens: int) -> str:
        if self.tokenizer is None:
            return super().cut_to_tokens(text, max_tokens)
        ids = self.tokenizer(text, add_special_tokens=False)["input_ids"]
        return self.tokenizer.decode(ids[: max(1, max_tokens)], skip_special_tokens=True).strip()

    def _prompts(self, findings: Sequence[str], max_new_tokens: int) -> list[str]:
        """One prompt per findings text: retrieved examples dropped (least similar first) to fit the context."""
        if self.tokenizer is None:
            return [self._wrap(p) for p in self.prompts.prompts(findings)]
        budget = max(16, self._prompt_budget(max_new_tokens))
        return [self._wrap(p) for p in self.prompts.prompts(findings, tokenizer=self.tokenizer, budget=budget)]
