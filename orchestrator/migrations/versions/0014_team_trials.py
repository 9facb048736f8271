"""team trials: a trial's members (collaborators and assessors) and each assessor's scores

Revision ID: 0014
Revises: 0012
Create Date: 2026-12-03 06:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import orchestrator.models


revision: str = '0014'
down_revision: str | None = '0013'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'trial_member',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('trial_id', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('role', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column('added_by', sa.Integer(), nullable=False),
        sa.Column('added_at', orchestrator.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['added_by'], ['den_user.id'], ),
        sa.ForeignKeyConstraint(['trial_id'], ['trial.id'], ),
        sa.ForeignKeyConstraint(['user_id'], ['den_user.id'], ),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('trial_id', 'user_id', name='uq_trial_member'),
    )
    with op.batch_alter_table('trial_member', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_trial_member_trial_id'), ['trial_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_trial_member_user_id'), ['user_id'], unique=False)

    op.create_table(
        'trial_assessment',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('trial_id', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('scores', sa.JSON(), nullable=False),
        sa.Column('recorded_at', orchestrator.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['trial_id'], ['trial.id'], ),
        sa.ForeignKeyConstraint(['user_id'], ['den_user.id'], ),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('trial_id', 'user_id', name='uq_trial_assessment'),
    )
    with op.batch_alter_table('trial_assessment', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_trial_assessment_trial_id'), ['trial_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('trial_assessment', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_trial_assessment_trial_id'))
    op.drop_table('trial_assessment')
    with op.batch_alter_table('trial_member', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_trial_member_user_id'))
        batch_op.drop_index(batch_op.f('ix_trial_member_trial_id'))
    op.drop_table('trial_member')
