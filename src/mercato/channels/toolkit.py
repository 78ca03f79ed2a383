"""The one place where connector clients handle rate limits, retries, circuit breaking and errors.

Every platform has its own auth, limits and error shapes; connectors describe those (an auth hook,
a limiter, a classifier) and ``ApiClient`` applies them the same way everywhere, so a fix to
backoff or breaking lands in every connector at once.
"""

from __future__ import annotations

import asyncio
import inspect
import json as jsonlib
import math
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from enum import StrEnum
from types import TracebackType
from typing import Any, Literal, Protocol

import httpx
import structlog

from mercato.core.retry import backoff

log = structlog.get_logger("mercato.channels")

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]
AuthHook = Callable[[httpx.Request], Awaitable[None] | None]

_BODY_SNIPPET = 300  # characters of an error body kept in the message (the rest is in details)
# Float slack when comparing a refilled budget with a cost: a wait of (cost - have) / rate can
# land a hair short, and re-sleeping an amount below the clock's resolution would never end.
_EPSILON = 1e-9


class ErrorKind(StrEnum):
    """What went wrong, in the terms a sync job decides on (retry, re-auth, give up)."""

    VALIDATION = "validation"
    AUTH = "auth"
    RATE_LIMIT = "rate_limit"
    NETWORK = "network"
    PLATFORM = "platform"
    CIRCUIT_OPEN = "circuit_open"


_RETRYABLE = frozenset(
    {ErrorKind.RATE_LIMIT, ErrorKind.NETWORK, ErrorKind.PLATFORM, ErrorKind.CIRCUIT_OPEN}
)
_BREAKER_FAILURES = frozenset({ErrorKind.NETWORK, ErrorKind.PLATFORM})


class ChannelError(Exception):
    """A platform call that failed, classified so callers never parse platform error shapes."""

    def __init__(
        self,
        kind: ErrorKind,
        message: str,
        *,
        status: int | None = None,
        retry_after: float | None = None,
        details: Any = None,
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.status = status
        self.retry_after = retry_after
        self.details = details

    @property
    def retryable(self) -> bool:
        """Trying again later can succeed; validation and auth errors need a change first."""
        return self.kind in _RETRYABLE

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(kind={self.kind.value!r}, message={self.message!r}, "
                f"status={self.status!r}, retry_after={self.retry_after!r})")


class CircuitOpen(ChannelError):
    """Raised without calling the platform: it failed repeatedly and is given time to recover."""

    def __init__(self, retry_after: float, message: str = "circuit open: platform failing") -> None:
        super().__init__(ErrorKind.CIRCUIT_OPEN, message, retry_after=max(0.0, retry_after))


# --------------------------------------------------------------------------------------------
# Retry policy


@dataclass(frozen=True)
class RetryPolicy:
    """Full-jitter exponential backoff: spreads retries of many workers instead of syncing them.

    ``max_retry_after`` bounds how long one call will wait on the platform's say-so: a daily cap
    answered with "retry in 6 hours" is raised to the caller (a sync job reschedules) rather than
    holding a worker asleep.
    """

    attempts: int = 5
    base: float = 0.5
    cap: float = 30.0
    max_retry_after: float = 300.0

    def delay(
        self, attempt: int, retry_after: float | None = None, rng: random.Random | None = None
    ) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based)."""
        jittered = backoff(attempt, base=self.base, cap=self.cap, rng=rng)  # full jitter
        if retry_after is not None and math.isfinite(retry_after) and retry_after > jittered:
            return retry_after
        return jittered


# --------------------------------------------------------------------------------------------
# Rate limiters


class Limiter(Protocol):
    """Paces calls to one platform; shared by every request of a client (or of several)."""

    async def acquire(self, cost: float = 1.0) -> None:
        """Wait until a call of ``cost`` may go."""
        ...

    def observe(self, response: httpx.Response) -> None:
        """Learn from the platform's answer (its own view of the budget, throttling)."""
        ...


class _LoopLock:
    """An ``asyncio.Lock`` renewed per event loop.

    Buckets live as long as the process (one per connection) while jobs may each run their own
    ``asyncio.run``; a plain Lock, once contended, is bound to its first loop and fails in the next.
    """

    def __init__(self) -> None:
        self._lock = asyncio.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None

    def get(self) -> asyncio.Lock:
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            self._lock, self._loop = asyncio.Lock(), loop
        return self._lock


