"""RaterSession.token_hash: the rater's token a session was opened with.

A session works only while the rater's token is still the one it was opened with, so a leaked
link's session ends when the admin reissues the link (rating/service.py). Sessions opened before
this revision have NULL and count as ended: their raters sign in again with their link.

Revision ID: 0005
Revises: 0004
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("rater_session", schema=None) as batch_op:
        batch_op.add_column(sa.Column("token_hash", sa.String(length=128), nullable=True))


def downgrade() -> None:
    op.execute("ALTER TABLE rater_session DROP COLUMN token_hash")
