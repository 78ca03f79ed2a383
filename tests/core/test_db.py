"""The database layer: SQLite pragmas, write serialization, UTC datetimes, ids."""

from __future__ import annotations

import base64
import datetime as dt
import json
import threading
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import (
    Boolean,
    Column,
    Integer,
    MetaData,
    Numeric,
    String,
    Table,
    Text,
    bindparam,
    exists,
    func,
    insert,
    select,
    table,
    text,
)

from mercato.core.db import (
    COPY_ROWS,
    SYSTEM,
    TENANT,
    Database,
    JSONType,
    TenantScopeError,
    UTCDateTime,
    among,
    insert_many,
    json_bytes,
    json_dumps,
    json_loads,
    tenant_execute,
)
from mercato.core.ids import encode, new_id
from mercato.settings import Settings
from tests.conftest import create_org


def test_sqlite_runs_in_wal_with_foreign_keys_a_busy_timeout_and_mapped_reads(
        tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'p.db'}", busy_timeout_ms=1234, sqlite_mmap_mb=64)
    with db.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 1234
        assert conn.exec_driver_sql("PRAGMA mmap_size").scalar() == 64 * 2**20
    db.dispose()


def test_database_from_settings_takes_the_pool_and_sqlite_settings(tmp_path: Path) -> None:
    settings = Settings(database_url=f"sqlite:///{tmp_path / 's.db'}", db_busy_timeout_ms=4321,
                        sqlite_mmap_mb=0, secret_key="k" * 40)
    db = Database.from_settings(settings, pool_size=1)
    with db.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 4321
        assert conn.exec_driver_sql("PRAGMA mmap_size").scalar() == 0
    assert db.engine.pool.size() == 3  # type: ignore[attr-defined]
    db.dispose()


