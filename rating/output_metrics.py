"""Automatic metrics of each study output against its case's reference impression.

ROUGE-1/2/L F1 exactly as `core.metrics.rouge_pair` computes them (same cleaning, rouge-score
tokenisation with Porter stemming), but scored once per distinct (output, reference) pair and
with the stemmer memoised per word, so thousands of outputs take well under a second.
The clinical metric (core.clinical, CheXpert-style labels) adds columns prefixed "chexpert_".
"""
from __future__ import annotations

import hashlib
from functools import lru_cache
from typing import Sequence

import pandas as pd
from rouge_score import rouge_scorer, tokenize
from rouge_score.tokenizers import Tokenizer

from core.cleaning import clean_text

ROUGE_COLUMNS = ("rouge1", "rouge2", "rougeL")
CLINICAL_PREFIX = "chexpert_"
"""Prefix of the clinical-metric columns, kept apart from the criterion clinical_utility."""


class _MemoStemmer:
    """Porter stemmer (as rouge-score uses it) with a per-word cache."""

    def __init__(self) -> None:
        from nltk.stem import porter  # rouge-score's own dependency
        self._stem = lru_cache(maxsize=200_000)(porter.PorterStemmer().stem)

    def stem(self, word: str) -> str:
        return self._stem(word)


class _MemoTokenizer(Tokenizer):
    def __init__(self) -> None:
        self._stemmer = _MemoStemmer()

    def tokenize(self, text: str) -> list[str]:
        return tokenize.tokenize(text, self._stemmer)


_scorer = rouge_scorer.RougeScorer(list(ROUGE_COLUMNS), tokenizer=_MemoTokenizer())
_CACHE: dict[tuple[str, str], tuple[float, float, float]] = {}


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def rouge_for_output(text: str, reference: str) -> tuple[float, float, float]:
    """ROUGE-1/2/L F1 of one output against its reference, memoised by the two texts' hashes."""
    key = (_digest(text), _digest(reference))
    hit = _CACHE.get(key)
    if hit is None:
        s = _scorer.score(clean_text(reference), clean_text(text))
        hit = _CACHE[key] = (float(s["rouge1"].fmeasure), float(s["rouge2"].fmeasure), float(s["rougeL"].fmeasure))
    return hit


def clinical_columns(texts: Sequence[str], references: Sequence[str]) -> pd.DataFrame | None:
    """Per-output clinical-metric columns (prefixed) from core.clinical, or None without it."""
    try:
        from core.clinical import clinical_per_report
    except ImportError:
        return None
    return pd.DataFrame(list(clinical_per_report(list(texts), list(references)))).add_prefix(CLINICAL_PREFIX)


def output_metrics(texts: Sequence[str], references: Sequence[str]) -> pd.DataFrame:
    """One row per output: rouge1, rouge2, rougeL, then any chexpert_* columns."""
    if len(texts) != len(references):
        raise ValueError(f"{len(texts)} outputs for {len(references)} references")
    rouge = pd.DataFrame([rouge_for_output(t, r) for t, r in zip(texts, references)], columns=list(ROUGE_COLUMNS),
                         dtype=float)
    clinical = clinical_columns(texts, references) if len(texts) else None
    return rouge if clinical is None else pd.concat([rouge, clinical], axis=1)


def metric_columns(frame: pd.DataFrame) -> list[str]:
    """The automatic-metric columns present in a frame: ROUGE, then any clinical-metric columns."""
    return [c for c in frame.columns if c in ROUGE_COLUMNS] + \
        [c for c in frame.columns if c.startswith(CLINICAL_PREFIX)]
