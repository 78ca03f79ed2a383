"""Organization settings: time zone, locale and default currency.

Existing organizations get UTC, ``en`` and USD, what Mercato assumed before.

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-05 19:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0022'
down_revision: str | None = '0021'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('organizations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('time_zone', sa.String(length=64), nullable=False,
                                      server_default='UTC'))
        batch_op.add_column(sa.Column('locale', sa.String(length=35), nullable=False,
                                      server_default='en'))
        batch_op.add_column(sa.Column('currency', sa.String(length=3), nullable=False,
                                      server_default='USD'))


def downgrade() -> None:
    with op.batch_alter_table('organizations', schema=None) as batch_op:
        batch_op.drop_column('currency')
        batch_op.drop_column('locale')
        batch_op.drop_column('time_zone')
