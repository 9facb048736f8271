"""trial resource use

A trial records the resources its sandbox used, as the usage sampler reads them from the
runtime: CPU seconds in all, the highest memory working set, the seconds it ran, the runtime's
CPU counter at the last reading and when that was (orchestrator/cost.py).

Revision ID: 0015
Revises: 0012
Create Date: 2026-12-03 06:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from orchestrator.models import UTCDateTime

revision: str = '0015'
down_revision: str | None = '0014'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('trial', schema=None) as batch_op:
        batch_op.add_column(sa.Column('cpu_seconds', sa.Float(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('peak_memory_bytes', sa.BigInteger(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('running_seconds', sa.Float(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('usage_counter_seconds', sa.Float(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('usage_sampled_at', UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('trial', schema=None) as batch_op:
        for name in ('usage_sampled_at', 'usage_counter_seconds', 'running_seconds', 'peak_memory_bytes', 'cpu_seconds'):
            batch_op.drop_column(name)
