"""Payments: gateway settings, gift cards, store credit, processed provider events.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-21 23:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import mercato.core.db
from mercato.migrations.helpers import disable_tenant_rls, enable_tenant_rls

revision: str = '0011'
down_revision: str | None = '0010'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TENANT_TABLES = ("payment_settings", "gift_cards", "gift_card_transactions",
                 "store_credit_balances", "store_credit_entries", "payment_provider_events")


def upgrade() -> None:
    op.create_table('payment_settings',
    sa.Column('organization_id', sa.String(length=26), nullable=False),
    sa.Column('enabled_methods', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('stripe_secret_key_encrypted', sa.Text(), nullable=True),
    sa.Column('stripe_secret_key_last4', sa.String(length=4), nullable=True),
    sa.Column('stripe_publishable_key', sa.String(length=255), nullable=True),
    sa.Column('stripe_webhook_secret_encrypted', sa.Text(), nullable=True),
    sa.Column('stripe_webhook_secret_last4', sa.String(length=4), nullable=True),
    sa.Column('stripe_api_base', sa.String(length=500), nullable=True),
    sa.Column('updated_at', mercato.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_payment_settings_organization_id_organizations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('organization_id', name=op.f('pk_payment_settings'))
    )
    op.create_table('gift_cards',
    sa.Column('id', sa.String(length=26), nullable=False),
    sa.Column('code_hash', sa.String(length=64), nullable=False),
    sa.Column('last4', sa.String(length=4), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('initial_balance_cents', sa.BigInteger(), nullable=False),
    sa.Column('balance_cents', sa.BigInteger(), nullable=False),
    sa.Column('expires_at', mercato.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('disabled', sa.Boolean(), nullable=False),
    sa.Column('customer_id', sa.String(length=26), nullable=True),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('created_at', mercato.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', mercato.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('organization_id', sa.String(length=26), nullable=False),
    sa.CheckConstraint('balance_cents >= 0', name=op.f('ck_gift_cards_balance_not_negative')),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_gift_cards_organization_id_organizations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_gift_cards')),
    sa.UniqueConstraint('organization_id', 'code_hash', name=op.f('uq_gift_cards_organization_id_code_hash'))
    )
    op.create_index('ix_gift_cards_customer', 'gift_cards', ['organization_id', 'customer_id'], unique=False)
    op.create_index(op.f('ix_gift_cards_organization_id'), 'gift_cards', ['organization_id'], unique=False)
    op.create_table('gift_card_transactions',
    sa.Column('id', sa.String(length=26), nullable=False),
    sa.Column('gift_card_id', sa.String(length=26), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('delta_cents', sa.BigInteger(), nullable=False),
    sa.Column('balance_after_cents', sa.BigInteger(), nullable=False),
    sa.Column('reference', sa.String(length=200), nullable=True),
    sa.Column('reason', sa.String(length=500), nullable=True),
    sa.Column('idempotency_key', sa.String(length=255), nullable=True),
    sa.Column('created_at', mercato.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('organization_id', sa.String(length=26), nullable=False),
    sa.ForeignKeyConstraint(['gift_card_id'], ['gift_cards.id'], name=op.f('fk_gift_card_transactions_gift_card_id_gift_cards'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_gift_card_transactions_organization_id_organizations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_gift_card_transactions')),
    sa.UniqueConstraint('organization_id', 'idempotency_key', name=op.f('uq_gift_card_transactions_organization_id_idempotency_key'))
    )
    op.create_index('ix_gift_card_transactions_card', 'gift_card_transactions', ['gift_card_id', 'id'], unique=False)
    op.create_index(op.f('ix_gift_card_transactions_organization_id'), 'gift_card_transactions', ['organization_id'], unique=False)
    op.create_table('store_credit_balances',
    sa.Column('id', sa.String(length=26), nullable=False),
    sa.Column('customer_id', sa.String(length=26), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('balance_cents', sa.BigInteger(), nullable=False),
    sa.Column('updated_at', mercato.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('organization_id', sa.String(length=26), nullable=False),
    sa.CheckConstraint('balance_cents >= 0', name=op.f('ck_store_credit_balances_balance_not_negative')),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_store_credit_balances_organization_id_organizations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_store_credit_balances')),
    sa.UniqueConstraint('organization_id', 'customer_id', 'currency', name=op.f('uq_store_credit_balances_organization_id_customer_id_currency'))
    )
    op.create_index(op.f('ix_store_credit_balances_organization_id'), 'store_credit_balances', ['organization_id'], unique=False)
    op.create_table('store_credit_entries',
    sa.Column('id', sa.String(length=26), nullable=False),
    sa.Column('customer_id', sa.String(length=26), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('delta_cents', sa.BigInteger(), nullable=False),
    sa.Column('balance_after_cents', sa.BigInteger(), nullable=False),
    sa.Column('reference', sa.String(length=200), nullable=True),
    sa.Column('reason', sa.String(length=500), nullable=True),
    sa.Column('idempotency_key', sa.String(length=255), nullable=True),
    sa.Column('created_at', mercato.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('organization_id', sa.String(length=26), nullable=False),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_store_credit_entries_organization_id_organizations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_store_credit_entries')),
    sa.UniqueConstraint('organization_id', 'idempotency_key', name=op.f('uq_store_credit_entries_organization_id_idempotency_key'))
    )
    op.create_index('ix_store_credit_entries_customer', 'store_credit_entries', ['organization_id', 'customer_id', 'id'], unique=False)
    op.create_index(op.f('ix_store_credit_entries_organization_id'), 'store_credit_entries', ['organization_id'], unique=False)
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
    for table in TENANT_TABLES:
        enable_tenant_rls(table)


def downgrade() -> None:
    for table in TENANT_TABLES:
        disable_tenant_rls(table)
    op.drop_index(op.f('ix_payment_provider_events_organization_id'), table_name='payment_provider_events')
    op.drop_table('payment_provider_events')
    op.drop_index(op.f('ix_store_credit_entries_organization_id'), table_name='store_credit_entries')
    op.drop_index('ix_store_credit_entries_customer', table_name='store_credit_entries')
    op.drop_table('store_credit_entries')
    op.drop_index(op.f('ix_store_credit_balances_organization_id'), table_name='store_credit_balances')
    op.drop_table('store_credit_balances')
    op.drop_index(op.f('ix_gift_card_transactions_organization_id'), table_name='gift_card_transactions')
    op.drop_index('ix_gift_card_transactions_card', table_name='gift_card_transactions')
    op.drop_table('gift_card_transactions')
    op.drop_index(op.f('ix_gift_cards_organization_id'), table_name='gift_cards')
    op.drop_index('ix_gift_cards_customer', table_name='gift_cards')
    op.drop_table('gift_cards')
    op.drop_table('payment_settings')