def test_sqlite_writers_read_modify_write_without_losing_updates(tmp_path: Path) -> None:
    """Write sessions begin IMMEDIATE: a read-then-write is never interleaved with another."""
    db = Database(f"sqlite:///{tmp_path / 'w.db'}", pool_size=8)
    with db.engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE counter (id INTEGER PRIMARY KEY, n INTEGER)")
        conn.exec_driver_sql("INSERT INTO counter VALUES (1, 0)")

    def bump() -> None:
        for _ in range(25):
            with db.transaction() as session:
                n = session.execute(text("SELECT n FROM counter WHERE id = 1")).scalar_one()
                time.sleep(0.0005)
                session.execute(text("UPDATE counter SET n = :n WHERE id = 1"), {"n": n + 1})

    threads = [threading.Thread(target=bump) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with db.engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT n FROM counter").scalar() == 200
    db.dispose()


def test_a_failed_write_releases_the_writer_lock(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'f.db'}", busy_timeout_ms=2000)
    for _ in range(3):
        with pytest.raises(Exception, match="no such table"), db.transaction() as session:
            session.execute(text("SELECT * FROM missing"))
    with db.transaction() as session:  # would time out if a lock had leaked
        assert session.execute(text("SELECT 1")).scalar() == 1
    db.dispose()


def test_datetimes_come_back_timezone_aware_in_utc(db: Database) -> None:
    from mercato.core.idempotency_keys import IdempotencyKey

    moment = dt.datetime(2030, 1, 2, 3, 4, 5, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    key = new_id()
    with db.transaction() as session:
        session.add(IdempotencyKey(scope="tz", key=key, fingerprint="f", created_at=moment))
    with db.session() as session:
        row = session.execute(text("SELECT id FROM idempotency_keys WHERE key = :k"),
                              {"k": key}).scalar_one()
        stored = session.get(IdempotencyKey, row)
        assert stored is not None
        assert stored.created_at == moment
        assert stored.created_at.utcoffset() == dt.timedelta(0)


@given(st.integers(min_value=2, max_value=200))
def test_ids_are_unique_and_sort_in_creation_order(count: int) -> None:
    ids = [new_id() for _ in range(count)]
    assert len(set(ids)) == count
    assert ids == sorted(ids)
    assert all(len(i) == 26 for i in ids)


@given(st.integers(min_value=0, max_value=2**128 - 1))
def test_an_id_is_its_128_bits_in_crockford_base32(value: int) -> None:
    """The ULID text of a value: Crockford's alphabet (no I, L, O, U), most significant digit
    first, as RFC 4648 base32 of the bits would spell it in that alphabet."""
    rfc = base64.b32encode((value << 30).to_bytes(20, "big"))[:26].decode()
    expected = rfc.translate(str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567",
                                           "0123456789ABCDEFGHJKMNPQRSTVWXYZ"))
    assert encode(value) == expected
    assert int(encode(value).translate(str.maketrans(
        "ABCDEFGHJKMNPQRSTVWXYZ", "ABCDEFGHIJKLMNOPQRSTUV")), 32) == value


def test_analyze_gives_the_planner_the_row_counts_tables_hold(
    db: Database, settings: Settings
) -> None:
    create_org(db, settings)
    db.analyze(["organizations"])
    with db.session(write=False, tenant=SYSTEM) as session:
        rows = session.scalar(select(func.count()).select_from(table("organizations")))
        if db.dialect == "sqlite":
            stats = session.execute(text(
                "SELECT stat FROM sqlite_stat1 WHERE tbl = 'organizations'")).scalars().all()
            planned = {int(stat.split()[0]) for stat in stats}
        else:
            planned = {int(session.scalar(text(
                "SELECT reltuples FROM pg_class WHERE relname = 'organizations'")) or 0)}
    assert planned == {rows}


def test_sessions_are_set_up_for_many_short_queries_at_once(db: Database) -> None:
    """PostgreSQL reads plan each statement for its values, without parallel workers or JIT;
    SQLite keeps every pooled connection (a new one starts with a cold cache)."""
    with db.engine.connect() as conn:
        if db.dialect == "postgresql":
            settings = {name: conn.exec_driver_sql(f"SHOW {name}").scalar() for name in (
                "max_parallel_workers_per_gather", "jit")}
            assert settings == {"max_parallel_workers_per_gather": "0", "jit": "off"}
            assert conn.exec_driver_sql(
                "SELECT stxkeys::text FROM pg_statistic_ext "
                "WHERE stxname = 'st_product_facets_field_value'").scalar() is not None
        else:
            pool = db.engine.pool
            assert pool.size() >= 3
            assert pool._max_overflow == 0  # type: ignore[attr-defined]
    if db.dialect == "postgresql":
        plan_cache = "SELECT current_setting('plan_cache_mode')"
        with db.session(write=False, tenant=SYSTEM) as session:
            assert session.execute(text(plan_cache)).scalar() == "force_custom_plan"
        with db.transaction(tenant=SYSTEM) as session:
            assert session.execute(text(plan_cache)).scalar() == "auto"


def _scratch_table(db: Database, name: str) -> Table:
    table = Table(name, MetaData(), Column("id", Integer, primary_key=True),
                  Column("label", String(40)), Column("note", Text, nullable=True))
    table.drop(db.engine, checkfirst=True)
    table.create(db.engine)
    return table


def test_plain_inserts_and_long_id_lists_read_back_what_sqlalchemy_would(db: Database) -> None:
    """``insert_many`` hands rows to the driver as they are and ``among`` is ``IN`` (``=
    ANY(array)`` on PostgreSQL): same rows, quotes and NULLs included, and an empty list
    matches nothing."""
    table = _scratch_table(db, "scratch_plain")
    try:
        rows = [{"id": i, "label": f"o'{i}\"", "note": None if i % 3 else f"n{i}"}
                for i in range(1, 2501)]
        with db.transaction() as session:
            insert_many(session, table, rows)
        wanted = list(range(1, 2501, 2))
        with db.session(write=False) as session:
            found = session.execute(select(table).where(among(session, table.c.id, wanted))
                                    .order_by(table.c.id)).all()
            assert [dict(r._mapping) for r in found] == [rows[i - 1] for i in wanted]
            assert session.execute(select(table).where(among(session, table.c.id, []))).all() \
                == []
            assert session.execute(select(func.count()).select_from(table).where(
                among(session, table.c.label, ["o'7\"", "nope"]))).scalar() == 1
        with pytest.raises(KeyError), db.transaction() as session:
            insert_many(session, table, [{"id": 1, "missing": "x"}])
    finally:
        table.drop(db.engine)


def test_typed_rows_inserted_in_bulk_are_stored_as_sqlalchemy_stores_them(db: Database) -> None:
    """``insert_many`` applies each column type's conversions (timestamps, JSON, decimals,
    booleans, JSON null versus SQL NULL): the stored values, as the driver reads them back
    raw, are the same as an ``insert()`` through SQLAlchemy would store, whether the rows go
    as an ``executemany`` or (on PostgreSQL, from ``COPY_ROWS`` on) through ``COPY``, and
    twice in one transaction."""
    metadata = MetaData()
    tables = [Table(f"scratch_typed_{n}", metadata, Column("id", Integer, primary_key=True),
                    Column("at", UTCDateTime), Column("data", JSONType, nullable=True),
                    Column("amount", Numeric(12, 2), nullable=True), Column("flag", Boolean),
                    Column("label", String(40))) for n in (1, 2)]
    with_default = Table("scratch_typed_default", metadata, Column("id", Integer, primary_key=True),
                         Column("label", String(40), default="x"))
    metadata.drop_all(db.engine)
    metadata.create_all(db.engine)
    try:
        at = dt.datetime(2026, 11, 22, 5, 6, 7, 891011, tzinfo=dt.UTC)
        plus_two = dt.timezone(dt.timedelta(hours=2))
        rows = [{"id": i, "at": (at + dt.timedelta(seconds=i % 7 * 3607)).astimezone(
                     plus_two if i % 2 else dt.UTC),  # repeated instants, two zones
                 "data": [None, {"n": i, "s": "é'\""}, 2**70][i % 3] if i % 4 else None,
                 "amount": Decimal(f"{i}.{i % 100:02d}") if i % 5 else None,
                 "flag": bool(i % 2), "label": f"l\t{i}\\N\n"} for i in range(1, 151)]
        empty = [{"id": i, "at": at, "data": None, "amount": None, "flag": False,
                  "label": ""} for i in range(151, 151 + COPY_ROWS)]  # nothing but NULLs
        small = rows[:COPY_ROWS - 1]
        with db.transaction() as session:
            for batch in (rows[COPY_ROWS - 1:], empty, small):
                insert_many(session, tables[0], batch)
                session.execute(insert(tables[1]), batch)
        with db.engine.connect() as conn:
            stored = [conn.exec_driver_sql(f"SELECT * FROM {t.name} ORDER BY id").all()
                      for t in tables]
        assert stored[0] == stored[1]
        assert len(stored[0]) == 150 + COPY_ROWS
        with pytest.raises(ValueError, match="label"), db.transaction() as session:
            insert_many(session, with_default, [{"id": 1}])
    finally:
        metadata.drop_all(db.engine)


@given(st.recursive(st.none() | st.booleans() | st.integers() | st.text()
                    | st.floats(allow_nan=False, allow_infinity=False),
                    lambda inner: st.lists(inner, max_size=4)
                    | st.dictionaries(st.text(max_size=5), inner, max_size=4), max_leaves=12))
def test_json_columns_are_written_as_the_standard_library_reads_them(value: Any) -> None:
    """orjson writes JSON columns; integers beyond 64 bits, which it refuses, still go through
    the standard library. Whatever is written reads back equal."""
    assert json.loads(json_dumps(value)) == value
    assert json.loads(json_dumps({"big": 2**70, "v": value})) == {"big": 2**70, "v": value}


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.integers(min_value=2**62, max_value=2**70)
    | st.integers(min_value=-(2**70), max_value=-(2**62)) | st.text()
    | st.floats(allow_nan=False, allow_infinity=False),
    lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(st.text(max_size=5), inner, max_size=4), max_leaves=12)


