"""idle sleep and warm pools

A trial records its idle timeout, its latest visit, when it is due to sleep, a visit's request
to wake it and how long it has slept; a warm pool's sandbox is a trial marked `pooled`, owned
by the pool's own account until a request takes it, with `pool_key` naming its pool.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06 12:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from orchestrator.models import UTCDateTime

revision: str = '0012'
down_revision: str | None = '0011'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None
HOLDING = ['phase', 'template_name', 'owner_id', 'department', 'cpu_millicores', 'memory_mib']


def upgrade() -> None:
    with op.batch_alter_table('trial', schema=None) as batch_op:
        batch_op.add_column(sa.Column('idle_timeout_seconds', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('last_activity_at', UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('sleeps_at', UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('wake_requested_at', UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('slept_seconds', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('pooled', sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column('pool_key', sa.String(length=120), nullable=False, server_default=''))
        batch_op.create_index(batch_op.f('ix_trial_sleeps_at'), ['sleeps_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_trial_pooled'), ['pooled'], unique=False)
        # What the caps count now tells pooled sandboxes apart: the index still holds it all.
        batch_op.drop_index('ix_trial_holding')
        batch_op.create_index('ix_trial_holding', [*HOLDING, 'pooled'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('trial', schema=None) as batch_op:
        batch_op.drop_index('ix_trial_holding')
        batch_op.create_index('ix_trial_holding', HOLDING, unique=False)
        batch_op.drop_index(batch_op.f('ix_trial_pooled'))
        batch_op.drop_index(batch_op.f('ix_trial_sleeps_at'))
        for name in (
            'pool_key',
            'pooled',
            'slept_seconds',
            'wake_requested_at',
            'sleeps_at',
            'last_activity_at',
            'idle_timeout_seconds',
        ):
            batch_op.drop_column(name)
