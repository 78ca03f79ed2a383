"""Cursor (keyset) pagination: ``limit`` + opaque ``cursor`` in, ``{data, next_cursor}`` out.

Plain Python: the web side (``page_params``, ``rendered_page``) is in ``mercato.core.query``.

A cursor encodes the sort values of the last row returned, so pages stay stable while rows are
inserted, and each page costs one indexed range scan however deep it is.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, Field
from sqlalchemy import ColumnElement, Select, and_, literal, or_
from sqlalchemy.orm import InstrumentedAttribute, Session
from sqlalchemy.types import TypeDecorator

from mercato.core.errors import BadRequest
from mercato.core.inputs import storable_text

T = TypeVar("T")
M = TypeVar("M")
S = TypeVar("S", bound=BaseModel)
DEFAULT_LIMIT = 50
MAX_LIMIT = 250


class Page(BaseModel, Generic[T]):
    data: list[T]
    next_cursor: str | None


@dataclass(frozen=True)
class Slice(Generic[M]):
    """One page of domain objects, as services return it; the API turns it into a ``Page``."""

    items: list[M]
    next_cursor: str | None

    def to_page(self, schema: type[S], convert: Callable[[M], Any] | None = None) -> Page[S]:
        """Validate each item into ``schema`` (optionally through ``convert`` first)."""
        fn = convert or (lambda item: item)
        return Page[schema](  # type: ignore[valid-type]
            data=[schema.model_validate(fn(item)) for item in self.items],
            next_cursor=self.next_cursor,
        )


@dataclass(frozen=True)
class PageParams:
    limit: int
    cursor: str | None


class PageQuery(BaseModel):
    """``limit`` and ``cursor`` in a query model (``core.query``), for the busiest lists."""

    limit: int = Field(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT, description="Items per page.")
    cursor: str | None = Field(None, description="`next_cursor` from the previous page.")

    @property
    def page(self) -> PageParams:
        return PageParams(limit=self.limit, cursor=self.cursor)


def _encode_value(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return {"t": value.isoformat()}
    if isinstance(value, Decimal):
        return {"d": str(value)}
    return value


MAX_CURSOR_TEXT = 1000
"""The longest text a cursor value may carry (ids are 26 characters, titles 500)."""
MAX_CURSOR_INT = 2**63 - 1
MAX_CURSOR_DECIMAL = Decimal("1e20")


@dataclass(frozen=True)
class Kind:
    """What one sort key of a cursor must hold: a value of ``type`` (``None`` when
    ``nullable``). ``object`` accepts any scalar."""

    type: type
    nullable: bool = False


def kind_of(column: Any) -> Kind:
    """The kind of a sort column (an ORM attribute or a column) from its SQL type."""
    sql_type = column.type
    if isinstance(sql_type, TypeDecorator):
        sql_type = sql_type.impl
    try:
        python_type: type = sql_type.python_type
    except NotImplementedError:  # SQLAlchemy's answer for a type with no Python type
        python_type = object  # (JSON, custom types): such a key's values are not checked
    expression = getattr(column, "expression", column)
    return Kind(python_type, bool(getattr(expression, "nullable", False)))


def _invalid(message: str = "malformed cursor") -> BadRequest:
    return BadRequest("The cursor is not valid.",
                      errors=[{"field": "cursor", "message": message}])


def _decode_value(value: Any, kind: Kind | None) -> Any:
    """A cursor value back to the sort key's Python value; a 400 for anything a page of this
    listing could not have written (another type, a nested value, text no column stores, a
    number out of every column's range)."""
    if isinstance(value, dict) and set(value) == {"t"} and isinstance(value["t"], str) \
            and len(value["t"]) <= 64:
        decoded: Any = dt.datetime.fromisoformat(value["t"])
        if decoded.tzinfo is None:
            raise ValueError("naive datetime")
    elif isinstance(value, dict) and set(value) == {"d"} and isinstance(value["d"], str) \
            and len(value["d"]) <= 64:
        decoded = Decimal(value["d"])
        if not decoded.is_finite() or abs(decoded) >= MAX_CURSOR_DECIMAL:
            raise ValueError("decimal out of range")
    elif isinstance(value, str):
        if len(value) > MAX_CURSOR_TEXT or not storable_text(value):
            raise ValueError("text no column holds")
        decoded = value
    elif isinstance(value, bool) or value is None:
        decoded = value
    elif isinstance(value, int):
        if abs(value) > MAX_CURSOR_INT:
            raise ValueError("integer out of range")
        decoded = value
    elif isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError("not a finite number")
        decoded = value
    else:  # a list or another object: no sort key holds one
        raise ValueError("not a sort value")
    if kind is None:
        return decoded
    if decoded is None:
        if not kind.nullable:
            raise ValueError("null where the sort key has a value")
        return None
    expected = kind.type
    if expected is object:
        return decoded
    if expected is bool:
        ok = isinstance(decoded, bool)
    elif expected is int:
        ok = isinstance(decoded, int) and not isinstance(decoded, bool)
    elif expected is float:
        ok = isinstance(decoded, int | float) and not isinstance(decoded, bool)
    elif expected is Decimal:
        ok = isinstance(decoded, Decimal | int) and not isinstance(decoded, bool)
    else:
        ok = isinstance(decoded, expected)
    if not ok:
        raise ValueError("another type than the sort key's")
    return decoded


def encode_cursor(values: Sequence[Any]) -> str:
    raw = json.dumps([_encode_value(v) for v in values], separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, width: int,
                  kinds: Sequence[Kind | None] | None = None) -> list[Any]:
    """The sort values of ``cursor``; with ``kinds`` (one per sort key), each must be of its
    key's type. Anything else is a 400 ``bad_request`` on the field ``cursor``, never a
    statement that fails in the database."""
    if kinds is not None and len(kinds) != width:
        raise ValueError("one kind per sort key")
    try:
        if len(cursor) > 4 * MAX_CURSOR_TEXT:
            raise ValueError("cursor too long")
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        values = json.loads(raw)
        if not isinstance(values, list) or len(values) != width:
            raise ValueError
        return [_decode_value(v, kinds[i] if kinds is not None else None)
                for i, v in enumerate(values)]
    except (ValueError, ArithmeticError, binascii.Error, UnicodeDecodeError,
            RecursionError) as exc:
        raise _invalid() from exc


def keyset_after(order: Sequence[tuple[Any, bool]], values: Sequence[Any]) -> ColumnElement[bool]:
    """Rows after ``values`` in ``order`` ((column, descending) pairs): (a, b, c) after
    (x, y, z) in mixed directions, expanded into OR-of-ANDs. ``values`` may be bound
    parameters, for a statement built once."""
    values = [literal(None, col.type) if value is None else value
              for (col, _), value in zip(order, values, strict=True)]
    clauses = []
    for i, (col, desc) in enumerate(order):
        equal = [order[j][0] == values[j] for j in range(i)]
        clauses.append(and_(*equal, col < values[i] if desc else col > values[i]))
    return or_(*clauses)


def ordering(order: Sequence[tuple[Any, bool]]) -> list[ColumnElement[Any]]:
    return [col.desc() if desc else col.asc() for col, desc in order]


def paginate(
    session: Session,
    stmt: Select[M],
    order: Sequence[tuple[InstrumentedAttribute[Any], bool]],
    params: PageParams,
) -> Slice[M]:
    """Run ``stmt`` one page at a time; ``order`` is (column, descending) pairs ending unique."""
    columns = [col for col, _ in order]
    if params.cursor:
        kinds = [kind_of(col) for col in columns]
        stmt = stmt.where(keyset_after(order, decode_cursor(params.cursor, len(order), kinds)))
    stmt = stmt.order_by(*ordering(order))
    limited = stmt.limit(params.limit + 1)
    # ORM entities come back as objects, a select of columns as rows
    single_entity = (len(stmt.column_descriptions) == 1
                     and stmt.column_descriptions[0].get("type") is stmt.column_descriptions[0]
                     .get("entity"))
    rows: list[Any] = list(session.scalars(limited) if single_entity
                           else session.execute(limited))
    more = len(rows) > params.limit
    rows = rows[: params.limit]
    next_cursor = None
    if more and rows:
        last = rows[-1]
        next_cursor = encode_cursor([getattr(last, col.key) for col in columns])
    return Slice(items=rows, next_cursor=next_cursor)
