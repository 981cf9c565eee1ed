"""Automatic metrics of each study output against its case's reference impression.

ROUGE-1/2/L F1 from `core.metrics.rouge_pair`, scored once per distinct (output, reference) pair,
so thousands of ratings of the same outputs cost one score each.
The clinical metric (core.clinical, CheXpert-style labels) adds columns prefixed "chexpert_".
"""
from __future__ import annotations

import hashlib
from typing import Sequence

import pandas as pd

ROUGE_COLUMNS = ("rouge1", "rouge2", "rougeL")
CLINICAL_PREFIX = "chexpert_"
"""Prefix of the clinical-metric columns, kept apart from the criterion clinical_utility."""

_CACHE: dict[tuple[str, str], tuple[float, float, float]] = {}


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def rouge_for_output(text: str, reference: str) -> tuple[float, float, float]:
    """ROUGE-1/2/L F1 of one output against its reference, memoised by the two texts' hashes."""
    key = (_digest(text), _digest(reference))
    hit = _CACHE.get(key)
    if hit is None:
        from core.metrics import rouge_pair  # imported where used: rouge-score loads nltk

        scores = rouge_pair(text, reference)
        hit = _CACHE[key] = tuple(scores[k] for k in ROUGE_COLUMNS)
    return hit


def clinical_columns(texts: Sequence[str], references: Sequence[str]) -> pd.DataFrame:
    """Per-output clinical-metric columns (prefixed) from core.clinical."""
    from core.clinical import clinical_per_report

    return pd.DataFrame(list(clinical_per_report(list(texts), list(references)))).add_prefix(CLINICAL_PREFIX)


def output_metrics(texts: Sequence[str], references: Sequence[str]) -> pd.DataFrame:
    """One row per output: rouge1, rouge2, rougeL, then any chexpert_* columns."""
    if len(texts) != len(references):
        raise ValueError(f"{len(texts)} outputs for {len(references)} references")
    rouge = pd.DataFrame([rouge_for_output(t, r) for t, r in zip(texts, references)], columns=list(ROUGE_COLUMNS),
                         dtype=float)
    if not len(texts):
        return rouge
    return pd.concat([rouge, clinical_columns(texts, references)], axis=1)


def metric_columns(frame: pd.DataFrame) -> list[str]:
    """The automatic-metric columns present in a frame: ROUGE, then any clinical-metric columns."""
    return [c for c in frame.columns if c in ROUGE_COLUMNS] + \
        [c for c in frame.columns if c.startswith(CLINICAL_PREFIX)]
