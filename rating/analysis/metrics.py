"""Automatic metrics of each study output against its case's reference impression.

ROUGE-1/2/L F1 from `core.metrics.rouge_pair`, scored once per distinct (output, reference) pair,
so thousands of ratings of the same outputs cost one score each.
The clinical metric (core.clinical, CheXpert-style labels) adds columns prefixed "chexpert_".
Given the case findings, the omission check (core.omissions) adds `omission_rate` (1 when the
output leaves out a significant positive observation of the findings) and `addition_rate`
(1 when it adds one); the consistency check (core.consistency) adds `contradiction_rate` (1 when the
output contradicts itself or the findings: a finding beside an unqualified whole-study normal
statement, or a denied finding). Their means per system are the rates (Table 1 of rating.analysis
takes every column of `metric_columns`).
"""
from __future__ import annotations

import hashlib
from typing import Sequence

import pandas as pd

ROUGE_COLUMNS = ("rouge1", "rouge2", "rougeL")
OMISSION_COLUMNS = ("omission_rate", "addition_rate")
CONTRADICTION_COLUMNS = ("contradiction_rate",)
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


def omission_columns(texts: Sequence[str], findings: Sequence[str]) -> pd.DataFrame:
    """Per-output omission_rate and addition_rate (0/1) against the case findings (core.omissions)."""
    from core.omissions import omission_rates

    rows = omission_rates(list(findings), list(texts))
    return pd.DataFrame([[r[c] for c in OMISSION_COLUMNS] for r in rows], columns=list(OMISSION_COLUMNS), dtype=float)


def contradiction_columns(texts: Sequence[str], findings: Sequence[str]) -> pd.DataFrame:
    """Per-output contradiction_rate (0/1) against the case findings (core.consistency)."""
    from core.consistency import contradiction_rates

    rows = contradiction_rates(list(findings), list(texts))
    return pd.DataFrame([[r[c] for c in CONTRADICTION_COLUMNS] for r in rows], columns=list(CONTRADICTION_COLUMNS),
                        dtype=float)


def contradiction_by_system(systems: Sequence[str], texts: Sequence[str], findings: Sequence[str]) -> pd.Series:
    """Share of each system's outputs that contradict themselves or their findings (index: system)."""
    frame = contradiction_columns(texts, findings).assign(system=list(systems))
    return frame.groupby("system")["contradiction_rate"].mean()


def output_metrics(texts: Sequence[str], references: Sequence[str],
                   findings: Sequence[str] | None = None) -> pd.DataFrame:
    """One row per output: rouge1, rouge2, rougeL, then any chexpert_* columns, then (with the findings)
    omission_rate, addition_rate and contradiction_rate."""
    if len(texts) != len(references) or (findings is not None and len(findings) != len(texts)):
        raise ValueError(f"{len(texts)} outputs for {len(references)} references")
    rouge = pd.DataFrame([rouge_for_output(t, r) for t, r in zip(texts, references, strict=True)], columns=list(ROUGE_COLUMNS),
                         dtype=float)
    if not len(texts):
        return rouge
    parts = [rouge, clinical_columns(texts, references)]
    if findings is not None:
        parts += [omission_columns(texts, findings), contradiction_columns(texts, findings)]
    return pd.concat(parts, axis=1)


def metric_columns(frame: pd.DataFrame) -> list[str]:
    """The automatic-metric columns present in a frame: ROUGE, then any clinical-metric columns."""
    return [c for c in frame.columns if c in ROUGE_COLUMNS] + \
        [c for c in frame.columns if c.startswith(CLINICAL_PREFIX)] + \
        [c for c in frame.columns if c in OMISSION_COLUMNS + CONTRADICTION_COLUMNS]
