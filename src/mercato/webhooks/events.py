"""Fan-out: every outbox event becomes one delivery per enabled endpoint that wants it.

The handler runs in the outbox's transaction for the event, so the deliveries commit with the
outbox's progress; the unique (endpoint, event) makes a second hand-over (a crash between the
commit and the worker noticing) insert nothing. The body is fixed here, so every attempt sends
the same bytes (signed anew each time).
"""

from __future__ import annotations

import threading
from typing import Any

from sqlalchemy import event as sa_event
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from mercato.core.db import json_dumps, table_of, utcnow
from mercato.core.ids import new_id
from mercato.core.outbox import Event, subscribe
from mercato.webhooks.models import PENDING, WebhookDelivery, WebhookEndpoint
from mercato.webhooks.service import matches

HANDLER = "webhooks.fan_out"
WAKE = threading.Event()
"""Set when deliveries were committed: this process's sender looks at once instead of at its
next poll."""


def body_of(event: Event) -> str:
    """``{"id", "type", "created_at", "data"}``, compact JSON."""
    return json_dumps({"id": event.id, "type": event.type,
                       "created_at": event.created_at.isoformat().replace("+00:00", "Z"),
                       "data": event.data})


def _wake(session: Session) -> None:
    WAKE.set()


def has_endpoints(session: Session, organization_id: str) -> bool:
    """An organization without an enabled endpoint gets no fan-out delivery per event."""
    return session.scalar(select(WebhookEndpoint.id).where(
        WebhookEndpoint.organization_id == organization_id,
        WebhookEndpoint.enabled.is_(True)).limit(1)) is not None


@subscribe("*", name=HANDLER, when=has_endpoints)
def fan_out(session: Session, event: Event) -> None:
    targets = [endpoint_id for endpoint_id, patterns in session.execute(
        select(WebhookEndpoint.id, WebhookEndpoint.events)
        .where(WebhookEndpoint.enabled.is_(True))) if matches(patterns, event.type)]
    if not targets:
        return
    now, body = utcnow(), body_of(event)
    rows: list[dict[str, Any]] = [{
        "id": new_id(), "organization_id": event.organization_id, "endpoint_id": endpoint_id,
        "event_id": event.id, "event_type": event.type, "event_position": event.position,
        "resource_key": f"{event.resource_type}:{event.resource_id}"[:300], "body": body,
        "status": PENDING, "attempts": 0, "next_attempt_at": now, "created_at": now,
    } for endpoint_id in sorted(targets)]
    table = table_of(WebhookDelivery)
    make = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    session.execute(make(table).values(rows).on_conflict_do_nothing(
        index_elements=["endpoint_id", "event_id"]))
    sa_event.listen(session, "after_commit", _wake, once=True)