@given(JSON_VALUES, st.booleans())
def test_json_is_read_as_the_standard_library_reads_it(value: Any, compact: bool) -> None:
    """orjson reads JSON (columns, stored listings), except where it would answer otherwise
    than ``json.loads``: integers past 64 bits (floats to orjson), NaN, lone surrogates."""
    for document in (json.dumps(value), json_dumps(value), json_bytes(value),
                 json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode(
                     "utf-8", "surrogatepass") if compact else json.dumps([value, 1e400])):
        expected = json.loads(document)
        found = json_loads(document)
        assert found == expected or (found != found and expected != expected)
        assert json.dumps(found) == json.dumps(expected)  # same types: 1 is not 1.0 nor True


def test_json_read_takes_what_orjson_alone_would_get_wrong() -> None:
    for document, expected in [("[18446744073709551616]", [2**64]),
                           ("[-9223372036854775809]", [-(2**63) - 1]),
                           ('{"n": 123456789012345678901234567890}',
                            {"n": 123456789012345678901234567890}),
                           ('["\\ud800"]', ["\ud800"])]:
        assert json_loads(document) == expected
        assert json_loads(document.encode()) == expected
    assert json.dumps(json_loads("[NaN, Infinity]")) == "[NaN, Infinity]"


def test_a_prebuilt_tenant_statement_reads_only_the_sessions_organization(
        db: Database, settings: Settings) -> None:
    from mercato.identity.models import StaffUser

    first, second = create_org(db, settings), create_org(db, settings)
    staff = StaffUser.__table__
    emails = select(staff.c.email).where(staff.c.organization_id == TENANT)
    for org in (first, second):
        with db.session(write=False, tenant=org.id) as session:
            assert tenant_execute(session, emails).scalars().all() == [org.owner_email]
    for tenant in (None, SYSTEM):  # no organization to bind: refused, not every row
        with db.session(write=False, tenant=tenant) as session, pytest.raises(TenantScopeError):
            tenant_execute(session, emails)


