"""Tenant scoping in one place (the ORM), and row-level security as the second wall."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy import select, text

from mercato.core.db import (
    COPY_ROWS,
    SYSTEM,
    Base,
    Database,
    TenantMixin,
    TenantScopeError,
    insert_many,
    set_tenant,
    table_of,
    utcnow,
)
from mercato.core.ids import new_id
from mercato.core.outbox import OutboxEvent
from mercato.identity.models import StaffUser
from mercato.models import *  # noqa: F403 - every table registered
from mercato.settings import Settings
from tests.conftest import (
    Org,
    create_org,
    drop_pg_database,
    make_settings,
    new_database_url,
)


def test_an_orm_query_that_forgets_the_filter_sees_only_its_tenant(
    db: Database, org: Org, other_org: Org
) -> None:
    with db.session(tenant=org.id) as session:
        rows = session.scalars(select(StaffUser)).all()
    assert {row.organization_id for row in rows} == {org.id}


def test_an_unscoped_session_refuses_tenant_tables(db: Database) -> None:
    with db.session() as session, pytest.raises(TenantScopeError):
        session.scalars(select(StaffUser)).all()


def test_system_scope_sees_every_tenant(db: Database, org: Org, other_org: Org) -> None:
    with db.session(tenant=SYSTEM) as session:
        orgs = set(session.scalars(select(StaffUser.organization_id)))
    assert {org.id, other_org.id} <= orgs


def test_a_new_row_cannot_be_written_into_another_tenant(
    db: Database, org: Org, other_org: Org
) -> None:
    with db.session(tenant=org.id) as session:
        session.add(StaffUser(email="x@y.test", role="cashier", organization_id=other_org.id))
        with pytest.raises(TenantScopeError):
            session.flush()


@pytest.fixture(scope="module")
def pg(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Database, Settings]]:
    """A PostgreSQL database of this module's own: row-level security is PostgreSQL's."""
    url = new_database_url("postgresql", tmp_path_factory.mktemp("rls"))
    database = Database(url)
    yield database, make_settings(url)
    database.dispose()
    drop_pg_database(url)


def test_on_postgresql_raw_sql_that_forgets_the_filter_sees_only_its_tenant(
    pg: tuple[Database, Settings],
) -> None:
    db, settings = pg
    first, second = create_org(db, settings), create_org(db, settings)
    for tenant in (first, second):
        with db.session(tenant=tenant.id) as session:
            seen = session.execute(text("SELECT organization_id FROM staff_users")).scalars()
            assert set(seen) == {tenant.id}
            audit = session.execute(text("SELECT DISTINCT organization_id FROM audit_entries"))
            assert set(audit.scalars()) == {tenant.id}


def test_on_postgresql_an_unscoped_connection_sees_no_tenant_rows(
    pg: tuple[Database, Settings],
) -> None:
    db, settings = pg
    create_org(db, settings)
    with db.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM staff_users")).scalar() == 0


def test_on_postgresql_rls_refuses_writing_into_another_tenant(
    pg: tuple[Database, Settings],
) -> None:
    db, settings = pg
    mine, theirs = create_org(db, settings), create_org(db, settings)
    with db.session(tenant=mine.id) as session, pytest.raises(sa.exc.ProgrammingError):
        session.execute(text(
            "INSERT INTO staff_users (id, email, role, is_active, created_at, updated_at, "
            "version, organization_id) VALUES ('01HZZZZZZZZZZZZZZZZZZZZZZZ', 'x@y.test', "
            "'owner', true, now(), now(), 1, :org)"), {"org": theirs.id})
    with db.session(tenant=mine.id) as session:
        updated = session.execute(text("UPDATE staff_users SET role = 'cashier' "
                                       "WHERE organization_id = :org"), {"org": theirs.id})
        assert updated.rowcount == 0  # type: ignore[attr-defined]
        session.rollback()


def test_on_postgresql_bulk_inserts_through_copy_still_pass_the_policy(
    pg: tuple[Database, Settings],
) -> None:
    """``insert_many`` of many rows goes through ``COPY`` into a temporary table, which has no
    policy; the rows still reach the tenant table through its policy, so another tenant's
    rows are refused, and one's own arrive exactly once."""
    db, settings = pg
    mine, theirs = create_org(db, settings), create_org(db, settings)

    def events(org: str, count: int) -> list[dict[str, object]]:
        return [{"position": 10**9 + i, "id": new_id(), "organization_id": org,
                 "type": "bulk.tested", "resource_type": "test", "resource_id": str(i),
                 "data": {"i": i}, "created_at": utcnow()} for i in range(count)]

    with db.session(tenant=mine.id) as session, pytest.raises(sa.exc.ProgrammingError):
        insert_many(session, table_of(OutboxEvent), events(theirs.id, COPY_ROWS))
    statements: list[str] = []

    def seen(conn: object, cursor: object, statement: str, *args: object) -> None:
        statements.append(statement)

    sa.event.listen(db.engine, "before_cursor_execute", seen)
    try:
        with db.transaction(tenant=mine.id) as session:
            insert_many(session, table_of(OutboxEvent), events(mine.id, COPY_ROWS + 5))
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", seen)
    assert any(s.startswith("WITH moved AS (DELETE FROM pg_temp.bulk_outbox_events")
               for s in statements)  # the COPY route was taken
    with db.session(tenant=SYSTEM) as session:
        stored = session.execute(text(
            "SELECT organization_id, count(*) FROM outbox_events WHERE type = 'bulk.tested' "
            "GROUP BY organization_id")).all()
        assert stored == [(mine.id, COPY_ROWS + 5)]


