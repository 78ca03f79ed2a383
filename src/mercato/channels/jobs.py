"""Sync jobs: queued, claimed under a lease, run page by page, resumable, cancellable.

A runner claims a due job (``FOR UPDATE SKIP LOCKED`` on PostgreSQL), then the connector works
through it and calls ``JobContext.progress`` after each page: one transaction that saves the
count, the resume point (``state``) and checks that this runner still holds the lease and that
nobody asked to cancel. A runner that dies leaves the lease to lapse; the next claim resumes
from the last saved state. A runner spends at most ``budget`` seconds on a job before putting it
back in the queue where it stopped, so one long import never starves the other work.

Failures: a retryable platform error (rate limit, network, 5xx, open circuit) puts the job back
with backoff until ``max_attempts``; anything else fails it. Either way the connection's health
records it.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections import defaultdict
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import structlog
from sqlalchemy import func, insert, or_, select, update
from sqlalchemy.orm import Session

from mercato.channels.models import Connection, SyncItemError, SyncJob
from mercato.channels.registry import (
    ConnectionConfig,
    breaker_for,
    default_schedules,
    job_runner,
    runs,
    using_database,
)
from mercato.channels.schemas import SCHEDULABLE
from mercato.channels.service import config_of, record_health
from mercato.channels.toolkit import ChannelError, ErrorKind
from mercato.core import queue as leases
from mercato.core.db import SYSTEM, Database, set_tenant, table_of, utcnow
from mercato.core.errors import Conflict, MercatoError, NotFound
from mercato.core.outbox import backoff_seconds
from mercato.orders import Order
from mercato.orders import service as orders
from mercato.settings import Settings
from mercato.tenancy import suspended_organizations

log = structlog.get_logger("mercato.channels")

jobs_t = table_of(SyncJob)
errors_t = table_of(SyncItemError)
ACTIVE = ("queued", "running")
FINISHED = ("succeeded", "completed_with_errors", "failed", "cancelled")
LEASE = dt.timedelta(seconds=60)
JOBS_AT_ONCE = 4
"""Jobs of different connections a runner runs together (one event loop)."""


class JobInProgress(Conflict):
    code = "job_in_progress"


class Cancelled(Exception):
    """Someone asked to cancel the job; it stops after the page in hand."""


class Paused(Exception):
    """The runner's time slice is over; the job goes back in the queue where it stopped."""


class Superseded(Exception):
    """This runner lost its lease (it stalled); another runner owns the job now."""


# -- requests -----------------------------------------------------------------------------------

def create_job(session: Session, connection: Connection, kind: str, *,
               params: dict[str, Any] | None = None, trigger: str = "manual",
               created_by: str | None = None, exclusive: bool = True) -> SyncJob:
    """Queue a job. With ``exclusive``, a job of the same kind already waiting or running on
    the connection is a 409 (two imports at once would only race each other)."""
    if exclusive:
        running = session.scalar(select(SyncJob.id).where(
            SyncJob.connection_id == connection.id, SyncJob.kind == kind,
            SyncJob.status.in_(ACTIVE)).limit(1))
        if running is not None:
            raise JobInProgress(f"A {kind} job is already queued or running ({running}).",
                                extra={"job_id": running})
    job = SyncJob(connection_id=connection.id, kind=kind, trigger=trigger,
                  params=params or {}, state={}, created_by=created_by)
    session.add(job)
    session.flush()
    return job


def subscribe_if_changed(session: Session, connection: Connection,
                         before: str | None) -> None:
    """A connection given a new ``webhook_url`` subscribes the platform's webhooks to it,
    where its connector does that (Shopify); eBay and the others are told by hand."""
    url = (connection.settings or {}).get("webhook_url")
    if url and url != before and runs(connection.kind, "subscribe_webhooks"):
        create_job(session, connection, "subscribe_webhooks", trigger="connect",
                   exclusive=False)


def get_job(session: Session, job_id: str) -> SyncJob:
    job = session.get(SyncJob, job_id)
    if job is None:
        raise NotFound(f"No sync job {job_id!r}.")
    return job


