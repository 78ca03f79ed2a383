"""Catalog: each product's facets in one row (``product_facet_sets``), which facet counts read.

Existing products gain theirs from the rebuild of every product's derived rows, which this
migration took over from 0013 and 0024 took over in turn (see ``mercato.catalog.index``: only
the newest migration that adds derived data rebuilds them, as the rebuild reads and writes the
tables as the models have them).

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-05 11:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from mercato.migrations.helpers import disable_tenant_rls, enable_tenant_rls

revision: str = '0020'
down_revision: str | None = '0019'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'product_facet_sets',
        sa.Column('product_id', sa.String(length=26), nullable=False),
        sa.Column('facets', sa.JSON().with_variant(
            postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
        sa.Column('organization_id', sa.String(length=26), nullable=False),
        sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'],
                                name=op.f('fk_product_facet_sets_organization_id_organizations'),
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['product_id'], ['products.id'],
                                name=op.f('fk_product_facet_sets_product_id_products'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('product_id', name=op.f('pk_product_facet_sets')),
        sqlite_with_rowid=False,
    )
    op.create_index(op.f('ix_product_facet_sets_organization_id'), 'product_facet_sets',
                    ['organization_id'], unique=False)
    enable_tenant_rls('product_facet_sets')  # existing products' sets: 0024's rebuild


def downgrade() -> None:
    disable_tenant_rls('product_facet_sets')
    op.drop_index(op.f('ix_product_facet_sets_organization_id'),
                  table_name='product_facet_sets')
    op.drop_table('product_facet_sets')
