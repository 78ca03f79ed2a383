"""Extension module (MERCATO_EXTENSIONS=bench.hot_row): the single hot-row write.

``POST /bench/hot-row`` goes through everything a real write route does (MercatoRoute's unit
of work and Idempotency-Key guard, bearer authentication, a permission check, tenant scoping)
and then runs one conditional UPDATE on one row that every request contends for. It is the
ceiling for write endpoints: no real write can be cheaper, and every real stock movement has
this shape (decrement if enough is left).

``bench_counter`` is not one of Mercato's tables; benchmarks create it with ``create_counter``
before the server starts.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session

from mercato.core.auth import require
from mercato.core.db import normalize_url
from mercato.core.errors import Conflict
from mercato.core.principal import Principal
from mercato.core.uow import MercatoRoute, get_session

START_VALUE = 1_000_000_000
"""Large enough that a benchmark never exhausts it, so every request really updates."""

router = APIRouter(prefix="/bench", route_class=MercatoRoute)

DECREMENT = text(
    "UPDATE bench_counter SET value = value - 1 WHERE id = 1 AND value >= 1 RETURNING value"
)


@router.post("/hot-row")
def hot_row(
    principal: Principal = Depends(require("inventory:write")),
    session: Session = Depends(get_session),
) -> dict[str, int]:
    """Decrement the counter if it is positive; 409 when it is not (never, in practice)."""
    value = session.execute(DECREMENT).scalar_one_or_none()
    if value is None:
        raise Conflict("The bench counter is exhausted.")
    return {"value": int(value)}


def create_counter(database_url: str) -> None:
    """Create and seed ``bench_counter`` (plain SQL, both databases), before the server starts."""
    engine = create_engine(normalize_url(database_url))
    try:
        with engine.begin() as conn:
            conn.execute(text("CREATE TABLE bench_counter (id integer PRIMARY KEY, "
                              "value bigint NOT NULL)"))
            conn.execute(text("INSERT INTO bench_counter (id, value) VALUES (1, :v)"),
                         {"v": START_VALUE})
    finally:
        engine.dispose()


def read_counter(database_url: str) -> int:
    engine = create_engine(normalize_url(database_url))
    try:
        with engine.connect() as conn:
            return int(conn.execute(text("SELECT value FROM bench_counter WHERE id = 1"))
                       .scalar_one())
    finally:
        engine.dispose()
