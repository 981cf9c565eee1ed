"""Tables of the errors and pairwise protocols and of gold cases (registered on db.models.Base).

The database enforces what must never be wrong: an error count is 0 or more in one of the six
categories; a preference lies in -2..2; harm (AHRQ extent x likelihood) is stored for a side only
when that side was marked as holding an error, and then both parts are given. Each rating row
keeps the state it had before every edit in `history` (as RatingEdit does for 1-5 scores).
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, CheckConstraint, DateTime, Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.protocol_scales import ATTRIBUTES, ERROR_CATEGORIES, HARM_EXTENTS, HARM_LIKELIHOODS, SIDES
from db.models import Base, utcnow


def _in(column: str, values) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class ErrorRating(Base):
    """One rater's error annotation of one output (a candidate) in one assignment."""

    __tablename__ = "error_rating"
    __table_args__ = (UniqueConstraint("rater_id", "output_id", "repeat_index", name="uq_error_rating_rater_output"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    assignment_id: Mapped[int] = mapped_column(ForeignKey("assignment.id", ondelete="CASCADE"), index=True)
    rater_id: Mapped[int] = mapped_column(ForeignKey("rater.id", ondelete="CASCADE"), index=True)
    output_id: Mapped[int] = mapped_column(ForeignKey("output.id", ondelete="CASCADE"), index=True)
    repeat_index: Mapped[int] = mapped_column(Integer, default=0)
    label: Mapped[str] = mapped_column(String(2))
    display_position: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    submitted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    time_on_task_s: Mapped[float | None] = mapped_column(Float, nullable=True)
    revision: Mapped[int] = mapped_column(Integer, default=1)
    history: Mapped[list] = mapped_column(default=list)
    """Earlier states, oldest first: [{"revision", "counts", "spans", "updated_at"}]."""

    counts: Mapped[list[ErrorCount]] = relationship(back_populates="error_rating", cascade="all, delete-orphan",
                                                    order_by="ErrorCount.id")


class ErrorCount(Base):
    """How many errors of one category and significance a rater counted in one output."""

    __tablename__ = "error_count"
    __table_args__ = (
        UniqueConstraint("error_rating_id", "category", "clinically_significant", name="uq_error_count_cell"),
        CheckConstraint("count >= 0", name="ck_error_count_nonnegative"),
        CheckConstraint(_in("category", ERROR_CATEGORIES), name="ck_error_count_category"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    error_rating_id: Mapped[int] = mapped_column(ForeignKey("error_rating.id", ondelete="CASCADE"), index=True)
    category: Mapped[str] = mapped_column(String(30))
    clinically_significant: Mapped[bool] = mapped_column(Boolean)
    count: Mapped[int] = mapped_column(Integer)
    spans: Mapped[list] = mapped_column(default=list)
    """Highlighted character spans [[start, end], ...] of the output's text, at most `count`."""

    error_rating: Mapped[ErrorRating] = relationship(back_populates="counts")


def _harm_checks() -> list[CheckConstraint]:
    checks = []
    for side in SIDES:
        extent, likelihood, error = f"{side}_harm_extent", f"{side}_harm_likelihood", f"{side}_error"
        checks += [
            CheckConstraint(f"{extent} IS NULL OR {_in(extent, HARM_EXTENTS)}", name=f"ck_preference_{side}_extent"),
            CheckConstraint(f"{likelihood} IS NULL OR {_in(likelihood, HARM_LIKELIHOODS)}",
                            name=f"ck_preference_{side}_likelihood"),
            CheckConstraint(f"({error} AND {extent} IS NOT NULL AND {likelihood} IS NOT NULL) OR "
                            f"(NOT {error} AND {extent} IS NULL AND {likelihood} IS NULL)",
                            name=f"ck_preference_{side}_harm_only_with_error"),
        ]
    return checks


class Preference(Base):
    """One rater's blinded A/B comparison of two outputs of a case: left is the one shown first.

    A preference of -2 means the left output is much better, +2 the right one.
    """

    __tablename__ = "preference"
    __table_args__ = (
        UniqueConstraint("rater_id", "left_output_id", "right_output_id", "repeat_index", name="uq_preference_pair"),
        *(CheckConstraint(f"{a} BETWEEN -2 AND 2", name=f"ck_preference_{a}_range") for a in ATTRIBUTES),
        *_harm_checks(),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    assignment_id: Mapped[int] = mapped_column(ForeignKey("assignment.id", ondelete="CASCADE"), index=True)
    rater_id: Mapped[int] = mapped_column(ForeignKey("rater.id", ondelete="CASCADE"), index=True)
    repeat_index: Mapped[int] = mapped_column(Integer, default=0)
    pair_key: Mapped[str] = mapped_column(String(5))  # "A-B" as shown to this rater
    left_output_id: Mapped[int] = mapped_column(ForeignKey("output.id", ondelete="CASCADE"), index=True)
    right_output_id: Mapped[int] = mapped_column(ForeignKey("output.id", ondelete="CASCADE"), index=True)
    completeness: Mapped[int] = mapped_column(Integer)
    correctness: Mapped[int] = mapped_column(Integer)
    conciseness: Mapped[int] = mapped_column(Integer)
    left_error: Mapped[bool] = mapped_column(Boolean, default=False)
    left_harm_extent: Mapped[str | None] = mapped_column(String(20), nullable=True)
    left_harm_likelihood: Mapped[str | None] = mapped_column(String(20), nullable=True)
    right_error: Mapped[bool] = mapped_column(Boolean, default=False)
    right_harm_extent: Mapped[str | None] = mapped_column(String(20), nullable=True)
    right_harm_likelihood: Mapped[str | None] = mapped_column(String(20), nullable=True)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    submitted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    time_on_task_s: Mapped[float | None] = mapped_column(Float, nullable=True)
    revision: Mapped[int] = mapped_column(Integer, default=1)
    history: Mapped[list] = mapped_column(default=list)
    """Earlier states, oldest first: [{"revision", <fields>, "updated_at"}]."""


class GoldCase(Base):
    """A case with a known answer (attention check): a planted text and what a careful rater marks.

    The planted text is one of the case's outputs (output_id); gold cases are shown like any case
    and left out of every comparison of systems; each rater's accuracy on them is reported.
    expected: {"text": as written in the gold file, "kind": "error" | "no_error" | "worse",
    "clinically_significant": bool | None, "category": one of the six | None}.
    """

    __tablename__ = "gold_case"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("case.id", ondelete="CASCADE"), unique=True)
    output_id: Mapped[int] = mapped_column(ForeignKey("output.id", ondelete="CASCADE"))
    expected: Mapped[dict] = mapped_column(default=dict)
    note: Mapped[str] = mapped_column(Text, default="")
