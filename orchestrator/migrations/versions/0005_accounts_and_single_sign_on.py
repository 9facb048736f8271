"""accounts and single sign-on: disabled people, provider-bound accounts, sign-ins in progress

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 09:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import orchestrator.models


revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Plain ADD COLUMN and a unique index: a batch (copy-and-move) of den_user on SQLite would
    # drop a table that every other table's foreign keys name.
    op.add_column('den_user', sa.Column('disabled_at', orchestrator.models.UTCDateTime(timezone=True), nullable=True))
    op.add_column('den_user', sa.Column('oidc_subject', sqlmodel.sql.sqltypes.AutoString(length=600), nullable=True))
    op.create_index('ix_den_user_oidc_subject', 'den_user', ['oidc_subject'], unique=True)
    op.create_table(
        'sign_in_attempt',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('state_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column('browser_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column('nonce', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column('code_verifier', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column('next_path', sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=False),
        sa.Column('created_at', orchestrator.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column('expires_at', orchestrator.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('sign_in_attempt', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sign_in_attempt_state_hash'), ['state_hash'], unique=True)
        batch_op.create_index(batch_op.f('ix_sign_in_attempt_expires_at'), ['expires_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('sign_in_attempt', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sign_in_attempt_expires_at'))
        batch_op.drop_index(batch_op.f('ix_sign_in_attempt_state_hash'))
    op.drop_table('sign_in_attempt')
    op.drop_index('ix_den_user_oidc_subject', table_name='den_user')
    op.drop_column('den_user', 'oidc_subject')
    op.drop_column('den_user', 'disabled_at')
