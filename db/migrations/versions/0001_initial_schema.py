"""Initial schema of the rating study (as first released, before resume positions).

Revision ID: 0001
Revises:
Create Date: 2026-11-29 22:40:12.899020
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('study',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('seed', sa.Integer(), nullable=False),
    sa.Column('simulated', sa.Boolean(), nullable=False),
    sa.Column('config', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('name')
    )
    op.create_table('case',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('study_id', sa.Integer(), nullable=False),
    sa.Column('findings', sa.Text(), nullable=False),
    sa.Column('reference_impression', sa.Text(), nullable=False),
    sa.Column('source_dataset', sa.String(length=100), nullable=False),
    sa.Column('source_id', sa.String(length=200), nullable=False),
    sa.Column('stratum', sa.String(length=20), nullable=False),
    sa.Column('calibration', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['study_id'], ['study.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('study_id', 'source_dataset', 'source_id')
    )
    with op.batch_alter_table('case', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_case_study_id'), ['study_id'], unique=False)

    op.create_table('rater',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('study_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('pseudonym', sa.String(length=50), nullable=False),
    sa.Column('role', sa.String(length=50), nullable=False),
    sa.Column('experience_years', sa.Integer(), nullable=True),
    sa.Column('subspecialty', sa.String(length=100), nullable=True),
    sa.Column('token_hash', sa.String(length=128), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('revoked', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['study_id'], ['study.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('study_id', 'name'),
    sa.UniqueConstraint('token_hash')
    )
    with op.batch_alter_table('rater', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_rater_study_id'), ['study_id'], unique=False)

    op.create_table('system',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('study_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('kind', sa.String(length=50), nullable=False),
    sa.Column('config', sa.JSON(), nullable=False),
    sa.Column('version', sa.String(length=100), nullable=False),
    sa.ForeignKeyConstraint(['study_id'], ['study.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('study_id', 'name')
    )
    with op.batch_alter_table('system', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_system_study_id'), ['study_id'], unique=False)

    op.create_table('assignment',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('rater_id', sa.Integer(), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('repeat_index', sa.Integer(), nullable=False),
    sa.Column('label_order', sa.JSON(), nullable=False),
    sa.Column('first_opened_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['case_id'], ['case.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['rater_id'], ['rater.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('rater_id', 'case_id', 'repeat_index'),
    sa.UniqueConstraint('rater_id', 'position')
    )
    with op.batch_alter_table('assignment', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_assignment_case_id'), ['case_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_assignment_rater_id'), ['rater_id'], unique=False)

    op.create_table('output',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('system_id', sa.Integer(), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('settings', sa.JSON(), nullable=False),
    sa.Column('text_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['case.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['system_id'], ['system.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('case_id', 'system_id')
    )
    with op.batch_alter_table('output', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_output_case_id'), ['case_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_output_system_id'), ['system_id'], unique=False)

    op.create_table('rating',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('assignment_id', sa.Integer(), nullable=False),
    sa.Column('rater_id', sa.Integer(), nullable=False),
    sa.Column('output_id', sa.Integer(), nullable=False),
    sa.Column('repeat_index', sa.Integer(), nullable=False),
    sa.Column('label', sa.String(length=2), nullable=False),
    sa.Column('display_position', sa.Integer(), nullable=False),
    sa.Column('understandability', sa.Integer(), nullable=False),
    sa.Column('coherence', sa.Integer(), nullable=False),
    sa.Column('relevance', sa.Integer(), nullable=False),
    sa.Column('conciseness', sa.Integer(), nullable=False),
    sa.Column('clinical_utility', sa.Integer(), nullable=False),
    sa.Column('comment', sa.Text(), nullable=False),
    sa.Column('significant_error', sa.Boolean(), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('submitted_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('time_on_task_s', sa.Float(), nullable=True),
    sa.Column('revision', sa.Integer(), nullable=False),
    sa.CheckConstraint('clinical_utility BETWEEN 1 AND 5', name='ck_rating_clinical_utility_1_5'),
    sa.CheckConstraint('coherence BETWEEN 1 AND 5', name='ck_rating_coherence_1_5'),
    sa.CheckConstraint('conciseness BETWEEN 1 AND 5', name='ck_rating_conciseness_1_5'),
    sa.CheckConstraint('length(comment) <= 2000', name='ck_rating_comment_length'),
    sa.CheckConstraint('relevance BETWEEN 1 AND 5', name='ck_rating_relevance_1_5'),
    sa.CheckConstraint('understandability BETWEEN 1 AND 5', name='ck_rating_understandability_1_5'),
    sa.ForeignKeyConstraint(['assignment_id'], ['assignment.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['output_id'], ['output.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['rater_id'], ['rater.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('rater_id', 'output_id', 'repeat_index', name='uq_rating_rater_output_repeat')
    )
    with op.batch_alter_table('rating', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_rating_assignment_id'), ['assignment_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_rating_output_id'), ['output_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_rating_rater_id'), ['rater_id'], unique=False)

    op.create_table('rating_edit',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('rating_id', sa.Integer(), nullable=False),
    sa.Column('revision', sa.Integer(), nullable=False),
    sa.Column('previous', sa.JSON(), nullable=False),
    sa.Column('edited_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['rating_id'], ['rating.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('rating_edit', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_rating_edit_rating_id'), ['rating_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('rating_edit', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_rating_edit_rating_id'))

    op.drop_table('rating_edit')
    with op.batch_alter_table('rating', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_rating_rater_id'))
        batch_op.drop_index(batch_op.f('ix_rating_output_id'))
        batch_op.drop_index(batch_op.f('ix_rating_assignment_id'))

    op.drop_table('rating')
    with op.batch_alter_table('output', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_output_system_id'))
        batch_op.drop_index(batch_op.f('ix_output_case_id'))

    op.drop_table('output')
    with op.batch_alter_table('assignment', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_assignment_rater_id'))
        batch_op.drop_index(batch_op.f('ix_assignment_case_id'))

    op.drop_table('assignment')
    with op.batch_alter_table('system', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_system_study_id'))

    op.drop_table('system')
    with op.batch_alter_table('rater', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_rater_study_id'))

    op.drop_table('rater')
    with op.batch_alter_table('case', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_case_study_id'))

    op.drop_table('case')
    op.drop_table('study')
