"""Dead-lettered outbox deliveries: list them, and put them back in line (replay).

A delivery is dead once its handler failed ``MERCATO_WORKER_MAX_ATTEMPTS`` times
(``core.outbox``); it then no longer holds back its resource's later events. Replaying it makes
it pending again with its attempts reset, due at once. Because a pending delivery is claimed
only when no earlier one of the same handler and resource is pending, a replayed delivery also
goes first again: the resource's events that arrive after the replay wait for it.

Plain functions on a session: scoped to one organization (the API's session) they see only its
deliveries; on a ``SYSTEM`` session (the operator's CLI) they see every organization's, and
``organization_id`` narrows them to one.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import structlog
from sqlalchemy import Select, select, update
from sqlalchemy.orm import Session

from mercato.core.db import get_owned, utcnow
from mercato.core.errors import Conflict, NotFound
from mercato.core.outbox import DEAD, PENDING, OutboxDelivery, OutboxEvent
from mercato.core.pagination import PageParams, Slice, paginate

log = structlog.get_logger("mercato.worker")


@dataclass(frozen=True)
class DeadLetter:
    """One delivery of one event to one handler, as an operator needs to judge it."""

    id: int
    status: str
    event_id: str
    event_type: str
    organization_id: str
    resource_type: str
    resource_id: str
    handler: str
    attempts: int
    last_error: str | None
    event_created_at: dt.datetime
    dead_at: dt.datetime | None
    """When the last attempt failed (None for deliveries dead-lettered before this was kept,
    and for one replayed since)."""

    @classmethod
    def of(cls, row: OutboxDelivery) -> DeadLetter:
        event = row.event
        return cls(
            id=row.id, status=row.status, event_id=event.id, event_type=event.type,
            organization_id=row.organization_id, resource_type=event.resource_type,
            resource_id=event.resource_id, handler=row.handler, attempts=row.attempts,
            last_error=row.last_error, event_created_at=event.created_at,
            dead_at=row.done_at if row.status == DEAD else None,
        )


def _dead(*, handler: str | None, event_type: str | None,
          organization_id: str | None) -> Select[OutboxDelivery]:
    stmt = select(OutboxDelivery).where(OutboxDelivery.status == DEAD)
    if handler:
        stmt = stmt.where(OutboxDelivery.handler == handler)
    if event_type:
        stmt = stmt.where(OutboxDelivery.event_position.in_(
            select(OutboxEvent.position).where(OutboxEvent.type == event_type)))
    if organization_id:
        stmt = stmt.where(OutboxDelivery.organization_id == organization_id)
    return stmt


def list_dead(session: Session, params: PageParams, *, handler: str | None = None,
              event_type: str | None = None,
              organization_id: str | None = None) -> Slice[DeadLetter]:
    """Dead deliveries, newest first."""
    page = paginate(session, _dead(handler=handler, event_type=event_type,
                                   organization_id=organization_id),
                    [(OutboxDelivery.id, True)], params)
    return Slice([DeadLetter.of(row) for row in page.items], page.next_cursor)


def _replayed() -> dict[str, object]:
    return {"status": PENDING, "attempts": 0, "available_at": utcnow(), "lease_owner": None,
            "lease_until": None, "done_at": None}


def replay(session: Session, delivery_id: int) -> DeadLetter:
    """Put one dead delivery back in line: NotFound when it is not the session's
    organization's, Conflict when it is not dead (pending, delivered, or replayed already)."""
    row = get_owned(session, OutboxDelivery, delivery_id)  # type: ignore[arg-type]
    if row is None:
        raise NotFound("No such dead-lettered delivery.")
    # the status is re-checked by the UPDATE: of two replays at once, one wins, one is a 409
    done = session.execute(
        update(OutboxDelivery)
        .where(OutboxDelivery.id == delivery_id, OutboxDelivery.status == DEAD)
        .values(**_replayed())
        .execution_options(synchronize_session=False))
    if done.rowcount != 1:  # type: ignore[attr-defined]
        session.refresh(row)
        raise Conflict(f"This delivery is {row.status}, not dead: there is nothing to replay.")
    session.refresh(row)
    log.info("dead_letter_replayed", delivery=delivery_id, handler=row.handler,
             organization=row.organization_id)
    return DeadLetter.of(row)


def replay_all(session: Session, *, handler: str | None = None, event_type: str | None = None,
               organization_id: str | None = None) -> list[int]:
    """Put every dead delivery that matches back in line; the ids replayed, oldest first."""
    ids = sorted(session.scalars(
        _dead(handler=handler, event_type=event_type, organization_id=organization_id)
        .with_only_columns(OutboxDelivery.id)))
    replayed: list[int] = []
    for start in range(0, len(ids), 500):  # bounded IN lists
        chunk = ids[start:start + 500]
        replayed += session.scalars(
            update(OutboxDelivery)
            .where(OutboxDelivery.id.in_(chunk), OutboxDelivery.status == DEAD)
            .values(**_replayed())
            .returning(OutboxDelivery.id)
            .execution_options(synchronize_session=False))
    if replayed:
        log.info("dead_letters_replayed", count=len(replayed), handler=handler,
                 event_type=event_type, organization=organization_id)
    return sorted(replayed)
