"""Webhook delivery for the Shopify emulator: signed POSTs on background threads, retried.

A scheduler thread hands due attempts to a small pool, so one slow endpoint (up to the 5 s
timeout) delays neither request handling nor the other deliveries. Every attempt is recorded.
"""

from __future__ import annotations

import base64
import hashlib
import heapq
import hmac
import itertools
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import httpx

# Shopify retries a failed delivery 8 times over about 4 hours.
DEFAULT_RETRY_DELAYS = (10.0, 30.0, 60.0, 300.0, 900.0, 1800.0, 3600.0, 7200.0)


def hmac_header(secret: str, body: bytes) -> str:
    """``X-Shopify-Hmac-Sha256``: base64 of HMAC-SHA256 over the raw body, keyed by the app's
    client secret."""
    digest = hmac.new(secret.encode(), body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


@dataclass(frozen=True)
class Delivery:
    """One attempt to deliver one webhook (``status`` None: no answer or a network error)."""

    topic: str
    url: str
    status: int | None
    attempt: int
    webhook_id: str
    event_id: str
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


@dataclass
class _Job:
    topic: str
    url: str
    body: bytes
    headers: dict[str, str]
    webhook_id: str
    event_id: str
    attempt: int = 0


class WebhookDispatcher:
    def __init__(self, *, secret: str, shop_domain: str, retry_delays: tuple[float, ...],
                 timeout: float) -> None:
        self.secret = secret
        self.shop_domain = shop_domain
        self.retry_delays = retry_delays
        self.timeout = timeout
        self.deliveries: list[Delivery] = []
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int, _Job]] = []
        self._order = itertools.count()
        self._pending = 0
        self._closed = False
        self._thread: threading.Thread | None = None
        self._pool: ThreadPoolExecutor | None = None

    def submit(self, *, topic: str, url: str, api_version: str, body: bytes, event_id: str,
               triggered_at: str, copies: int = 1) -> str:
        """Queue a delivery (``copies`` > 1 sends the same webhook, same id, more than once,
        as Shopify occasionally does); returns its webhook id."""
        webhook_id = str(uuid.uuid4())
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "Shopify-Captain-Hook",
            "X-Shopify-Topic": topic,
            "X-Shopify-Hmac-Sha256": hmac_header(self.secret, body),
            "X-Shopify-Shop-Domain": self.shop_domain,
            "X-Shopify-API-Version": api_version,
            "X-Shopify-Webhook-Id": webhook_id,
            "X-Shopify-Event-Id": event_id,
            "X-Shopify-Triggered-At": triggered_at,
        }
        with self._cond:
            self._start()
            for _ in range(copies):
                job = _Job(topic, url, body, headers, webhook_id, event_id)
                self._pending += 1
                heapq.heappush(self._heap, (time.monotonic(), next(self._order), job))
            self._cond.notify_all()
        return webhook_id

    def attempts(self) -> list[Delivery]:
        with self._cond:
            return list(self.deliveries)

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Block until no delivery is queued, waiting to retry, or in flight."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._pending:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
        return True

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)

    def _start(self) -> None:
        if self._thread is None:
            self._pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="shopify-webhook")
            self._thread = threading.Thread(target=self._schedule, name="shopify-webhooks",
                                            daemon=True)
            self._thread.start()

    def _schedule(self) -> None:
        while True:
            with self._cond:
                while not self._closed and (
                        not self._heap or self._heap[0][0] > time.monotonic()):
                    wait = self._heap[0][0] - time.monotonic() if self._heap else None
                    self._cond.wait(wait)
                if self._closed:
                    return
                _, _, job = heapq.heappop(self._heap)
            assert self._pool is not None
            try:
                self._pool.submit(self._attempt, job)
            except RuntimeError:  # closed while this job was being taken off the queue
                return

    def _attempt(self, job: _Job) -> None:
        job.attempt += 1
        status: int | None = None
        error: str | None = None
        try:
            with httpx.Client(timeout=self.timeout) as client:
                status = client.post(job.url, content=job.body, headers=job.headers).status_code
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"
        record = Delivery(job.topic, job.url, status, job.attempt, job.webhook_id, job.event_id,
                          error)
        with self._cond:
            self.deliveries.append(record)
            if not record.ok and job.attempt <= len(self.retry_delays) and not self._closed:
                due = time.monotonic() + self.retry_delays[job.attempt - 1]
                heapq.heappush(self._heap, (due, next(self._order), job))
            else:
                self._pending -= 1
            self._cond.notify_all()
