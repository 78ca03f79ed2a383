"""Storefront catalog: which channels a product is published on.

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-21 23:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0013'
down_revision: str | None = '0012'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEXES = (
    ("ix_products_org_status_created", ["organization_id", "status", "created_at", "id"]),
    ("ix_products_org_status_title", ["organization_id", "status", "title", "id"]),
    ("ix_products_org_status_price", ["organization_id", "status", "min_price", "id"]),
)


def upgrade() -> None:
    op.add_column('products', sa.Column(
        'channels',
        sa.JSON(none_as_null=True).with_variant(
            postgresql.JSONB(none_as_null=True, astext_type=sa.Text()), 'postgresql'),
        nullable=True))
    for name, columns in INDEXES:
        op.create_index(name, 'products', columns, unique=False)
    # listings of products written before now gain ``channels`` (null: everywhere) from the
    # newest migration that rebuilds derived rows (see mercato.catalog.index): the rebuild
    # reads the tables as the models have them


def downgrade() -> None:
    for name, _ in INDEXES:
        op.drop_index(name, table_name='products')
    op.drop_column('products', 'channels')
