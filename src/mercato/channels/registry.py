"""Which code runs each connector kind's jobs and pushes, and each connection's circuit
breaker (per process: a platform that fails for one job fails for the pusher too).

Connectors register themselves (``register``) when their package is imported; the app
imports them at start-up through ``channels/connectors.py``. The registry imports none, and it
holds the plain types a connector is handed (``ConnectionConfig``, ``PushEntry``) and returns
(``PushResult``), so that it sits below everything else in ``channels``."""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from mercato.channels.toolkit import ChannelError, CircuitBreaker, ErrorKind
from mercato.core.errors import ValidationFailed
from mercato.core.inbound import Provider
from mercato.core.inbound import register as register_provider

DEFAULT_HOSTS = {"tcgplayer": "https://api.tcgplayer.com", "ebay": "https://api.ebay.com",
                 "amazon": "https://sellingpartnerapi-na.amazon.com",
                 "shopee": "https://partner.shopeemobile.com",
                 "tiktok": "https://open-api.tiktokglobalshop.com"}
"""Where each platform's API is when a connection names no ``api_base`` (Shopify's is the
shop's own domain)."""


@dataclass(frozen=True)
class ConnectionConfig:
    """A connection as a connector needs it, detached from any session; holds secrets, so
    never log or return it."""

    id: str
    organization_id: str
    channel_id: str
    kind: str
    mode: str
    account: str
    api_version: str
    api_base: str | None
    secrets: dict[str, str]
    settings: dict[str, Any]

    @property
    def base_url(self) -> str:
        return (self.api_base or DEFAULT_HOSTS.get(self.kind)
                or f"https://{self.account}").rstrip("/")


@dataclass(frozen=True)
class PushEntry:
    mapping_id: int
    variant_id: str
    remote_id: str
    inventory_item_id: str | None
    quantity: int
    version: int
    known_remote: int | None
    """The platform's quantity as last seen: the compare-and-set value."""


@dataclass(frozen=True)
class PushResult:
    mapping_id: int
    remote_quantity: int | None
    """What the platform holds now (None when unknown)."""
    error: str | None = None


JobFunc = Callable[[Any], Coroutine[Any, Any, Any]]
"""A connector's job: called with a ``channels.jobs.JobContext`` (jobs sits above the
registry, so the registry does not name the type)."""
PushFunc = Callable[[ConnectionConfig, list[PushEntry]], Coroutine[Any, Any, list[PushResult]]]


@dataclass
class ConnectorKind:
    jobs: dict[str, JobFunc] = field(default_factory=dict)
    push: PushFunc | None = None
    batch: int = 250
    """Quantities handed to ``push`` at once: about a second or two of the platform's
    calls, so that one batch never holds a pusher long (Shopify sets 250 in one call,
    TCGplayer one per call at 10 a second)."""
    inbound: Provider | None = None
    """The platform's webhooks on the inbound framework (``core.inbound``), received at
    ``/webhooks/{kind}/{store}`` (``INBOUND_KINDS``)."""
    schedules: dict[str, int] = field(default_factory=dict)
    """Seconds between runs of a job kind when a connection's own ``schedules`` does not
    name it (Amazon pulls its orders every 10 minutes: it sends no webhooks)."""


TITLES = {"shopify": "Shopify", "binderpos": "Shopify", "tcgplayer": "TCGplayer",
          "ebay": "eBay", "amazon": "Amazon", "shopee": "Shopee", "tiktok": "TikTok Shop"}


def cancelled_on(kind: str) -> str:
    """The reason of a cancellation that came from the platform (never sent back to it)."""
    return f"cancelled on {TITLES.get(kind, kind)}"


def platform_refund(kind: str, remote_id: str = "") -> str:
    """How the reason of a refund that came from the platform reads (never sent back)."""
    return f"{TITLES.get(kind, kind)} refund {remote_id}"


_database: ContextVar[Any] = ContextVar("channels_database", default=None)


@contextmanager
def using_database(db: Any) -> Iterator[None]:
    """Within the block, ``current_database()`` is ``db`` (a ``core.db.Database``): a
    pusher, which is handed only its connection, may keep its own records (eBay's daily
    revisions of each listing) and persist a refreshed token."""
    token = _database.set(db)
    try:
        yield
    finally:
        _database.reset(token)


def current_database() -> Any:
    """The database the pusher or job in hand runs against (None outside one)."""
    return _database.get()


_kinds: dict[str, ConnectorKind] = {}
_breakers: dict[str, CircuitBreaker] = {}


def register(kind: str, *, jobs: dict[str, JobFunc], push: PushFunc | None,
             batch: int = 250, inbound: Provider | None = None,
             schedules: dict[str, int] | None = None) -> None:
    _kinds[kind] = ConnectorKind(dict(jobs), push, batch, inbound, dict(schedules or {}))
    if inbound is not None:  # the worker finds its handler by the provider's name
        register_provider(inbound)


def default_schedules(kind: str) -> dict[str, int]:
    return dict(_kinds.get(kind, ConnectorKind()).schedules)


INBOUND_KINDS = ("shopee", "tiktok")
"""Kinds whose webhooks arrive through the shared route ``/webhooks/{kind}/{store}``
(Shopify's and eBay's have routes of their own)."""


def inbound_for(kind: str) -> Provider | None:
    return _kinds.get(kind, ConnectorKind()).inbound


def batch_size(kind: str) -> int:
    return _kinds.get(kind, ConnectorKind()).batch


def job_runner(kind: str, job_kind: str) -> JobFunc:
    func = _kinds.get(kind, ConnectorKind()).jobs.get(job_kind)
    if func is None:
        async def unsupported(ctx: Any) -> None:
            raise ChannelError(ErrorKind.VALIDATION,
                               f"A {kind} connection has no {job_kind} sync.")
        return unsupported
    return func


def supports(kind: str, job_kind: str) -> None:
    """422 when the connector cannot run that job."""
    if job_kind not in _kinds.get(kind, ConnectorKind()).jobs:
        raise ValidationFailed(f"A {kind} connection has no {job_kind} sync.", errors=[
            {"field": "kind", "message": f"not supported by {kind}"}])


def runs(kind: str, job_kind: str) -> bool:
    return job_kind in _kinds.get(kind, ConnectorKind()).jobs


def job_kinds(kind: str) -> list[str]:
    """The sync jobs a connector kind can run, in the order it registered them."""
    return list(_kinds.get(kind, ConnectorKind()).jobs)


def pusher(kind: str) -> PushFunc | None:
    return _kinds.get(kind, ConnectorKind()).push


def breaker_for(connection_id: str) -> CircuitBreaker:
    breaker = _breakers.get(connection_id)
    if breaker is None:
        breaker = _breakers[connection_id] = CircuitBreaker()
    return breaker
