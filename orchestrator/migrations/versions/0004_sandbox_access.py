"""sandbox access: share links, one-time hand-overs and sessions of the sandbox origins

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import orchestrator.models


revision: str = '0004'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'share_link',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('trial_id', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column('token_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column('note', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column('created_by', sa.Integer(), nullable=False),
        sa.Column('created_at', orchestrator.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column('expires_at', orchestrator.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column('revoked_at', orchestrator.models.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['created_by'], ['den_user.id'], ),
        sa.ForeignKeyConstraint(['trial_id'], ['trial.id'], ),
        sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('share_link', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_share_link_token_hash'), ['token_hash'], unique=True)
        batch_op.create_index(batch_op.f('ix_share_link_trial_id'), ['trial_id'], unique=False)

    op.create_table(
        'sandbox_grant',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('token_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column('trial_id', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column('component', sqlmodel.sql.sqltypes.AutoString(length=63), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=True),
        sa.Column('share_link_id', sa.Integer(), nullable=True),
        sa.Column('created_at', orchestrator.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column('expires_at', orchestrator.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column('used_at', orchestrator.models.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['share_link_id'], ['share_link.id'], ),
        sa.ForeignKeyConstraint(['trial_id'], ['trial.id'], ),
        sa.ForeignKeyConstraint(['user_id'], ['den_user.id'], ),
        sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('sandbox_grant', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sandbox_grant_token_hash'), ['token_hash'], unique=True)
        batch_op.create_index(batch_op.f('ix_sandbox_grant_expires_at'), ['expires_at'], unique=False)

    op.create_table(
        'sandbox_session',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('token_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column('trial_id', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column('component', sqlmodel.sql.sqltypes.AutoString(length=63), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=True),
        sa.Column('share_link_id', sa.Integer(), nullable=True),
        sa.Column('created_at', orchestrator.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column('expires_at', orchestrator.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['share_link_id'], ['share_link.id'], ),
        sa.ForeignKeyConstraint(['trial_id'], ['trial.id'], ),
        sa.ForeignKeyConstraint(['user_id'], ['den_user.id'], ),
        sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('sandbox_session', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sandbox_session_token_hash'), ['token_hash'], unique=True)
        batch_op.create_index(batch_op.f('ix_sandbox_session_trial_id'), ['trial_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_sandbox_session_expires_at'), ['expires_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('sandbox_session', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sandbox_session_expires_at'))
        batch_op.drop_index(batch_op.f('ix_sandbox_session_trial_id'))
        batch_op.drop_index(batch_op.f('ix_sandbox_session_token_hash'))
    op.drop_table('sandbox_session')
    with op.batch_alter_table('sandbox_grant', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sandbox_grant_expires_at'))
        batch_op.drop_index(batch_op.f('ix_sandbox_grant_token_hash'))
    op.drop_table('sandbox_grant')
    with op.batch_alter_table('share_link', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_share_link_trial_id'))
        batch_op.drop_index(batch_op.f('ix_share_link_token_hash'))
    op.drop_table('share_link')
