"""The test-notes plugin's first revision: its notes table, under row-level security.

Revision ID: test_notes_0001
Revises:
Create Date: 2026-12-06 13:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from mercato.migrations.helpers import disable_tenant_rls, enable_tenant_rls

revision: str = 'test_notes_0001'
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = ('test-notes',)
depends_on: str | Sequence[str] | None = '0035'


def upgrade() -> None:
    op.create_table('test_plugin_notes',
    sa.Column('id', sa.String(length=26), nullable=False),
    sa.Column('body', sa.String(length=200), nullable=False),
    sa.Column('organization_id', sa.String(length=26), nullable=False),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'],
                            name=op.f('fk_test_plugin_notes_organization_id_organizations'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_test_plugin_notes'))
    )
    op.create_index(op.f('ix_test_plugin_notes_organization_id'), 'test_plugin_notes',
                    ['organization_id'], unique=False)
    enable_tenant_rls('test_plugin_notes')


def downgrade() -> None:
    disable_tenant_rls('test_plugin_notes')
    op.drop_index(op.f('ix_test_plugin_notes_organization_id'), table_name='test_plugin_notes')
    op.drop_table('test_plugin_notes')