def test_a_prebuilt_statement_that_leaves_a_tenant_table_unscoped_is_refused(
        db: Database, settings: Settings) -> None:
    from mercato.catalog.models import Product, ProductFacet

    org = create_org(db, settings)
    scoped = exists().where(ProductFacet.product_id == Product.id,
                            ProductFacet.organization_id == TENANT)
    unscoped = exists().where(ProductFacet.product_id == Product.id)
    with db.session(write=False, tenant=org.id) as session:
        tenant_execute(session, select(Product.id).where(Product.organization_id == TENANT,
                                                         scoped)).all()
        for stmt in (select(Product.id),  # the outer table
                     select(Product.id).where(Product.organization_id == TENANT, unscoped),
                     select(Product.id).where(Product.organization_id == bindparam("other"))):
            with pytest.raises(TenantScopeError, match="without organization_id"):
                tenant_execute(session, stmt, {"other": org.id})


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True, scope="session")
def test_a_request_statement_past_the_statement_timeout_is_a_503_and_other_work_is_unlimited(
    database_url: str, settings: Settings
) -> None:
    """``MERCATO_STATEMENT_TIMEOUT_MS`` cancels a request's statement on PostgreSQL (a slow
    one is injected before the storefront listing's own query, which runs as it always does);
    the answer is ``503 statement_timeout`` with Retry-After, and the connection serves the
    next request. Sessions outside requests (the worker, imports) are not limited."""
    from fastapi.testclient import TestClient
    from sqlalchemy import event

    from mercato.app import create_app

    db = Database(database_url, pool_size=2)
    org = create_org(db, settings)
    slow = threading.Event()

    @event.listens_for(db.engine, "before_cursor_execute")
    def _sleep_first(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if slow.is_set() and "product_listings" in statement:
            cursor.execute("SELECT pg_sleep(2)")

    app = create_app(settings.model_copy(update={"statement_timeout_ms": 50}), db)
    path = f"/store/v1/{org.slug}/products"
    try:
        with TestClient(app, raise_server_exceptions=False) as client:
            assert client.get(path).status_code == 200
            slow.set()
            cancelled = client.get(path)
            slow.clear()
            assert cancelled.status_code == 503, cancelled.text
            assert cancelled.headers["content-type"] == "application/problem+json"
            assert cancelled.json()["code"] == "statement_timeout"
            assert cancelled.json()["status"] == 503
            assert int(cancelled.headers["Retry-After"]) > 0
            assert client.get(path).status_code == 200
        with db.session(tenant=SYSTEM) as session:  # as the worker's: no timeout
            assert session.execute(text("SHOW statement_timeout")).scalar() == "0"
            session.execute(text("SELECT pg_sleep(0.2)"))
    finally:
        db.dispose()
