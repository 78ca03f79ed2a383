"""Engine, sessions, the declarative base, and tenant scoping (the one place it happens).

Scoping: a session carries a tenant in ``session.info["tenant"]``: an organization id, ``SYSTEM``
for cross-tenant work (login lookups, the event dispatcher), or nothing. ORM statements touching
tenant-owned models get ``organization_id = :tenant`` added here; with no tenant set they raise.
Statements built once for hot reads name that condition themselves (``TENANT``) and run through
``tenant_execute``, which binds it and refuses one that leaves a tenant table out.
On PostgreSQL every transaction also sets ``mercato.organization_id`` so row-level security policies
(see ``migrations/helpers.py``) hide other tenants' rows even from hand-written SQL.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import threading
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeVar, cast

import orjson
from sqlalchemy import (
    ARRAY,
    JSON,
    BigInteger,
    ColumnElement,
    DateTime,
    Engine,
    Executable,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Table,
    TypeDecorator,
    any_,
    bindparam,
    create_engine,
    event,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Connection, CursorResult, Dialect, make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import (
    DeclarativeBase,
    Mapped,
    ORMExecuteState,
    Session,
    SessionTransaction,
    declared_attr,
    mapped_column,
    sessionmaker,
    with_loader_criteria,
)
from sqlalchemy.orm.util import LoaderCriteriaOption
from sqlalchemy.sql import operators, visitors
from sqlalchemy.sql.elements import BinaryExpression, BindParameter, ClauseElement, ColumnClause
from sqlalchemy.sql.selectable import TableClause

if TYPE_CHECKING:
    from mercato.settings import Settings

SYSTEM = "*"
"""Tenant value for work that legitimately spans organizations."""

RLS_SETTING = "mercato.organization_id"


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Timezone-aware UTC datetimes on both databases (SQLite would hand back naive ones)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(
        self, value: dt.datetime | None, dialect: Dialect
    ) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime; use mercato.core.db.utcnow()")
        value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(
        self, value: dt.datetime | None, dialect: Dialect
    ) -> dt.datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


JSONType = JSON().with_variant(JSONB(), "postgresql")
BigIntPK = BigInteger().with_variant(Integer(), "sqlite")

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {
        dt.datetime: UTCDateTime(),
        dict[str, Any]: JSONType,
        list[str]: JSONType,
        list[dict[str, Any]]: JSONType,
        str: String(255),
    }

    __audited__: bool = True
    """Flushes of this model write audit entries (see identity/audit.py)."""
    __audit_exclude__: frozenset[str] = frozenset()
    """Columns never copied into audit entries (secrets)."""


def table_of(model: type[Base]) -> Table:
    """The Core table behind a model, for bulk statements that skip the ORM."""
    table = model.__table__
    assert isinstance(table, Table)
    return table


class TenantMixin:
    """Marks a model as owned by one organization. Scoped here, and by RLS on PostgreSQL."""

    @declared_attr
    def organization_id(cls) -> Mapped[str]:  # noqa: N805
        return mapped_column(
            String(26), ForeignKey("organizations.id", ondelete="CASCADE"), index=True
        )


class TenantScopeError(RuntimeError):
    """A tenant-owned table was queried from a session with no tenant: a bug, never user error."""


def tenant_of(session: Session) -> str | None:
    value = session.info.get("tenant")
    return value if isinstance(value, str) else None


def set_tenant(session: Session, tenant: str | None) -> None:
    """Scope the session to one organization (or SYSTEM); takes effect mid-transaction too."""
    if session.info.get("tenant") == tenant:
        return
    session.info["tenant"] = tenant
    if session.in_transaction():
        conn = session.connection()
        if conn.dialect.name == "postgresql":
            _apply_rls(conn, tenant, session.info.get(STATEMENT_TIMEOUT))


TENANT = bindparam("tenant", type_=String)
"""The session's organization in a prebuilt Core statement run by ``tenant_execute``."""


