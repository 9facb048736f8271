"""an index that holds what the caps count

`ix_trial_holding` (`phase`, `template_name`, `owner_id`, `department`, `cpu_millicores`,
`memory_mib`): every trial request sums what the active trials hold under the cap lock, so the
sum is read from this index alone, without visiting each active trial's row.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-05 12:00:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = '0011'
down_revision: str | None = '0010'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('trial', schema=None) as batch_op:
        batch_op.create_index(
            'ix_trial_holding',
            ['phase', 'template_name', 'owner_id', 'department', 'cpu_millicores', 'memory_mib'],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table('trial', schema=None) as batch_op:
        batch_op.drop_index('ix_trial_holding')
