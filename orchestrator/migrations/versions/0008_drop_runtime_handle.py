"""drop trial.runtime_handle: drivers find a trial's resources by label, never by a handle

The column held what a driver's `start` returned (container ids, a namespace name); nothing
ever read it back, since every driver call finds what it needs from the trial's spec and the
labels on the runtime's resources.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0008'
down_revision: str | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('trial', schema=None) as batch_op:
        batch_op.drop_column('runtime_handle')


def downgrade() -> None:
    with op.batch_alter_table('trial', schema=None) as batch_op:
        batch_op.add_column(sa.Column('runtime_handle', sa.JSON(), nullable=False,
                                      server_default='{}'))
