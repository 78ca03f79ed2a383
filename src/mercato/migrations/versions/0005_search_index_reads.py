"""Catalog: PostgreSQL full-text search uses its GIN index (product_search: RLS on writes only).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-21 12:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

from mercato.migrations.helpers import close_tenant_rls_reads, open_tenant_rls_reads

revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    open_tenant_rls_reads('product_search')


def downgrade() -> None:
    close_tenant_rls_reads('product_search')
