"""Inbound webhooks: one framework for every provider (Stripe, Shopify, Shopee, TikTok Shop, eBay).

A provider plugs in with a ``Provider``: a ``verify`` function that checks the provider's own
signature over the raw body (comparing with ``signatures_match``, constant time) and answers
what the delivery is (``Verified``: the provider's event id, its type, the timestamp the
provider signed if it signs one, the payload), and a ``handle`` function that does the work.
``receive`` is what every webhook route calls, in the request's transaction:

1. ``verify`` (a bad or missing signature raises ``Unauthorized``: 401, nothing recorded);
2. the replay window: a signed timestamp further than ``tolerance`` (5 minutes) from now is
   refused with 401 too (a captured delivery cannot be replayed later);
3. the receipt, under the unique key (organization, provider, event id): a second delivery,
   even one racing the first on another process, finds it and does nothing (``duplicate``);
4. a ``webhook.received`` outbox event in the same transaction, so the route answers 2xx at
   once and the worker runs ``handle`` from it (at least once, in order per ``resource``).

The kernel knows no provider: each domain module registers its own at import (``register``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import structlog
from sqlalchemy import String, UniqueConstraint, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from mercato.core.db import Base, TenantMixin, utcnow
from mercato.core.errors import Unauthorized
from mercato.core.ids import new_id
from mercato.core.outbox import Event, record_event, subscribe

log = structlog.get_logger("mercato.inbound")

EVENT_TYPE = "webhook.received"
DEFAULT_TOLERANCE = dt.timedelta(minutes=5)


class InboundReceipt(TenantMixin, Base):
    """A provider's webhook event already received: the unique key makes a redelivery (or two
    copies arriving at once) a no-op. One table for every provider."""

    __tablename__ = "inbound_webhook_receipts"
    __audited__ = False
    __table_args__ = (UniqueConstraint("organization_id", "provider", "event_id"),)

    id: Mapped[str] = mapped_column(String(26), primary_key=True, default=new_id)
    provider: Mapped[str] = mapped_column(String(20))
    event_id: Mapped[str] = mapped_column(String(255))
    event_type: Mapped[str] = mapped_column(String(100))
    occurred_at: Mapped[dt.datetime | None]
    received_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


# -- signatures -------------------------------------------------------------------------------

def _bytes(value: str | bytes) -> bytes:
    return value if isinstance(value, bytes) else value.encode("utf-8", "surrogateescape")


def signatures_match(given: str | bytes | None, expected: str | bytes) -> bool:
    """Constant-time comparison of a signature as sent with the one computed (bytes, so a
    header holding non-ASCII text is a mismatch, never an error). Every verifier uses it."""
    if not given:
        return False
    return hmac.compare_digest(_bytes(given), _bytes(expected))


def hmac_sha256(key: str | bytes, message: bytes) -> bytes:
    """HMAC-SHA256 of ``message`` keyed with ``key`` (the scheme most providers sign with)."""
    return hmac.new(_bytes(key), message, hashlib.sha256).digest()


def check_window(signed_at: dt.datetime | None, *, now: dt.datetime | None = None,
                 tolerance: dt.timedelta = DEFAULT_TOLERANCE) -> None:
    """Refuse (401) a signed timestamp further than ``tolerance`` from now, either way: a
    delivery captured and replayed later, or a clock far off. None: the provider signs no
    timestamp (dedupe by event id is then what stops a replay)."""
    if signed_at is None:
        return
    now = now or utcnow()
    if abs(now - signed_at) > tolerance:
        raise Unauthorized(
            f"The webhook's signed timestamp {signed_at.isoformat()} is more than "
            f"{int(tolerance.total_seconds())} seconds from now: refused as a replay.",
            headers={})


def from_unix(value: Any) -> dt.datetime | None:
    """A Unix timestamp (seconds, as a number or a string of digits) as an aware datetime;
    None when it is not one."""
    try:
        seconds = int(str(value).strip())
    except (TypeError, ValueError):
        return None
    try:
        return dt.datetime.fromtimestamp(seconds, dt.UTC)
    except (OverflowError, OSError, ValueError):
        return None


def storable(value: Any) -> Any:
    """A parsed JSON payload as the outbox can hold it: PostgreSQL's ``jsonb`` refuses the NUL
    character, which JSON allows (``\\u0000``), so it becomes U+FFFD in keys and strings."""
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd")
    if isinstance(value, dict):
        return {storable(k): storable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [storable(v) for v in value]
    return value


# -- the framework ----------------------------------------------------------------------------

@dataclass(frozen=True)
class Delivery:
    """A webhook as it arrived: the raw body (what signatures cover), the headers, the URL it
    was sent to and the store of the route. ``settings`` is the app's ``Settings`` (typed
    loosely: the kernel's plain modules do not need it)."""

    store: str
    url: str
    headers: Mapping[str, str]
    body: bytes
    settings: Any = None


