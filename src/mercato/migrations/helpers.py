"""Migration helpers shared by every module's migrations."""

from __future__ import annotations

from alembic import op

POLICY = "tenant_isolation"


def enable_tenant_rls(table: str) -> None:
    """Row-level security on a tenant-owned table (PostgreSQL only; a no-op on SQLite).

    Rows are visible and writable only when ``organization_id`` equals the transaction's
    ``mercato.organization_id`` setting, or that setting is ``*`` (system work). FORCE makes the
    policy bind the table's owner too, which is the role Mercato connects as.
    """
    if op.get_bind().dialect.name != "postgresql":
        return
    condition = (
        "organization_id = current_setting('mercato.organization_id', true) "
        "OR current_setting('mercato.organization_id', true) = '*'"
    )
    op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
    op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
    op.execute(f"CREATE POLICY {POLICY} ON {table} USING ({condition}) WITH CHECK ({condition})")


def disable_tenant_rls(table: str) -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(f"DROP POLICY IF EXISTS {POLICY} ON {table}")
    op.execute(f"ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY")
    op.execute(f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY")
