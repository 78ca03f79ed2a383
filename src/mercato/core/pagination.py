"""Cursor (keyset) pagination: ``limit`` + opaque ``cursor`` in, ``{data, next_cursor}`` out.

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

from fastapi import Query, Response
from pydantic import BaseModel, Field
from sqlalchemy import ColumnElement, Select, and_, or_
from sqlalchemy.orm import InstrumentedAttribute, Session

from mercato.core.errors import BadRequest

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


def rendered_page(page: Slice[str]) -> Response:
    """A ``Page`` response from items that are JSON already (a listing's stored renderings),
    put together without parsing them again."""
    items = ",".join(page.items)
    body = f'{{"data":[{items}],"next_cursor":{json.dumps(page.next_cursor)}}}'
    return Response(body.encode(), media_type="application/json")


@dataclass(frozen=True)
class PageParams:
    limit: int
    cursor: str | None


async def page_params(
    limit: int = Query(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT, description="Items per page."),
    cursor: str | None = Query(None, description="`next_cursor` from the previous page."),
) -> PageParams:
    return PageParams(limit=limit, cursor=cursor)


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


def _decode_value(value: Any) -> Any:
    if isinstance(value, dict) and set(value) == {"t"}:
        return dt.datetime.fromisoformat(value["t"])
    if isinstance(value, dict) and set(value) == {"d"}:
        return Decimal(value["d"])
    return value


def encode_cursor(values: Sequence[Any]) -> str:
    raw = json.dumps([_encode_value(v) for v in values], separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, width: int) -> list[Any]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        values = json.loads(raw)
        if not isinstance(values, list) or len(values) != width:
            raise ValueError
        return [_decode_value(v) for v in values]
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise BadRequest("The cursor is not valid.",
                         errors=[{"field": "cursor", "message": "malformed cursor"}]) from exc


def keyset_after(order: Sequence[tuple[Any, bool]], values: Sequence[Any]) -> ColumnElement[bool]:
    """Rows after ``values`` in ``order`` ((column, descending) pairs): (a, b, c) after
    (x, y, z) in mixed directions, expanded into OR-of-ANDs. ``values`` may be bound
    parameters, for a statement built once."""
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
        stmt = stmt.where(keyset_after(order, decode_cursor(params.cursor, len(order))))
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