class TokenBucket:
    """A rate with a burst: TCGplayer (~10/s), Amazon SP-API per operation, eBay daily caps.

    Waiting happens while holding an ``asyncio.Lock`` (which is FIFO), so concurrent acquirers
    are served in arrival order and never together exceed ``burst + rate * t``.
    ``rate_header`` names a response header carrying the platform's actual rate in requests per
    second (Amazon's ``x-amzn-RateLimit-Limit``): when present, it replaces the configured one.
    """

    def __init__(
        self,
        rate: float,
        burst: float,
        *,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
        rate_header: str | None = None,
    ) -> None:
        if rate <= 0 or burst <= 0:
            raise ValueError("rate and burst must be positive")
        self.rate = float(rate)
        self.burst = float(burst)
        self.rate_header = rate_header
        self._clock = clock
        self._sleep = sleep
        self._tokens = self.burst
        self._updated = clock()
        self._lock = _LoopLock()

    def _refill(self) -> None:
        now = self._clock()
        elapsed = max(0.0, now - self._updated)
        self._tokens = min(self.burst, self._tokens + elapsed * self.rate)
        self._updated = now

    async def acquire(self, cost: float = 1.0) -> None:
        if cost > self.burst:
            raise ValueError(f"cost {cost} can never fit a bucket of {self.burst}")
        async with self._lock.get():
            while True:
                self._refill()
                if self._tokens + _EPSILON >= cost:
                    self._tokens -= cost
                    return
                await self._sleep((cost - self._tokens) / self.rate)

    def observe(self, response: httpx.Response) -> None:
        if self.rate_header is not None:
            rate = _positive_float(response.headers.get(self.rate_header))
            if rate is not None:
                self._refill()
                self.rate = rate
        if response.status_code == 429:
            # The platform counts differently from us (other clients share its budget): start over.
            self._refill()
            self._tokens = min(self._tokens, 0.0)

    def snapshot(self) -> dict[str, float]:
        self._refill()
        return {"rate": self.rate, "burst": self.burst, "available": self._tokens}


