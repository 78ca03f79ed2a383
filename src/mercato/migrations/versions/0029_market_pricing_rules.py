"""Pricing rules priced from the market price feed: which figure a ``market`` rule uses.

Revision ID: 0029
Revises: 0028
Create Date: 2026-12-15 10:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0029'
down_revision: str | None = '0028'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('pricing_rules', schema=None) as batch_op:
        batch_op.add_column(sa.Column('market_field', sa.String(length=20), nullable=True))


def downgrade() -> None:
    # an older Mercato knows no `market` adjustment: such rules go with the column
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":  # system work: every organization's rows
        bind.exec_driver_sql("SELECT set_config('mercato.organization_id', '*', true)")
    bind.execute(sa.text("DELETE FROM pricing_rules WHERE adjustment = :market"),
                 {"market": "market"})
    with op.batch_alter_table('pricing_rules', schema=None) as batch_op:
        batch_op.drop_column('market_field')
