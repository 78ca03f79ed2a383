"""Tax settings and rates, shipping zones and shipping methods.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-21 23:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import mercato.core.db
from mercato.migrations.helpers import disable_tenant_rls, enable_tenant_rls

revision: str = '0010'
down_revision: str | None = '0009'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TENANT_TABLES = ("tax_settings", "tax_rates", "shipping_zones", "shipping_methods")


def upgrade() -> None:
    op.create_table('shipping_zones',
    sa.Column('id', sa.String(length=26), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('countries', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('regions', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('postal_prefixes', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('created_at', mercato.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', mercato.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('organization_id', sa.String(length=26), nullable=False),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_shipping_zones_organization_id_organizations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_shipping_zones')),
    sa.UniqueConstraint('organization_id', 'name', name=op.f('uq_shipping_zones_organization_id_name'))
    )
    with op.batch_alter_table('shipping_zones', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_shipping_zones_organization_id'), ['organization_id'], unique=False)

    op.create_table('tax_rates',
    sa.Column('id', sa.String(length=26), nullable=False),
    sa.Column('country', sa.String(length=2), nullable=False),
    sa.Column('region', sa.String(length=6), nullable=False),
    sa.Column('postal_prefix', sa.String(length=10), nullable=False),
    sa.Column('title', sa.String(length=100), nullable=False),
    sa.Column('rate', sa.Numeric(precision=7, scale=6), nullable=False),
    sa.Column('created_at', mercato.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', mercato.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('organization_id', sa.String(length=26), nullable=False),
    sa.CheckConstraint('rate >= 0 AND rate <= 1', name=op.f('ck_tax_rates_rate_is_a_fraction')),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_tax_rates_organization_id_organizations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_tax_rates')),
    sa.UniqueConstraint('organization_id', 'country', 'region', 'postal_prefix', 'title', name='uq_tax_rates_scope_title')
    )
    with op.batch_alter_table('tax_rates', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_tax_rates_organization_id'), ['organization_id'], unique=False)

    op.create_table('tax_settings',
    sa.Column('organization_id', sa.String(length=26), nullable=False),
    sa.Column('prices_include_tax', sa.Boolean(), nullable=False),
    sa.Column('tax_shipping', sa.Boolean(), nullable=False),
    sa.Column('updated_at', mercato.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_tax_settings_organization_id_organizations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('organization_id', name=op.f('pk_tax_settings'))
    )
    op.create_table('shipping_methods',
    sa.Column('id', sa.String(length=26), nullable=False),
    sa.Column('zone_id', sa.String(length=26), nullable=True),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('code', sa.String(length=50), nullable=False),
    sa.Column('kind', sa.String(length=10), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('price', sa.Numeric(precision=12, scale=2), nullable=True),
    sa.Column('weight_brackets', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('price_brackets', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('min_subtotal', sa.Numeric(precision=12, scale=2), nullable=True),
    sa.Column('max_subtotal', sa.Numeric(precision=12, scale=2), nullable=True),
    sa.Column('pickup_location_id', sa.String(length=26), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', mercato.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', mercato.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('organization_id', sa.String(length=26), nullable=False),
    sa.CheckConstraint("kind IN ('flat', 'weight', 'price', 'pickup')", name=op.f('ck_shipping_methods_known_kind')),
    sa.CheckConstraint('min_subtotal IS NULL OR max_subtotal IS NULL OR min_subtotal <= max_subtotal', name=op.f('ck_shipping_methods_subtotal_range')),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_shipping_methods_organization_id_organizations'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['zone_id'], ['shipping_zones.id'], name=op.f('fk_shipping_methods_zone_id_shipping_zones'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_shipping_methods')),
    sa.UniqueConstraint('organization_id', 'code', name=op.f('uq_shipping_methods_organization_id_code'))
    )
    with op.batch_alter_table('shipping_methods', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_shipping_methods_organization_id'), ['organization_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_shipping_methods_zone_id'), ['zone_id'], unique=False)

    for table in TENANT_TABLES:
        enable_tenant_rls(table)


def downgrade() -> None:
    for table in TENANT_TABLES:
        disable_tenant_rls(table)
    with op.batch_alter_table('shipping_methods', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_shipping_methods_zone_id'))
        batch_op.drop_index(batch_op.f('ix_shipping_methods_organization_id'))

    op.drop_table('shipping_methods')
    op.drop_table('tax_settings')
    with op.batch_alter_table('tax_rates', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_tax_rates_organization_id'))

    op.drop_table('tax_rates')
    with op.batch_alter_table('shipping_zones', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_shipping_zones_organization_id'))

    op.drop_table('shipping_zones')
