"""The transactional outbox and the dispatcher that drains it.

``record_event`` writes an event, plus one delivery row per subscribed handler, in the caller's
transaction: nothing is published that was not committed. The dispatcher (``mercato worker``,
or a thread inside ``serve`` for the demo) claims deliveries under a lease, runs each handler in
its own transaction and marks the delivery done in that same transaction, so a handler's
database effects and its progress commit together. A crash loses only uncommitted work, whose
lease then expires and is claimed again (at least once; exactly once for database effects).

Order: a delivery is claimable only when no earlier delivery for the same handler and resource
is still pending, so each handler sees one resource's events in the order they were recorded.
Many workers on PostgreSQL claim disjoint batches with ``FOR UPDATE SKIP LOCKED``; on SQLite the
claim runs under the database's single write lock.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import structlog
from sqlalchemy import (
    BigInteger,
    ColumnElement,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    exists,
    select,
    text,
)
from sqlalchemy import event as sa_event
from sqlalchemy.orm import (
    Mapped,
    Session,
    SessionTransaction,
    aliased,
    mapped_column,
    relationship,
)

from mercato.core import queue
from mercato.core.db import (
    SYSTEM,
    Base,
    BigIntPK,
    Database,
    TenantMixin,
    insert_many,
    set_tenant,
    table_of,
    tenant_of,
    utcnow,
)
from mercato.core.ids import new_id
from mercato.core.ports import Port
from mercato.core.retry import backoff

log = structlog.get_logger("mercato.worker")

PENDING, DONE, DEAD = "pending", "done", "dead"


class OutboxEvent(TenantMixin, Base):
    __tablename__ = "outbox_events"
    __audited__ = False

    position: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(26), unique=True, default=new_id)
    type: Mapped[str] = mapped_column(String(100), index=True)
    resource_type: Mapped[str] = mapped_column(String(100))
    resource_id: Mapped[str] = mapped_column(String(100))
    data: Mapped[dict[str, Any]]
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class OutboxDelivery(TenantMixin, Base):
    __tablename__ = "outbox_deliveries"
    __audited__ = False
    __table_args__ = (
        Index("ix_outbox_deliveries_chain", "handler", "resource_key", "status", "id"),
        Index("ix_outbox_deliveries_due", "status", "available_at"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    event_position: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("outbox_events.position", ondelete="CASCADE"), index=True
    )
    handler: Mapped[str] = mapped_column(String(200))
    resource_key: Mapped[str] = mapped_column(String(300))
    status: Mapped[str] = mapped_column(String(16), default=PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    available_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    lease_owner: Mapped[str | None] = mapped_column(String(100))
    lease_until: Mapped[dt.datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    done_at: Mapped[dt.datetime | None]

    event: Mapped[OutboxEvent] = relationship(lazy="joined")


@dataclass(frozen=True)
class Event:
    """What a handler receives: the committed event, detached from any session."""

    id: str
    type: str
    organization_id: str
    resource_type: str
    resource_id: str
    data: dict[str, Any]
    created_at: dt.datetime
    position: int

    @classmethod
    def of(cls, row: OutboxEvent) -> Event:
        return cls(row.id, row.type, row.organization_id, row.resource_type, row.resource_id,
                   dict(row.data), row.created_at, row.position)


HandlerFunc = Callable[[Session, Event], None]


WhenFunc = Callable[[Session, str], bool]
"""``when(session, organization_id)``: whether the organization has anything for a handler
to do (an enabled webhook endpoint, workflow or plugin)."""


@dataclass(frozen=True)
class Handler:
    name: str
    event_types: frozenset[str]
    func: HandlerFunc
    when: WhenFunc | None = None

    def wants(self, event_type: str) -> bool:
        return "*" in self.event_types or event_type in self.event_types

    def applies(self, session: Session, organization_id: str | None) -> bool:
        """Asked when an event is recorded, once per transaction and organization (the answer
        is kept in the session until it commits or rolls back). Without an organization, or a
        ``when``, always."""
        if self.when is None or not organization_id or organization_id == SYSTEM:
            return True
        answers: dict[tuple[str, str], bool] = session.info.setdefault(_WHEN_CACHE, {})
        key = (self.name, organization_id)
        if key not in answers:
            answers[key] = bool(self.when(session, organization_id))
        return answers[key]


_WHEN_CACHE = "mercato.outbox.when"


@sa_event.listens_for(Session, "after_transaction_end")
def _forget_when_answers(session: Session, transaction: SessionTransaction) -> None:
    """``when`` answers hold for one transaction: the next may see an endpoint enabled since."""
    if transaction.parent is None:
        session.info.pop(_WHEN_CACHE, None)


_handlers: dict[str, Handler] = {}


def subscribe(*event_types: str, name: str | None = None,
              when: WhenFunc | None = None) -> Callable[[HandlerFunc], HandlerFunc]:
    """Register ``func(session, event)`` for these event types (``"*"`` for all).

    The session is scoped to the event's organization; whatever the handler writes commits
    together with the delivery's progress. Handlers must tolerate seeing an event again after a
    crash in the middle of an external call.

    ``when`` keeps a catch-all subscriber from costing every organization a delivery per
    event: an event is given to the handler only if ``when(session, organization_id)`` holds
    in the transaction that records it (asked once per transaction). Something the
    organization enables later sees the events recorded after it.
    """

    def decorator(func: HandlerFunc) -> HandlerFunc:
        handler_name = name or f"{func.__module__}.{func.__qualname__}"
        _handlers[handler_name] = Handler(handler_name, frozenset(event_types), func, when)
        return func

    return decorator


def unsubscribe(name: str) -> None:
    _handlers.pop(name, None)


def handlers() -> list[Handler]:
    return list(_handlers.values())


def record_event(
    session: Session,
    event_type: str,
    *,
    resource_type: str,
    resource_id: str,
    data: dict[str, Any],
    organization_id: str | None = None,
) -> OutboxEvent:
    """Record a domain event in the caller's transaction, with a delivery per subscriber."""
    event = OutboxEvent(type=event_type, resource_type=resource_type, resource_id=resource_id,
                        data=data)
    if organization_id is not None:
        event.organization_id = organization_id
    session.add(event)
    key = f"{resource_type}:{resource_id}"
    tenant = organization_id or tenant_of(session)
    for handler in _handlers.values():
        if handler.wants(event_type) and handler.applies(session, tenant):
            delivery = OutboxDelivery(handler=handler.name, resource_key=key, event=event)
            if organization_id is not None:
                delivery.organization_id = organization_id
            session.add(delivery)
    return event


