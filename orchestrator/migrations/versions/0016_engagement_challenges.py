"""engagement: challenges, supplier responses, questions, sessions and the equal offer

A challenge is a problem written early; suppliers respond to it (one response each, with the
templates they offer and a declaration of interests), ask questions answered for all, and
register for engagement sessions; the owner's equal offer starts one trial per offered
template, linked to the challenge in `challenge_trial` (orchestrator/engagement.py).

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-03 13:15:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import orchestrator.models


revision: str = '0016'
down_revision: str | None = '0015'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('challenge',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('owner_id', sa.Integer(), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=63), nullable=True),
    sa.Column('department', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('title', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('problem', sqlmodel.sql.sqltypes.AutoString(length=5000), nullable=False),
    sa.Column('users_and_need', sqlmodel.sql.sqltypes.AutoString(length=5000), nullable=False),
    sa.Column('tried', sqlmodel.sql.sqltypes.AutoString(length=5000), nullable=False),
    sa.Column('constraints', sqlmodel.sql.sqltypes.AutoString(length=5000), nullable=False),
    sa.Column('budget_min', sa.Integer(), nullable=True),
    sa.Column('budget_max', sa.Integer(), nullable=True),
    sa.Column('timeline', sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=False),
    sa.Column('problem_areas', sa.JSON(), nullable=False),
    sa.Column('closes_at', orchestrator.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('questions_close_at', orchestrator.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('created_at', orchestrator.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', orchestrator.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('published_at', orchestrator.models.UTCDateTime(timezone=True), nullable=True),
    sa.Column('closed_at', orchestrator.models.UTCDateTime(timezone=True), nullable=True),
    sa.Column('decided_at', orchestrator.models.UTCDateTime(timezone=True), nullable=True),
    sa.Column('decision', sqlmodel.sql.sqltypes.AutoString(length=5000), nullable=False),
    sa.Column('offered_at', orchestrator.models.UTCDateTime(timezone=True), nullable=True),
    sa.Column('offer_hypothesis', sqlmodel.sql.sqltypes.AutoString(length=5000), nullable=False),
    sa.Column('offer_success_criteria', sa.JSON(), nullable=False),
    sa.Column('offer_duration_seconds', sa.Integer(), nullable=True),
    sa.Column('offer_cpu_millicores', sa.Integer(), nullable=True),
    sa.Column('offer_memory_mib', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['owner_id'], ['den_user.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('owner_id', 'name', name='uq_challenge_owner_name')
    )
    with op.batch_alter_table('challenge', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_challenge_owner_id'), ['owner_id'], unique=False)
        batch_op.create_index('ix_challenge_published', ['published_at', 'id'], unique=False)

    op.create_table('challenge_question',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('challenge_id', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('supplier_id', sa.Integer(), nullable=False),
    sa.Column('asked_by', sa.Integer(), nullable=False),
    sa.Column('question', sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=False),
    sa.Column('asked_at', orchestrator.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('answer', sqlmodel.sql.sqltypes.AutoString(length=5000), nullable=False),
    sa.Column('answered_by', sa.Integer(), nullable=True),
    sa.Column('answered_at', orchestrator.models.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['answered_by'], ['den_user.id'], ),
    sa.ForeignKeyConstraint(['asked_by'], ['den_user.id'], ),
    sa.ForeignKeyConstraint(['challenge_id'], ['challenge.id'], ),
    sa.ForeignKeyConstraint(['supplier_id'], ['supplier.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('challenge_question', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_challenge_question_challenge_id'), ['challenge_id'], unique=False)

    op.create_table('challenge_response',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('challenge_id', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('supplier_id', sa.Integer(), nullable=False),
    sa.Column('submitted_by', sa.Integer(), nullable=False),
    sa.Column('summary', sqlmodel.sql.sqltypes.AutoString(length=5000), nullable=False),
    sa.Column('templates', sa.JSON(), nullable=False),
    sa.Column('conflict_declared', sa.Boolean(), nullable=False),
    sa.Column('conflict_detail', sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=False),
    sa.Column('submitted_at', orchestrator.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', orchestrator.models.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['challenge_id'], ['challenge.id'], ),
    sa.ForeignKeyConstraint(['submitted_by'], ['den_user.id'], ),
    sa.ForeignKeyConstraint(['supplier_id'], ['supplier.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('challenge_id', 'supplier_id', name='uq_challenge_response')
    )
    with op.batch_alter_table('challenge_response', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_challenge_response_challenge_id'), ['challenge_id'], unique=False)

    op.create_table('engagement_session',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('challenge_id', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('title', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('starts_at', orchestrator.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('ends_at', orchestrator.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('mode', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('place', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
    sa.Column('capacity', sa.Integer(), nullable=False),
    sa.Column('materials', sa.JSON(), nullable=False),
    sa.Column('created_at', orchestrator.models.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['challenge_id'], ['challenge.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('engagement_session', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_engagement_session_challenge_id'), ['challenge_id'], unique=False)

    op.create_table('challenge_trial',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('challenge_id', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('trial_id', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('response_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['challenge_id'], ['challenge.id'], ),
    sa.ForeignKeyConstraint(['response_id'], ['challenge_response.id'], ),
    sa.ForeignKeyConstraint(['trial_id'], ['trial.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('trial_id')
    )
    with op.batch_alter_table('challenge_trial', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_challenge_trial_challenge_id'), ['challenge_id'], unique=False)

    op.create_table('session_registration',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('session_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('supplier_id', sa.Integer(), nullable=False),
    sa.Column('registered_at', orchestrator.models.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['session_id'], ['engagement_session.id'], ),
    sa.ForeignKeyConstraint(['supplier_id'], ['supplier.id'], ),
    sa.ForeignKeyConstraint(['user_id'], ['den_user.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('session_id', 'user_id', name='uq_session_registration')
    )
    with op.batch_alter_table('session_registration', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_session_registration_session_id'), ['session_id'], unique=False)




def downgrade() -> None:
    with op.batch_alter_table('session_registration', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_session_registration_session_id'))

    op.drop_table('session_registration')
    with op.batch_alter_table('challenge_trial', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_challenge_trial_challenge_id'))

    op.drop_table('challenge_trial')
    with op.batch_alter_table('engagement_session', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_engagement_session_challenge_id'))

    op.drop_table('engagement_session')
    with op.batch_alter_table('challenge_response', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_challenge_response_challenge_id'))

    op.drop_table('challenge_response')
    with op.batch_alter_table('challenge_question', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_challenge_question_challenge_id'))

    op.drop_table('challenge_question')
    with op.batch_alter_table('challenge', schema=None) as batch_op:
        batch_op.drop_index('ix_challenge_published')
        batch_op.drop_index(batch_op.f('ix_challenge_owner_id'))

    op.drop_table('challenge')
