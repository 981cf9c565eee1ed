"""Strategy "constrained": greedy decoding whose own text never contradicts itself (issue 20).

The model decodes greedily; every impression that `core.consistency.check` flags is decoded again
from its first offending sentence j, batched over the rows that need it, at most `rounds` times:

* a whole-study normal statement after a stated finding ("Stable cardiomegaly. No acute disease."):
  the model continues "<sentences before j> Otherwise, no" (the statement's opening qualified by
  `core.consistency.qualify`), so it writes the rest of a qualified statement itself ("Stable
  cardiomegaly. Otherwise, no acute disease."). Given only "Otherwise," the default model wrote
  "Otherwise, XXXX XXXX." (the de-identified "otherwise unremarkable") for all 9 flagged validation
  rows;
* anything else (a sentence that denies a stated finding, or a normal statement before the finding):
  the model continues the sentences before j, and may not open sentence j with the word it opened it
  with (bans accumulate over the rounds at the same place).

What is still flagged after the last round is repaired by `core.consistency.make_consistent`
(normal statement qualified, denial dropped), so the strategy never answers a contradiction.

Option (`ConstrainedConfig.ban_normal_openings`): when the findings state a significant positive
observation (core.omissions.positives), the impression may not open with a whole-study normal word
("No", "Negative", "Normal", "Clear", "Unremarkable"), so the model must open with something else.
Bans are on the word's own token sequence in its context (`word_tokens`): after a newline the
project tokenizer writes "No" as "N" + "o", and only "o" after "N" is banned ("Nodular" stays).

Pure planning here (no torch); the caller passes `continue_texts`, which decodes greedily.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Sequence

from core.cleaning import clean_text, split_sentences
from core.consistency import NORMAL_STUDY, check, make_consistent, qualify, split_normal
from core.omissions import positives
from core.prompt import extract_impression

NORMAL_OPENINGS: tuple[str, ...] = ("No", "Negative", "Normal", "Clear", "Unremarkable")
"""Words that open a whole-study (or lung-scoped) normal impression."""


def qualified_opening(sentence: str) -> str:
    """The start of the normal statement `sentence` qualified by "otherwise", up to the word after it
    ("No acute disease." -> "Otherwise, no"; "Negative chest." -> "Otherwise negative"; "Clear lungs."
    -> "Lungs otherwise clear"): the model writes the rest of the statement itself."""
    words = qualify(sentence).rstrip(".").split()
    at = next(i for i, w in enumerate(words) if w.lower().strip(",") == "otherwise")
    return " ".join(words[:at + 2])


@dataclass(frozen=True)
class ConstrainedConfig:
    """How strategy "constrained" decodes (see module doc)."""

    rounds: int = 2
    """Re-decoding rounds for the flagged rows before `make_consistent` repairs what is left (0..4)."""
    ban_normal_openings: bool = False
    """Abnormal findings: the impression may not open with a word of `normal_openings` (off: it cost
    R-1 and top-5 F1 on validation, docs/constrained-decoding.md)."""
    normal_openings: tuple[str, ...] = NORMAL_OPENINGS
    """The opening words banned by `ban_normal_openings` (single words, no spaces)."""

    def __post_init__(self) -> None:
        if not 0 <= self.rounds <= 4:
            raise ValueError("rounds must lie in 0..4")
        if not self.normal_openings or any(not w or re.search(r"\s", w) for w in self.normal_openings):
            raise ValueError("normal_openings must be non-empty single words")


@dataclass(frozen=True)
class Redo:
    """One row to decode again."""

    prefix: str
    """The impression text the model continues (the accepted sentences, maybe + "Otherwise,")."""
    banned_words: frozenset[str]
    """Words the continuation may not open with."""


ContinueTexts = Callable[[list[str], list[int], list[set[tuple[int, ...]]]], list[str]]
"""(texts, per-row token limits, per-row banned token sequences) -> the greedy continuations."""


def _sentences(text: str) -> list[str]:
    return split_sentences(clean_text(text))


def first_word(sentence: str) -> str:
    """The sentence's first word without trailing punctuation ("No" in "No pneumothorax.")."""
    m = re.match(r"\s*([^\s.,;:]+)", sentence)
    return m.group(1) if m else ""