def tenant_execute(session: Session, stmt: Executable,
                   params: Mapping[str, Any] | None = None) -> CursorResult[Any]:
    """Run a statement built once (at import, or once per shape) for the session's organization.

    The ORM scopes each statement as it runs, and that costs more than a small indexed query:
    it makes a new statement and keys it for the compiled cache every time. Hot reads skip it.
    The statement then names its own scope: ``organization_id == TENANT`` for every
    tenant-owned table it reads, bound here to the session's organization (row-level security
    still applies on PostgreSQL).
    """
    tenant = tenant_of(session)
    if tenant is None or tenant == SYSTEM:
        raise TenantScopeError("a tenant statement needs a session scoped to one organization")
    _check_scoped(stmt)
    return session.connection().execute(stmt, {**(params or {}), "tenant": tenant})


@functools.cache
def _tenant_tables() -> frozenset[str]:
    return frozenset(cast(TableClause, mapper.local_table).name
                     for mapper in Base.registry.mappers if issubclass(mapper.class_, TenantMixin))


@functools.lru_cache(maxsize=1024)
def _check_scoped(stmt: Executable) -> None:
    """Refuses (once per statement) one that reads a tenant-owned table without its
    ``organization_id == TENANT``: scoping stays checked in one place, here."""
    tenant_tables = _tenant_tables()
    read: set[str] = set()
    scoped: set[str] = set()
    for element in visitors.iterate(cast(ClauseElement, stmt)):
        table = element.table if isinstance(element, ColumnClause) else element
        if isinstance(table, TableClause) and table.name in tenant_tables:
            read.add(table.name)  # named in FROM, or a column of it (a subquery's own FROM)
        if (isinstance(element, BinaryExpression) and element.operator is operators.eq
                and isinstance(element.right, BindParameter) and element.right.key == TENANT.key
                and isinstance(element.left, ColumnClause)
                and element.left.name == "organization_id"
                and isinstance(element.left.table, TableClause)):
            scoped.add(element.left.table.name)
    if read - scoped:
        raise TenantScopeError(f"statement reads {sorted(read - scoped)} without "
                               "organization_id == TENANT")


@contextmanager
def system_scope(session: Session) -> Iterator[Session]:
    """Temporarily lift scoping for a cross-tenant lookup, restoring the previous tenant after."""
    previous = tenant_of(session)
    set_tenant(session, SYSTEM)
    try:
        yield session
    finally:
        set_tenant(session, previous)


STATEMENT_TIMEOUT = "statement_timeout_ms"
"""``session.info`` key: the longest a statement of the session's transactions may run on
PostgreSQL, in milliseconds (``Database.session(statement_timeout_ms=...)``)."""


def _apply_rls(conn: Connection, tenant: str | None, timeout_ms: int | None = None) -> None:
    """The transaction's tenant for RLS; a read also plans each statement for its bound values.

    psycopg prepares a statement run often, and PostgreSQL's generic plan for it cannot see
    the values: a 50-item catalog page (LIMIT, organization, filters) went from 6 ms to over
    100 ms as a sort of every match. Writes keep the plan cache: an import runs one INSERT
    thousands of times.

    ``timeout_ms`` (a request's sessions: ``MERCATO_STATEMENT_TIMEOUT_MS``) cancels a statement
    that runs longer, for this transaction only (like ``SET LOCAL``): the pooled connection
    goes back to the worker and imports without it.
    """
    sql = "SELECT set_config('mercato.organization_id', %s, true)"
    params: tuple[str, ...] = (tenant or "",)
    if not conn.get_execution_options().get("mercato_write", False):
        sql += ", set_config('plan_cache_mode', 'force_custom_plan', true)"
    if timeout_ms:
        sql += ", set_config('statement_timeout', %s, true)"
        params += (str(int(timeout_ms)),)
    conn.exec_driver_sql(sql, params)