def job_errors(session: Session, job_id: str, limit: int = 100) -> list[SyncItemError]:
    return list(session.scalars(select(SyncItemError).where(SyncItemError.job_id == job_id)
                                .order_by(SyncItemError.id).limit(limit)))


def history(session: Session, connection_id: str, *, kind: str | None = None,
            status: str | None = None, limit: int = 50) -> list[SyncJob]:
    stmt = select(SyncJob).where(SyncJob.connection_id == connection_id)
    if kind is not None:
        stmt = stmt.where(SyncJob.kind == kind)
    if status is not None:
        stmt = stmt.where(SyncJob.status == status)
    return list(session.scalars(stmt.order_by(SyncJob.created_at.desc(), SyncJob.id.desc())
                                .limit(limit)))


def cancel_job(session: Session, job: SyncJob) -> SyncJob:
    """A waiting job is cancelled now; a running one stops at its next page."""
    if job.status in FINISHED:
        raise Conflict(f"The job is already {job.status}.")
    if job.status == "queued":
        session.execute(update(jobs_t).where(jobs_t.c.id == job.id,
                                             jobs_t.c.status == "queued")
                        .values(status="cancelled", finished_at=utcnow(),
                                cancel_requested=True))
    else:
        job.cancel_requested = True
    session.flush()
    session.refresh(job)
    return job


def retry_job(session: Session, job: SyncJob, created_by: str | None = None) -> SyncJob:
    """A new run of a job that failed, was cancelled or skipped items, from the start."""
    if job.status not in ("failed", "cancelled", "completed_with_errors"):
        raise Conflict(f"Only a failed, cancelled or completed_with_errors job can be "
                       f"retried; this one is {job.status}.")
    connection = session.get(Connection, job.connection_id)
    assert connection is not None  # the job's row cascades with its connection
    again = create_job(session, connection, job.kind, params=dict(job.params), trigger="retry",
                       created_by=created_by)
    again.retry_of = job.id
    session.flush()
    return again


# -- running ------------------------------------------------------------------------------------

@dataclass
class FulfillmentToSend:
    """A Mercato fulfillment of a platform's order, as a push back sends it."""

    id: str
    external_id: str
    """The platform's order id."""
    carrier: str | None
    tracking_number: str | None
    created_at: dt.datetime
    units: dict[str, int]
    """Units shipped by SKU (a platform matches its own lines by SKU)."""


