"""The one record type every loader produces and every consumer reads."""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Report:
    """One radiology report reduced to what this project needs.

    id: identifier unique within its source (OpenI uid, MIMIC study id, ...).
    findings: the FINDINGS section, cleaned.
    impression: the IMPRESSION section, cleaned (the reference for scoring).
    source: data set name, e.g. "openi", "mimic-cxr", "jsonl".
    split: "train" / "validate" / "test" when the source defines it, else None.
    """

    id: str
    findings: str
    impression: str
    source: str
    split: str | None = None
    meta: dict = field(default_factory=dict, compare=False, hash=False)


@dataclass
class LoadResult:
    """Reports loaded from one file plus a count of what was skipped and why."""

    reports: list[Report]
    skipped: dict[str, int] = field(default_factory=dict)

    def skip(self, reason: str) -> None:
        self.skipped[reason] = self.skipped.get(reason, 0) + 1

    @property
    def n_skipped(self) -> int:
        return sum(self.skipped.values())

    def summary(self) -> str:
        parts = [f"{len(self.reports)} reports loaded"]
        if self.skipped:
            reasons = ", ".join(f"{n} {why}" for why, n in sorted(self.skipped.items()))
            parts.append(f"{self.n_skipped} skipped ({reasons})")
        return "; ".join(parts)
