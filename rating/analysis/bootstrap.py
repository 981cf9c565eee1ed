"""The one resampling routine of the analysis: how often each item occurs in each resample.

Every interval (Figure 4 cases x raters, Table 1 and metric validity over cases, Krippendorff's
alpha over units) draws items with replacement through `resample_counts` and turns a statistic
per resample into a percentile interval with `percentile_interval`. Working with multiplicities
(B x n weights) lets each statistic be computed for all resamples in one matrix product.
"""
from __future__ import annotations

import numpy as np


def draw_counts(draws: np.ndarray, n: int) -> np.ndarray:
    """How often each of n items occurs in each row of draws: shape (rows, n)."""
    rows = draws.shape[0]
    flat = (draws + np.arange(rows)[:, None] * n).ravel()
    return np.bincount(flat, minlength=rows * n).reshape(rows, n).astype(float)


def resample_counts(rng: np.random.Generator, n_items: int, n_resamples: int) -> np.ndarray:
    """Multiplicity of each of n_items in each of n_resamples draws with replacement: (B, n_items)."""
    return draw_counts(rng.integers(0, n_items, size=(n_resamples, n_items)), n_items)


def bootstrap_weights(n_cases: int, n_raters: int, n_resamples: int, seed: int,
                      resample_raters: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Multiplicity of every case and rater in each resample: shapes (B, n_cases), (B, n_raters).

    Cases are drawn first, then raters, from one default_rng(seed); without rater resampling
    every rater has weight 1.
    """
    rng = np.random.default_rng(seed)
    wc = resample_counts(rng, n_cases, n_resamples)
    wr = resample_counts(rng, n_raters, n_resamples) if resample_raters else np.ones((n_resamples, n_raters))
    return wc, wr


def percentile_interval(samples: np.ndarray, confidence: float) -> tuple[float, float]:
    """The central `confidence` percentile interval of the finite samples (nan, nan when none)."""
    finite = samples[np.isfinite(samples)]
    if finite.size == 0:
        return float("nan"), float("nan")
    tail = (1 - confidence) / 2
    return float(np.quantile(finite, tail)), float(np.quantile(finite, 1 - tail))
