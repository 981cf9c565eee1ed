"""Who rates what, in which order, under which labels (no database here).

Which cases a rater gets, their order and the hidden repeats come from a `random.Random`
seeded by a string built from the study seed, the rater's name and the case key, so the same
inputs always give the same queues, and adding a rater never reshuffles anyone else's. These
choices reveal nothing about the systems.

The label order (which output is "A") is the blinding itself: it is drawn from `secrets`
(the operating system's randomness) when the queue is built and stored as the record. It
cannot be recomputed from the seed, the code or anything else a rater can know.
"""
from __future__ import annotations

import random
import secrets
import string
from dataclasses import dataclass
from typing import Hashable, Mapping, Sequence

LABELS = tuple(string.ascii_uppercase)


@dataclass(frozen=True)
class QueueItem:
    """One entry of a rater's queue.

    case_key: the caller's key of the case (e.g. its database id).
    repeat_index: 0, or 1 for a hidden repeat of a case already in the queue.
    output_order: the case's output keys in display order; the first is shown as "A".
    """

    case_key: Hashable
    repeat_index: int
    output_order: tuple


def label_for(position: int) -> str:
    """'A' for 0, 'B' for 1, ... (at most 26 candidates per case)."""
    if not 0 <= position < len(LABELS):
        raise ValueError(f"at most {len(LABELS)} candidates per case are supported")
    return LABELS[position]


def _rng(*parts: object) -> random.Random:
    return random.Random("|".join(str(p) for p in parts))


def allocate_cases(case_keys: Sequence[Hashable], n_raters: int, k: int | None, seed: int) -> list[list[Hashable]]:
    """Split the (non-calibration) cases among raters so that each case gets k distinct raters.

    k=None means every rater rates every case. Loads differ by at most one case.
    Returns one list of case keys per rater index.
    """
    if n_raters < 1:
        raise ValueError("a study needs at least one rater")
    if k is None or k >= n_raters:
        return [list(case_keys) for _ in range(n_raters)]
    if k < 1:
        raise ValueError(f"k (raters per case) must be at least 1, not {k}")
    order = list(case_keys)
    _rng(seed, "allocation").shuffle(order)
    per_rater: list[list[Hashable]] = [[] for _ in range(n_raters)]
    for i, key in enumerate(order):
        for j in range(k):
            per_rater[(i * k + j) % n_raters].append(key)
    return per_rater


_UNPREDICTABLE = secrets.SystemRandom()


def label_order(output_keys: Sequence[Hashable]) -> tuple:
    """A fresh, unpredictable order in which one rater sees one case's outputs (store it: it is the record)."""
    order = list(output_keys)
    _UNPREDICTABLE.shuffle(order)
    return tuple(order)


def build_queue(*, seed: int, rater_name: str, calibration_keys: Sequence[Hashable], own_keys: Sequence[Hashable],
                outputs_by_case: Mapping[Hashable, Sequence[Hashable]], n_repeats: int = 0) -> list[QueueItem]:
    """A rater's full queue: calibration cases first, then their own cases, then hidden repeats.

    Calibration cases come in one shared order (every rater sees the same calibration set,
    first); the rater's own cases are shuffled per rater; `n_repeats` of those own cases are
    shown again at the end with repeat_index=1 and a freshly drawn label order. Label orders are
    drawn from `secrets` (see label_order): the same inputs give the same cases, not the same labels.
    """
    if n_repeats < 0:
        raise ValueError("n_repeats must be >= 0")
    calibration = sorted(calibration_keys, key=str)
    _rng(seed, "calibration").shuffle(calibration)
    own = sorted((k for k in own_keys if k not in set(calibration)), key=str)
    _rng(seed, rater_name, "cases").shuffle(own)
    if n_repeats > len(own):
        raise ValueError(f"cannot repeat {n_repeats} cases: rater {rater_name!r} has only {len(own)} own cases")
    repeats = _rng(seed, rater_name, "repeats").sample(own, n_repeats)
    queue = [QueueItem(key, 0, label_order(outputs_by_case[key]))
             for key in [*calibration, *own]]
    queue += [QueueItem(key, 1, label_order(outputs_by_case[key])) for key in repeats]
    return queue
