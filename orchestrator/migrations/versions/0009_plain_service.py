"""trial names, reasons for approvers, evaluations that answer the trial's question, retention,
and feedback

- `trial.name`: a name the owner chose (`metadata.name`), unique per owner (NULL for trials
  that have none, which never collide).
- `trial.justification`, `trial.extension_justification`: why a longer trial is needed.
- `trial.text_removed_at`: when the retention period removed the trial's free text.
- `evaluation.status` (draft | complete), `hypothesis_held`, `hypothesis_evidence`,
  `criteria_results`, `publish_evidence`; `decision` defaults to "" for drafts. Evaluations
  recorded before this revision are complete and published as they were.
- `feedback`: what people tell us through the feedback form.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import orchestrator.models

revision: str = '0009'
down_revision: str | None = '0008'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_text = sqlmodel.sql.sqltypes.AutoString


def upgrade() -> None:
    with op.batch_alter_table('trial', schema=None) as batch_op:
        batch_op.add_column(sa.Column('name', _text(length=63), nullable=True))
        batch_op.add_column(sa.Column('justification', _text(length=2000), nullable=False,
                                      server_default=''))
        batch_op.add_column(sa.Column('extension_justification', _text(length=2000),
                                      nullable=False, server_default=''))
        batch_op.add_column(sa.Column('text_removed_at',
                                      orchestrator.models.UTCDateTime(timezone=True),
                                      nullable=True))
        batch_op.create_unique_constraint('uq_trial_owner_name', ['owner_id', 'name'])
    with op.batch_alter_table('evaluation', schema=None) as batch_op:
        batch_op.add_column(sa.Column('status', _text(length=10), nullable=False,
                                      server_default='complete'))
        batch_op.add_column(sa.Column('hypothesis_held', _text(length=10), nullable=False,
                                      server_default=''))
        batch_op.add_column(sa.Column('hypothesis_evidence', _text(length=5000), nullable=False,
                                      server_default=''))
        batch_op.add_column(sa.Column('criteria_results', sa.JSON(), nullable=False,
                                      server_default='[]'))
        batch_op.add_column(sa.Column('publish_evidence', sa.Boolean(), nullable=False,
                                      server_default=sa.true()))
    op.create_table(
        'feedback',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('created_at', orchestrator.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=True),
        sa.Column('page', _text(length=300), nullable=False),
        sa.Column('satisfaction', _text(length=30), nullable=False),
        sa.Column('message', _text(length=5000), nullable=False),
        sa.Column('reply_to', _text(length=320), nullable=False),
        sa.ForeignKeyConstraint(['user_id'], ['den_user.id']),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index(op.f('ix_feedback_created_at'), 'feedback', ['created_at'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_feedback_created_at'), table_name='feedback')
    op.drop_table('feedback')
    with op.batch_alter_table('evaluation', schema=None) as batch_op:
        for column in ('publish_evidence', 'criteria_results', 'hypothesis_evidence',
                       'hypothesis_held', 'status'):
            batch_op.drop_column(column)
    with op.batch_alter_table('trial', schema=None) as batch_op:
        batch_op.drop_constraint('uq_trial_owner_name', type_='unique')
        for column in ('text_removed_at', 'extension_justification', 'justification', 'name'):
            batch_op.drop_column(column)