@event.listens_for(Session, "after_begin")
def _after_begin(session: Session, transaction: SessionTransaction, conn: Connection) -> None:
    if conn.dialect.name == "postgresql":
        _apply_rls(conn, tenant_of(session), session.info.get(STATEMENT_TIMEOUT))


@event.listens_for(Session, "do_orm_execute")
def _scope_statement(state: ORMExecuteState) -> None:
    if not (state.is_select or state.is_update or state.is_delete):
        return
    if state.is_column_load or state.is_relationship_load:
        return  # the parent statement was scoped already
    tenant = tenant_of(state.session)
    if tenant == SYSTEM:
        return
    if tenant is None:
        if any(issubclass(m.class_, TenantMixin) for m in state.all_mappers):
            raise TenantScopeError("query on a tenant-owned table from an unscoped session")
        return
    state.statement = state.statement.options(_tenant_criteria(tenant))


@functools.lru_cache(maxsize=4096)
def _tenant_criteria(tenant: str) -> LoaderCriteriaOption:
    """One option per tenant, built once: building it took a third of a small query's time."""
    return with_loader_criteria(
        TenantMixin,
        lambda cls: cls.organization_id == tenant,
        include_aliases=True,
    )


@event.listens_for(Session, "before_flush")
def _stamp_new_rows(session: Session, flush_context: Any, instances: Any) -> None:
    tenant = tenant_of(session)
    for obj in session.new:
        if not isinstance(obj, TenantMixin):
            continue
        if obj.organization_id is None:
            if tenant is None or tenant == SYSTEM:
                raise TenantScopeError(f"new {type(obj).__name__} without an organization")
            obj.organization_id = tenant
        elif tenant not in (None, SYSTEM) and obj.organization_id != tenant:
            raise TenantScopeError(f"new {type(obj).__name__} for another organization")


def normalize_url(url: str) -> str:
    """Accept plain ``postgresql://`` URLs and use psycopg 3 for them."""
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def among(conn: Connection | Session, column: ColumnElement[Any],
          values: Collection[Any]) -> ColumnElement[bool]:
    """``column IN values`` for long lists of values: on PostgreSQL ``= ANY(array)``, one
    parameter, because psycopg parses a statement's text anew once it is over 4 KB, and an
    ``IN`` of a thousand ids is a new text for every batch (a sixth of a bulk import's time)."""
    dialect = conn.dialect if isinstance(conn, Connection) else conn.get_bind().dialect
    if dialect.name == "postgresql":
        return column == any_(bindparam(None, list(values), type_=ARRAY(column.type)))
    return column.in_(values)


def insert_many(conn: Connection | Session, table: Table,
                rows: Sequence[dict[str, Any]]) -> None:
    """``INSERT`` of many rows as one driver ``executemany``, each value passed through its
    column type's bind processor (the same conversions SQLAlchemy applies), without
    SQLAlchemy's per-row parameter building, which was a tenth of a bulk import's time.

    No defaults are applied: a row must name every column that has a Python-side default.
    Tenancy still holds: the rows carry their organization, and on PostgreSQL the table's
    policy checks it."""
    if not rows:
        return
    columns = list(rows[0])
    connection = conn if isinstance(conn, Connection) else conn.connection()
    dialect = connection.dialect
    types = [table.c[name].type for name in columns]  # KeyError if not ours
    unset = [c.name for c in table.c if c.name not in rows[0] and c.default is not None]
    if unset:
        raise ValueError(f"insert_many into {table.name} without {', '.join(unset)}: "
                         "their defaults are not applied")
    processors = [_remembering(p) if p is not None and isinstance(t, UTCDateTime) else p
                  for t, p in ((t, t.dialect_impl(dialect).bind_processor(dialect))
                               for t in types)]
    quote = dialect.identifier_preparer.quote
    names = ", ".join(quote(table.c[name].name) for name in columns)
    mark = "?" if dialect.paramstyle == "qmark" else "%s"
    statement = (f"INSERT INTO {quote(table.name)} ({names}) "  # noqa: S608 (names from the table)
                 f"VALUES ({', '.join([mark] * len(columns))})")
    if not any(processors):
        values = [tuple(row[c] for c in columns) for row in rows]
    else:
        pairs = list(zip(columns, processors, strict=True))
        values = [tuple(row[c] if p is None else p(row[c]) for c, p in pairs) for row in rows]
    if dialect.name == "postgresql" and len(values) >= COPY_ROWS:
        _copy_into(connection, table, names, values)
    else:
        connection.exec_driver_sql(statement, values)


