"""Migration helpers shared by every module's migrations."""

from __future__ import annotations

from alembic import op

POLICY = "tenant_isolation"
TENANT_CONDITION = (
    "organization_id = current_setting('mercato.organization_id', true) "
    "OR current_setting('mercato.organization_id', true) = '*'"
)
WRITE_POLICIES = {"tenant_insert": "FOR INSERT WITH CHECK ({c})",
                  "tenant_update": "FOR UPDATE USING ({c}) WITH CHECK ({c})",
                  "tenant_delete": "FOR DELETE USING ({c})"}


def _create_tenant_policy(table: str) -> None:
    op.execute(f"CREATE POLICY {POLICY} ON {table} "
               f"USING ({TENANT_CONDITION}) WITH CHECK ({TENANT_CONDITION})")


def enable_tenant_rls(table: str) -> None:
    """Row-level security on a tenant-owned table (PostgreSQL only; a no-op on SQLite).

    Rows are visible and writable only when ``organization_id`` equals the transaction's
    ``mercato.organization_id`` setting, or that setting is ``*`` (system work). FORCE makes the
    policy bind the table's owner too, which is the role Mercato connects as.
    """
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
    op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
    _create_tenant_policy(table)


def disable_tenant_rls(table: str) -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(f"DROP POLICY IF EXISTS {POLICY} ON {table}")
    op.execute(f"ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY")
    op.execute(f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY")


def open_tenant_rls_reads(table: str) -> None:
    """Row-level security that walls off writes only, for an index table whose reads must
    use an operator PostgreSQL does not mark leakproof.

    PostgreSQL evaluates an RLS policy before any non-leakproof condition of the query, so it
    cannot search a GIN index with ``tsvector @@ tsquery`` under a tenant policy: every search
    read the whole table. A table changed to this keeps every write to its own tenant, while
    reads rely on the ORM's tenant criteria and on the RLS of the table its rows are joined to
    (``product_search`` yields product ids only, which are read through ``products``).
    """
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(f"DROP POLICY IF EXISTS {POLICY} ON {table}")
    op.execute(f"CREATE POLICY tenant_read_through_join ON {table} FOR SELECT USING (true)")
    for name, rule in WRITE_POLICIES.items():
        op.execute(f"CREATE POLICY {name} ON {table} {rule.format(c=TENANT_CONDITION)}")


def close_tenant_rls_reads(table: str) -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for name in ("tenant_read_through_join", *WRITE_POLICIES):
        op.execute(f"DROP POLICY IF EXISTS {name} ON {table}")
    _create_tenant_policy(table)