def plan(impression: str, findings: str, banned: dict[str, set[str]]) -> Redo | None:
    """How to decode a flagged impression again (None when it has no contradiction).

    banned: this row's words banned so far, by prefix; updated in place.
    """
    result = check(impression, findings)
    if result.consistent:
        return None
    sentences = _sentences(impression)
    at_fault = {c.sentence: c for c in result.contradictions}
    j = next(i for i, s in enumerate(sentences) if s in at_fault)
    before = " ".join(sentences[:j])
    if at_fault[sentences[j]].kind == NORMAL_STUDY and any(positives(s) for s in sentences[:j]):
        leading, _ = split_normal(sentences[j])  # "Stable cardiomegaly without acute disease." keeps its subject
        kept = " ".join(s for s in (before, leading) if s)
        return Redo(f"{kept} {qualified_opening(sentences[j])}", frozenset())
    words = banned.setdefault(before, set())
    words.add(first_word(sentences[j]))
    return Redo(before, frozenset(words))


def word_tokens(tokenizer, context: str, word: str, special_tokens: bool) -> tuple[int, ...] | None:
    """The token ids `word` takes right after `context` (a space between them unless `context` ends a
    line), or None when the tokenizer merges the word into the context (then it is not banned)."""
    sep = "" if not context or context.endswith("\n") else " "
    head = tokenizer(context, add_special_tokens=special_tokens)["input_ids"]
    full = tokenizer(f"{context}{sep}{word} x", add_special_tokens=special_tokens, return_offsets_mapping=True)
    ids, offsets = full["input_ids"], full["offset_mapping"]
    if list(ids[:len(head)]) != list(head):
        return None
    end = len(context) + len(sep) + len(word)
    out = tuple(t for t, (start, _) in zip(ids[len(head):], offsets[len(head):], strict=True) if start < end)
    return out or None


def _join(prefix: str, continuation: str) -> str:
    return extract_impression(prefix + continuation)


def decode_constrained(prompts: Sequence[str], findings: Sequence[str], continue_texts: ContinueTexts,
                       tokenizer, special_tokens: bool, max_new_tokens: int,
                       config: ConstrainedConfig = ConstrainedConfig()) -> list[str]:
    """Impressions for `prompts` (one per findings text) with no contradiction (see module doc)."""
    n = len(prompts)
    banned: list[dict[str, set[str]]] = [{} for _ in range(n)]
    abnormal = [bool(positives(f)) for f in findings]

    def token_bans(i: int, prefix: str, words: frozenset[str]) -> set[tuple[int, ...]]:
        if not prefix and config.ban_normal_openings and abnormal[i]:
            words = words | set(config.normal_openings)
        context = prompts[i] + prefix
        return {seq for w in sorted(words) if (seq := word_tokens(tokenizer, context, w, special_tokens))}

    def prefix_tokens(prefix: str) -> int:
        return len(tokenizer(prefix, add_special_tokens=False)["input_ids"]) if prefix else 0

    first = continue_texts(list(prompts), [max_new_tokens] * n, [token_bans(i, "", frozenset()) for i in range(n)])
    out = [extract_impression(text) for text in first]
    todo = list(range(n))
    for _ in range(config.rounds):
        redo = {i: r for i in todo if (r := plan(out[i], findings[i], banned[i])) is not None}
        if not redo:
            break
        rows = list(redo)
        texts = [prompts[i] + redo[i].prefix for i in rows]
        limits = [max(1, max_new_tokens - prefix_tokens(redo[i].prefix)) for i in rows]
        bans = [token_bans(i, redo[i].prefix, redo[i].banned_words) for i in rows]
        todo = []
        for i, text in zip(rows, continue_texts(texts, limits, bans), strict=True):
            if extract_impression(text).strip(" .,;:"):
                out[i] = _join(redo[i].prefix, text)
                todo.append(i)
    return [make_consistent(text, f) for text, f in zip(out, findings, strict=True)]