COPY_ROWS = 64
"""From this many rows on, ``insert_many`` on PostgreSQL goes through ``COPY``; below it, the
two more round trips cost more than an ``executemany`` of the rows."""


def _copy_into(connection: Connection, table: Table, names: str,
               values: Sequence[tuple[Any, ...]]) -> None:
    """The rows into ``table`` by ``COPY`` into a temporary table of the same columns, then one
    ``INSERT ... SELECT``. psycopg's ``executemany`` spends more client time on a row than
    everything else a bulk import does with it (and the server a third more than the
    ``INSERT ... SELECT``), while ``COPY`` formats rows in C. ``COPY`` into the table itself is
    refused under row-level security; the temporary table has none, and every row still
    passes the table's policy on its way in.

    The temporary table is this connection's own and lives as long as it does; it is emptied
    by the statement that moves its rows, and its space is given back at commit."""
    quote = connection.dialect.identifier_preparer.quote
    scratch = "pg_temp." + quote(f"bulk_{table.name}")
    connection.exec_driver_sql(  # names from the table, as below
        f"CREATE TEMP TABLE IF NOT EXISTS {scratch} ON COMMIT DELETE ROWS "  # noqa: S608
        f"AS SELECT * FROM {quote(table.name)} WITH NO DATA")
    statement = f"COPY {scratch} ({names}) FROM STDIN"
    cursor = connection.connection.cursor()
    try:
        with cursor.copy(statement) as copy:
            for row in values:
                copy.write_row(row)
    except connection.dialect.loaded_dbapi.Error as exc:  # as SQLAlchemy raises the others
        raise DBAPIError.instance(statement, None, exc, connection.dialect.loaded_dbapi.Error,
                                  dialect=connection.dialect) from exc
    finally:
        cursor.close()
    connection.exec_driver_sql(
        f"WITH moved AS (DELETE FROM {scratch} RETURNING {names}) "  # noqa: S608
        f"INSERT INTO {quote(table.name)} ({names}) SELECT {names} FROM moved")


def _remembering(process: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """``process`` run once per distinct value: the rows of a bulk insert share their
    timestamps, and formatting one was a twentieth of an import. Only for timestamps: other
    values may be equal and still be stored differently (``1 == True``)."""
    done: dict[Any, Any] = {}

    def run(value: Any) -> Any:
        if value not in done:
            done[value] = process(value)
        return done[value]

    return run


def json_bytes(value: Any) -> bytes:
    """Compact UTF-8 JSON: orjson, because the standard library's encoder was a tenth of a bulk
    import's time and of a storefront page's. Integers past 64 bits, which orjson refuses, go
    through the standard library."""
    try:
        return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS)
    except TypeError:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def json_dumps(value: Any) -> str:
    """How JSON columns are written (``json_bytes``)."""
    return json_bytes(value).decode()


_DIGIT_RUNS = bytes(0x30 if 0x30 <= b <= 0x39 else 0x20 for b in range(256))
"""Every ASCII digit to ``0``, anything else to a space (a regular expression took 4x orjson)."""
_LONG_NUMBER = b"0" * 19


def json_loads(text: str | bytes) -> Any:
    """``json.loads`` at orjson's speed (a tenth of a storefront page went to parsing).

    orjson reads integers past 64 bits as floats, so text with a run of 19 or more digits is
    left to the standard library, as is anything orjson refuses that ``json.loads`` takes
    (``NaN``, lone surrogates)."""
    raw = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text
    if _LONG_NUMBER in raw.translate(_DIGIT_RUNS):
        return json.loads(text)
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return json.loads(text)


