"""System.display_name and System.position: how figures and tables name and order a study's systems.

display_name is what figures and tables show (e.g. "Radiology-Llama (ours)"); NULL means the
system's name. position is the system's place in the study as the admin listed it: it orders
the legend and picks the system's colour, so a system keeps its colour in every figure of its
study. NULL (studies made before this revision) falls back to the order of System.id.

Revision ID: 0004
Revises: 0003
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("system", schema=None) as batch_op:
        batch_op.add_column(sa.Column("display_name", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("position", sa.Integer(), nullable=True))


def downgrade() -> None:
    # Plain DROP COLUMN (SQLite >= 3.35, PostgreSQL): a batch copy would recreate `system`, and its
    # ON DELETE CASCADE children (outputs, and their ratings) would go with the old table.
    op.execute("ALTER TABLE system DROP COLUMN position")
    op.execute("ALTER TABLE system DROP COLUMN display_name")
