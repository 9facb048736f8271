"""cap lock: one row that every trial request locks before it counts against the caps

A request counts the active trials, then inserts its own; two requests counting at once would
both see room for one more. Each locks this row first (an UPDATE: SQLite's write lock, a
PostgreSQL row lock), so requests count one at a time. See orchestrator/crud/locks.py.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 14:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0007'
down_revision: str | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    table = op.create_table(
        'cap_lock',
        sa.Column('name', sa.String(length=40), nullable=False),
        sa.PrimaryKeyConstraint('name'),
    )
    op.bulk_insert(table, [{'name': 'trials'}])


def downgrade() -> None:
    op.drop_table('cap_lock')