def create_db_engine(url: str, *, pool_size: int = 10, busy_timeout_ms: int = 30000,
                     sqlite_mmap_mb: int = 1024) -> Engine:
    """SQLite with our pragmas (WAL, foreign keys, busy timeout, memory-mapped reads), or a
    pooled PostgreSQL."""
    url = normalize_url(url)
    if make_url(url).get_backend_name() == "sqlite":
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": busy_timeout_ms / 1000},
            # Keep every connection: a new one re-reads the schema and starts with a cold page
            # cache, which QueuePool's overflow connections paid on every request under load.
            # Recycling hourly lets connections see statistics ANALYZE has refreshed since.
            pool_size=pool_size * 3,
            max_overflow=0,
            pool_recycle=3600,
            hide_parameters=True,  # errors (and the logs that print them) carry no values
            json_serializer=json_dumps,
            json_deserializer=json_loads,
        )

        @event.listens_for(engine, "connect")
        def _sqlite_connect(dbapi_conn: Any, record: Any) -> None:
            dbapi_conn.isolation_level = None  # we issue BEGIN ourselves, below
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
            cur.execute("PRAGMA synchronous=NORMAL")
            # Reads map the file instead of copying pages into each connection's own small
            # cache (2 MB): a listing page's rows are a page each, and with 30 connections
            # a bigger cache per connection would hold the same pages 30 times.
            cur.execute(f"PRAGMA mmap_size={int(sqlite_mmap_mb) * 2**20}")
            cur.close()

        # Writers queue on a lock of this process before asking SQLite for its write lock:
        # SQLite's own busy handler sleeps and retries, which is unfair under contention (p99 in
        # seconds); a FIFO-ish lock here hands the database to waiting threads in turn. Other
        # processes still meet the busy handler.
        writer = threading.Lock()
        timeout = busy_timeout_ms / 1000

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn: Connection) -> None:
            # Writers take the write lock up front: a deferred transaction that reads and then
            # writes can fail at once with SQLITE_BUSY instead of waiting its turn.
            if conn.get_execution_options().get("mercato_write", False):
                if not writer.acquire(timeout=timeout):
                    raise TimeoutError("waited too long for the SQLite write lock")
                conn.info["mercato_writer"] = True
                try:
                    conn.exec_driver_sql("BEGIN IMMEDIATE")
                except BaseException:
                    _release(conn)
                    raise
            else:
                conn.exec_driver_sql("BEGIN")

        def _release(conn: Connection) -> None:
            if conn.info.pop("mercato_writer", False):
                writer.release()

        event.listen(engine, "commit", _release)
        event.listen(engine, "rollback", _release)

        @event.listens_for(engine, "checkin")
        def _release_on_checkin(dbapi_conn: Any, record: Any) -> None:
            if record.info.pop("mercato_writer", False):  # a transaction ended unseen
                writer.release()

        return engine
    given = make_url(url).query.get("options", "")  # the URL's own options win (set last)
    options = " ".join([POSTGRES_SESSION, *([given] if isinstance(given, str) else given)])
    return create_engine(url, pool_size=pool_size, max_overflow=pool_size * 2,
                         connect_args={"options": options.strip()}, json_serializer=json_dumps,
                         json_deserializer=json_loads,
                         hide_parameters=True)  # errors (and logs) carry no values


POSTGRES_SESSION = "-c max_parallel_workers_per_gather=0 -c jit=off"
"""Settings for our PostgreSQL sessions: short queries from many connections at once. Parallel
workers and JIT compilation each cost more than these queries do, and 16 catalog pages at once
with two workers each swamped two cores (bench/catalog.py). Read transactions also plan each
statement for its values (``_apply_rls``)."""