@dataclass(frozen=True)
class NewEvent:
    type: str
    resource_type: str
    resource_id: str
    data: dict[str, Any]


def record_events(session: Session, organization_id: str, events: list[NewEvent]) -> None:
    """``record_event`` for many events at once (bulk imports): two statements, not 2n."""
    if not events:
        return
    now = utcnow()
    # Positions are taken first, so the rows go as one plain executemany: an INSERT ...
    # RETURNING of thousands of rows is built row by row in Python (SQLite) or is one huge
    # statement that psycopg parses anew each time (a fifth of a bulk import's time).
    if session.get_bind().dialect.name == "postgresql":
        positions = sorted(session.execute(
            text("SELECT nextval(pg_get_serial_sequence('outbox_events', 'position')) "
                 "FROM generate_series(1, :n)"), {"n": len(events)}).scalars())
    else:
        # what SQLite would choose itself (the rowid after the largest, of every tenant: not
        # an ORM query, which would be scoped to one); the transaction holds the write lock,
        # or, if it read first, cannot commit after another writer
        last = session.connection().exec_driver_sql(
            "SELECT max(position) FROM outbox_events").scalar() or 0
        positions = list(range(last + 1, last + 1 + len(events)))
    insert_many(session, table_of(OutboxEvent), [
        {"position": position, "id": new_id(), "organization_id": organization_id,
         "type": e.type, "resource_type": e.resource_type, "resource_id": e.resource_id,
         "data": e.data, "created_at": now}
        for position, e in zip(positions, events, strict=True)])
    deliveries = [
        {"organization_id": organization_id, "event_position": position,
         "handler": h.name, "resource_key": f"{e.resource_type}:{e.resource_id}",
         "status": PENDING, "attempts": 0, "available_at": now}
        for position, e in zip(positions, events, strict=True)
        for h in _handlers.values() if h.wants(e.type) and h.applies(session, organization_id)
    ]
    if deliveries:
        insert_many(session, table_of(OutboxDelivery), deliveries)


