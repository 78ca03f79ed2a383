"""Channels: connections, id mappings, sync jobs and their errors, webhook receipts.

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-22 10:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import mercato.core.db
from mercato.migrations.helpers import disable_tenant_rls, enable_tenant_rls

revision: str = '0014'
down_revision: str | None = '0013'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TENANT_TABLES = ("channel_connections", "channel_mappings", "channel_sync_jobs",
                 "channel_sync_errors", "channel_webhook_receipts")


def upgrade() -> None:
    op.create_table('channel_connections',
    sa.Column('id', sa.String(length=26), nullable=False),
    sa.Column('channel_id', sa.String(length=26), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('mode', sa.String(length=20), nullable=False),
    sa.Column('account', sa.String(length=255), nullable=False),
    sa.Column('api_base', sa.String(length=500), nullable=True),
    sa.Column('api_version', sa.String(length=20), nullable=False),
    sa.Column('credentials', sa.Text(), nullable=False),
    sa.Column('credential_hints', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('settings', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('last_success_at', mercato.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_error_at', mercato.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('last_error_kind', sa.String(length=20), nullable=True),
    sa.Column('circuit', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('push_lease_owner', sa.String(length=100), nullable=True),
    sa.Column('push_lease_until', mercato.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('cursors', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('created_at', mercato.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', mercato.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('organization_id', sa.String(length=26), nullable=False),
    sa.ForeignKeyConstraint(['channel_id'], ['sales_channels.id'], name=op.f('fk_channel_connections_channel_id_sales_channels'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_channel_connections_organization_id_organizations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_channel_connections')),
    sa.UniqueConstraint('organization_id', 'channel_id', name=op.f('uq_channel_connections_organization_id_channel_id')),
    sa.UniqueConstraint('organization_id', 'kind', 'account', name=op.f('uq_channel_connections_organization_id_kind_account'))
    )
    with op.batch_alter_table('channel_connections', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_channel_connections_organization_id'), ['organization_id'], unique=False)
    op.create_table('channel_mappings',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('connection_id', sa.String(length=26), nullable=False),
    sa.Column('resource', sa.String(length=20), nullable=False),
    sa.Column('local_id', sa.String(length=26), nullable=False),
    sa.Column('remote_id', sa.String(length=255), nullable=False),
    sa.Column('remote_extra', sa.String(length=255), nullable=True),
    sa.Column('want_quantity', sa.Integer(), nullable=True),
    sa.Column('want_version', sa.Integer(), nullable=False),
    sa.Column('pushed_version', sa.Integer(), nullable=False),
    sa.Column('remote_quantity', sa.Integer(), nullable=True),
    sa.Column('remote_seen_at', mercato.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('wanted_at', mercato.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('pushed_at', mercato.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('push_error', sa.Text(), nullable=True),
    sa.Column('updated_at', mercato.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('organization_id', sa.String(length=26), nullable=False),
    sa.ForeignKeyConstraint(['connection_id'], ['channel_connections.id'], name=op.f('fk_channel_mappings_connection_id_channel_connections'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_channel_mappings_organization_id_organizations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_channel_mappings')),
    sa.UniqueConstraint('connection_id', 'resource', 'local_id', name=op.f('uq_channel_mappings_connection_id_resource_local_id')),
    sa.UniqueConstraint('connection_id', 'resource', 'remote_id', name=op.f('uq_channel_mappings_connection_id_resource_remote_id'))
    )
    with op.batch_alter_table('channel_mappings', schema=None) as batch_op:
        batch_op.create_index('ix_channel_mappings_due', ['connection_id', 'resource', 'pushed_version', 'want_version'], unique=False)
        batch_op.create_index(batch_op.f('ix_channel_mappings_organization_id'), ['organization_id'], unique=False)
    op.create_table('channel_sync_jobs',
    sa.Column('id', sa.String(length=26), nullable=False),
    sa.Column('connection_id', sa.String(length=26), nullable=False),
    sa.Column('kind', sa.String(length=30), nullable=False),
    sa.Column('trigger', sa.String(length=20), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('params', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('state', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('total', sa.Integer(), nullable=True),
    sa.Column('done', sa.Integer(), nullable=False),
    sa.Column('failed', sa.Integer(), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('max_attempts', sa.Integer(), nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('error_kind', sa.String(length=20), nullable=True),
    sa.Column('cancel_requested', sa.Boolean(), nullable=False),
    sa.Column('retry_of', sa.String(length=26), nullable=True),
    sa.Column('created_by', sa.String(length=26), nullable=True),
    sa.Column('lease_owner', sa.String(length=100), nullable=True),
    sa.Column('lease_until', mercato.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('run_after', mercato.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('created_at', mercato.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('started_at', mercato.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('finished_at', mercato.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('organization_id', sa.String(length=26), nullable=False),
    sa.ForeignKeyConstraint(['connection_id'], ['channel_connections.id'], name=op.f('fk_channel_sync_jobs_connection_id_channel_connections'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_channel_sync_jobs_organization_id_organizations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_channel_sync_jobs'))
    )
    with op.batch_alter_table('channel_sync_jobs', schema=None) as batch_op:
        batch_op.create_index('ix_channel_sync_jobs_due', ['status', 'run_after'], unique=False)
        batch_op.create_index('ix_channel_sync_jobs_history', ['connection_id', 'kind', 'id'], unique=False)
        batch_op.create_index(batch_op.f('ix_channel_sync_jobs_organization_id'), ['organization_id'], unique=False)
    op.create_table('channel_sync_errors',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('job_id', sa.String(length=26), nullable=False),
    sa.Column('item', sa.String(length=300), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('message', sa.Text(), nullable=False),
    sa.Column('created_at', mercato.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('organization_id', sa.String(length=26), nullable=False),
    sa.ForeignKeyConstraint(['job_id'], ['channel_sync_jobs.id'], name=op.f('fk_channel_sync_errors_job_id_channel_sync_jobs'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_channel_sync_errors_organization_id_organizations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_channel_sync_errors'))
    )
    with op.batch_alter_table('channel_sync_errors', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_channel_sync_errors_job_id'), ['job_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_channel_sync_errors_organization_id'), ['organization_id'], unique=False)
    op.create_table('channel_webhook_receipts',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('connection_id', sa.String(length=26), nullable=False),
    sa.Column('delivery_id', sa.String(length=100), nullable=False),
    sa.Column('topic', sa.String(length=60), nullable=False),
    sa.Column('received_at', mercato.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('organization_id', sa.String(length=26), nullable=False),
    sa.ForeignKeyConstraint(['connection_id'], ['channel_connections.id'], name=op.f('fk_channel_webhook_receipts_connection_id_channel_connections'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_channel_webhook_receipts_organization_id_organizations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_channel_webhook_receipts')),
    sa.UniqueConstraint('connection_id', 'delivery_id', name=op.f('uq_channel_webhook_receipts_connection_id_delivery_id'))
    )
    with op.batch_alter_table('channel_webhook_receipts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_channel_webhook_receipts_organization_id'), ['organization_id'], unique=False)
    for table in TENANT_TABLES:
        enable_tenant_rls(table)


def downgrade() -> None:
    for table in TENANT_TABLES:
        disable_tenant_rls(table)
    op.drop_table('channel_webhook_receipts')
    op.drop_table('channel_sync_errors')
    op.drop_table('channel_sync_jobs')
    op.drop_table('channel_mappings')
    op.drop_table('channel_connections')
