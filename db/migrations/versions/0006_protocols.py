"""Study protocols: Study.protocols, error annotation, pairwise preference with harm, gold cases.

Study.protocols says what raters record (likert, errors, pairwise; comma-separated); studies made
before this revision get 'likert'. New tables: error_rating + error_count (ReXVal/GREEN counts per
category and significance), preference (clin-summ A/B preferences with an AHRQ harm block per
side, only where an error was marked), gold_case (attention cases with a known answer).

Revision ID: 0006
Revises: 0004 (the integrator rechains it after 0005)
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_CATEGORIES = ("false_finding", "missed_finding", "wrong_location", "wrong_severity", "false_comparison",
               "missed_comparison")
_EXTENTS = ("none", "mild_moderate", "severe_death")
_LIKELIHOODS = ("low", "medium", "high")
_ATTRIBUTES = ("completeness", "correctness", "conciseness")


def _in(column: str, values) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def _timestamps() -> list[sa.Column]:
    return [sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
            sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("time_on_task_s", sa.Float(), nullable=True),
            sa.Column("revision", sa.Integer(), nullable=False),
            sa.Column("history", sa.JSON(), nullable=False)]


def _fk(name: str, target: str) -> sa.Column:
    return sa.Column(name, sa.Integer(), sa.ForeignKey(f"{target}.id", ondelete="CASCADE"), nullable=False,
                     index=True)


def upgrade() -> None:
    with op.batch_alter_table("study", schema=None) as batch_op:
        batch_op.add_column(sa.Column("protocols", sa.String(length=60), nullable=False, server_default="likert"))
    op.create_table(
        "error_rating",
        sa.Column("id", sa.Integer(), primary_key=True),
        _fk("assignment_id", "assignment"), _fk("rater_id", "rater"), _fk("output_id", "output"),
        sa.Column("repeat_index", sa.Integer(), nullable=False),
        sa.Column("label", sa.String(length=2), nullable=False),
        sa.Column("display_position", sa.Integer(), nullable=False),
        *_timestamps(),
        sa.UniqueConstraint("rater_id", "output_id", "repeat_index", name="uq_error_rating_rater_output"),
    )
    op.create_table(
        "error_count",
        sa.Column("id", sa.Integer(), primary_key=True),
        _fk("error_rating_id", "error_rating"),
        sa.Column("category", sa.String(length=30), nullable=False),
        sa.Column("clinically_significant", sa.Boolean(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("spans", sa.JSON(), nullable=False),
        sa.UniqueConstraint("error_rating_id", "category", "clinically_significant", name="uq_error_count_cell"),
        sa.CheckConstraint("count >= 0", name="ck_error_count_nonnegative"),
        sa.CheckConstraint(_in("category", _CATEGORIES), name="ck_error_count_category"),
    )
    harm = []
    for side in ("left", "right"):
        extent, likelihood, error = f"{side}_harm_extent", f"{side}_harm_likelihood", f"{side}_error"
        harm += [
            sa.CheckConstraint(f"{extent} IS NULL OR {_in(extent, _EXTENTS)}", name=f"ck_preference_{side}_extent"),
            sa.CheckConstraint(f"{likelihood} IS NULL OR {_in(likelihood, _LIKELIHOODS)}",
                               name=f"ck_preference_{side}_likelihood"),
            sa.CheckConstraint(f"({error} AND {extent} IS NOT NULL AND {likelihood} IS NOT NULL) OR "
                               f"(NOT {error} AND {extent} IS NULL AND {likelihood} IS NULL)",
                               name=f"ck_preference_{side}_harm_only_with_error"),
        ]
    op.create_table(
        "preference",
        sa.Column("id", sa.Integer(), primary_key=True),
        _fk("assignment_id", "assignment"), _fk("rater_id", "rater"),
        sa.Column("repeat_index", sa.Integer(), nullable=False),
        sa.Column("pair_key", sa.String(length=5), nullable=False),
        _fk("left_output_id", "output"), _fk("right_output_id", "output"),
        *(sa.Column(a, sa.Integer(), nullable=False) for a in _ATTRIBUTES),
        *(c for side in ("left", "right") for c in (
            sa.Column(f"{side}_error", sa.Boolean(), nullable=False),
            sa.Column(f"{side}_harm_extent", sa.String(length=20), nullable=True),
            sa.Column(f"{side}_harm_likelihood", sa.String(length=20), nullable=True))),
        *_timestamps(),
        sa.UniqueConstraint("rater_id", "left_output_id", "right_output_id", "repeat_index",
                            name="uq_preference_pair"),
        *(sa.CheckConstraint(f"{a} BETWEEN -2 AND 2", name=f"ck_preference_{a}_range") for a in _ATTRIBUTES),
        *harm,
    )
    op.create_table(
        "gold_case",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("case_id", sa.Integer(), sa.ForeignKey("case.id", ondelete="CASCADE"), nullable=False, unique=True),
        sa.Column("output_id", sa.Integer(), sa.ForeignKey("output.id", ondelete="CASCADE"), nullable=False),
        sa.Column("expected", sa.JSON(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
    )


def downgrade() -> None:
    for table in ("gold_case", "preference", "error_count", "error_rating"):
        op.drop_table(table)
    # Plain DROP COLUMN (SQLite >= 3.35, PostgreSQL): a batch copy would recreate `study` and its
    # ON DELETE CASCADE children would go with the old table (see 0004).
    op.execute("ALTER TABLE study DROP COLUMN protocols")
