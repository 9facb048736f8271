"""template review: who reviewed a version, when, and the image digests its approval pinned

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 12:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import orchestrator.models


revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Versions stored before review existed keep their status: they were published as they
    # were, and their images stay named by tag until a platform engineer re-publishes them.
    op.add_column('template_version', sa.Column(
        'pinned_images', sa.JSON(), nullable=False, server_default='{}'))
    op.add_column('template_version', sa.Column(
        'reviewed_by', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False,
        server_default=''))
    op.add_column('template_version', sa.Column(
        'reviewed_at', orchestrator.models.UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('template_version', schema=None) as batch_op:
        batch_op.drop_column('reviewed_at')
        batch_op.drop_column('reviewed_by')
        batch_op.drop_column('pinned_images')