def test_on_postgresql_every_tenant_table_is_under_forced_rls(
    pg: tuple[Database, Settings],
) -> None:
    db, _ = pg
    tenant_tables = {
        table.name for table in Base.metadata.sorted_tables
        if "organization_id" in table.c and any(
            getattr(mapper.class_, "__table__", None) is table
            and issubclass(mapper.class_, TenantMixin)
            for mapper in Base.registry.mappers)
    }
    assert {"staff_users", "api_keys", "audit_entries", "outbox_events"} <= tenant_tables
    with db.engine.connect() as conn:
        rows = conn.execute(text(
            "SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity, "
            "array_agg(p.polcmd::text || ':' || (concat(pg_get_expr(p.polqual, p.polrelid), "
            "pg_get_expr(p.polwithcheck, p.polrelid)) LIKE '%mercato.organization_id%') "
            "ORDER BY p.polcmd) "
            "FROM pg_class c JOIN pg_policy p ON p.polrelid = c.oid "
            "WHERE c.relname = ANY(:names) GROUP BY 1, 2, 3"), {"names": list(tenant_tables)})
        state = {name: (rls, force, policies) for name, rls, force, policies in rows}
    # one tenant policy for every command ('*'), except the search index, whose reads are
    # open so that PostgreSQL can use its GIN index (migration 0005) while each write
    # (append, update, delete) stays walled off by tenant
    expected = dict.fromkeys(tenant_tables, (True, True, ["*:true"]))
    expected["product_search"] = (True, True, ["a:true", "d:true", "r:false", "w:true"])
    assert state == expected


def test_on_postgresql_the_app_role_is_not_a_superuser(pg: tuple[Database, Settings]) -> None:
    """Superusers bypass RLS; the suite (like production) connects as an ordinary owner."""
    db, _ = pg
    with db.engine.connect() as conn:
        row = conn.execute(text("SELECT rolsuper, rolbypassrls FROM pg_roles "
                                "WHERE rolname = current_user")).one()
    assert tuple(row) == (False, False)


def test_set_tenant_mid_transaction_moves_the_rls_wall(
    pg: tuple[Database, Settings], tmp_path: Path
) -> None:
    db, settings = pg
    first, second = create_org(db, settings), create_org(db, settings)
    with db.session(tenant=first.id) as session:
        assert set(session.execute(text("SELECT organization_id FROM staff_users")).scalars()) \
            == {first.id}
        set_tenant(session, second.id)
        assert set(session.execute(text("SELECT organization_id FROM staff_users")).scalars()) \
            == {second.id}