def backoff_seconds(attempts: int) -> float:
    """The outbox's backoff (``core.retry``): ~2s, 4s, 8s … capped at five minutes, each between
    half and all of that."""
    return backoff(attempts, base=2.0, cap=300.0, floor=0.5)


paused_organizations: Port[[Session], frozenset[str]] = Port(
    "core.outbox.paused_organizations", "mercato.tenancy")
"""Organizations whose deliveries wait (suspended by the platform operator): provided by
tenancy, which the kernel may not import. Their deliveries stay pending, in order, and are
claimed again once the organization is reactivated."""


def not_paused(session: Session, organization_id: Any) -> list[ColumnElement[bool]]:
    """The ``where`` clause that leaves a suspended organization's queued work (its
    ``organization_id`` column) unclaimed: every queue of background work adds it."""
    paused = paused_organizations(session) if paused_organizations.provided else frozenset()
    return [organization_id.not_in(sorted(paused))] if paused else []

PeriodicFunc = Callable[[Database], None]


@dataclass
class PeriodicTask:
    name: str
    every_seconds: float
    func: PeriodicFunc
    last_run: float = field(default=0.0)


_periodic: dict[str, PeriodicTask] = {}


def periodic(every_seconds: float, name: str | None = None) -> Callable[[PeriodicFunc],
                                                                        PeriodicFunc]:
    """Register maintenance work the worker runs every so often (e.g. purging old keys)."""

    def decorator(func: PeriodicFunc) -> PeriodicFunc:
        task_name = name or f"{func.__module__}.{func.__qualname__}"
        _periodic[task_name] = PeriodicTask(task_name, every_seconds, func)
        return func

    return decorator


BackgroundFunc = Callable[[Database, threading.Event], None]
_background: dict[str, BackgroundFunc] = {}


def background(name: str | None = None) -> Callable[[BackgroundFunc], BackgroundFunc]:
    """Register a loop the worker runs on its own thread until told to stop: for work that
    waits on the network (channel pushes and syncs), which must not hold up event delivery."""

    def decorator(func: BackgroundFunc) -> BackgroundFunc:
        _background[name or f"{func.__module__}.{func.__qualname__}"] = func
        return func

    return decorator


