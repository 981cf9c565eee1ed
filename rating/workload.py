"""How long each rater's queue will take: cases x candidates x about SECONDS_PER_RATING.

Counted from the stored queues (calibration cases and hidden repeats included), so it is the
work actually assigned, not the nominal N. Takes a session; the caller owns the transaction.
"""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from db.models import Assignment, Output, Rater

SECONDS_PER_RATING = 30
"""About how long a radiologist needs to score one candidate impression on the five criteria."""


@dataclass(frozen=True)
class RaterWorkload:
    rater: str
    n_cases: int
    """Cases in the queue (a hidden repeat counts again)."""
    n_ratings: int
    """Candidate impressions to score over the whole queue."""

    @property
    def seconds(self) -> int:
        return self.n_ratings * SECONDS_PER_RATING

    def describe(self) -> str:
        per_case = self.n_ratings / self.n_cases if self.n_cases else 0
        return (f"{self.rater}: {self.n_cases} cases x {per_case:.3g} candidates = {self.n_ratings} ratings, "
                f"about {format_duration(self.seconds)}")


def format_duration(seconds: float) -> str:
    """'45 min', '2 h 05 min' (rounded to the minute, at least 1 min)."""
    minutes = max(1, round(seconds / 60))
    return f"{minutes} min" if minutes < 60 else f"{minutes // 60} h {minutes % 60:02d} min"


def rater_workloads(session: Session, study_id: int) -> list[RaterWorkload]:
    """Every rater of the study (in invitation order) with their queue's cases and ratings."""
    per_case = (select(Output.case_id, func.count(Output.id).label("n")).group_by(Output.case_id).subquery())
    rows = session.execute(
        select(Rater.name, func.count(Assignment.id), func.coalesce(func.sum(per_case.c.n), 0))
        .join(Assignment, Assignment.rater_id == Rater.id, isouter=True)
        .join(per_case, per_case.c.case_id == Assignment.case_id, isouter=True)
        .where(Rater.study_id == study_id).group_by(Rater.id, Rater.name).order_by(Rater.id)).all()
    return [RaterWorkload(name, int(n_cases), int(n_ratings)) for name, n_cases, n_ratings in rows]


def workload_lines(workloads: list[RaterWorkload]) -> list[str]:
    """One line per rater, headed by the assumption."""
    return [f"Estimated workload per rater (about {SECONDS_PER_RATING} s per candidate):",
            *(w.describe() for w in workloads)]