class CostBucket:
    """Shopify GraphQL's leaky bucket of query-cost points, estimated locally between answers.

    ``acquire(cost)`` reserves the estimated cost. Every answer carries the platform's own
    ``throttleStatus``, which already has this query's ``actualQueryCost`` taken off: the
    estimate is reset to it (capacity and restore rate too, since plans differ), so the
    reservation is replaced, not added to, and nothing is counted twice.
    """

    def __init__(
        self,
        capacity: float = 1000.0,
        restore_rate: float = 100.0,
        *,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        if capacity <= 0 or restore_rate <= 0:
            raise ValueError("capacity and restore_rate must be positive")
        self.capacity = float(capacity)
        self.restore_rate = float(restore_rate)
        self._clock = clock
        self._sleep = sleep
        self._available = self.capacity
        self._updated = clock()
        self._lock = _LoopLock()

    def _refill(self) -> None:
        now = self._clock()
        elapsed = max(0.0, now - self._updated)
        self._available = min(self.capacity, self._available + elapsed * self.restore_rate)
        self._updated = now

    async def acquire(self, cost: float = 1.0) -> None:
        async with self._lock.get():
            while True:
                self._refill()
                # A query dearer than the whole bucket waits for a full one and goes: the
                # platform answers MAX_COST_EXCEEDED, which is the caller's error to see.
                needed = min(cost, self.capacity)
                if self._available + _EPSILON >= needed:
                    self._available -= cost
                    return
                await self._sleep((needed - self._available) / self.restore_rate)

    def observe(self, response: httpx.Response) -> None:
        body = _json_body(response)
        if not isinstance(body, dict):
            return
        extensions = body.get("extensions")
        cost = extensions.get("cost") if isinstance(extensions, dict) else None
        status = cost.get("throttleStatus") if isinstance(cost, dict) else None
        if isinstance(status, dict):
            maximum = _positive_float(status.get("maximumAvailable"))
            restore = _positive_float(status.get("restoreRate"))
            current = _finite_float(status.get("currentlyAvailable"))
            self._refill()
            if maximum is not None:
                self.capacity = maximum
            if restore is not None:
                self.restore_rate = restore
            if current is not None:
                self._available = min(self.capacity, current)
            else:
                self._available = min(self.capacity, self._available)
        elif _throttled(body):
            self._refill()
            self._available = min(self._available, 0.0)

    def snapshot(self) -> dict[str, float]:
        self._refill()
        return {"capacity": self.capacity, "available": self._available,
                "restore_rate": self.restore_rate}


def _throttled(body: dict[str, Any]) -> bool:
    errors = body.get("errors")
    if not isinstance(errors, list):
        return False
    for error in errors:
        extensions = error.get("extensions") if isinstance(error, dict) else None
        if isinstance(extensions, dict) and extensions.get("code") == "THROTTLED":
            return True
    return False


# --------------------------------------------------------------------------------------------
# Circuit breaker


class CircuitBreaker:
    """Stops calling a platform that keeps failing, so workers fail fast instead of piling up.

    Only NETWORK and PLATFORM failures count: a 422 or a 429 proves the platform is up. After
    ``reset_after`` seconds open, one probe call goes through (half-open); its outcome closes or
    reopens the circuit.
    """

    def __init__(
        self,
        failure_threshold: int = 5,
        reset_after: float = 30.0,
        *,
        clock: Clock = time.monotonic,
    ) -> None:
        if failure_threshold < 1:
            raise ValueError("failure_threshold must be at least 1")
        self.failure_threshold = failure_threshold
        self.reset_after = reset_after
        self._clock = clock
        self._failures = 0
        self._opened_at: float | None = None  # clock time; None while closed
        self._opened_wall: datetime | None = None
        self._probing = False

    @property
    def state(self) -> Literal["closed", "open", "half_open"]:
        if self._opened_at is None:
            return "closed"
        if self._probing or self._clock() - self._opened_at >= self.reset_after:
            return "half_open"
        return "open"

    def before_call(self) -> None:
        """Raise ``CircuitOpen`` unless a call may go now; in half-open, admit one probe."""
        if self._opened_at is None:
            return
        if self._probing:
            raise CircuitOpen(self.reset_after, "circuit half-open: a probe call is in flight")
        remaining = self._opened_at + self.reset_after - self._clock()
        if remaining > 0:
            raise CircuitOpen(remaining)
        self._probing = True

    def record_success(self) -> None:
        self._failures = 0
        self._opened_at = None
        self._opened_wall = None
        self._probing = False

    def record_failure(self) -> None:
        self._failures += 1
        if self._probing or self._failures >= self.failure_threshold:
            self._opened_at = self._clock()
            self._opened_wall = datetime.now(UTC)
            self._probing = False

    def record(self, error: ChannelError | None) -> None:
        """Record an outcome by kind: only NETWORK and PLATFORM errors are failures."""
        if error is not None and error.kind in _BREAKER_FAILURES:
            self.record_failure()
        else:
            self.record_success()

    def release(self) -> None:
        """Give back a half-open probe that ended with no verdict (cancelled, or a local bug)."""
        self._probing = False

    def snapshot(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "failures": self._failures,
            "opened_at": self._opened_wall.isoformat() if self._opened_wall else None,
        }


# --------------------------------------------------------------------------------------------
# Classification


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header: delta-seconds or an HTTP-date (RFC 9110)."""
    if value is None or not value.strip():
        return None
    value = value.strip()
    seconds = _finite_float(value)
    if seconds is not None:
        return max(0.0, seconds)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def classify_response(response: httpx.Response) -> ChannelError | None:
    """Map an HTTP status to an ``ErrorKind``; ``None`` for 2xx."""
    status = response.status_code
    if 200 <= status < 300:
        return None
    retry_after = parse_retry_after(response.headers.get("Retry-After"))
    if status in (401, 403):
        kind = ErrorKind.AUTH
    elif status == 429:
        kind = ErrorKind.RATE_LIMIT
    elif status == 408:
        kind = ErrorKind.NETWORK
    elif status >= 500:
        kind = ErrorKind.PLATFORM
    else:  # other 4xx, and 1xx/3xx: redirects are not followed (they would drop a signature)
        kind = ErrorKind.VALIDATION
    return ChannelError(kind, _describe(response), status=status, retry_after=retry_after,
                        details=_details(response))


def classify_exception(exc: Exception) -> ChannelError:
    """Map a failure to get any answer to an ``ErrorKind``."""
    if isinstance(exc, ChannelError):
        return exc
    if isinstance(exc, httpx.TimeoutException):
        return ChannelError(ErrorKind.NETWORK, f"timeout: {type(exc).__name__}: {exc}")
    if isinstance(exc, httpx.UnsupportedProtocol):
        return ChannelError(ErrorKind.VALIDATION, f"bad URL: {exc}")
    if isinstance(exc, httpx.TransportError | OSError):
        return ChannelError(ErrorKind.NETWORK, f"{type(exc).__name__}: {exc}")
    if isinstance(exc, httpx.DecodingError | httpx.TooManyRedirects):
        return ChannelError(ErrorKind.PLATFORM, f"{type(exc).__name__}: {exc}")
    return ChannelError(ErrorKind.VALIDATION, f"unexpected {type(exc).__name__}: {exc}")


def _describe(response: httpx.Response) -> str:
    # The path only: query strings carry access tokens and signatures on some platforms.
    request = response.request
    text = _text(response)
    snippet = f": {text[:_BODY_SNIPPET]}" if text else ""
    return f"HTTP {response.status_code} on {request.method} {request.url.path}{snippet}"


def _details(response: httpx.Response) -> Any:
    body = _json_body(response)
    return body if body is not None else (_text(response) or None)


def _text(response: httpx.Response) -> str:
    try:
        return response.text
    except (httpx.ResponseNotRead, UnicodeDecodeError):
        return ""


def _json_body(response: httpx.Response) -> Any:
    try:
        content = response.content
    except httpx.ResponseNotRead:
        return None
    if not content:
        return None
    try:
        return jsonlib.loads(content)
    except ValueError:
        return None


def _finite_float(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _positive_float(value: Any) -> float | None:
    number = _finite_float(value)
    return number if number is not None and number > 0 else None


# --------------------------------------------------------------------------------------------
# Client


class ApiClient:
    """An httpx client that paces, signs, retries and breaks the same way for every platform.

    Each attempt: breaker check, limiter, build, sign (the hook sees the final URL and body
    bytes), send, let the limiter learn from the answer, classify. A ``CircuitOpen`` from the
    breaker is raised at once (failing fast is the point); other retryable errors are retried
    with backoff, non-retryable ones raised at once.
    """

    def __init__(
        self,
        base_url: str,
        *,
        auth: AuthHook | None = None,
        limiter: Limiter | None = None,
        breaker: CircuitBreaker | None = None,
        retry: RetryPolicy = RetryPolicy(),  # frozen: safe to share
        classify: Callable[[httpx.Response], ChannelError | None] = classify_response,
        timeout: float = 10.0,
        headers: dict[str, str] | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Sleep = asyncio.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self.auth = auth
        self.limiter = limiter
        self.breaker = breaker
        self.retry = retry
        self.classify = classify
        self._sleep = sleep
        self._rng = rng
        self._http = httpx.AsyncClient(base_url=base_url, timeout=timeout, headers=headers,
                                       transport=transport)
        self.stats: dict[str, int] = {"requests": 0, "retries": 0, "rate_limited": 0,
                                      "failures": 0}

    async def request(
        self,
        method: str,
        url: str,
        *,
        json: Any = None,
        params: dict[str, Any] | None = None,
        content: bytes | None = None,
        headers: dict[str, str] | None = None,
        cost: float = 1.0,
        retry: bool = True,
    ) -> httpx.Response:
        """The successful response (body read); raises the last ``ChannelError`` otherwise."""
        attempts = max(1, self.retry.attempts) if retry else 1
        last: ChannelError | None = None
        attempt = 0
        while True:
            attempt += 1
            probe = False
            if self.breaker is not None:
                try:
                    self.breaker.before_call()
                except CircuitOpen as exc:
                    self.stats["failures"] += 1
                    raise exc from last
                probe = self.breaker.state == "half_open"
            outcome = await self._attempt(method, url, json=json, params=params, content=content,
                                          headers=headers, cost=cost, probe=probe)
            if isinstance(outcome, httpx.Response):
                return outcome
            last = outcome
            if outcome.kind is ErrorKind.RATE_LIMIT:
                self.stats["rate_limited"] += 1
            too_long = (outcome.retry_after is not None
                        and outcome.retry_after > self.retry.max_retry_after)
            if not outcome.retryable or attempt >= attempts or too_long:
                self.stats["failures"] += 1
                raise outcome
            delay = self.retry.delay(attempt, outcome.retry_after, self._rng)
            self.stats["retries"] += 1
            log.info("channel_retry", method=method, path=httpx.URL(url).path,
                     kind=outcome.kind.value, status=outcome.status, attempt=attempt,
                     delay=round(delay, 3))
            await self._sleep(delay)

    async def _attempt(
        self,
        method: str,
        url: str,
        *,
        json: Any,
        params: dict[str, Any] | None,
        content: bytes | None,
        headers: dict[str, str] | None,
        cost: float,
        probe: bool,
    ) -> httpx.Response | ChannelError:
        """One call past the breaker: its response if it succeeded, else its error.

        Anything that is not the platform's doing (a bug in a hook, cancellation) propagates;
        a half-open probe ending that way is handed back so the breaker never waits for it.
        """
        try:
            if self.limiter is not None:
                await self.limiter.acquire(cost)
            request = self._http.build_request(method, url, json=json, params=params,
                                               content=content, headers=headers)
            if self.auth is not None:
                signed = self.auth(request)
                if inspect.isawaitable(signed):
                    await signed
            self.stats["requests"] += 1
            error: ChannelError | None
            try:
                response = await self._http.send(request)
                await response.aread()
            except httpx.HTTPError as exc:
                error = classify_exception(exc)
            else:
                if self.limiter is not None:
                    self.limiter.observe(response)
                try:
                    error = self.classify(response)
                except ValueError:
                    # A body classifier meeting a proxy's HTML 502: the status still speaks.
                    error = classify_response(response)
        except BaseException:
            if probe and self.breaker is not None:
                self.breaker.release()
            raise
        if self.breaker is not None:
            self.breaker.record(error)
        return response if error is None else error

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> ApiClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
