"""Every committed event, published to NATS JetStream for consumers outside Mercato.

An outbox subscriber for every event type (``nats-export``) publishes each event on
``<prefix>.<organization slug>.<event type>`` with the header ``Nats-Msg-Id: <event id>``, so
JetStream's duplicate window drops an event the outbox delivers twice (a worker that died
between the publish and marking the delivery done). A failed publish raises: the outbox retries
it with backoff, then dead-letters it, like any handler; nothing else waits for NATS.

The outbox runs handlers synchronously; nats-py is asyncio. One connection per process lives on
an event loop thread of its own, started on the first publish, and each publish waits for its
PubAck there. The export is subscribed only when ``MERCATO_NATS_URL`` is set: an install
without NATS records no delivery for it.
"""

from __future__ import annotations

import asyncio
import re
import threading
import time
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any, TypeVar

import nats
import orjson
import structlog
from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.api import StreamConfig
from nats.js.errors import NotFoundError
from sqlalchemy.orm import Session

from mercato.core.outbox import Event, subscribe, unsubscribe
from mercato.settings import Settings
from mercato.tenancy import get_organization

log = structlog.get_logger("mercato.events.nats")

HANDLER = "nats-export"
"""The outbox subscriber's name: its deliveries (and dead letters) carry it."""
T = TypeVar("T")
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")


@dataclass(frozen=True)
class ExportConfig:
    url: str
    prefix: str = "mercato"
    stream: str = "MERCATO_EVENTS"
    duplicate_window_seconds: float = 300.0
    """How long JetStream remembers a message id: an event redelivered within it is dropped.
    Longer than a worker's lease plus the outbox's first retries."""
    timeout_seconds: float = 5.0
    """The longest a connect or a publish may take before the delivery fails (and is retried)."""
    down_seconds: float = 2.0
    """After a failed connect, publishes fail at once for this long: a NATS that is down costs
    the worker no connect timeout per delivery while its deliveries back off."""

    @classmethod
    def from_settings(cls, settings: Settings) -> ExportConfig | None:
        if not settings.nats_url:
            return None
        return cls(url=settings.nats_url, prefix=settings.nats_subject_prefix,
                   stream=settings.nats_stream)


def subject(prefix: str, organization: str, event_type: str) -> str:
    """``<prefix>.<organization>.<event type>``; characters NATS gives a meaning (spaces,
    ``*``, ``>``) become ``_`` and empty tokens ``_``, so every event has a valid subject."""
    parts = [prefix, _UNSAFE.sub("_", organization), _UNSAFE.sub("_", event_type)]
    return ".".join(token or "_" for part in parts for token in part.split("."))


def body(event: Event) -> bytes:
    """The message: the event as the outbox recorded it (``created_at`` in RFC 3339, UTC)."""
    return orjson.dumps({
        "id": event.id, "type": event.type, "organization_id": event.organization_id,
        "resource_type": event.resource_type, "resource_id": event.resource_id,
        "created_at": event.created_at.isoformat(), "data": event.data,
    })


