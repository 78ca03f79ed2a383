"""Outbound webhooks: endpoints (sealed secrets, event filters, circuit breaker), one delivery
per (endpoint, event), and the log of every attempt.

Revision ID: 0030
Revises: 0029
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

revision: str = '0030'
down_revision: str | None = '0029'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ('webhook_endpoints', 'webhook_deliveries', 'webhook_attempts')


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')


def upgrade() -> None:
    op.create_table('webhook_endpoints',
    sa.Column('id', sa.String(length=26), nullable=False),
    sa.Column('url', sa.String(length=2048), nullable=False),
    sa.Column('description', sa.String(length=500), nullable=True),
    sa.Column('events', _json(), nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('secret_sealed', sa.Text(), nullable=False),
    sa.Column('secret_last4', sa.String(length=4), nullable=False),
    sa.Column('previous_secret_sealed', sa.Text(), nullable=True),
    sa.Column('previous_secret_last4', sa.String(length=4), nullable=True),
    sa.Column('previous_secret_expires_at', mercato.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('consecutive_failures', sa.Integer(), nullable=False),
    sa.Column('open_until', mercato.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', mercato.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', mercato.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('organization_id', sa.String(length=26), nullable=False),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_webhook_endpoints_organization_id_organizations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_webhook_endpoints'))
    )
    with op.batch_alter_table('webhook_endpoints', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_webhook_endpoints_organization_id'), ['organization_id'], unique=False)

    op.create_table('webhook_deliveries',
    sa.Column('id', sa.String(length=26), nullable=False),
    sa.Column('endpoint_id', sa.String(length=26), nullable=False),
    sa.Column('event_id', sa.String(length=26), nullable=False),
    sa.Column('event_type', sa.String(length=100), nullable=False),
    sa.Column('event_position', sa.BigInteger(), nullable=False),
    sa.Column('resource_key', sa.String(length=300), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', mercato.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('lease_owner', sa.String(length=100), nullable=True),
    sa.Column('lease_until', mercato.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_status_code', sa.Integer(), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('created_at', mercato.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('delivered_at', mercato.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('organization_id', sa.String(length=26), nullable=False),
    sa.ForeignKeyConstraint(['endpoint_id'], ['webhook_endpoints.id'], name=op.f('fk_webhook_deliveries_endpoint_id_webhook_endpoints'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_webhook_deliveries_organization_id_organizations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_webhook_deliveries')),
    sa.UniqueConstraint('endpoint_id', 'event_id', name=op.f('uq_webhook_deliveries_endpoint_id_event_id'))
    )
    with op.batch_alter_table('webhook_deliveries', schema=None) as batch_op:
        batch_op.create_index('ix_webhook_deliveries_chain', ['endpoint_id', 'resource_key', 'status', 'event_position'], unique=False)
        batch_op.create_index('ix_webhook_deliveries_due', ['status', 'next_attempt_at'], unique=False)
        batch_op.create_index('ix_webhook_deliveries_listing', ['endpoint_id', 'created_at', 'id'], unique=False)
        batch_op.create_index(batch_op.f('ix_webhook_deliveries_organization_id'), ['organization_id'], unique=False)

    op.create_table('webhook_attempts',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('delivery_id', sa.String(length=26), nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('url', sa.String(length=2048), nullable=False),
    sa.Column('request_headers', _json(), nullable=False),
    sa.Column('request_body', sa.Text(), nullable=False),
    sa.Column('response_status', sa.Integer(), nullable=True),
    sa.Column('response_body', sa.Text(), nullable=True),
    sa.Column('latency_ms', sa.Integer(), nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('started_at', mercato.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('organization_id', sa.String(length=26), nullable=False),
    sa.ForeignKeyConstraint(['delivery_id'], ['webhook_deliveries.id'], name=op.f('fk_webhook_attempts_delivery_id_webhook_deliveries'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_webhook_attempts_organization_id_organizations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_webhook_attempts'))
    )
    with op.batch_alter_table('webhook_attempts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_webhook_attempts_delivery_id'), ['delivery_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_webhook_attempts_organization_id'), ['organization_id'], unique=False)

    for table in TABLES:
        enable_tenant_rls(table)


def downgrade() -> None:
    for table in reversed(TABLES):
        disable_tenant_rls(table)
    with op.batch_alter_table('webhook_attempts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_webhook_attempts_organization_id'))
        batch_op.drop_index(batch_op.f('ix_webhook_attempts_delivery_id'))
    op.drop_table('webhook_attempts')
    with op.batch_alter_table('webhook_deliveries', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_webhook_deliveries_organization_id'))
        batch_op.drop_index('ix_webhook_deliveries_listing')
        batch_op.drop_index('ix_webhook_deliveries_due')
        batch_op.drop_index('ix_webhook_deliveries_chain')
    op.drop_table('webhook_deliveries')
    with op.batch_alter_table('webhook_endpoints', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_webhook_endpoints_organization_id'))
    op.drop_table('webhook_endpoints')
