"""Workflows: definitions, their executions and each step's record.

Revision ID: 0034
Revises: 0033
Create Date: 2026-12-16 12:00:00
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import mercato.core.db
from mercato.migrations.helpers import disable_tenant_rls, enable_tenant_rls

revision: str = '0034'
down_revision: str | None = '0033'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("workflows", "workflow_executions", "workflow_step_runs")


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')


def upgrade() -> None:
    op.create_table('workflows',
    sa.Column('id', sa.String(length=26), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('trigger', _json(), nullable=False),
    sa.Column('steps', _json(), nullable=False),
    sa.Column('event_type', sa.String(length=100), nullable=True),
    sa.Column('next_run_at', mercato.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', mercato.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', mercato.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('organization_id', sa.String(length=26), nullable=False),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_workflows_organization_id_organizations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_workflows')),
    sa.UniqueConstraint('organization_id', 'name', name=op.f('uq_workflows_organization_id_name'))
    )
    with op.batch_alter_table('workflows', schema=None) as batch_op:
        batch_op.create_index('ix_workflows_due', ['enabled', 'next_run_at'], unique=False)
        batch_op.create_index('ix_workflows_event', ['organization_id', 'event_type', 'enabled'], unique=False)
        batch_op.create_index(batch_op.f('ix_workflows_organization_id'), ['organization_id'], unique=False)

    op.create_table('workflow_executions',
    sa.Column('id', sa.String(length=26), nullable=False),
    sa.Column('workflow_id', sa.String(length=26), nullable=False),
    sa.Column('trigger_key', sa.String(length=100), nullable=True),
    sa.Column('test', sa.Boolean(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('input', _json(), nullable=False),
    sa.Column('plan', _json(), nullable=False),
    sa.Column('completed', _json(), nullable=False),
    sa.Column('outputs', _json(), nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('next_run_at', mercato.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('lease_owner', sa.String(length=100), nullable=True),
    sa.Column('lease_until', mercato.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', mercato.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('finished_at', mercato.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('organization_id', sa.String(length=26), nullable=False),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_workflow_executions_organization_id_organizations'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['workflow_id'], ['workflows.id'], name=op.f('fk_workflow_executions_workflow_id_workflows'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_workflow_executions')),
    sa.UniqueConstraint('workflow_id', 'trigger_key', name=op.f('uq_workflow_executions_workflow_id_trigger_key'))
    )
    with op.batch_alter_table('workflow_executions', schema=None) as batch_op:
        batch_op.create_index('ix_workflow_executions_due', ['status', 'next_run_at'], unique=False)
        batch_op.create_index('ix_workflow_executions_listing', ['workflow_id', 'created_at', 'id'], unique=False)
        batch_op.create_index(batch_op.f('ix_workflow_executions_organization_id'), ['organization_id'], unique=False)

    op.create_table('workflow_step_runs',
    sa.Column('id', sa.String(length=26), nullable=False),
    sa.Column('execution_id', sa.String(length=26), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('step_id', sa.String(length=64), nullable=False),
    sa.Column('type', sa.String(length=30), nullable=False),
    sa.Column('phase', sa.String(length=16), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('input', _json(), nullable=True),
    sa.Column('output', _json(), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('started_at', mercato.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('finished_at', mercato.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('organization_id', sa.String(length=26), nullable=False),
    sa.ForeignKeyConstraint(['execution_id'], ['workflow_executions.id'], name=op.f('fk_workflow_step_runs_execution_id_workflow_executions'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_workflow_step_runs_organization_id_organizations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_workflow_step_runs')),
    sa.UniqueConstraint('execution_id', 'step_id', 'phase', name=op.f('uq_workflow_step_runs_execution_id_step_id_phase'))
    )
    with op.batch_alter_table('workflow_step_runs', schema=None) as batch_op:
        batch_op.create_index('ix_workflow_step_runs_order', ['execution_id', 'position'], unique=False)
        batch_op.create_index(batch_op.f('ix_workflow_step_runs_organization_id'), ['organization_id'], unique=False)
    for table in TABLES:
        enable_tenant_rls(table)


def downgrade() -> None:
    for table in reversed(TABLES):
        disable_tenant_rls(table)
    op.drop_table('workflow_step_runs')
    op.drop_table('workflow_executions')
    op.drop_table('workflows')