class Dispatcher:
    """Claims due deliveries and runs their handlers; one per worker process or thread."""

    def __init__(
        self,
        db: Database,
        *,
        batch_size: int = 100,
        lease_seconds: int = 60,
        max_attempts: int = 10,
        poll_interval: float = 0.2,
        worker_id: str | None = None,
    ) -> None:
        self.db = db
        self.batch_size = batch_size
        self.lease = dt.timedelta(seconds=lease_seconds)
        self.max_attempts = max_attempts
        self.poll_interval = poll_interval
        self.worker_id = worker_id or f"{socket.gethostname()}:{os.getpid()}:{new_id()[-6:]}"

    def claim(self) -> list[int]:
        """Lease up to ``batch_size`` deliveries that are due and first in their chain.

        Only deliveries for handlers this process has: during a rolling deploy a worker that
        lacks a new handler leaves its deliveries for one that has it, instead of failing them.
        """
        names = sorted(_handlers)
        if not names:
            return []
        earlier = aliased(OutboxDelivery)
        with self.db.transaction(tenant=SYSTEM) as session:
            now = utcnow()
            return queue.claim(
                session, OutboxDelivery,
                where=[
                    OutboxDelivery.status == PENDING,
                    *not_paused(session, OutboxDelivery.organization_id),
                    OutboxDelivery.handler.in_(names),
                    OutboxDelivery.available_at <= now,
                    queue.lapsed(OutboxDelivery.lease_until, now),
                    ~exists().where(
                        earlier.handler == OutboxDelivery.handler,
                        earlier.resource_key == OutboxDelivery.resource_key,
                        earlier.status == PENDING,
                        earlier.id < OutboxDelivery.id,
                    ),
                ],
                order_by=[OutboxDelivery.id], limit=self.batch_size,
                until=now + self.lease, owner=self.worker_id,
                values={"attempts": OutboxDelivery.attempts + 1},
            )

    def deliver(self, delivery_id: int) -> bool:
        """Run one claimed delivery; True when it completed."""
        session = self.db.session(write=True, tenant=SYSTEM)
        attempts: int | None = None  # unknown until loaded; see _failed
        try:
            delivery = session.get(OutboxDelivery, delivery_id)
            if delivery is None or delivery.status != PENDING or (
                delivery.lease_owner != self.worker_id
            ):
                return False
            handler = _handlers.get(delivery.handler)
            event = Event.of(delivery.event)
            attempts = delivery.attempts
            if handler is None:
                raise LookupError(f"no handler named {delivery.handler!r} in this process")
            set_tenant(session, event.organization_id)
            handler.func(session, event)
            session.flush()
            set_tenant(session, SYSTEM)
            if not queue.release(session, OutboxDelivery, delivery_id, owner=self.worker_id,
                                 where=[OutboxDelivery.status == PENDING],
                                 values={"status": DONE, "done_at": utcnow()}):
                session.rollback()  # our lease lapsed and another worker owns it now
                return False
            session.commit()
            return True
        except Exception as exc:
            session.rollback()
            self._failed(delivery_id, exc, attempts)
            return False
        finally:
            session.close()

    def _failed(self, delivery_id: int, exc: Exception, attempts: int | None) -> None:
        with self.db.transaction(tenant=SYSTEM) as session:
            if attempts is None:
                # Loading it failed (a lock or connection timeout, say): count the attempts the
                # claims recorded, so a transient error is retried rather than dead at once.
                attempts = session.scalar(
                    select(OutboxDelivery.attempts).where(OutboxDelivery.id == delivery_id)
                ) or 0
            dead = attempts >= self.max_attempts
            log.warning("handler_failed", delivery=delivery_id, attempts=attempts, dead=dead,
                        error=f"{type(exc).__name__}: {exc}")
            queue.release(session, OutboxDelivery, delivery_id, owner=self.worker_id, values={
                "status": DEAD if dead else PENDING,
                "available_at": utcnow() + dt.timedelta(seconds=backoff_seconds(attempts)),
                # a dead letter's done_at is when it was given up on (core.dead_letters)
                "done_at": utcnow() if dead else None,
                "last_error": f"{type(exc).__name__}: {exc}"[:2000],
            })

    def run_once(self) -> int:
        """Claim one batch and deliver it; the number of deliveries completed."""
        return sum(1 for delivery_id in self.claim() if self.deliver(delivery_id))

    def run_periodic(self, now: float) -> None:
        for task in list(_periodic.values()):
            if now - task.last_run >= task.every_seconds:
                task.last_run = now
                try:
                    task.func(self.db)
                except Exception:
                    log.exception("periodic_task_failed", task=task.name)

    def run_forever(self, stop: threading.Event) -> None:
        import time

        log.info("worker_started", worker=self.worker_id, handlers=sorted(_handlers))
        loops = [threading.Thread(target=func, args=(self.db, stop), name=f"mercato-{name}",
                                  daemon=True) for name, func in sorted(_background.items())]
        for thread in loops:
            thread.start()
        while not stop.is_set():
            self.run_periodic(time.monotonic())
            try:
                done = self.run_once()
            except Exception:
                log.exception("claim_failed")
                done = 0
            if done == 0:
                stop.wait(self.poll_interval)
        for thread in loops:
            thread.join(timeout=10)
        log.info("worker_stopped", worker=self.worker_id)

    def drain(self, *, max_rounds: int = 10_000) -> int:
        """Deliver until nothing is due (tests, `mercato worker --once`)."""
        total = 0
        for _ in range(max_rounds):
            ids = self.claim()
            if not ids:
                break
            total += sum(1 for delivery_id in ids if self.deliver(delivery_id))
        return total


def pending_deliveries(session: Session, handler_names: Iterable[str] | None = None) -> int:
    stmt = select(OutboxDelivery.id).where(OutboxDelivery.status == PENDING)
    if handler_names is not None:
        stmt = stmt.where(OutboxDelivery.handler.in_(list(handler_names)))
    return len(list(session.scalars(stmt)))
