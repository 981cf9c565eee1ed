"""Rater.last_position: the queue position a rater resumes at.

Revision ID: 0002
Revises: 0001
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("rater", schema=None) as batch_op:
        batch_op.add_column(sa.Column("last_position", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("rater", schema=None) as batch_op:
        batch_op.drop_column("last_position")