@dataclass(frozen=True)
class Verified:
    """What a verified delivery is. ``resource`` orders the work: the worker handles one
    resource's events in the order they arrived (a connection's, a PaymentIntent's).
    ``context`` is plain data the handler needs besides the payload (a connection id)."""

    event_id: str
    event_type: str
    occurred_at: dt.datetime | None
    payload: Any
    resource: str = ""
    context: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class InboundEvent:
    """What ``handle`` receives in the worker: the verified delivery."""

    provider: str
    event_id: str
    event_type: str
    occurred_at: dt.datetime | None
    payload: Any
    context: dict[str, Any]
    organization_id: str


Verifier = Callable[[Session, Delivery], Verified]
Handler = Callable[[Session, InboundEvent], Any]


@dataclass(frozen=True)
class Provider:
    """A provider's face to the framework. ``verify`` raises ``Unauthorized`` on a bad
    signature (or ``Unusable`` for a verified delivery that names no event); ``handle`` does
    the work (None: nothing to do). ``signs_timestamp`` says whether ``occurred_at`` is
    covered by the signature, so the replay window applies to it."""

    name: str
    verify: Verifier
    handle: Handler | None = None
    signs_timestamp: bool = True
    tolerance: dt.timedelta = DEFAULT_TOLERANCE


class Unusable(Exception):
    """A delivery whose signature verified but which names no event (malformed): answered 2xx
    (the provider would retry it in vain) and recorded nowhere."""

    def __init__(self, message: str, event_type: str = "") -> None:
        super().__init__(message)
        self.message, self.event_type = message, event_type


@dataclass(frozen=True)
class Receipt:
    """The answer of ``receive``: ``duplicate`` when the event was received before (nothing
    done); ``queued`` when the worker will handle it; ``unusable`` the reason a verified
    delivery was not taken."""

    provider: str
    event_id: str
    event_type: str
    duplicate: bool
    queued: bool = False
    unusable: str | None = None
    context: dict[str, Any] = field(default_factory=dict)


_providers: dict[str, Provider] = {}


def register(provider: Provider) -> Provider:
    """Register a provider (at module import time); registering the name again replaces it."""
    _providers[provider.name] = provider
    return provider


def provider(name: str) -> Provider | None:
    return _providers.get(name)


def receive(session: Session, spec: Provider, delivery: Delivery, *,
            now: dt.datetime | None = None) -> Receipt:
    """Verify, check the replay window, record once, queue the work (see the module's doc).
    Runs in the caller's transaction; a refusal raises before anything is written."""
    try:
        verified = spec.verify(session, delivery)
    except Unusable as exc:
        return Receipt(spec.name, "", exc.event_type, duplicate=False, unusable=exc.message)
    if spec.signs_timestamp:
        check_window(verified.occurred_at, now=now, tolerance=spec.tolerance)
    event_id = verified.event_id[:255]
    if not event_id:  # nothing to dedupe on: taking it would make every later one a repeat
        return Receipt(spec.name, "", verified.event_type, duplicate=False,
                       unusable="the delivery names no event id")
    receipt = InboundReceipt(provider=spec.name, event_id=event_id,
                             event_type=verified.event_type[:100],
                             occurred_at=verified.occurred_at)
    try:
        with session.begin_nested():
            session.add(receipt)
            session.flush()
    except IntegrityError:
        seen = session.scalar(select(InboundReceipt.id).where(
            InboundReceipt.provider == spec.name, InboundReceipt.event_id == event_id))
        if seen is None:
            raise
        log.info("webhook_duplicate", provider=spec.name, event_id=event_id,
                 type=verified.event_type)
        return Receipt(spec.name, event_id, verified.event_type, duplicate=True,
                       context=verified.context)
    record_event(session, EVENT_TYPE, resource_type="webhook",
                 resource_id=f"{spec.name}:{verified.resource or spec.name}"[:100], data={
                     "provider": spec.name, "event_id": event_id,
                     "event_type": verified.event_type,
                     "occurred_at": verified.occurred_at.isoformat()
                     if verified.occurred_at else None,
                     "payload": storable(verified.payload),
                     "context": storable(verified.context)})
    return Receipt(spec.name, event_id, verified.event_type, duplicate=False,
                   queued=spec.handle is not None, context=verified.context)


@subscribe(EVENT_TYPE, name="core.inbound.process")
def process(session: Session, event: Event) -> None:
    """The worker's half: the provider's ``handle`` for a received webhook. A provider this
    process does not have raises, so the delivery is retried (by a worker that has it)."""
    data = event.data
    spec = _providers.get(str(data.get("provider")))
    if spec is None:
        raise LookupError(f"no inbound provider {data.get('provider')!r} in this process")
    if spec.handle is None:
        return
    raw = data.get("occurred_at")
    spec.handle(session, InboundEvent(
        spec.name, str(data.get("event_id")), str(data.get("event_type")),
        dt.datetime.fromisoformat(raw) if raw else None, data.get("payload"),
        dict(data.get("context") or {}), event.organization_id))
