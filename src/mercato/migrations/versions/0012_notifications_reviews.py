"""Notifications sent, product reviews, store locations' coordinates.

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-21 23:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import mercato.core.db
from mercato.migrations.helpers import disable_tenant_rls, enable_tenant_rls

revision: str = '0012'
down_revision: str | None = '0011'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TENANT_TABLES = ("notifications", "product_reviews")
LOCATION_COLUMNS = ("latitude", "longitude", "public", "phone", "hours")


def upgrade() -> None:
    op.create_table('notifications',
    sa.Column('id', sa.String(length=26), nullable=False),
    sa.Column('kind', sa.String(length=30), nullable=False),
    sa.Column('recipient', sa.String(length=320), nullable=False),
    sa.Column('subject', sa.String(length=500), nullable=False),
    sa.Column('body_text', sa.Text(), nullable=False),
    sa.Column('body_html', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('reference', sa.String(length=200), nullable=False),
    sa.Column('customer_id', sa.String(length=26), nullable=True),
    sa.Column('message_id', sa.String(length=255), nullable=True),
    sa.Column('next_attempt_at', mercato.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('lease_owner', sa.String(length=100), nullable=True),
    sa.Column('lease_until', mercato.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', mercato.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('sent_at', mercato.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('organization_id', sa.String(length=26), nullable=False),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_notifications_organization_id_organizations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_notifications')),
    sa.UniqueConstraint('organization_id', 'kind', 'reference', name=op.f('uq_notifications_organization_id_kind_reference'))
    )
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.create_index('ix_notifications_due', ['status', 'next_attempt_at'], unique=False)
        batch_op.create_index('ix_notifications_listing', ['organization_id', 'created_at', 'id'], unique=False)
        batch_op.create_index(batch_op.f('ix_notifications_organization_id'), ['organization_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_notifications_recipient'), ['recipient'], unique=False)

    op.create_table('product_reviews',
    sa.Column('id', sa.String(length=26), nullable=False),
    sa.Column('product_id', sa.String(length=26), nullable=False),
    sa.Column('customer_id', sa.String(length=26), nullable=False),
    sa.Column('author_name', sa.String(length=100), nullable=False),
    sa.Column('rating', sa.Integer(), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=True),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('verified_purchase', sa.Boolean(), nullable=False),
    sa.Column('moderation_note', sa.Text(), nullable=True),
    sa.Column('moderated_at', mercato.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('moderated_by', sa.String(length=26), nullable=True),
    sa.Column('created_at', mercato.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', mercato.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('organization_id', sa.String(length=26), nullable=False),
    sa.CheckConstraint('rating >= 1 AND rating <= 5', name=op.f('ck_product_reviews_rating_one_to_five')),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_product_reviews_organization_id_organizations'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['product_id'], ['products.id'], name=op.f('fk_product_reviews_product_id_products'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_product_reviews')),
    sa.UniqueConstraint('organization_id', 'customer_id', 'product_id', name=op.f('uq_product_reviews_organization_id_customer_id_product_id'))
    )
    with op.batch_alter_table('product_reviews', schema=None) as batch_op:
        batch_op.create_index('ix_product_reviews_listing', ['organization_id', 'created_at', 'id'], unique=False)
        batch_op.create_index(batch_op.f('ix_product_reviews_organization_id'), ['organization_id'], unique=False)
        batch_op.create_index('ix_product_reviews_product', ['product_id', 'status', 'created_at', 'id'], unique=False)

    # the store locator; plain ALTER TABLE ADD/DROP COLUMN on both databases (SQLite >= 3.35),
    # so the locations table is never rebuilt
    op.add_column('locations', sa.Column('latitude', sa.Numeric(precision=9, scale=6), nullable=True))
    op.add_column('locations', sa.Column('longitude', sa.Numeric(precision=9, scale=6), nullable=True))
    op.add_column('locations', sa.Column('public', sa.Boolean(), server_default=sa.false(), nullable=False))
    op.add_column('locations', sa.Column('phone', sa.String(length=50), nullable=True))
    op.add_column('locations', sa.Column('hours', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True))

    for table in TENANT_TABLES:
        enable_tenant_rls(table)


def downgrade() -> None:
    for table in TENANT_TABLES:
        disable_tenant_rls(table)
    for column in reversed(LOCATION_COLUMNS):
        op.drop_column('locations', column)

    with op.batch_alter_table('product_reviews', schema=None) as batch_op:
        batch_op.drop_index('ix_product_reviews_product')
        batch_op.drop_index(batch_op.f('ix_product_reviews_organization_id'))
        batch_op.drop_index('ix_product_reviews_listing')

    op.drop_table('product_reviews')
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_notifications_recipient'))
        batch_op.drop_index(batch_op.f('ix_notifications_organization_id'))
        batch_op.drop_index('ix_notifications_listing')
        batch_op.drop_index('ix_notifications_due')

    op.drop_table('notifications')
