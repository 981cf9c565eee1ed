"""ROUGE F1 (rouge-score, Porter stemming) with bootstrap intervals and paired tests.

rouge-score is pure Python, so this module stays free of torch, gradio and SQLAlchemy.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Sequence

import numpy as np
from rouge_score import rouge_scorer, tokenize
from rouge_score.tokenizers import Tokenizer

from core.cleaning import clean_text, split_sentences

ROUGE_KEYS = ("rouge1", "rouge2", "rougeL", "rougeLsum")
STEMMING_NOTE = "ROUGE F1 from rouge-score with Porter stemming (use_stemmer=True)"


class _MemoStemmingTokenizer(Tokenizer):
    """rouge-score's default tokenisation with its Porter stemmer, memoised per word (same output, faster)."""

    def __init__(self) -> None:
        from nltk.stem import porter  # rouge-score's own dependency

        self._stem = lru_cache(maxsize=200_000)(porter.PorterStemmer().stem)

    def stem(self, word: str) -> str:
        return self._stem(word)

    def tokenize(self, text: str) -> list[str]:
        return tokenize.tokenize(text, self)


_tokenizer = _MemoStemmingTokenizer()
_scorer = rouge_scorer.RougeScorer(list(ROUGE_KEYS), tokenizer=_tokenizer)
_rouge1 = rouge_scorer.RougeScorer(["rouge1"], tokenizer=_tokenizer)


def _for_lsum(text: str) -> str:
    return "\n".join(split_sentences(text))


def rouge_pair(prediction: str, reference: str, remove_deid: bool = False) -> dict[str, float]:
    """F1 of each ROUGE variant for one prediction against one reference (both cleaned alike)."""
    pred = clean_text(prediction, remove_deid)
    ref = clean_text(reference, remove_deid)
    scores = _scorer.score(_for_lsum(ref), _for_lsum(pred))
    return {k: float(scores[k].fmeasure) for k in ROUGE_KEYS}


def rouge1_f1(prediction: str, reference: str) -> float:
    """ROUGE-1 F1 of one text against another, as `rouge_pair` scores it (no cleaning: both are model or
    training texts already cleaned); the agreement term of the rerank's consensus (generation.rerank)."""
    return float(_rouge1.score(reference, prediction)["rouge1"].fmeasure)


def rouge_per_report(predictions: Sequence[str], references: Sequence[str], remove_deid: bool = False) -> list[dict[str, float]]:
    if len(predictions) != len(references):
        raise ValueError(f"{len(predictions)} predictions for {len(references)} references")
    return [rouge_pair(p, r, remove_deid) for p, r in zip(predictions, references, strict=True)]


@dataclass(frozen=True)
class Estimate:
    mean: float
    low: float
    high: float


def bootstrap_indices(n: int, n_resamples: int = 1000, seed: int = 0) -> np.ndarray:
    """Resampled report indices, shape (n_resamples, n); share them to pair systems."""
    rng = np.random.default_rng(seed)
    return rng.integers(0, n, size=(n_resamples, n))


def bootstrap_mean(values: Sequence[float], indices: np.ndarray | None = None, confidence: float = 0.95) -> Estimate:
    """Mean with a percentile bootstrap interval over reports."""
    arr = np.asarray(values, dtype=float)
    if arr.size == 0:
        return Estimate(float("nan"), float("nan"), float("nan"))
    idx = bootstrap_indices(arr.size) if indices is None else indices
    means = arr[idx].mean(axis=1)
    alpha = (1 - confidence) / 2
    return Estimate(float(arr.mean()), float(np.quantile(means, alpha)), float(np.quantile(means, 1 - alpha)))


def paired_bootstrap_pvalue(a: Sequence[float], b: Sequence[float], indices: np.ndarray | None = None) -> float:
    """Two-sided p-value that systems a and b have the same mean score on the same reports.

    Shifted-difference bootstrap: the share of resampled mean differences, centred on zero,
    that are at least as extreme as the observed difference.
    """
    diff = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    if diff.size == 0:
        return float("nan")
    idx = bootstrap_indices(diff.size) if indices is None else indices
    observed = diff.mean()
    resampled = diff[idx].mean(axis=1) - observed
    return float((np.sum(np.abs(resampled) >= abs(observed)) + 1) / (len(resampled) + 1))
