"""Typed SQLAlchemy 2.0 models of a blinded rating study.

The database itself enforces what must never be wrong: scores in 1..5, one rating per
rater, output and repeat, unique rater tokens, outputs that belong to their study.
Schema changes go through Alembic migrations in db/migrations (see db/engine.py).
"""
from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import (JSON, Boolean, CheckConstraint, DateTime, Float, ForeignKey, Integer, String, Text,
                        UniqueConstraint)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

CRITERIA = ("understandability", "coherence", "relevance", "conciseness", "clinical_utility")
"""The five Likert criteria (1-5), in the order of the rating form, the score columns and every table."""
CRITERION_TITLES = {
    "understandability": "Understandability",
    "coherence": "Coherence",
    "relevance": "Relevance",
    "conciseness": "Conciseness",
    "clinical_utility": "Clinical utility",
}
"""The name a rater and a reader see for each criterion (form, figures, tables)."""
ANCHORS = {
    "understandability": ("hard to understand, ambiguous wording", "immediately clear to a referring clinician"),
    "coherence": ("disjointed or self-contradictory", "logically organised and consistent"),
    "relevance": ("misses or misstates the key findings", "captures every clinically important finding"),
    "conciseness": ("verbose or padded with irrelevant detail", "as short as possible without losing content"),
    "clinical_utility": ("would mislead or not help patient care", "could be signed and acted on as written"),
}
"""What a score of 1 and a score of 5 mean, per criterion (shown next to each input)."""
MAX_COMMENT_CHARS = 2000


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class Base(DeclarativeBase):
    type_annotation_map = {dict: JSON, list: JSON}


class Study(Base):
    __tablename__ = "study"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    seed: Mapped[int] = mapped_column(Integer, default=0)
    simulated: Mapped[bool] = mapped_column(Boolean, default=False)
    config: Mapped[dict] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    instructions: Mapped[str] = mapped_column(Text, default="", server_default="")
    """Markdown written by the admin at creation, shown to raters in a collapsible panel."""
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    """After this moment no rater of the study can sign in (None: no study-wide expiry)."""
    protocols: Mapped[str] = mapped_column(String(60), default="likert", server_default="likert")
    """What raters record, comma-separated: likert, errors, pairwise (db/protocol_models.py)."""

    cases: Mapped[list[Case]] = relationship(back_populates="study", cascade="all, delete-orphan")
    systems: Mapped[list[System]] = relationship(back_populates="study", cascade="all, delete-orphan")
    raters: Mapped[list[Rater]] = relationship(back_populates="study", cascade="all, delete-orphan")


