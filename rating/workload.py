"""How long each rater's queue will take: cases x candidates x about SECONDS_PER_RATING.

Counted from the stored queues as the rater will see them: calibration cases and hidden repeats
are cases, and the outputs of several systems with the same text are the one candidate they are
shown as (rating/shared_texts.py), so it is the work actually assigned, not the nominal N.
Takes a session; the caller owns the transaction.
"""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from db.models import Assignment, Rater

SECONDS_PER_RATING = 30
"""About how long a radiologist needs to score one candidate impression on the five criteria."""


@dataclass(frozen=True)
class RaterWorkload:
    rater: str
    n_cases: int
    """Cases in the queue (a hidden repeat counts again)."""
    n_ratings: int
    """Candidate impressions to score over the whole queue (as shown: identical texts merged)."""
    n_repeats: int = 0
    """Of the cases, how many are hidden repeats."""
    min_candidates: int = 0
    """Fewest candidates shown in one case."""
    max_candidates: int = 0
    """Most candidates shown in one case."""

    @property
    def seconds(self) -> int:
        return self.n_ratings * SECONDS_PER_RATING

    def describe(self) -> str:
        repeats = f" ({self.n_repeats} of them hidden repeats)" if self.n_repeats else ""
        shown = (str(self.min_candidates) if self.min_candidates == self.max_candidates
                 else f"{self.min_candidates}-{self.max_candidates}")
        return (f"{self.rater}: {self.n_cases} cases{repeats} x {shown} candidates = {self.n_ratings} ratings, "
                f"about {format_duration(self.seconds)}")


def format_duration(seconds: float) -> str:
    """'45 min', '2 h 05 min' (rounded to the minute, at least 1 min)."""
    minutes = max(1, round(seconds / 60))
    return f"{minutes} min" if minutes < 60 else f"{minutes // 60} h {minutes % 60:02d} min"


def rater_workloads(session: Session, study_id: int) -> list[RaterWorkload]:
    """Every rater of the study (in invitation order) with their queue's cases and ratings.

    A queue's label_order lists the candidates its case shows (one per distinct text), so its
    length is what the rater scores there.
    """
    rows = session.execute(
        select(Rater.id, Rater.name, Assignment.repeat_index, Assignment.label_order)
        .join(Assignment, Assignment.rater_id == Rater.id, isouter=True)
        .where(Rater.study_id == study_id).order_by(Rater.id, Assignment.position)).all()
    queues: dict[int, tuple[str, list[tuple[int, int]]]] = {}
    for rater_id, name, repeat_index, order in rows:
        queue = queues.setdefault(rater_id, (name, []))[1]
        if order is not None:
            queue.append((repeat_index or 0, len(order)))
    return [RaterWorkload(name, len(queue), sum(n for _, n in queue), sum(1 for r, _ in queue if r > 0),
                          min((n for _, n in queue), default=0), max((n for _, n in queue), default=0))
            for name, queue in queues.values()]


def workload_lines(workloads: list[RaterWorkload]) -> list[str]:
    """One line per rater, headed by the assumption."""
    return [f"Estimated workload per rater (about {SECONDS_PER_RATING} s per candidate):",
            *(w.describe() for w in workloads)]
