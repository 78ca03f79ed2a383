"""Sending deliveries: claim under a lease, POST signed, record the attempt and the outcome.

``Sender.claim`` leases due deliveries (``core.queue``: ``FOR UPDATE SKIP LOCKED`` on
PostgreSQL, the write lock on SQLite), taking only

- the first pending delivery of each (endpoint, resource): one resource's events reach an
  endpoint in the order they were recorded, the next only after the one before it was
  delivered or dead-lettered;
- of endpoints whose circuit breaker is closed (or half open: then one probe, decided by a
  conditional update of the endpoint, so two workers never probe at once);
- at most ``webhook_endpoint_concurrency`` in flight per endpoint, counted across workers
  (an endpoint at its cap is left out of the candidates, so its backlog never hides others;
  on PostgreSQL claims lock the endpoints they pick from, so two workers never both fill one
  endpoint's cap).

Sends run on a thread pool (``webhook_concurrency``), each with the timeout
``webhook_timeout_seconds``: a dead endpoint holds at most its cap of threads, never the
others, and its breaker soon holds its deliveries without using their attempts.

The outcome (the attempt's log row, the delivery's new state, the endpoint's breaker) commits
in one transaction, and only while this worker still holds the lease (``queue.release``): a
worker that stalls or dies leaves the delivery to another once the lease lapses, which sends
the same body with the same ``Mercato-Event-Id``, so an idempotent receiver processes it once.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
import threading
import time
from collections import Counter
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass

import httpx
import structlog
from sqlalchemy import case, exists, func, or_, select, update
from sqlalchemy.orm import Session, aliased

from mercato.core import queue
from mercato.core.db import SYSTEM, Database, utcnow
from mercato.core.egress import EgressRefused, check_url
from mercato.core.errors import ServiceUnavailable
from mercato.core.ids import new_id
from mercato.core.outbox import not_paused
from mercato.core.retry import backoff
from mercato.settings import Settings
from mercato.webhooks.events import WAKE
from mercato.webhooks.models import (
    DEAD,
    DELIVERED,
    PENDING,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
)
from mercato.webhooks.service import signing_secrets
from mercato.webhooks.signing import signature_header

log = structlog.get_logger("mercato.webhooks")

USER_AGENT = "Mercato-Webhooks/1"
RESPONSE_EXCERPT = 2048
"""Characters of an endpoint's answer kept in the attempt's log."""


@dataclass(frozen=True)
class Outcome:
    status_code: int | None
    response: str | None
    error: str | None
    latency_ms: int

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


class Sender:
    """One per worker process (``tasks.py``); tests drive ``drain`` directly."""

    def __init__(self, db: Database, settings: Settings, *, worker_id: str | None = None) -> None:
        self.db = db
        self.settings = settings
        self.worker_id = worker_id or f"{socket.gethostname()}:{os.getpid()}:{new_id()[-6:]}"
        self.lease = dt.timedelta(seconds=settings.webhook_lease_seconds)
        self.pool = ThreadPoolExecutor(settings.webhook_concurrency,
                                       thread_name_prefix="mercato-webhook")
        self.client = httpx.Client(
            timeout=settings.webhook_timeout_seconds, follow_redirects=False,
            limits=httpx.Limits(max_connections=settings.webhook_concurrency * 2,
                                max_keepalive_connections=settings.webhook_concurrency))

    def close(self) -> None:
        self.pool.shutdown(wait=True)
        self.client.close()

    # -- claiming ------------------------------------------------------------------------

    def claim(self, limit: int) -> list[str]:
        """Lease up to ``limit`` due deliveries to this worker; their ids."""
        d, e = WebhookDelivery, WebhookEndpoint
        earlier = aliased(WebhookDelivery)
        threshold = self.settings.webhook_breaker_threshold
        cap = self.settings.webhook_endpoint_concurrency
        if not self._anything_due():
            return []
        with self.db.transaction(tenant=SYSTEM) as session:
            now = utcnow()
            sendable = select(e.id).where(e.enabled.is_(True),
                                          or_(e.open_until.is_(None), e.open_until <= now))
            leased = aliased(WebhookDelivery)
            busy = (select(leased.endpoint_id)
                    .where(leased.status == PENDING, leased.lease_until >= now)
                    .group_by(leased.endpoint_id).having(func.count() >= cap))
            stmt = (select(d.id, d.endpoint_id)
                    .where(*not_paused(session, d.organization_id),  # a suspended org waits
                           d.status == PENDING, d.next_attempt_at <= now,
                           queue.lapsed(d.lease_until, now), d.endpoint_id.in_(sendable),
                           d.endpoint_id.not_in(busy),
                           ~exists().where(earlier.endpoint_id == d.endpoint_id,
                                           earlier.resource_key == d.resource_key,
                                           earlier.status == PENDING,
                                           earlier.event_position < d.event_position))
                    .order_by(d.next_attempt_at, d.event_position).limit(limit * 4 + 16))
            if session.get_bind().dialect.name == "postgresql":
                stmt = stmt.with_for_update(skip_locked=True, of=d)
            candidates = session.execute(stmt).all()
            if not candidates:
                return []
            endpoint_ids = sorted({row.endpoint_id for row in candidates})
            if session.get_bind().dialect.name == "postgresql":
                # claims touching the same endpoints take turns (in id order: no deadlock), so
                # each counts the others' committed leases and the cap holds across workers
                session.execute(select(e.id).where(e.id.in_(endpoint_ids)).order_by(e.id)
                                .with_for_update())
            failures = {row[0]: int(row[1]) for row in session.execute(
                select(e.id, e.consecutive_failures).where(e.id.in_(endpoint_ids)))}
            in_flight = _in_flight(session, endpoint_ids, now)
            picked: list[str] = []
            for delivery_id, endpoint_id in candidates:
                probing = failures.get(endpoint_id, 0) >= threshold
                if in_flight[endpoint_id] >= (1 if probing else cap):
                    continue
                if probing and not _take_probe(session, self.lease, endpoint_id, now):
                    in_flight[endpoint_id] = cap  # another worker probes it
                    continue
                in_flight[endpoint_id] += 1
                picked.append(delivery_id)
                if len(picked) >= limit:
                    break
            if not picked:
                return []
            return list(queue.claim(session, d, where=[d.id.in_(picked)],
                                    order_by=[d.next_attempt_at, d.event_position],
                                    limit=len(picked), until=now + self.lease,
                                    owner=self.worker_id, values={"attempts": d.attempts + 1}))

    def _anything_due(self) -> bool:
        """A read first: an idle worker polls without taking SQLite's write lock."""
        d = WebhookDelivery
        with self.db.session(write=False, tenant=SYSTEM) as session:
            now = utcnow()
            return session.scalar(
                select(d.id).where(d.status == PENDING, d.next_attempt_at <= now,
                                   queue.lapsed(d.lease_until, now)).limit(1)) is not None

    # -- sending -------------------------------------------------------------------------

    def send(self, delivery_id: str) -> bool:
        """POST one claimed delivery and record the outcome; True when it was delivered."""
        now = utcnow()
        with self.db.session(write=False, tenant=SYSTEM) as session:
            delivery = session.get(WebhookDelivery, delivery_id)
            if delivery is None or delivery.status != PENDING \
                    or delivery.lease_owner != self.worker_id:
                return False
            endpoint = session.get(WebhookEndpoint, delivery.endpoint_id)
            if endpoint is None:
                return False
            try:
                keys: list[str] | None = signing_secrets(session, endpoint, now, self.settings)
            except ServiceUnavailable as exc:  # sealed under another MERCATO_SECRET_KEY
                keys, unreadable = None, exc.detail
            url, body = endpoint.url, delivery.body.encode()
            headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT,
                       "Mercato-Event-Id": delivery.event_id,
                       "Mercato-Event-Type": delivery.event_type,
                       "Mercato-Delivery-Id": delivery.id,
                       "Mercato-Attempt": str(delivery.attempts)}
            attempt, organization_id = delivery.attempts, delivery.organization_id
            endpoint_id = endpoint.id
        if keys is None:
            outcome = Outcome(None, None, f"secret unreadable: {unreadable}", 0)
        else:
            headers["Mercato-Signature"] = signature_header(keys, int(time.time()), body)
            outcome = self._post(url, body, headers)
        return self._record(delivery_id, endpoint_id, organization_id, attempt, url, headers,
                            body, outcome)

    def _post(self, url: str, body: bytes, headers: dict[str, str]) -> Outcome:
        started = time.perf_counter()
        try:
            check_url(url, self.settings.webhook_allow_hosts)  # again: DNS may have changed
            with self.client.stream("POST", url, content=body, headers=headers) as response:
                excerpt = bytearray()
                for chunk in response.iter_bytes():
                    excerpt += chunk
                    if len(excerpt) >= RESPONSE_EXCERPT:
                        break
                text = bytes(excerpt[:RESPONSE_EXCERPT]).decode("utf-8", "replace")
                status = response.status_code
        except EgressRefused as exc:
            return Outcome(None, None, f"refused: {exc.detail}", _ms(started))
        except httpx.TimeoutException as exc:
            return Outcome(None, None, f"timeout: {type(exc).__name__}", _ms(started))
        except (httpx.HTTPError, OSError, ValueError) as exc:
            return Outcome(None, None, f"{type(exc).__name__}: {exc}"[:2000], _ms(started))
        error = None if 200 <= status < 300 else f"HTTP {status}"
        return Outcome(status, text, error, _ms(started))

    def _record(self, delivery_id: str, endpoint_id: str, organization_id: str, attempt: int,
                url: str, headers: dict[str, str], body: bytes, outcome: Outcome) -> bool:
        s = self.settings
        now = utcnow()
        d, e = WebhookDelivery, WebhookEndpoint
        if outcome.ok:
            values: dict[str, object] = {"status": DELIVERED, "delivered_at": now,
                                         "last_status_code": outcome.status_code,
                                         "last_error": None}
        else:
            dead = attempt >= s.webhook_max_attempts
            wait_seconds = backoff(attempt, base=s.webhook_retry_base_seconds,
                                   cap=s.webhook_retry_cap_seconds, floor=0.5)
            values = {"status": DEAD if dead else PENDING,
                      "next_attempt_at": now + dt.timedelta(seconds=wait_seconds),
                      "last_status_code": outcome.status_code, "last_error": outcome.error}
        with self.db.transaction(tenant=SYSTEM) as session:
            if not queue.release(session, d, delivery_id, owner=self.worker_id,
                                 where=[d.status == PENDING], values=values):
                log.warning("webhook_lease_lost", delivery=delivery_id)
                return False  # another worker has it now: its outcome counts
            session.add(WebhookAttempt(
                organization_id=organization_id, delivery_id=delivery_id, number=attempt,
                url=url, request_headers=headers, request_body=body.decode(),
                response_status=outcome.status_code, response_body=outcome.response,
                latency_ms=outcome.latency_ms, error=outcome.error, started_at=now))
            if outcome.ok:
                breaker: dict[str, object] = {"consecutive_failures": 0, "open_until": None}
            else:
                cooldown = now + dt.timedelta(seconds=s.webhook_breaker_cooldown_seconds)
                breaker = {"consecutive_failures": e.consecutive_failures + 1,
                           "open_until": case(
                               (e.consecutive_failures + 1 >= s.webhook_breaker_threshold,
                                cooldown), else_=e.open_until)}
            session.execute(update(e).where(e.id == endpoint_id)
                            .values(**breaker, updated_at=e.updated_at),
                            execution_options={"synchronize_session": False})
        if not outcome.ok:
            log.info("webhook_failed", delivery=delivery_id, attempt=attempt,
                     error=outcome.error, dead=values["status"] == DEAD)
        return outcome.ok

    def _send_safely(self, delivery_id: str) -> bool:
        try:
            return self.send(delivery_id)
        except Exception:
            log.exception("webhook_send_failed", delivery=delivery_id)
            return False

    # -- loops ---------------------------------------------------------------------------

    def run_once(self) -> int:
        """Claim what the pool can run now, send it all, wait; how many were delivered."""
        ids = self.claim(self.settings.webhook_concurrency)
        futures = [self.pool.submit(self._send_safely, i) for i in ids]
        return sum(1 for f in futures if f.result())

    def drain(self, *, max_rounds: int = 1000) -> int:
        """Send until nothing is due (tests, the benchmark); how many were delivered."""
        total = 0
        for _ in range(max_rounds):
            ids = self.claim(self.settings.webhook_concurrency)
            if not ids:
                break
            total += sum(1 for f in [self.pool.submit(self._send_safely, i) for i in ids]
                         if f.result())
        return total

    def run(self, stop: threading.Event) -> None:
        """Keep the pool busy until ``stop``: claim only as many as there are free threads
        (a claimed delivery never waits in this process while its lease runs), and look
        again as soon as a send ends or new deliveries were committed here."""
        poll = self.settings.worker_poll_interval_seconds
        running: set[Future[bool]] = set()
        while not stop.is_set():
            running = {f for f in running if not f.done()}
            free = self.settings.webhook_concurrency - len(running)
            claimed: list[str] = []
            if free > 0:
                try:
                    claimed = self.claim(free)
                except Exception:
                    log.exception("webhook_claim_failed")
                for delivery_id in claimed:
                    future = self.pool.submit(self._send_safely, delivery_id)
                    future.add_done_callback(lambda _: WAKE.set())
                    running.add(future)
            if free > 0 and len(claimed) == free:
                continue  # there may be more due
            WAKE.wait(poll)
            WAKE.clear()
        wait(running, timeout=self.settings.webhook_timeout_seconds + 5)


def _ms(started: float) -> int:
    return int((time.perf_counter() - started) * 1000)


def _in_flight(session: Session, endpoint_ids: list[str], now: dt.datetime) -> Counter[str]:
    """Deliveries of these endpoints leased right now, by any worker."""
    d = WebhookDelivery
    rows = session.execute(
        select(d.endpoint_id, func.count()).where(
            d.endpoint_id.in_(endpoint_ids), d.status == PENDING, d.lease_until >= now)
        .group_by(d.endpoint_id))
    return Counter({str(row[0]): int(row[1]) for row in rows})


def _take_probe(session: Session, lease: dt.timedelta, endpoint_id: str,
                now: dt.datetime) -> bool:
    """Half open: hold the endpoint for this one probe (its outcome reopens or closes it); a
    conditional update, so of two workers only one gets it."""
    e = WebhookEndpoint
    result = session.execute(
        update(e).where(e.id == endpoint_id, or_(e.open_until.is_(None), e.open_until <= now))
        .values(open_until=now + lease, updated_at=e.updated_at),
        execution_options={"synchronize_session": False})
    return getattr(result, "rowcount", 0) == 1
