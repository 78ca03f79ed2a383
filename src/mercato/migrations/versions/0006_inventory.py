"""Inventory: locations, stock levels and their ledger, reservations, sales channels,
transfers, cycle counts and purchase orders.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-21 21:17:24.079590
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import mercato.core.db
from mercato.migrations.helpers import disable_tenant_rls, enable_tenant_rls

revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TENANT_TABLES = ("locations", "stock_levels", "stock_movements", "reservations",
                 "reservation_lines", "sales_channels", "channel_locations", "channel_buffers",
                 "channel_stock", "transfers", "transfer_lines", "stock_counts",
                 "stock_count_lines", "purchase_orders", "purchase_order_lines")


def upgrade() -> None:
    op.create_table('locations',
    sa.Column('id', sa.String(length=26), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('code', sa.String(length=50), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('address', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('fulfills_online', sa.Boolean(), nullable=False),
    sa.Column('pickup', sa.Boolean(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', mercato.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', mercato.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('organization_id', sa.String(length=26), nullable=False),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_locations_organization_id_organizations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_locations')),
    sa.UniqueConstraint('organization_id', 'code', name=op.f('uq_locations_organization_id_code'))
    )
    op.create_index(op.f('ix_locations_organization_id'), 'locations', ['organization_id'], unique=False)
    op.create_table('purchase_orders',
    sa.Column('id', sa.String(length=26), nullable=False),
    sa.Column('supplier', sa.String(length=200), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('created_at', mercato.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', mercato.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('organization_id', sa.String(length=26), nullable=False),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_purchase_orders_organization_id_organizations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_purchase_orders'))
    )
    op.create_index(op.f('ix_purchase_orders_organization_id'), 'purchase_orders', ['organization_id'], unique=False)
    op.create_table('reservations',
    sa.Column('id', sa.String(length=26), nullable=False),
    sa.Column('reference', sa.String(length=200), nullable=False),
    sa.Column('channel_id', sa.String(length=26), nullable=True),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('expires_at', mercato.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('created_at', mercato.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('closed_at', mercato.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('organization_id', sa.String(length=26), nullable=False),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_reservations_organization_id_organizations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_reservations')),
    sa.UniqueConstraint('organization_id', 'reference', name=op.f('uq_reservations_organization_id_reference'))
    )
    op.create_index('ix_reservations_expiry', 'reservations', ['status', 'expires_at'], unique=False)
    op.create_index(op.f('ix_reservations_organization_id'), 'reservations', ['organization_id'], unique=False)
    op.create_table('sales_channels',
    sa.Column('id', sa.String(length=26), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('kind', sa.String(length=30), nullable=False),
    sa.Column('default_buffer', sa.Integer(), nullable=False),
    sa.Column('created_at', mercato.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', mercato.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('organization_id', sa.String(length=26), nullable=False),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_sales_channels_organization_id_organizations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sales_channels'))
    )
    op.create_index(op.f('ix_sales_channels_organization_id'), 'sales_channels', ['organization_id'], unique=False)
    op.create_table('stock_movements',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('variant_id', sa.String(length=26), nullable=False),
    sa.Column('location_id', sa.String(length=26), nullable=False),
    sa.Column('delta_on_hand', sa.Integer(), nullable=False),
    sa.Column('delta_reserved', sa.Integer(), nullable=False),
    sa.Column('reason', sa.String(length=20), nullable=False),
    sa.Column('reference', sa.String(length=200), nullable=True),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('actor', sa.String(length=200), nullable=False),
    sa.Column('created_at', mercato.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('organization_id', sa.String(length=26), nullable=False),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_stock_movements_organization_id_organizations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_stock_movements'))
    )
    op.create_index('ix_stock_movements_location', 'stock_movements', ['organization_id', 'location_id', 'id'], unique=False)
    op.create_index(op.f('ix_stock_movements_organization_id'), 'stock_movements', ['organization_id'], unique=False)
    op.create_index('ix_stock_movements_variant', 'stock_movements', ['organization_id', 'variant_id', 'id'], unique=False)
    op.create_table('channel_buffers',
    sa.Column('channel_id', sa.String(length=26), nullable=False),
    sa.Column('variant_id', sa.String(length=26), nullable=False),
    sa.Column('buffer', sa.Integer(), nullable=False),
    sa.Column('organization_id', sa.String(length=26), nullable=False),
    sa.ForeignKeyConstraint(['channel_id'], ['sales_channels.id'], name=op.f('fk_channel_buffers_channel_id_sales_channels'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_channel_buffers_organization_id_organizations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('channel_id', 'variant_id', name=op.f('pk_channel_buffers'))
    )
    op.create_index(op.f('ix_channel_buffers_organization_id'), 'channel_buffers', ['organization_id'], unique=False)
    op.create_table('channel_locations',
    sa.Column('channel_id', sa.String(length=26), nullable=False),
    sa.Column('location_id', sa.String(length=26), nullable=False),
    sa.Column('priority', sa.Integer(), nullable=False),
    sa.Column('organization_id', sa.String(length=26), nullable=False),
    sa.ForeignKeyConstraint(['channel_id'], ['sales_channels.id'], name=op.f('fk_channel_locations_channel_id_sales_channels'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['location_id'], ['locations.id'], name=op.f('fk_channel_locations_location_id_locations'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_channel_locations_organization_id_organizations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('channel_id', 'location_id', name=op.f('pk_channel_locations'))
    )
    op.create_index(op.f('ix_channel_locations_organization_id'), 'channel_locations', ['organization_id'], unique=False)
    op.create_table('channel_stock',
    sa.Column('channel_id', sa.String(length=26), nullable=False),
    sa.Column('variant_id', sa.String(length=26), nullable=False),
    sa.Column('quantity', sa.Integer(), nullable=False),
    sa.Column('published_at', mercato.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('organization_id', sa.String(length=26), nullable=False),
    sa.ForeignKeyConstraint(['channel_id'], ['sales_channels.id'], name=op.f('fk_channel_stock_channel_id_sales_channels'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_channel_stock_organization_id_organizations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('channel_id', 'variant_id', name=op.f('pk_channel_stock'))
    )
    op.create_index(op.f('ix_channel_stock_organization_id'), 'channel_stock', ['organization_id'], unique=False)
    op.create_table('purchase_order_lines',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('purchase_order_id', sa.String(length=26), nullable=False),
    sa.Column('variant_id', sa.String(length=26), nullable=False),
    sa.Column('sku', sa.String(length=100), nullable=False),
    sa.Column('quantity', sa.Integer(), nullable=False),
    sa.Column('received', sa.Integer(), nullable=False),
    sa.Column('unit_cost', sa.Numeric(precision=12, scale=2), nullable=False),
    sa.Column('organization_id', sa.String(length=26), nullable=False),
    sa.CheckConstraint('received <= quantity', name=op.f('ck_purchase_order_lines_received_within_ordered')),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_purchase_order_lines_organization_id_organizations'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['purchase_order_id'], ['purchase_orders.id'], name=op.f('fk_purchase_order_lines_purchase_order_id_purchase_orders'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_purchase_order_lines'))
    )
    op.create_index(op.f('ix_purchase_order_lines_organization_id'), 'purchase_order_lines', ['organization_id'], unique=False)
    op.create_index(op.f('ix_purchase_order_lines_purchase_order_id'), 'purchase_order_lines', ['purchase_order_id'], unique=False)
    op.create_table('reservation_lines',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('reservation_id', sa.String(length=26), nullable=False),
    sa.Column('variant_id', sa.String(length=26), nullable=False),
    sa.Column('sku', sa.String(length=100), nullable=False),
    sa.Column('location_id', sa.String(length=26), nullable=False),
    sa.Column('quantity', sa.Integer(), nullable=False),
    sa.Column('organization_id', sa.String(length=26), nullable=False),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_reservation_lines_organization_id_organizations'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['reservation_id'], ['reservations.id'], name=op.f('fk_reservation_lines_reservation_id_reservations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_reservation_lines'))
    )
    op.create_index('ix_reservation_lines_level', 'reservation_lines', ['variant_id', 'location_id'], unique=False)
    op.create_index(op.f('ix_reservation_lines_organization_id'), 'reservation_lines', ['organization_id'], unique=False)
    op.create_index(op.f('ix_reservation_lines_reservation_id'), 'reservation_lines', ['reservation_id'], unique=False)
    op.create_table('stock_counts',
    sa.Column('id', sa.String(length=26), nullable=False),
    sa.Column('location_id', sa.String(length=26), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('created_at', mercato.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('applied_at', mercato.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('organization_id', sa.String(length=26), nullable=False),
    sa.ForeignKeyConstraint(['location_id'], ['locations.id'], name=op.f('fk_stock_counts_location_id_locations'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_stock_counts_organization_id_organizations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_stock_counts'))
    )
    op.create_index(op.f('ix_stock_counts_organization_id'), 'stock_counts', ['organization_id'], unique=False)
    op.create_table('stock_levels',
    sa.Column('variant_id', sa.String(length=26), nullable=False),
    sa.Column('location_id', sa.String(length=26), nullable=False),
    sa.Column('on_hand', sa.Integer(), nullable=False),
    sa.Column('reserved', sa.Integer(), nullable=False),
    sa.Column('safety_stock', sa.Integer(), nullable=False),
    sa.Column('reorder_point', sa.Integer(), nullable=True),
    sa.Column('reorder_quantity', sa.Integer(), nullable=True),
    sa.Column('changes', sa.Integer(), nullable=False),
    sa.Column('published', sa.Integer(), nullable=False),
    sa.Column('low', sa.Boolean(), nullable=False),
    sa.Column('updated_at', mercato.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('organization_id', sa.String(length=26), nullable=False),
    sa.CheckConstraint('on_hand >= 0', name=op.f('ck_stock_levels_on_hand_not_negative')),
    sa.CheckConstraint('reserved >= 0 AND reserved <= on_hand', name=op.f('ck_stock_levels_reserved_within_on_hand')),
    sa.CheckConstraint('safety_stock >= 0', name=op.f('ck_stock_levels_safety_stock_not_negative')),
    sa.ForeignKeyConstraint(['location_id'], ['locations.id'], name=op.f('fk_stock_levels_location_id_locations'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_stock_levels_organization_id_organizations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('variant_id', 'location_id', name=op.f('pk_stock_levels'))
    )
    op.create_index('ix_stock_levels_unpublished', 'stock_levels', ['organization_id', 'variant_id'], unique=False, sqlite_where=sa.text('changes > published'), postgresql_where=sa.text('changes > published'))
    op.create_index('ix_stock_levels_location', 'stock_levels', ['location_id', 'variant_id'], unique=False)
    op.create_index(op.f('ix_stock_levels_organization_id'), 'stock_levels', ['organization_id'], unique=False)
    op.create_table('transfers',
    sa.Column('id', sa.String(length=26), nullable=False),
    sa.Column('from_location_id', sa.String(length=26), nullable=False),
    sa.Column('to_location_id', sa.String(length=26), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('created_at', mercato.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', mercato.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('organization_id', sa.String(length=26), nullable=False),
    sa.ForeignKeyConstraint(['from_location_id'], ['locations.id'], name=op.f('fk_transfers_from_location_id_locations'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_transfers_organization_id_organizations'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['to_location_id'], ['locations.id'], name=op.f('fk_transfers_to_location_id_locations'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_transfers'))
    )
    op.create_index(op.f('ix_transfers_organization_id'), 'transfers', ['organization_id'], unique=False)
    op.create_table('stock_count_lines',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('count_id', sa.String(length=26), nullable=False),
    sa.Column('variant_id', sa.String(length=26), nullable=False),
    sa.Column('sku', sa.String(length=100), nullable=False),
    sa.Column('expected', sa.Integer(), nullable=False),
    sa.Column('counted', sa.Integer(), nullable=True),
    sa.Column('organization_id', sa.String(length=26), nullable=False),
    sa.ForeignKeyConstraint(['count_id'], ['stock_counts.id'], name=op.f('fk_stock_count_lines_count_id_stock_counts'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_stock_count_lines_organization_id_organizations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_stock_count_lines')),
    sa.UniqueConstraint('count_id', 'variant_id', name=op.f('uq_stock_count_lines_count_id_variant_id'))
    )
    op.create_index(op.f('ix_stock_count_lines_count_id'), 'stock_count_lines', ['count_id'], unique=False)
    op.create_index(op.f('ix_stock_count_lines_organization_id'), 'stock_count_lines', ['organization_id'], unique=False)
    op.create_table('transfer_lines',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('transfer_id', sa.String(length=26), nullable=False),
    sa.Column('variant_id', sa.String(length=26), nullable=False),
    sa.Column('sku', sa.String(length=100), nullable=False),
    sa.Column('quantity', sa.Integer(), nullable=False),
    sa.Column('received', sa.Integer(), nullable=False),
    sa.Column('organization_id', sa.String(length=26), nullable=False),
    sa.CheckConstraint('received <= quantity', name=op.f('ck_transfer_lines_received_within_sent')),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_transfer_lines_organization_id_organizations'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['transfer_id'], ['transfers.id'], name=op.f('fk_transfer_lines_transfer_id_transfers'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_transfer_lines'))
    )
    op.create_index(op.f('ix_transfer_lines_organization_id'), 'transfer_lines', ['organization_id'], unique=False)
    op.create_index(op.f('ix_transfer_lines_transfer_id'), 'transfer_lines', ['transfer_id'], unique=False)
    for table in TENANT_TABLES:
        enable_tenant_rls(table)


def downgrade() -> None:
    for table in TENANT_TABLES:
        disable_tenant_rls(table)
    op.drop_index(op.f('ix_transfer_lines_transfer_id'), table_name='transfer_lines')
    op.drop_index(op.f('ix_transfer_lines_organization_id'), table_name='transfer_lines')
    op.drop_table('transfer_lines')
    op.drop_index(op.f('ix_stock_count_lines_organization_id'), table_name='stock_count_lines')
    op.drop_index(op.f('ix_stock_count_lines_count_id'), table_name='stock_count_lines')
    op.drop_table('stock_count_lines')
    op.drop_index(op.f('ix_transfers_organization_id'), table_name='transfers')
    op.drop_table('transfers')
    op.drop_index(op.f('ix_stock_levels_organization_id'), table_name='stock_levels')
    op.drop_index('ix_stock_levels_location', table_name='stock_levels')
    op.drop_index('ix_stock_levels_unpublished', table_name='stock_levels', sqlite_where=sa.text('changes > published'), postgresql_where=sa.text('changes > published'))
    op.drop_table('stock_levels')
    op.drop_index(op.f('ix_stock_counts_organization_id'), table_name='stock_counts')
    op.drop_table('stock_counts')
    op.drop_index(op.f('ix_reservation_lines_reservation_id'), table_name='reservation_lines')
    op.drop_index(op.f('ix_reservation_lines_organization_id'), table_name='reservation_lines')
    op.drop_index('ix_reservation_lines_level', table_name='reservation_lines')
    op.drop_table('reservation_lines')
    op.drop_index(op.f('ix_purchase_order_lines_purchase_order_id'), table_name='purchase_order_lines')
    op.drop_index(op.f('ix_purchase_order_lines_organization_id'), table_name='purchase_order_lines')
    op.drop_table('purchase_order_lines')
    op.drop_index(op.f('ix_channel_stock_organization_id'), table_name='channel_stock')
    op.drop_table('channel_stock')
    op.drop_index(op.f('ix_channel_locations_organization_id'), table_name='channel_locations')
    op.drop_table('channel_locations')
    op.drop_index(op.f('ix_channel_buffers_organization_id'), table_name='channel_buffers')
    op.drop_table('channel_buffers')
    op.drop_index('ix_stock_movements_variant', table_name='stock_movements')
    op.drop_index(op.f('ix_stock_movements_organization_id'), table_name='stock_movements')
    op.drop_index('ix_stock_movements_location', table_name='stock_movements')
    op.drop_table('stock_movements')
    op.drop_index(op.f('ix_sales_channels_organization_id'), table_name='sales_channels')
    op.drop_table('sales_channels')
    op.drop_index(op.f('ix_reservations_organization_id'), table_name='reservations')
    op.drop_index('ix_reservations_expiry', table_name='reservations')
    op.drop_table('reservations')
    op.drop_index(op.f('ix_purchase_orders_organization_id'), table_name='purchase_orders')
    op.drop_table('purchase_orders')
    op.drop_index(op.f('ix_locations_organization_id'), table_name='locations')
    op.drop_table('locations')