class Database:
    """One engine per process, with session factories for reading and for writing."""

    def __init__(self, url: str, *, pool_size: int = 10, busy_timeout_ms: int = 30000,
                 sqlite_mmap_mb: int = 1024) -> None:
        self.url = normalize_url(url)
        self.engine = create_db_engine(
            self.url, pool_size=pool_size, busy_timeout_ms=busy_timeout_ms,
            sqlite_mmap_mb=sqlite_mmap_mb,
        )
        self.dialect = self.engine.dialect.name
        self._read = sessionmaker(bind=self.engine, expire_on_commit=False)
        self._write = sessionmaker(
            bind=self.engine.execution_options(mercato_write=True), expire_on_commit=False
        )

    @classmethod
    def from_settings(cls, settings: Settings, *, pool_size: int | None = None) -> Database:
        """The database the settings describe; commands that need few connections pass a
        smaller ``pool_size`` than the server's."""
        return cls(settings.database_url, pool_size=pool_size or settings.db_pool_size,
                   busy_timeout_ms=settings.db_busy_timeout_ms,
                   sqlite_mmap_mb=settings.sqlite_mmap_mb)

    def session(self, *, write: bool = True, tenant: str | None = None,
                statement_timeout_ms: int = 0) -> Session:
        """A session; ``statement_timeout_ms`` (PostgreSQL; 0: none) cancels any statement of
        it that runs longer (an HTTP request's work: the worker's may take long)."""
        session = (self._write if write else self._read)()
        session.info["tenant"] = tenant
        if statement_timeout_ms:
            session.info[STATEMENT_TIMEOUT] = statement_timeout_ms
        return session

    @contextmanager
    def transaction(self, *, tenant: str | None = None) -> Iterator[Session]:
        """A write session that commits when the block ends and rolls back if it raises."""
        session = self.session(write=True, tenant=tenant)
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def analyze(self, tables: Sequence[str]) -> None:
        """Refresh the planner's statistics for these tables, from a sample of each.

        Plans made for a small table (an SQLite index on the organization alone, a PostgreSQL
        sequential scan) turn into full scans once it holds a card store's catalog.
        """
        with self.engine.execution_options(mercato_write=True).connect() as conn:
            if self.dialect == "sqlite":
                conn.exec_driver_sql("PRAGMA analysis_limit=1000")
                for table in tables:
                    conn.exec_driver_sql(f"ANALYZE {table}")
            else:
                conn.exec_driver_sql(f"ANALYZE {', '.join(tables)}")
            conn.commit()

    def dispose(self) -> None:
        self.engine.dispose()


M = TypeVar("M")


def get_owned(session: Session, model: type[M], ident: str) -> M | None:
    """Fetch a tenant-owned row by id, or None when absent or another organization's.

    ``Session.get`` answers from the identity map without running a scoped query, so the owner
    is checked here too.
    """
    obj = session.get(model, ident)
    if obj is None:
        return None
    tenant = tenant_of(session)
    if tenant != SYSTEM and getattr(obj, "organization_id", None) != tenant:
        return None
    return obj


def require_owned(session: Session, model: type[M], ident: str, what: str) -> M:
    """``get_owned`` or a 404 naming ``what``: absent and another tenant's look the same."""
    obj = get_owned(session, model, ident)
    if obj is None:
        from mercato.core.errors import NotFound

        raise NotFound(f"{what} not found.")
    return obj


def add_unique(session: Session, obj: object, *, field: str, detail: str) -> None:
    """Insert ``obj`` now, in a savepoint; a unique-constraint clash becomes a 409 on ``field``.

    The database decides (no read-then-write race); the savepoint keeps the request's
    transaction usable after the clash.
    """
    from sqlalchemy.exc import IntegrityError

    from mercato.core.errors import Conflict

    try:
        with session.begin_nested():
            session.add(obj)
    except IntegrityError:
        raise Conflict(detail, errors=[{"field": field, "message": "already in use"}]) from None