class JobContext:
    """What a connector sees of the job it runs: its parameters, its resume point, a way to
    save progress and to report items it could not sync."""

    def __init__(self, db: Database, job: SyncJob, config: ConnectionConfig, worker_id: str,
                 deadline: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.db = db
        self.job_id = job.id
        self.kind = job.kind
        self.params = dict(job.params)
        self.state: dict[str, Any] = dict(job.state)
        self.done = job.done
        self.total = job.total
        self.attempts = job.attempts
        self.max_attempts = job.max_attempts
        self.config = config
        self.worker_id = worker_id
        self.deadline = deadline
        self.clock = clock
        self._inside = 0
        self._saved = 0
        self._cancel = False

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A transaction in the connection's organization. A stop that progress saved inside
        it (cancel, end of the time slice) is raised once it has committed, so the page in
        hand is never thrown away."""
        saved = self._saved
        with self.db.transaction(tenant=self.config.organization_id) as session:
            self._inside += 1
            try:
                yield session
            finally:
                self._inside -= 1
        if self._saved != saved:  # progress was saved in it: a page ended here
            self._stop_if_asked()

    def connection(self, session: Session) -> Connection:
        """The job's connection in ``session`` (a job outliving its connection fails)."""
        connection = session.get(Connection, self.config.id)
        if connection is None:
            raise ChannelError(ErrorKind.VALIDATION, "The connection was removed.")
        return connection

    def order(self, session: Session) -> Order:
        """The Mercato order a push back names in its ``order_id`` parameter."""
        try:
            return orders.get_order(session, str(self.params.get("order_id") or ""))
        except MercatoError as exc:
            raise ChannelError(ErrorKind.VALIDATION, exc.detail) from None

    def fulfillment(self, session: Session) -> FulfillmentToSend:
        """The fulfillment a ``fulfillment_push`` names (``order_id``, ``fulfillment_id``),
        read into plain values while ``session`` is open: its units by SKU, what to tell."""
        order = self.order(session)
        made = next((f for f in order.fulfillments
                     if f.id == self.params.get("fulfillment_id")), None)
        if made is None or not order.external_id:
            raise ChannelError(ErrorKind.VALIDATION, "No such fulfillment to send.")
        sku_of = {line.id: line.sku for line in order.lines}
        units: dict[str, int] = defaultdict(int)
        for part in made.lines:
            units[sku_of.get(part["line_id"], "")] += int(part["quantity"])
        return FulfillmentToSend(made.id, order.external_id, made.carrier,
                                 made.tracking_number, made.created_at, units)

    def progress(self, *, add: int = 0, total: int | None = None,
                 state: dict[str, Any] | None = None, session: Session | None = None) -> None:
        """Save progress and the resume point, in ``session``'s transaction when given (so a
        page's writes and its progress commit together); then stop if asked to (after that
        transaction commits)."""
        if state is not None:
            self.state = state
        self.done += add
        if total is not None:
            self.total = total
        self._saved += 1
        if session is not None:
            self._cancel = self._save(session) or self._cancel
        else:
            with self.db.transaction(tenant=self.config.organization_id) as own:
                self._cancel = self._save(own) or self._cancel
        if not self._inside:
            self._stop_if_asked()

    def _stop_if_asked(self) -> None:
        if self._cancel:
            raise Cancelled
        if self.clock() >= self.deadline:
            raise Paused

    def _save(self, session: Session) -> bool:
        row = session.execute(
            update(jobs_t).where(jobs_t.c.id == self.job_id,
                                 jobs_t.c.lease_owner == self.worker_id,
                                 jobs_t.c.status == "running")
            .values(done=self.done, total=self.total, state=self.state,
                    lease_until=utcnow() + LEASE)
            .returning(jobs_t.c.cancel_requested)).first()
        if row is None:
            raise Superseded
        return bool(row[0])

    def item_error(self, item: str, kind: str, message: str,
                   session: Session | None = None) -> None:
        """An item that failed; the job goes on. Recorded with the page when ``session``."""
        def write(target: Session) -> None:
            target.execute(insert(errors_t).values(
                organization_id=self.config.organization_id, job_id=self.job_id,
                item=item[:300], kind=kind[:20], message=message[:2000], created_at=utcnow()))
            target.execute(update(jobs_t).where(jobs_t.c.id == self.job_id)
                           .values(failed=jobs_t.c.failed + 1))
        if session is not None:
            write(session)
        else:
            with self.session() as own:
                write(own)

    def apply_order(self, session: Session, external: str, apply: Callable[[], str], *,
                    unmatched: str = "no line with a SKU Mercato knows") -> str:
        """One platform order applied (``apply``) in a savepoint of its own: one Mercato
        refuses, a malformed one, or one with no line Mercato knows is an item error, and the
        page goes on. The outcome, ``failed`` when it was refused."""
        item = f"order {external}"
        try:
            with session.begin_nested():
                outcome = apply()
        except MercatoError as exc:
            self.item_error(item, "validation", exc.detail, session=session)
            return "failed"
        except (ValueError, KeyError, TypeError, ArithmeticError) as exc:
            self.item_error(item, "validation", f"malformed order: {exc}", session=session)
            return "failed"
        if outcome == "skipped":
            self.item_error(item, "validation", unmatched, session=session)
        return outcome


RunFunc = Callable[[JobContext], Any]
"""A connector's coroutine function for one job: ``await run(ctx)``."""


def claim_job(db: Database, worker_id: str, *, organization_id: str | None = None,
              besides: Collection[str] = ()) -> str | None:
    """Take the oldest due job (or one whose runner's lease lapsed) for this runner, of a
    connection not in ``besides``."""
    with db.transaction(tenant=SYSTEM) as session:
        now = utcnow()
        due = [or_((jobs_t.c.status == "queued") & (jobs_t.c.run_after <= now),
                   (jobs_t.c.status == "running") & (jobs_t.c.lease_until < now))]
        if organization_id is not None:
            due.append(jobs_t.c.organization_id == organization_id)
        if besides:
            due.append(jobs_t.c.connection_id.notin_(list(besides)))
        paused = suspended_organizations(session)  # suspended by the operator: they wait
        if paused:
            due.append(jobs_t.c.organization_id.notin_(sorted(paused)))
        claimed = leases.claim(
            session, jobs_t, where=due, order_by=[jobs_t.c.run_after, jobs_t.c.id], limit=1,
            until=now + LEASE, owner=worker_id,
            values={"status": "running", "attempts": jobs_t.c.attempts + 1,
                    "started_at": func.coalesce(jobs_t.c.started_at, now)})
        return str(claimed[0]) if claimed else None


def _finish(db: Database, job_id: str, worker_id: str, **values: Any) -> bool:
    with db.transaction(tenant=SYSTEM) as session:
        return leases.release(session, jobs_t, job_id, owner=worker_id,
                              where=[jobs_t.c.status == "running"], values=values)


def _prepare(db: Database, job_id: str, worker_id: str, deadline: float,
             settings: Settings | None) -> JobContext | str:
    """The context a claimed job runs with, or its status when it cannot run."""
    with db.transaction(tenant=SYSTEM) as session:
        job = session.get(SyncJob, job_id)
        if job is None or job.lease_owner != worker_id:
            return "lost"
        connection = session.get(Connection, job.connection_id)
        assert connection is not None
        set_tenant(session, job.organization_id)
        config = config_of(session, connection, settings)
        enabled = connection.enabled
        session.expunge(job)
    if not enabled:
        _finish(db, job_id, worker_id, status="failed", finished_at=utcnow(),
                error="The connection is disabled.", error_kind="validation")
        return "failed"
    return JobContext(db, job, config, worker_id, deadline)


def _conclude(db: Database, ctx: JobContext, raised: Exception | None) -> str:
    """Record how a job's slice ended (``raised``: what its coroutine raised); its status."""
    job_id, worker_id, config = ctx.job_id, ctx.worker_id, ctx.config
    if isinstance(raised, Paused):
        _finish(db, job_id, worker_id, status="queued", run_after=utcnow(),
                attempts=jobs_t.c.attempts - 1)  # a slice is not a failed attempt
        return "queued"
    if isinstance(raised, Cancelled):
        _finish(db, job_id, worker_id, status="cancelled", finished_at=utcnow())
        return "cancelled"
    if isinstance(raised, Superseded):
        return "lost"
    if isinstance(raised, ChannelError):
        _health(db, config, raised)
        if raised.retryable and ctx.attempts < ctx.max_attempts:
            delay = max(raised.retry_after or 0.0, backoff_seconds(ctx.attempts))
            _finish(db, job_id, worker_id, status="queued", error=raised.message[:2000],
                    error_kind=str(raised.kind),
                    run_after=utcnow() + dt.timedelta(seconds=delay))
            return "queued"
        _finish(db, job_id, worker_id, status="failed", finished_at=utcnow(),
                error=raised.message[:2000], error_kind=str(raised.kind))
        return "failed"
    if raised is not None:  # a bug, or data the connector cannot handle: never retried blind
        log.error("sync_job_crashed", job=job_id, kind=ctx.kind, exc_info=raised)
        _finish(db, job_id, worker_id, status="failed", finished_at=utcnow(),
                error=f"{type(raised).__name__}: {raised}"[:2000], error_kind="internal")
        return "failed"
    _health(db, config, None)
    with db.session(write=False, tenant=SYSTEM) as session:  # items it had to skip, if any
        failed = session.scalar(select(jobs_t.c.failed).where(jobs_t.c.id == job_id)) or 0
    status = "completed_with_errors" if failed else "succeeded"
    _finish(db, job_id, worker_id, status=status, finished_at=utcnow(), error=None,
            error_kind=None)
    return status


def run_jobs(db: Database, job_ids: list[str], worker_id: str, *, budget: float = 5.0,
             settings: Settings | None = None) -> list[str]:
    """Run claimed jobs together (one event loop: a platform's rate limit or slow answer
    never holds up another's job), each until it ends or the time slice does, and recorded
    as soon as it has; their statuses."""
    deadline = time.monotonic() + budget
    prepared = [_prepare(db, job_id, worker_id, deadline, settings) for job_id in job_ids]
    contexts = [ctx for ctx in prepared if isinstance(ctx, JobContext)]

    async def one(ctx: JobContext) -> str:
        try:
            await job_runner(ctx.config.kind, ctx.kind)(ctx)
        except Exception as exc:  # concluded below; anything else ends the process
            return _conclude(db, ctx, exc)
        return _conclude(db, ctx, None)

    async def together() -> list[str]:
        return list(await asyncio.gather(*(one(ctx) for ctx in contexts)))

    with using_database(db):
        ended = iter(asyncio.run(together()) if contexts else [])
    return [next(ended) if isinstance(p, JobContext) else p for p in prepared]


def run_job(db: Database, job_id: str, worker_id: str, *, budget: float = 5.0,
            settings: Settings | None = None) -> str:
    """Run a claimed job until it ends or its time slice does; its status afterwards."""
    return run_jobs(db, [job_id], worker_id, budget=budget, settings=settings)[0]


def _health(db: Database, config: ConnectionConfig, error: ChannelError | None) -> None:
    with db.transaction(tenant=config.organization_id) as session:
        record_health(session, config.id,
                      error=None if error is None else error.message,
                      error_kind=None if error is None else str(error.kind),
                      circuit=breaker_for(config.id).snapshot())


def run_due(db: Database, worker_id: str, *, budget: float = 5.0,
            settings: Settings | None = None, organization_id: str | None = None,
            together: int = JOBS_AT_ONCE) -> int:
    """Claim due jobs, up to ``together`` of different connections at once, and run them
    for up to ``budget`` seconds; how many were run."""
    end = time.monotonic() + budget
    count = 0
    while time.monotonic() < end:
        claimed: list[str] = []
        connections: list[str] = []
        while len(claimed) < together:
            job_id = claim_job(db, worker_id, organization_id=organization_id,
                               besides=connections)
            if job_id is None:
                break
            claimed.append(job_id)
            connections.append(_connection_of(db, job_id))
        if not claimed:
            break
        run_jobs(db, claimed, worker_id, budget=max(0.5, end - time.monotonic()),
                 settings=settings)
        count += len(claimed)
    return count


def _connection_of(db: Database, job_id: str) -> str:
    with db.session(write=False, tenant=SYSTEM) as session:
        return str(session.scalar(select(jobs_t.c.connection_id).where(jobs_t.c.id == job_id)))


def schedule_due(db: Database, *, organization_id: str | None = None) -> int:
    """Queue each connection's scheduled jobs that are due (of one organization when given):
    a kind with ``every`` seconds in the connection's ``schedules``, or else in its
    connector's default ones (``0`` turns one off), runs when its last run started that long
    ago and none is waiting or running. How many were queued."""
    made = 0
    with db.transaction(tenant=SYSTEM) as session:
        stmt = select(Connection).where(Connection.enabled.is_(True))
        if organization_id is not None:
            stmt = stmt.where(Connection.organization_id == organization_id)
        rows = list(session.scalars(stmt))
        now = utcnow()
        for connection in rows:
            schedules = {**default_schedules(connection.kind),
                         **((connection.settings or {}).get("schedules") or {})}
            for kind, every in sorted(schedules.items()):
                if kind not in SCHEDULABLE or not every:
                    continue
                last = session.execute(
                    select(jobs_t.c.status, jobs_t.c.created_at)
                    .where(jobs_t.c.connection_id == connection.id, jobs_t.c.kind == kind)
                    .order_by(jobs_t.c.created_at.desc()).limit(1)).first()
                if last is not None and (last.status in ACTIVE or
                                         last.created_at > now - dt.timedelta(seconds=every)):
                    continue
                set_tenant(session, connection.organization_id)
                create_job(session, connection, kind, trigger="schedule")
                set_tenant(session, SYSTEM)
                made += 1
    return made
