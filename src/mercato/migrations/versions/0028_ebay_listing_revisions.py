"""eBay: revisions of each listing per UTC day (a listing takes at most 250 a day).

Revision ID: 0028
Revises: 0027
Create Date: 2026-12-14 10:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from mercato.migrations.helpers import disable_tenant_rls, enable_tenant_rls

revision: str = '0028'
down_revision: str | None = '0027'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('channel_listing_revisions',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('connection_id', sa.String(length=26), nullable=False),
    sa.Column('listing_id', sa.String(length=100), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('count', sa.Integer(), nullable=False),
    sa.Column('organization_id', sa.String(length=26), nullable=False),
    sa.ForeignKeyConstraint(['connection_id'], ['channel_connections.id'], name=op.f('fk_channel_listing_revisions_connection_id_channel_connections'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_channel_listing_revisions_organization_id_organizations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_channel_listing_revisions')),
    sa.UniqueConstraint('connection_id', 'listing_id', 'day', name=op.f('uq_channel_listing_revisions_connection_id_listing_id_day'))
    )
    with op.batch_alter_table('channel_listing_revisions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_channel_listing_revisions_organization_id'), ['organization_id'], unique=False)
    enable_tenant_rls('channel_listing_revisions')


def downgrade() -> None:
    disable_tenant_rls('channel_listing_revisions')
    with op.batch_alter_table('channel_listing_revisions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_channel_listing_revisions_organization_id'))
    op.drop_table('channel_listing_revisions')
