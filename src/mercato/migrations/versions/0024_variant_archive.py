"""Catalog: a variant may be archived (``variants.archived_at``): no longer sold anywhere, but
kept, since orders, the stock ledger and channel mappings refer to it.

Every product's derived rows are rebuilt below, which this migration takes over from 0020 (see
``mercato.catalog.index``: only the newest migration that adds derived data rebuilds them, as
the rebuild reads and writes the tables as the models have them): listings gain each
variant's ``archived_at``.

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-05 22:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import mercato.core.db

revision: str = '0024'
down_revision: str | None = '0023'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

REBUILD_BATCH = 1000


def upgrade() -> None:
    with op.batch_alter_table("variants") as batch:
        batch.add_column(sa.Column("archived_at", mercato.core.db.UTCDateTime(timezone=True),
                                   nullable=True))
    _rebuild_derived_rows()


def _rebuild_derived_rows() -> None:
    """Every product's derived rows: its listing with ``archived_at`` on each variant (and,
    from 0020, its facet set; from 0013, its listing with ``channels``)."""
    from mercato.catalog.index import reindex_products

    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        bind.exec_driver_sql("SELECT set_config('mercato.organization_id', '*', true)")
    ids = [row[0] for row in bind.execute(sa.text("SELECT id FROM products ORDER BY id"))]
    for start in range(0, len(ids), REBUILD_BATCH):
        reindex_products(bind, ids[start:start + REBUILD_BATCH])


def downgrade() -> None:
    with op.batch_alter_table("variants") as batch:
        batch.drop_column("archived_at")
