"""Rater workstation: study instructions and expiry, active time per case, browser sessions, drafts.

Revision ID: 0003
Revises: 0002
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("study", schema=None) as batch_op:
        batch_op.add_column(sa.Column("instructions", sa.Text(), nullable=False, server_default=""))
        batch_op.add_column(sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("assignment", schema=None) as batch_op:
        batch_op.add_column(sa.Column("active_ms", sa.Integer(), nullable=False, server_default="0"))
    op.create_table(
        "rater_session",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("rater_id", sa.Integer(), nullable=False),
        sa.Column("secret_hash", sa.String(length=128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["rater_id"], ["rater.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("secret_hash"),
    )
    with op.batch_alter_table("rater_session", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_rater_session_rater_id"), ["rater_id"], unique=False)
    op.create_table(
        "rating_draft",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("assignment_id", sa.Integer(), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["assignment_id"], ["assignment.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("assignment_id"),
    )


def downgrade() -> None:
    # Plain ALTER TABLE ... DROP COLUMN (SQLite >= 3.35, PostgreSQL): a batch "move and copy" would drop
    # and recreate study, whose ON DELETE CASCADE children (raters, cases, ratings) would go with it.
    op.drop_table("rating_draft")
    op.drop_index(op.f("ix_rater_session_rater_id"), table_name="rater_session")
    op.drop_table("rater_session")
    op.execute("ALTER TABLE assignment DROP COLUMN active_ms")
    op.execute("ALTER TABLE study DROP COLUMN expires_at")
    op.execute("ALTER TABLE study DROP COLUMN instructions")
