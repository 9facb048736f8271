"""indexes for lists read a page at a time, newest first

- `ix_trial_created` (`created_at`, `id`): every trial, as approvers and platform engineers
  list them, and the keyset of `continue`.
- `ix_trial_owner_created` (`owner_id`, `created_at`, `id`): one person's trials.
- `ix_trial_shared_created` (`department`, `shared_with_department`, `created_at`, `id`): the
  trials a department shares.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04 10:00:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = '0010'
down_revision: str | None = '0009'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('trial', schema=None) as batch_op:
        batch_op.create_index('ix_trial_created', ['created_at', 'id'], unique=False)
        batch_op.create_index('ix_trial_owner_created', ['owner_id', 'created_at', 'id'], unique=False)
        batch_op.create_index('ix_trial_shared_created',
                              ['department', 'shared_with_department', 'created_at', 'id'],
                              unique=False)


def downgrade() -> None:
    with op.batch_alter_table('trial', schema=None) as batch_op:
        batch_op.drop_index('ix_trial_shared_created')
        batch_op.drop_index('ix_trial_owner_created')
        batch_op.drop_index('ix_trial_created')
