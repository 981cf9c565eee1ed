"""How the summaries of a study are computed: one typed, checked configuration."""
from __future__ import annotations

from dataclasses import dataclass

MAX_BOOTSTRAP = 20_000
"""Upper bound on bootstrap resamples: each one is a row of case x rater weights in memory."""
MAX_PERMUTATIONS = 100_000
"""Upper bound on approximate-randomization resamples per comparison."""
WILCOXON_METHODS = ("auto", "exact", "approx")


@dataclass(frozen=True)
class AnalysisConfig:
    """How the summaries are computed."""

    n_bootstrap: int = 1000
    """Bootstrap resamples for the Figure 4, Table 1 and metric-validity intervals."""
    n_bootstrap_alpha: int = 200
    """Bootstrap resamples for the interval of Krippendorff's alpha (each one recomputes alpha)."""
    confidence: float = 0.95
    """Coverage of every interval (percentile method; the ICC's F-based interval is always 95%)."""
    seed: int = 0
    """Seed of every resampling."""
    resample_raters: bool = True
    """Figure 4: resample raters as well as cases (two-level bootstrap); False resamples cases only."""
    alpha_level: str = "ordinal"
    """Level of measurement for Krippendorff's alpha: nominal, ordinal, interval or ratio."""
    include_calibration: bool = True
    """Use ratings of calibration cases (rated by every rater) in the summaries."""
    significance: float = 0.05
    """Level at which a Holm-corrected comparison is marked significant."""
    wilcoxon_method: str = "auto"
    """Wilcoxon signed-rank p-value: "auto" (exact only without ties or zero differences and at most
    `wilcoxon_exact_max_n` cases, else the normal approximation with continuity correction),
    "exact" or "approx" (always the normal approximation)."""
    wilcoxon_exact_max_n: int = 25
    """Largest number of cases for which "auto" uses the exact null distribution (it is cheap there)."""
    n_permutations: int = 0
    """Approximate-randomization test between systems: sign flips of the paired case differences
    per comparison; 0 leaves the test out."""

    def __post_init__(self) -> None:
        if self.n_bootstrap < 1 or self.n_bootstrap_alpha < 1:
            raise ValueError("bootstrap counts must be at least 1")
        if self.n_bootstrap > MAX_BOOTSTRAP or self.n_bootstrap_alpha > MAX_BOOTSTRAP:
            raise ValueError(f"bootstrap counts must be at most {MAX_BOOTSTRAP:,} (more adds time and memory, "
                             "not precision worth having)")
        if not 0 < self.confidence < 1:
            raise ValueError(f"confidence must lie in (0, 1), not {self.confidence}")
        if self.alpha_level not in ("nominal", "ordinal", "interval", "ratio"):
            raise ValueError(f"unknown level of measurement {self.alpha_level!r}")
        if not 0 < self.significance < 1:
            raise ValueError(f"significance must lie in (0, 1), not {self.significance}")
        if self.wilcoxon_method not in WILCOXON_METHODS:
            raise ValueError(f"wilcoxon_method must be one of {', '.join(WILCOXON_METHODS)}, "
                             f"not {self.wilcoxon_method!r}")
        if not 0 <= self.wilcoxon_exact_max_n <= 50:
            raise ValueError("wilcoxon_exact_max_n must lie in 0..50 (the exact distribution is slow beyond)")
        if not 0 <= self.n_permutations <= MAX_PERMUTATIONS:
            raise ValueError(f"n_permutations must lie in 0..{MAX_PERMUTATIONS:,}")