class JetStreamPublisher:
    """One NATS connection, on an event loop thread of its own, for a process's publishes."""

    def __init__(self, config: ExportConfig) -> None:
        self.config = config
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._nc: Client | None = None
        self._js: JetStreamContext | None = None
        self._down_until = 0.0
        self._connecting: asyncio.Lock | None = None  # made on the loop's thread, in _context

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        with self._lock:
            if self._loop is None or self._loop.is_closed():
                loop = asyncio.new_event_loop()
                threading.Thread(target=loop.run_forever, name="mercato-nats",
                                 daemon=True).start()
                self._loop = loop
            loop = self._loop
        future = asyncio.run_coroutine_threadsafe(coro, loop)
        try:
            return future.result(self.config.timeout_seconds * 3)
        except TimeoutError:
            future.cancel()
            raise

    async def _context(self) -> JetStreamContext:
        """The JetStream context, connecting (and making sure the stream exists) first when
        there is no open connection; publishes from many threads share one connection."""
        if self._nc is not None and self._nc.is_connected and self._js is not None:
            return self._js
        if self._connecting is None:
            self._connecting = asyncio.Lock()
        async with self._connecting:
            return await self._connect()

    async def _connect(self) -> JetStreamContext:
        if self._nc is not None and self._nc.is_connected and self._js is not None:
            return self._js  # another publish connected while this one waited
        if time.monotonic() < self._down_until:
            raise ConnectionError(f"NATS at {self.config.url} was unreachable moments ago")
        if self._nc is not None and not self._nc.is_closed:
            await self._nc.close()
        try:
            self._nc = await nats.connect(
                self.config.url, name="mercato", allow_reconnect=False,
                connect_timeout=max(1, int(self.config.timeout_seconds)),
                error_cb=self._on_error)
        except Exception:
            self._down_until = time.monotonic() + self.config.down_seconds
            raise
        js = self._nc.jetstream(timeout=self.config.timeout_seconds)
        await self._ensure_stream(js)
        self._js = js
        return js

    async def _ensure_stream(self, js: JetStreamContext) -> None:
        """Create the stream when it is absent; one that exists is used as the operator set it
        up (retention, replicas, duplicate window); its subjects must cover ours, or every
        publish fails and is retried."""
        try:
            await js.stream_info(self.config.stream)
            return
        except NotFoundError:
            pass
        await js.add_stream(StreamConfig(
            name=self.config.stream, subjects=[f"{self.config.prefix}.>"],
            duplicate_window=self.config.duplicate_window_seconds))
        log.info("nats_stream_created", stream=self.config.stream,
                 subjects=f"{self.config.prefix}.>")

    @staticmethod
    async def _on_error(exc: Exception) -> None:
        log.warning("nats_error", error=f"{type(exc).__name__}: {exc}")

    async def _publish(self, subject: str, payload: bytes, msg_id: str) -> bool:
        js = await self._context()
        ack = await js.publish(subject, payload, timeout=self.config.timeout_seconds,
                               stream=self.config.stream, headers={"Nats-Msg-Id": msg_id})
        return bool(ack.duplicate)

    def publish(self, subject: str, payload: bytes, msg_id: str) -> bool:
        """Publish and wait for JetStream's acknowledgement; True when JetStream had the
        message already (a redelivery it dropped). Raises when it was not stored."""
        return self._run(self._publish(subject, payload, msg_id))

    def close(self) -> None:
        with self._lock:
            loop, self._loop = self._loop, None
        if loop is None:
            return
        nc, self._nc, self._js = self._nc, None, None
        if nc is not None and not nc.is_closed:
            try:
                asyncio.run_coroutine_threadsafe(nc.close(), loop).result(
                    self.config.timeout_seconds)
            except Exception as exc:  # closing is best effort: the process may be ending
                log.warning("nats_close_failed", error=f"{type(exc).__name__}: {exc}")
        loop.call_soon_threadsafe(loop.stop)


class Exporter:
    """The outbox handler: one event, one JetStream message."""

    def __init__(self, config: ExportConfig) -> None:
        self.config = config
        self.publisher = JetStreamPublisher(config)

    def __call__(self, session: Session, event: Event) -> None:
        # the slug as it is now: subjects name the store as its staff know it
        slug = get_organization(session, event.organization_id).slug
        to = subject(self.config.prefix, slug, event.type)
        if self.publisher.publish(to, body(event), event.id):
            log.info("nats_duplicate_dropped", event_id=event.id, subject=to)


_exporter: Exporter | None = None


def enable(config: ExportConfig) -> Exporter:
    """Subscribe the export for every event type (replacing one enabled before)."""
    global _exporter
    disable()
    _exporter = Exporter(config)
    subscribe("*", name=HANDLER)(_exporter)
    return _exporter


def disable() -> None:
    """Unsubscribe the export and close its connection."""
    global _exporter
    unsubscribe(HANDLER)
    exporter, _exporter = _exporter, None
    if exporter is not None:
        exporter.publisher.close()


def configure(settings: Settings) -> None:
    """Export as ``settings`` say: on with ``MERCATO_NATS_URL``, off without (the default)."""
    config = ExportConfig.from_settings(settings)
    if config is None:
        disable()
    elif _exporter is None or _exporter.config != config:
        enable(config)
