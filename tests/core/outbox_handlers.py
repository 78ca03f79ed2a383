"""Outbox handlers (and one route) for tests/core/test_outbox.py.

Imported by the test process (so recording an event creates deliveries for these handlers) and
by worker and server subprocesses through ``MERCATO_EXTENSIONS=tests.core.outbox_handlers``.

* ``RECORDER`` handles ``TICK`` events the way a real, database-writing handler would: it writes
  one row per handled event into ``outbox_test_handled`` and one row per invocation into
  ``outbox_test_invocations``, both in the delivery's transaction. It also notes the highest
  ``seq`` of the resource it had already seen committed, so tests can prove per-resource order.
  ``OUTBOX_TEST_HANDLER_DELAY_MS`` makes it slow, so a worker can be killed mid-batch.
* ``ALPHA`` and ``BETA`` handle ``PING`` events in-process only: they note every invocation in
  ``SEEN``, write a row, and fail as planned in ``FAILURES``; ``HOOKS`` lets a test act while a
  handler is running.

The two tables are not part of the migrations: tests create them with ``create_tables``.
"""

from __future__ import annotations

import os
import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel
from sqlalchemy import Connection, text
from sqlalchemy.orm import Session

from mercato.core.auth import get_principal
from mercato.core.errors import Conflict
from mercato.core.outbox import Event, record_event, subscribe
from mercato.core.principal import Principal
from mercato.core.uow import MercatoRoute, get_session

TICK = "outbox_test.tick"
PING = "outbox_test.ping"
RESOURCE_TYPE = "outbox_test_resource"

RECORDER = "outbox_test.recorder"
ALPHA = "outbox_test.alpha"
BETA = "outbox_test.beta"
HANDLER_NAMES = (RECORDER, ALPHA, BETA)

HANDLED = "outbox_test_handled"
INVOCATIONS = "outbox_test_invocations"
DELAY_ENV = "OUTBOX_TEST_HANDLER_DELAY_MS"

ALWAYS = 1_000_000

SEEN: dict[str, list[Event]] = defaultdict(list)
"""Handler name -> every invocation (committed or not), in invocation order."""
FAILURES: dict[tuple[str, str], int] = {}
"""(handler name, event id) -> how many more invocations should raise."""
HOOKS: dict[str, Callable[[Session, Event], None]] = {}
"""Handler name -> called with the handler's session at the start of each invocation."""


def reset() -> None:
    SEEN.clear()
    FAILURES.clear()
    HOOKS.clear()


def create_tables(conn: Connection, *, unique_event: bool = False) -> None:
    """The handlers' own tables; ``unique_event`` adds UNIQUE(event_id) to the handled rows."""
    pk = ("INTEGER PRIMARY KEY AUTOINCREMENT" if conn.dialect.name == "sqlite"
          else "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY")
    unique = " UNIQUE" if unique_event else ""
    conn.execute(text(
        f"CREATE TABLE {HANDLED} (id {pk}, handler VARCHAR(100) NOT NULL, "
        f"event_id VARCHAR(26) NOT NULL{unique}, resource_id VARCHAR(100) NOT NULL, "
        "seq INTEGER NOT NULL, pid INTEGER NOT NULL)"
    ))
    conn.execute(text(
        f"CREATE TABLE {INVOCATIONS} (id {pk}, handler VARCHAR(100) NOT NULL, "
        "event_id VARCHAR(26) NOT NULL, resource_id VARCHAR(100) NOT NULL, "
        "seq INTEGER NOT NULL, previous_seq INTEGER, pid INTEGER NOT NULL)"
    ))


def _write_handled(session: Session, handler: str, event: Event) -> None:
    # Idempotent when the table has UNIQUE(event_id); a plain insert otherwise.
    session.execute(
        text(f"INSERT INTO {HANDLED} (handler, event_id, resource_id, seq, pid) "
             "VALUES (:handler, :event_id, :resource_id, :seq, :pid) ON CONFLICT DO NOTHING"),
        {"handler": handler, "event_id": event.id, "resource_id": event.resource_id,
         "seq": int(event.data["seq"]), "pid": os.getpid()},
    )


@subscribe(TICK, name=RECORDER)
def record_tick(session: Session, event: Event) -> None:
    seq = int(event.data["seq"])
    previous = session.execute(
        text(f"SELECT max(seq) FROM {HANDLED} WHERE handler = :handler "
             "AND resource_id = :resource_id"),
        {"handler": RECORDER, "resource_id": event.resource_id},
    ).scalar()
    session.execute(
        text(f"INSERT INTO {INVOCATIONS} (handler, event_id, resource_id, seq, previous_seq, pid) "
             "VALUES (:handler, :event_id, :resource_id, :seq, :previous_seq, :pid)"),
        {"handler": RECORDER, "event_id": event.id, "resource_id": event.resource_id,
         "seq": seq, "previous_seq": previous, "pid": os.getpid()},
    )
    delay_ms = float(os.environ.get(DELAY_ENV, "0") or 0)
    if delay_ms > 0:
        time.sleep(delay_ms / 1000)
    _write_handled(session, RECORDER, event)


def _observe(name: str, session: Session, event: Event) -> None:
    SEEN[name].append(event)
    hook = HOOKS.get(name)
    if hook is not None:
        hook(session, event)
    _write_handled(session, name, event)
    session.flush()
    key = (name, event.id)
    remaining = FAILURES.get(key, 0)
    if remaining > 0:
        FAILURES[key] = remaining - 1
        raise RuntimeError(f"planned failure of {name} on {event.resource_id}/{event.data['seq']}")


@subscribe(PING, name=ALPHA)
def alpha(session: Session, event: Event) -> None:
    _observe(ALPHA, session, event)


@subscribe(PING, name=BETA)
def beta(session: Session, event: Event) -> None:
    _observe(BETA, session, event)


class TickIn(BaseModel):
    resource_id: str
    seq: int
    fail: bool = False


router = APIRouter(prefix="/api/v1/outbox-test", route_class=MercatoRoute)


@router.post("/ticks", status_code=201)
def post_tick(
    body: TickIn,
    principal: Principal = Depends(get_principal),
    session: Session = Depends(get_session),
) -> dict[str, Any]:
    """Record a TICK in the request's transaction; ``fail`` answers 409, rolling it back."""
    event = record_event(session, TICK, resource_type=RESOURCE_TYPE,
                         resource_id=body.resource_id, data={"seq": body.seq})
    session.flush()
    if body.fail:
        raise Conflict("planned failure after recording the event")
    return {"id": event.id, "organization_id": principal.organization_id}
