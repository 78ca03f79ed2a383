"""Market prices: a marketplace's low, mid, market and direct low of variants, kept as
history (catalog's ``market_prices``; TCGplayer's price pull writes it).

Revision ID: 0027
Revises: 0026
Create Date: 2026-12-14 12:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import mercato.core.db
from mercato.migrations.helpers import disable_tenant_rls, enable_tenant_rls

revision: str = '0027'
down_revision: str | None = '0026'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('market_prices',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('variant_id', sa.String(length=26), nullable=False),
    sa.Column('source', sa.String(length=20), nullable=False),
    sa.Column('remote_id', sa.String(length=64), nullable=True),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('low', sa.Numeric(precision=12, scale=2), nullable=True),
    sa.Column('mid', sa.Numeric(precision=12, scale=2), nullable=True),
    sa.Column('market', sa.Numeric(precision=12, scale=2), nullable=True),
    sa.Column('direct_low', sa.Numeric(precision=12, scale=2), nullable=True),
    sa.Column('pulled_at', mercato.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('organization_id', sa.String(length=26), nullable=False),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_market_prices_organization_id_organizations'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['variant_id'], ['variants.id'], name=op.f('fk_market_prices_variant_id_variants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_market_prices'))
    )
    with op.batch_alter_table('market_prices', schema=None) as batch_op:
        batch_op.create_index('ix_market_prices_latest', ['variant_id', 'source', 'pulled_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_market_prices_organization_id'), ['organization_id'], unique=False)
    enable_tenant_rls('market_prices')


def downgrade() -> None:
    disable_tenant_rls('market_prices')
    with op.batch_alter_table('market_prices', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_market_prices_organization_id'))
        batch_op.drop_index('ix_market_prices_latest')
    op.drop_table('market_prices')
