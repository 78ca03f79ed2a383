"""Digital delivery: digital product types, private attributes, delivery settings, licence-key
pools, stored files and per-line deliveries.

Revision ID: 0031
Revises: 0030
Create Date: 2026-12-06 12:00:00
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import mercato.core.db
from mercato.migrations.helpers import disable_tenant_rls, enable_tenant_rls

revision: str = '0031'
down_revision: str | None = '0030'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')
TABLES = ('digital_goods', 'digital_files', 'licence_keys', 'digital_deliveries')


def _org(table: str) -> list[Any]:
    return [
        sa.Column('organization_id', sa.String(length=26), nullable=False),
        sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'],
                                name=op.f(f'fk_{table}_organization_id_organizations'),
                                ondelete='CASCADE'),
    ]


def upgrade() -> None:
    with op.batch_alter_table('product_types', schema=None) as batch_op:
        batch_op.add_column(sa.Column('digital', sa.Boolean(), nullable=False,
                                      server_default=sa.false()))
        batch_op.add_column(sa.Column('private_attributes', JSON, nullable=False,
                                      server_default='[]'))

    op.create_table('digital_goods',
    sa.Column('id', sa.String(length=26), nullable=False),
    sa.Column('variant_id', sa.String(length=26), nullable=False),
    sa.Column('method', sa.String(length=16), nullable=False),
    sa.Column('webhook_url', sa.String(length=2000), nullable=True),
    sa.Column('message', sa.Text(), nullable=False),
    sa.Column('low_pool_threshold', sa.Integer(), nullable=False),
    sa.Column('alert_email', sa.String(length=320), nullable=True),
    sa.Column('link_ttl_seconds', sa.Integer(), nullable=False),
    sa.Column('created_at', mercato.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', mercato.core.db.UTCDateTime(timezone=True), nullable=False),
    *_org('digital_goods'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_digital_goods')),
    sa.UniqueConstraint('organization_id', 'variant_id',
                        name=op.f('uq_digital_goods_organization_id_variant_id'))
    )
    op.create_table('digital_files',
    sa.Column('id', sa.String(length=26), nullable=False),
    sa.Column('variant_id', sa.String(length=26), nullable=False),
    sa.Column('filename', sa.String(length=255), nullable=False),
    sa.Column('content_type', sa.String(length=100), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('data', sa.LargeBinary(), nullable=False),
    sa.Column('created_at', mercato.core.db.UTCDateTime(timezone=True), nullable=False),
    *_org('digital_files'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_digital_files'))
    )
    with op.batch_alter_table('digital_files', schema=None) as batch_op:
        batch_op.create_index('ix_digital_files_variant', ['organization_id', 'variant_id'],
                              unique=False)
    op.create_table('licence_keys',
    sa.Column('id', sa.String(length=26), nullable=False),
    sa.Column('variant_id', sa.String(length=26), nullable=False),
    sa.Column('sealed', sa.Text(), nullable=False),
    sa.Column('fingerprint', sa.String(length=64), nullable=False),
    sa.Column('order_id', sa.String(length=26), nullable=True),
    sa.Column('order_line_id', sa.String(length=26), nullable=True),
    sa.Column('unit', sa.Integer(), nullable=True),
    sa.Column('drawn_at', mercato.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', mercato.core.db.UTCDateTime(timezone=True), nullable=False),
    *_org('licence_keys'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_licence_keys')),
    sa.UniqueConstraint('organization_id', 'variant_id', 'fingerprint',
                        name=op.f('uq_licence_keys_organization_id_variant_id_fingerprint')),
    sa.UniqueConstraint('order_line_id', 'unit',
                        name=op.f('uq_licence_keys_order_line_id_unit'))
    )
    with op.batch_alter_table('licence_keys', schema=None) as batch_op:
        batch_op.create_index('ix_licence_keys_pool',
                              ['organization_id', 'variant_id', 'drawn_at', 'id'], unique=False)
    op.create_table('digital_deliveries',
    sa.Column('id', sa.String(length=26), nullable=False),
    sa.Column('order_id', sa.String(length=26), nullable=False),
    sa.Column('order_line_id', sa.String(length=26), nullable=False),
    sa.Column('variant_id', sa.String(length=26), nullable=False),
    sa.Column('sku', sa.String(length=100), nullable=False),
    sa.Column('title', sa.String(length=500), nullable=False),
    sa.Column('quantity', sa.Integer(), nullable=False),
    sa.Column('method', sa.String(length=16), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('next_attempt_at', mercato.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('lease_until', mercato.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('lease_owner', sa.String(length=100), nullable=True),
    sa.Column('delivered_at', mercato.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('email', sa.String(length=320), nullable=True),
    sa.Column('created_at', mercato.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', mercato.core.db.UTCDateTime(timezone=True), nullable=False),
    *_org('digital_deliveries'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_digital_deliveries')),
    sa.UniqueConstraint('organization_id', 'order_line_id',
                        name=op.f('uq_digital_deliveries_organization_id_order_line_id'))
    )
    with op.batch_alter_table('digital_deliveries', schema=None) as batch_op:
        batch_op.create_index('ix_digital_deliveries_order', ['organization_id', 'order_id'],
                              unique=False)
        batch_op.create_index('ix_digital_deliveries_due', ['status', 'next_attempt_at'],
                              unique=False)
    for table in TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.create_index(batch_op.f(f'ix_{table}_organization_id'), ['organization_id'],
                                  unique=False)
        enable_tenant_rls(table)


def downgrade() -> None:
    for table in reversed(TABLES):
        disable_tenant_rls(table)
        op.drop_table(table)
    with op.batch_alter_table('product_types', schema=None) as batch_op:
        batch_op.drop_column('private_attributes')
        batch_op.drop_column('digital')
