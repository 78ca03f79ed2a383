"""Plugins: each organization's state of each installed plugin (enabled, config, priority).

Revision ID: 0033
Revises: 0032
Create Date: 2026-12-16 10:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import mercato.core.db
from mercato.migrations.helpers import disable_tenant_rls, enable_tenant_rls

revision: str = '0033'
down_revision: str | None = '0032'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('plugin_settings',
    sa.Column('id', sa.String(length=26), nullable=False),
    sa.Column('plugin', sa.String(length=63), nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('config', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('priority', sa.Integer(), nullable=False),
    sa.Column('created_at', mercato.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', mercato.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('organization_id', sa.String(length=26), nullable=False),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_plugin_settings_organization_id_organizations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_plugin_settings')),
    sa.UniqueConstraint('organization_id', 'plugin', name=op.f('uq_plugin_settings_organization_id_plugin'))
    )
    with op.batch_alter_table('plugin_settings', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_plugin_settings_organization_id'), ['organization_id'], unique=False)
    enable_tenant_rls('plugin_settings')


def downgrade() -> None:
    disable_tenant_rls('plugin_settings')
    with op.batch_alter_table('plugin_settings', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_plugin_settings_organization_id'))
    op.drop_table('plugin_settings')
