"""System.display_name and System.position: how figures and tables name and order a study's systems.

display_name is what figures and tables show (e.g. "Radiology-Llama (ours)"); NULL means the
system's name. position is the system's place in the study as the admin listed it: it orders
the legend and picks the system's colour, so a system keeps its colour in every figure of its
study. NULL (studies made before this revision) falls back to the order of System.id.

Revision ID: 0003_issue12b
Revises: 0002
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_issue12b"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("system", schema=None) as batch_op:
        batch_op.add_column(sa.Column("display_name", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("position", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("system", schema=None) as batch_op:
        batch_op.drop_column("position")
        batch_op.drop_column("display_name")
