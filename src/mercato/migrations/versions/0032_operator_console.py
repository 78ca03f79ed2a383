"""The operator's console: platform operators (outside every organization), and an
organization's status (active or suspended), plan and limits.

Revision ID: 0032
Revises: 0031
Create Date: 2026-12-16 10:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import mercato.core.db

revision: str = '0032'
down_revision: str | None = '0031'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('organizations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('status', sa.String(length=16), server_default='active',
                                      nullable=False))
        batch_op.add_column(sa.Column('suspended_at',
                                      mercato.core.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('suspension_reason', sa.String(length=500),
                                      nullable=True))
        batch_op.add_column(sa.Column('plan', sa.String(length=64), server_default='standard',
                                      nullable=False))
        batch_op.add_column(sa.Column(
            'limits', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()),
                                             'postgresql'),
            server_default=sa.text("'{}'"), nullable=False))
    op.create_table('platform_operators',
    sa.Column('id', sa.String(length=26), nullable=False),
    sa.Column('email', sa.String(length=254), nullable=False),
    sa.Column('password_hash', sa.String(length=255), nullable=False),
    sa.Column('is_active', sa.Boolean(), nullable=False),
    sa.Column('epoch', sa.Integer(), nullable=False),
    sa.Column('created_at', mercato.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', mercato.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_platform_operators')),
    sa.UniqueConstraint('email', name=op.f('uq_platform_operators_email'))
    )


def downgrade() -> None:
    op.drop_table('platform_operators')
    with op.batch_alter_table('organizations', schema=None) as batch_op:
        batch_op.drop_column('limits')
        batch_op.drop_column('plan')
        batch_op.drop_column('suspension_reason')
        batch_op.drop_column('suspended_at')
        batch_op.drop_column('status')
