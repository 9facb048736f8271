"""notifications

The outbox of notifications (`notification`: one row per event, recipient and channel,
delivered by the delivery worker) and each person's choice of the events they do not want by
email (`den_user.email_opt_out`).

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07 12:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from orchestrator.models import UTCDateTime

revision: str = '0013'
down_revision: str | None = '0012'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'notification',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('dedup_key', sa.String(length=400), nullable=False),
        sa.Column('event', sa.String(length=40), nullable=False),
        sa.Column('trial_id', sa.String(length=20), nullable=True),
        sa.Column('recipient_id', sa.Integer(), nullable=True),
        sa.Column('channel', sa.String(length=10), nullable=False),
        sa.Column('target', sa.String(length=2000), nullable=False),
        sa.Column('payload', sa.JSON(), nullable=False),
        sa.Column('state', sa.String(length=10), nullable=False),
        sa.Column('created_at', UTCDateTime(), nullable=False),
        sa.Column('next_attempt_at', UTCDateTime(), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('delivered_at', UTCDateTime(), nullable=True),
        sa.Column('last_error', sa.String(length=2000), nullable=False),
        sa.ForeignKeyConstraint(['recipient_id'], ['den_user.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('dedup_key', name='uq_notification_dedup'),
    )
    op.create_index('ix_notification_due', 'notification', ['state', 'next_attempt_at'], unique=False)
    op.create_index(op.f('ix_notification_trial_id'), 'notification', ['trial_id'], unique=False)
    with op.batch_alter_table('den_user', schema=None) as batch_op:
        batch_op.add_column(sa.Column('email_opt_out', sa.JSON(), nullable=False, server_default='[]'))


def downgrade() -> None:
    with op.batch_alter_table('den_user', schema=None) as batch_op:
        batch_op.drop_column('email_opt_out')
    op.drop_index(op.f('ix_notification_trial_id'), table_name='notification')
    op.drop_index('ix_notification_due', table_name='notification')
    op.drop_table('notification')