class Case(Base):
    __tablename__ = "case"
    __table_args__ = (UniqueConstraint("study_id", "source_dataset", "source_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("study.id", ondelete="CASCADE"), index=True)
    findings: Mapped[str] = mapped_column(Text)
    reference_impression: Mapped[str] = mapped_column(Text)
    source_dataset: Mapped[str] = mapped_column(String(100))
    source_id: Mapped[str] = mapped_column(String(200))
    stratum: Mapped[str] = mapped_column(String(20), default="")  # "normal" / "abnormal" / ""
    calibration: Mapped[bool] = mapped_column(Boolean, default=False)

    study: Mapped[Study] = relationship(back_populates="cases")
    outputs: Mapped[list[Output]] = relationship(back_populates="case", cascade="all, delete-orphan")


class System(Base):
    """A system being rated. Its name and kind never leave the server towards a rater."""

    __tablename__ = "system"
    __table_args__ = (UniqueConstraint("study_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("study.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(50))  # baseline, model, imported, reference, simulated
    config: Mapped[dict] = mapped_column(default=dict)
    version: Mapped[str] = mapped_column(String(100), default="")
    display_name: Mapped[str | None] = mapped_column(String(200), nullable=True)  # figures/tables; None: name
    position: Mapped[int | None] = mapped_column(Integer, nullable=True)  # order in the study: legend, colour

    study: Mapped[Study] = relationship(back_populates="systems")
    outputs: Mapped[list[Output]] = relationship(back_populates="system")


class Output(Base):
    __tablename__ = "output"
    __table_args__ = (UniqueConstraint("case_id", "system_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("case.id", ondelete="CASCADE"), index=True)
    system_id: Mapped[int] = mapped_column(ForeignKey("system.id", ondelete="CASCADE"), index=True)
    text: Mapped[str] = mapped_column(Text)
    settings: Mapped[dict] = mapped_column(default=dict)
    text_hash: Mapped[str] = mapped_column(String(64))  # sha256 of text
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    case: Mapped[Case] = relationship(back_populates="outputs")
    system: Mapped[System] = relationship(back_populates="outputs")


class Rater(Base):
    __tablename__ = "rater"
    __table_args__ = (UniqueConstraint("study_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("study.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    pseudonym: Mapped[str] = mapped_column(String(50))  # "R01": what exports show instead of the name
    role: Mapped[str] = mapped_column(String(50), default="radiologist")
    experience_years: Mapped[int | None] = mapped_column(Integer, nullable=True)
    subspecialty: Mapped[str | None] = mapped_column(String(100), nullable=True)
    token_hash: Mapped[str] = mapped_column(String(128), unique=True)  # sha256 of the secret; never the secret
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_position: Mapped[int | None] = mapped_column(Integer, nullable=True)  # where the rater resumes

    study: Mapped[Study] = relationship(back_populates="raters")
    assignments: Mapped[list[Assignment]] = relationship(back_populates="rater", cascade="all, delete-orphan",
                                                         order_by="Assignment.position")


class Assignment(Base):
    """One case in one rater's queue, with the blinded label order shown for it.

    label_order lists output ids in display order: the first is "A", the second "B", ...
    repeat_index is 0, or 1 for a hidden repeat of a case the rater already saw.
    """

    __tablename__ = "assignment"
    __table_args__ = (UniqueConstraint("rater_id", "position"), UniqueConstraint("rater_id", "case_id", "repeat_index"))

    id: Mapped[int] = mapped_column(primary_key=True)
    rater_id: Mapped[int] = mapped_column(ForeignKey("rater.id", ondelete="CASCADE"), index=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("case.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)  # 0-based place in the rater's queue
    repeat_index: Mapped[int] = mapped_column(Integer, default=0)
    label_order: Mapped[list] = mapped_column(default=list)
    first_opened_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    active_ms: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    """Milliseconds the rater page showed this case visible and focused, summed over visits."""

    rater: Mapped[Rater] = relationship(back_populates="assignments")
    case: Mapped[Case] = relationship()
    ratings: Mapped[list[Rating]] = relationship(back_populates="assignment", cascade="all, delete-orphan")


def _score_column() -> Mapped[int]:
    return mapped_column(Integer, nullable=False)


class Rating(Base):
    __tablename__ = "rating"
    __table_args__ = (
        UniqueConstraint("rater_id", "output_id", "repeat_index", name="uq_rating_rater_output_repeat"),
        *(CheckConstraint(f"{c} BETWEEN 1 AND 5", name=f"ck_rating_{c}_1_5") for c in CRITERIA),
        CheckConstraint(f"length(comment) <= {MAX_COMMENT_CHARS}", name="ck_rating_comment_length"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    assignment_id: Mapped[int] = mapped_column(ForeignKey("assignment.id", ondelete="CASCADE"), index=True)
    rater_id: Mapped[int] = mapped_column(ForeignKey("rater.id", ondelete="CASCADE"), index=True)
    output_id: Mapped[int] = mapped_column(ForeignKey("output.id", ondelete="CASCADE"), index=True)
    repeat_index: Mapped[int] = mapped_column(Integer, default=0)
    label: Mapped[str] = mapped_column(String(2))  # "A", "B", ... as shown to this rater
    display_position: Mapped[int] = mapped_column(Integer)  # 0-based
    understandability: Mapped[int] = _score_column()
    coherence: Mapped[int] = _score_column()
    relevance: Mapped[int] = _score_column()
    conciseness: Mapped[int] = _score_column()
    clinical_utility: Mapped[int] = _score_column()
    comment: Mapped[str] = mapped_column(Text, default="")
    significant_error: Mapped[bool] = mapped_column(Boolean, default=False)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    submitted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    time_on_task_s: Mapped[float | None] = mapped_column(Float, nullable=True)
    revision: Mapped[int] = mapped_column(Integer, default=1)

    assignment: Mapped[Assignment] = relationship(back_populates="ratings")
    output: Mapped[Output] = relationship()
    history: Mapped[list[RatingEdit]] = relationship(back_populates="rating", cascade="all, delete-orphan",
                                                     order_by="RatingEdit.id")


class RatingEdit(Base):
    """The state of a rating before each edit; the current state lives in Rating."""

    __tablename__ = "rating_edit"

    id: Mapped[int] = mapped_column(primary_key=True)
    rating_id: Mapped[int] = mapped_column(ForeignKey("rating.id", ondelete="CASCADE"), index=True)
    revision: Mapped[int] = mapped_column(Integer)  # the revision these values belonged to
    previous: Mapped[dict] = mapped_column(default=dict)
    edited_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    rating: Mapped[Rating] = relationship(back_populates="history")


class RaterSession(Base):
    """A signed-in browser: the HttpOnly cookie carries a random secret, stored here only as a hash.

    Exchanging an invitation token for a session takes the token out of the address bar. A session
    lives only as long as the token it was opened with: reissue and revoke end it.
    """

    __tablename__ = "rater_session"

    id: Mapped[int] = mapped_column(primary_key=True)
    rater_id: Mapped[int] = mapped_column(ForeignKey("rater.id", ondelete="CASCADE"), index=True)
    secret_hash: Mapped[str] = mapped_column(String(128), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    token_hash: Mapped[str | None] = mapped_column(String(128), nullable=True)
    """Rater.token_hash when the session was opened: a reissued token ends it (NULL: opened before 0005, ended)."""

    rater: Mapped[Rater] = relationship()


class RatingDraft(Base):
    """Unsubmitted form values of one case in one rater's queue, saved as the rater works.

    data: {"ratings": {label: {criterion: 1..5 or null, "comment": str, "significant_error": bool}}}.
    Deleted when the case is submitted.
    """

    __tablename__ = "rating_draft"

    id: Mapped[int] = mapped_column(primary_key=True)
    assignment_id: Mapped[int] = mapped_column(ForeignKey("assignment.id", ondelete="CASCADE"), unique=True)
    data: Mapped[dict] = mapped_column(default=dict)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


# The protocol tables (errors, pairwise, gold cases) live in their own module; importing it here
# registers them on Base.metadata for every user of the models (migrations, copies, tests).
from db import protocol_models as _protocol_models  # noqa: E402, F401
