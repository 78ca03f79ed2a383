"""Pricing: price lists and their prices, pricing rules, promotions and their redemptions.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-21 23:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import mercato.core.db
from mercato.migrations.helpers import disable_tenant_rls, enable_tenant_rls

revision: str = '0009'
down_revision: str | None = '0008'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TENANT_TABLES = ('price_lists', 'price_list_entries', 'pricing_rules', 'promotions', 'promotion_codes', 'promotion_usages', 'promotion_redemptions')


def upgrade() -> None:
    op.create_table('price_lists',
    sa.Column('id', sa.String(length=26), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('customer_group', sa.String(length=100), nullable=True),
    sa.Column('starts_at', mercato.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('ends_at', mercato.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('priority', sa.Integer(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', mercato.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', mercato.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('organization_id', sa.String(length=26), nullable=False),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_price_lists_organization_id_organizations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_price_lists'))
    )
    with op.batch_alter_table('price_lists', schema=None) as batch_op:
        batch_op.create_index('ix_price_lists_lookup', ['organization_id', 'currency', 'active'], unique=False)
        batch_op.create_index(batch_op.f('ix_price_lists_organization_id'), ['organization_id'], unique=False)

    op.create_table('pricing_rules',
    sa.Column('id', sa.String(length=26), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('adjustment', sa.String(length=20), nullable=False),
    sa.Column('value', sa.Numeric(precision=12, scale=2), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=True),
    sa.Column('scope_kind', sa.String(length=20), nullable=False),
    sa.Column('scope_values', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('min_quantity', sa.Integer(), nullable=False),
    sa.Column('customer_groups', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('channel_kinds', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('starts_at', mercato.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('ends_at', mercato.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('priority', sa.Integer(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', mercato.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', mercato.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('organization_id', sa.String(length=26), nullable=False),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_pricing_rules_organization_id_organizations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_pricing_rules'))
    )
    with op.batch_alter_table('pricing_rules', schema=None) as batch_op:
        batch_op.create_index('ix_pricing_rules_active', ['organization_id', 'active'], unique=False)
        batch_op.create_index(batch_op.f('ix_pricing_rules_organization_id'), ['organization_id'], unique=False)

    op.create_table('promotions',
    sa.Column('id', sa.String(length=26), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('value', sa.Numeric(precision=12, scale=2), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=True),
    sa.Column('scope_kind', sa.String(length=20), nullable=False),
    sa.Column('scope_values', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('buy_quantity', sa.Integer(), nullable=True),
    sa.Column('get_quantity', sa.Integer(), nullable=True),
    sa.Column('min_subtotal', sa.Numeric(precision=12, scale=2), nullable=True),
    sa.Column('starts_at', mercato.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('ends_at', mercato.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('usage_limit', sa.Integer(), nullable=True),
    sa.Column('per_customer_limit', sa.Integer(), nullable=True),
    sa.Column('used', sa.Integer(), nullable=False),
    sa.Column('stacking', sa.String(length=12), nullable=False),
    sa.Column('priority', sa.Integer(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', mercato.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', mercato.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('organization_id', sa.String(length=26), nullable=False),
    sa.CheckConstraint('usage_limit IS NULL OR used <= usage_limit', name=op.f('ck_promotions_used_within_limit')),
    sa.CheckConstraint('used >= 0', name=op.f('ck_promotions_used_not_negative')),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_promotions_organization_id_organizations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_promotions'))
    )
    with op.batch_alter_table('promotions', schema=None) as batch_op:
        batch_op.create_index('ix_promotions_active', ['organization_id', 'active'], unique=False)
        batch_op.create_index(batch_op.f('ix_promotions_organization_id'), ['organization_id'], unique=False)

    op.create_table('price_list_entries',
    sa.Column('id', sa.String(length=26), nullable=False),
    sa.Column('price_list_id', sa.String(length=26), nullable=False),
    sa.Column('variant_id', sa.String(length=26), nullable=False),
    sa.Column('sku', sa.String(length=100), nullable=False),
    sa.Column('min_quantity', sa.Integer(), nullable=False),
    sa.Column('price', sa.Numeric(precision=12, scale=2), nullable=False),
    sa.Column('updated_at', mercato.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('organization_id', sa.String(length=26), nullable=False),
    sa.CheckConstraint('min_quantity >= 1', name=op.f('ck_price_list_entries_min_quantity_positive')),
    sa.CheckConstraint('price >= 0', name=op.f('ck_price_list_entries_price_not_negative')),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_price_list_entries_organization_id_organizations'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['price_list_id'], ['price_lists.id'], name=op.f('fk_price_list_entries_price_list_id_price_lists'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_price_list_entries')),
    sa.UniqueConstraint('price_list_id', 'variant_id', 'min_quantity', name=op.f('uq_price_list_entries_price_list_id_variant_id_min_quantity'))
    )
    with op.batch_alter_table('price_list_entries', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_price_list_entries_organization_id'), ['organization_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_price_list_entries_price_list_id'), ['price_list_id'], unique=False)
        batch_op.create_index('ix_price_list_entries_variant', ['organization_id', 'variant_id'], unique=False)

    op.create_table('promotion_codes',
    sa.Column('id', sa.String(length=26), nullable=False),
    sa.Column('promotion_id', sa.String(length=26), nullable=False),
    sa.Column('code', sa.String(length=50), nullable=False),
    sa.Column('code_key', sa.String(length=50), nullable=False),
    sa.Column('organization_id', sa.String(length=26), nullable=False),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_promotion_codes_organization_id_organizations'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['promotion_id'], ['promotions.id'], name=op.f('fk_promotion_codes_promotion_id_promotions'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_promotion_codes')),
    sa.UniqueConstraint('organization_id', 'code_key', name=op.f('uq_promotion_codes_organization_id_code_key'))
    )
    with op.batch_alter_table('promotion_codes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_promotion_codes_organization_id'), ['organization_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_promotion_codes_promotion_id'), ['promotion_id'], unique=False)

    op.create_table('promotion_redemptions',
    sa.Column('id', sa.String(length=26), nullable=False),
    sa.Column('promotion_id', sa.String(length=26), nullable=False),
    sa.Column('code', sa.String(length=50), nullable=True),
    sa.Column('order_id', sa.String(length=26), nullable=False),
    sa.Column('customer_key', sa.String(length=320), nullable=True),
    sa.Column('amount', sa.Numeric(precision=12, scale=2), nullable=False),
    sa.Column('created_at', mercato.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('organization_id', sa.String(length=26), nullable=False),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_promotion_redemptions_organization_id_organizations'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['promotion_id'], ['promotions.id'], name=op.f('fk_promotion_redemptions_promotion_id_promotions'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_promotion_redemptions'))
    )
    with op.batch_alter_table('promotion_redemptions', schema=None) as batch_op:
        batch_op.create_index('ix_promotion_redemptions_list', ['promotion_id', 'id'], unique=False)
        batch_op.create_index(batch_op.f('ix_promotion_redemptions_organization_id'), ['organization_id'], unique=False)

    op.create_table('promotion_usages',
    sa.Column('id', sa.String(length=26), nullable=False),
    sa.Column('promotion_id', sa.String(length=26), nullable=False),
    sa.Column('customer_key', sa.String(length=320), nullable=False),
    sa.Column('used', sa.Integer(), nullable=False),
    sa.Column('organization_id', sa.String(length=26), nullable=False),
    sa.CheckConstraint('used >= 0', name=op.f('ck_promotion_usages_used_not_negative')),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_promotion_usages_organization_id_organizations'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['promotion_id'], ['promotions.id'], name=op.f('fk_promotion_usages_promotion_id_promotions'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_promotion_usages')),
    sa.UniqueConstraint('promotion_id', 'customer_key', name=op.f('uq_promotion_usages_promotion_id_customer_key'))
    )
    with op.batch_alter_table('promotion_usages', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_promotion_usages_organization_id'), ['organization_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_promotion_usages_promotion_id'), ['promotion_id'], unique=False)

    for table in TENANT_TABLES:
        enable_tenant_rls(table)


def downgrade() -> None:
    for table in reversed(TENANT_TABLES):
        disable_tenant_rls(table)
    with op.batch_alter_table('promotion_usages', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_promotion_usages_promotion_id'))
        batch_op.drop_index(batch_op.f('ix_promotion_usages_organization_id'))

    op.drop_table('promotion_usages')
    with op.batch_alter_table('promotion_redemptions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_promotion_redemptions_organization_id'))
        batch_op.drop_index('ix_promotion_redemptions_list')

    op.drop_table('promotion_redemptions')
    with op.batch_alter_table('promotion_codes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_promotion_codes_promotion_id'))
        batch_op.drop_index(batch_op.f('ix_promotion_codes_organization_id'))

    op.drop_table('promotion_codes')
    with op.batch_alter_table('price_list_entries', schema=None) as batch_op:
        batch_op.drop_index('ix_price_list_entries_variant')
        batch_op.drop_index(batch_op.f('ix_price_list_entries_price_list_id'))
        batch_op.drop_index(batch_op.f('ix_price_list_entries_organization_id'))

    op.drop_table('price_list_entries')
    with op.batch_alter_table('promotions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_promotions_organization_id'))
        batch_op.drop_index('ix_promotions_active')

    op.drop_table('promotions')
    with op.batch_alter_table('pricing_rules', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_pricing_rules_organization_id'))
        batch_op.drop_index('ix_pricing_rules_active')

    op.drop_table('pricing_rules')
    with op.batch_alter_table('price_lists', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_price_lists_organization_id'))
        batch_op.drop_index('ix_price_lists_lookup')

    op.drop_table('price_lists')
