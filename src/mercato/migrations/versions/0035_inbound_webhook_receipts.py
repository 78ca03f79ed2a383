"""Inbound webhooks: one receipts table for every provider (organization, provider, event id).

Stripe's ``payment_provider_events`` and the channels' ``channel_webhook_receipts`` are moved
into ``inbound_webhook_receipts`` (so a delivery received before the upgrade is still known as
a duplicate after it) and dropped. A channel receipt's provider is its connection's kind.

Revision ID: 0035
Revises: 0034
Create Date: 2026-12-06 12:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import mercato.core.db
from mercato.core.ids import new_id
from mercato.migrations.helpers import disable_tenant_rls, enable_tenant_rls

revision: str = '0035'
down_revision: str | None = '0034'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _system(bind: sa.engine.Connection) -> None:
    if bind.dialect.name == "postgresql":  # system work: every organization's rows
        bind.exec_driver_sql("SELECT set_config('mercato.organization_id', '*', true)")


def upgrade() -> None:
    op.create_table('inbound_webhook_receipts',
    sa.Column('id', sa.String(length=26), nullable=False),
    sa.Column('provider', sa.String(length=20), nullable=False),
    sa.Column('event_id', sa.String(length=255), nullable=False),
    sa.Column('event_type', sa.String(length=100), nullable=False),
    sa.Column('occurred_at', mercato.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('received_at', mercato.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('organization_id', sa.String(length=26), nullable=False),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_inbound_webhook_receipts_organization_id_organizations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_inbound_webhook_receipts')),
    sa.UniqueConstraint('organization_id', 'provider', 'event_id', name=op.f('uq_inbound_webhook_receipts_organization_id_provider_event_id'))
    )
    with op.batch_alter_table('inbound_webhook_receipts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_inbound_webhook_receipts_organization_id'), ['organization_id'], unique=False)
    enable_tenant_rls('inbound_webhook_receipts')

    bind = op.get_bind()
    _system(bind)
    receipts = sa.table('inbound_webhook_receipts', sa.column('id'), sa.column('provider'),
                        sa.column('event_id'), sa.column('event_type'),
                        sa.column('occurred_at'), sa.column('received_at'),
                        sa.column('organization_id'))
    rows: dict[tuple[str, str, str], dict[str, object]] = {}
    for org, provider, event_id, kind, at in bind.execute(sa.text(
            "SELECT organization_id, provider, event_id, type, received_at "
            "FROM payment_provider_events")):
        rows[(org, provider, event_id)] = {"id": new_id(), "organization_id": org,
                                           "provider": provider, "event_id": event_id,
                                           "event_type": kind, "occurred_at": None,
                                           "received_at": at}
    for org, provider, event_id, kind, at in bind.execute(sa.text(
            "SELECT r.organization_id, c.kind, r.delivery_id, r.topic, r.received_at "
            "FROM channel_webhook_receipts r "
            "JOIN channel_connections c ON c.id = r.connection_id")):
        rows.setdefault((org, provider, event_id), {
            "id": new_id(), "organization_id": org, "provider": provider,
            "event_id": event_id, "event_type": kind, "occurred_at": None, "received_at": at})
    if rows:
        op.bulk_insert(receipts, list(rows.values()))

    disable_tenant_rls('channel_webhook_receipts')
    with op.batch_alter_table('channel_webhook_receipts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_channel_webhook_receipts_organization_id'))
    op.drop_table('channel_webhook_receipts')
    disable_tenant_rls('payment_provider_events')
    op.drop_index(op.f('ix_payment_provider_events_organization_id'),
                  table_name='payment_provider_events')
    op.drop_table('payment_provider_events')


def downgrade() -> None:
    op.create_table('payment_provider_events',
    sa.Column('id', sa.String(length=26), nullable=False),
    sa.Column('provider', sa.String(length=20), nullable=False),
    sa.Column('event_id', sa.String(length=255), nullable=False),
    sa.Column('type', sa.String(length=100), nullable=False),
    sa.Column('object_id', sa.String(length=255), nullable=True),
    sa.Column('received_at', mercato.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('organization_id', sa.String(length=26), nullable=False),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_payment_provider_events_organization_id_organizations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_payment_provider_events')),
    sa.UniqueConstraint('organization_id', 'provider', 'event_id', name=op.f('uq_payment_provider_events_organization_id_provider_event_id'))
    )
    op.create_index(op.f('ix_payment_provider_events_organization_id'), 'payment_provider_events', ['organization_id'], unique=False)
    enable_tenant_rls('payment_provider_events')
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
    enable_tenant_rls('channel_webhook_receipts')
    # the receipts cannot be split back by connection: only Stripe's are restored (a channel
    # delivery received again after a downgrade is applied again, which its handlers tolerate)
    bind = op.get_bind()
    _system(bind)
    bind.execute(sa.text(
        "INSERT INTO payment_provider_events "
        "(id, provider, event_id, type, object_id, received_at, organization_id) "
        "SELECT id, provider, event_id, event_type, NULL, received_at, organization_id "
        "FROM inbound_webhook_receipts WHERE provider = 'stripe'"))
    disable_tenant_rls('inbound_webhook_receipts')
    with op.batch_alter_table('inbound_webhook_receipts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_inbound_webhook_receipts_organization_id'))
    op.drop_table('inbound_webhook_receipts')
