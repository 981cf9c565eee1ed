"""Deterministic, seeded train/validation/test splits.

With `group_identical_findings` (default for OpenI), reports whose normalised findings are
identical always land in the same split, so no test findings are ever seen in training.
"""
from __future__ import annotations

import hashlib
import random
import re
from dataclasses import dataclass, replace
from typing import Iterable, Sequence

from core.records import Report

SPLITS = ("train", "validate", "test")


@dataclass(frozen=True)
class SplitSpec:
    """How to split a source without an official split."""

    seed: int = 42
    validate_fraction: float = 0.1
    test_fraction: float = 0.1
    group_identical_findings: bool = True

    def __post_init__(self) -> None:
        if not (0 <= self.validate_fraction < 1 and 0 <= self.test_fraction < 1):
            raise ValueError("split fractions must lie in [0, 1)")
        if self.validate_fraction + self.test_fraction >= 1:
            raise ValueError("validate_fraction + test_fraction must be below 1")


_NON_WORD = re.compile(r"[^a-z0-9]+")


def findings_key(findings: str) -> str:
    """Normalised findings: case, punctuation and spacing do not make findings different."""
    return _NON_WORD.sub(" ", findings.lower()).strip()


def assign_splits(reports: Sequence[Report], spec: SplitSpec = SplitSpec()) -> list[Report]:
    """Return the reports with `split` set; reports that already carry a split keep it."""
    if reports and all(r.split in SPLITS for r in reports):
        return list(reports)
    groups: dict[str, list[int]] = {}
    for i, r in enumerate(reports):
        key = findings_key(r.findings) if spec.group_identical_findings else f"{r.source}:{r.id}:{i}"
        groups.setdefault(key, []).append(i)
    # Sort keys by a seeded hash so the assignment is independent of input order.
    salt = str(spec.seed).encode()
    ordered = sorted(groups, key=lambda k: hashlib.sha256(salt + k.encode()).hexdigest())
    rng = random.Random(spec.seed)
    rng.shuffle(ordered)
    n = len(reports)
    n_test = round(n * spec.test_fraction)
    n_val = round(n * spec.validate_fraction)
    split_of: dict[str, str] = {}
    counts = {"test": 0, "validate": 0}
    for key in ordered:
        size = len(groups[key])
        if counts["test"] < n_test:
            split_of[key] = "test"
            counts["test"] += size
        elif counts["validate"] < n_val:
            split_of[key] = "validate"
            counts["validate"] += size
        else:
            split_of[key] = "train"
    out = list(reports)
    for key, idxs in groups.items():
        for i in idxs:
            if out[i].split not in SPLITS:
                out[i] = replace(out[i], split=split_of[key])
    return out


def select(reports: Iterable[Report], split: str) -> list[Report]:
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; expected one of {SPLITS}")
    return [r for r in reports if r.split == split]


def unseen_in(test: Iterable[Report], train: Iterable[Report]) -> list[Report]:
    """Test reports whose normalised findings never occur in `train`."""
    seen = {findings_key(r.findings) for r in train}
    return [r for r in test if findings_key(r.findings) not in seen]
