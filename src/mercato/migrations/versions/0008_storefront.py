"""Storefront: customer accounts (passwords, one-time tokens), carts and cart lines, and the
account that placed an order.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-21 23:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import mercato.core.db
from mercato.migrations.helpers import disable_tenant_rls, enable_tenant_rls

revision: str = '0008'
down_revision: str | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TENANT_TABLES = ("customer_accounts", "customer_tokens", "carts", "cart_lines")


def upgrade() -> None:
    op.create_table('carts',
    sa.Column('id', sa.String(length=26), nullable=False),
    sa.Column('customer_id', sa.String(length=26), nullable=True),
    sa.Column('account_id', sa.String(length=26), nullable=True),
    sa.Column('email', sa.String(length=320), nullable=True),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('shipping_address', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.Column('billing_address', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.Column('shipping_method_id', sa.String(length=26), nullable=True),
    sa.Column('codes', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('note', sa.String(length=2000), nullable=True),
    sa.Column('attempt', sa.Integer(), nullable=False),
    sa.Column('payment', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.Column('reservation_id', sa.String(length=26), nullable=True),
    sa.Column('order_id', sa.String(length=26), nullable=True),
    sa.Column('expires_at', mercato.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('created_at', mercato.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', mercato.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('organization_id', sa.String(length=26), nullable=False),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_carts_customer_id_customers'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_carts_organization_id_organizations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_carts'))
    )
    with op.batch_alter_table('carts', schema=None) as batch_op:
        batch_op.create_index('ix_carts_customer', ['organization_id', 'customer_id', 'status'], unique=False)
        batch_op.create_index('ix_carts_expiry', ['status', 'expires_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_carts_organization_id'), ['organization_id'], unique=False)

    op.create_table('customer_accounts',
    sa.Column('id', sa.String(length=26), nullable=False),
    sa.Column('customer_id', sa.String(length=26), nullable=False),
    sa.Column('password_hash', sa.String(length=255), nullable=False),
    sa.Column('verified_at', mercato.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('token_epoch', sa.Integer(), nullable=False),
    sa.Column('created_at', mercato.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', mercato.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('organization_id', sa.String(length=26), nullable=False),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_customer_accounts_customer_id_customers'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_customer_accounts_organization_id_organizations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_customer_accounts')),
    sa.UniqueConstraint('customer_id', name=op.f('uq_customer_accounts_customer_id'))
    )
    with op.batch_alter_table('customer_accounts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_customer_accounts_organization_id'), ['organization_id'], unique=False)

    op.create_table('cart_lines',
    sa.Column('id', sa.String(length=26), nullable=False),
    sa.Column('cart_id', sa.String(length=26), nullable=False),
    sa.Column('variant_id', sa.String(length=26), nullable=False),
    sa.Column('sku', sa.String(length=100), nullable=False),
    sa.Column('quantity', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('created_at', mercato.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('organization_id', sa.String(length=26), nullable=False),
    sa.CheckConstraint('quantity > 0', name=op.f('ck_cart_lines_cart_line_positive')),
    sa.ForeignKeyConstraint(['cart_id'], ['carts.id'], name=op.f('fk_cart_lines_cart_id_carts'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_cart_lines_organization_id_organizations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_cart_lines')),
    sa.UniqueConstraint('cart_id', 'variant_id', name=op.f('uq_cart_lines_cart_id_variant_id'))
    )
    with op.batch_alter_table('cart_lines', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_cart_lines_cart_id'), ['cart_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_cart_lines_organization_id'), ['organization_id'], unique=False)

    op.create_table('customer_tokens',
    sa.Column('id', sa.String(length=26), nullable=False),
    sa.Column('account_id', sa.String(length=26), nullable=False),
    sa.Column('purpose', sa.String(length=20), nullable=False),
    sa.Column('secret_hash', sa.String(length=64), nullable=False),
    sa.Column('expires_at', mercato.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('used_at', mercato.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', mercato.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('organization_id', sa.String(length=26), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['customer_accounts.id'], name=op.f('fk_customer_tokens_account_id_customer_accounts'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_customer_tokens_organization_id_organizations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_customer_tokens'))
    )
    with op.batch_alter_table('customer_tokens', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_customer_tokens_account_id'), ['account_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_customer_tokens_organization_id'), ['organization_id'], unique=False)

    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.add_column(sa.Column('account_id', sa.String(length=26), nullable=True))
    for table in TENANT_TABLES:
        enable_tenant_rls(table)


def downgrade() -> None:
    for table in TENANT_TABLES:
        disable_tenant_rls(table)
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.drop_column('account_id')

    with op.batch_alter_table('customer_tokens', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_customer_tokens_organization_id'))
        batch_op.drop_index(batch_op.f('ix_customer_tokens_account_id'))

    op.drop_table('customer_tokens')
    with op.batch_alter_table('cart_lines', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_cart_lines_organization_id'))
        batch_op.drop_index(batch_op.f('ix_cart_lines_cart_id'))

    op.drop_table('cart_lines')
    with op.batch_alter_table('customer_accounts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_customer_accounts_organization_id'))

    op.drop_table('customer_accounts')
    with op.batch_alter_table('carts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_carts_organization_id'))
        batch_op.drop_index('ix_carts_expiry')
        batch_op.drop_index('ix_carts_customer')

    op.drop_table('carts')
