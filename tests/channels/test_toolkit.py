"""The connector toolkit: limits, retries, breaking and error classification.

End-to-end behaviour runs over real HTTP against a small ASGI app on ``LiveServer``; bucket and
breaker maths run on a virtual clock, so no test waits on wall time.
"""

from __future__ import annotations

import asyncio
import hashlib
import heapq
import hmac
import itertools
import random
import uuid
from collections import Counter
from collections.abc import Coroutine, Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from hypothesis import given, settings
from hypothesis import strategies as st

from mercato.channels.toolkit import (
    ApiClient,
    ChannelError,
    CircuitBreaker,
    CircuitOpen,
    CostBucket,
    ErrorKind,
    RetryPolicy,
    TokenBucket,
    classify_exception,
    classify_response,
    parse_retry_after,
)
from tests.conftest import LiveServer, free_port

SECRET = b"partner-key"
HITS: Counter[str] = Counter()  # the server runs on a thread of this process: shared directly


# --------------------------------------------------------------------------------------------
# The platform stand-in


def _platform() -> FastAPI:
    app = FastAPI()

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.api_route("/flaky/{key}", methods=["GET", "POST"])
    def flaky(key: str, fail: int = 0, status: int = 503,
              retry_after: str | None = None) -> Response:
        """Answer ``status`` to the first ``fail`` calls, then 200."""
        HITS[key] += 1
        if HITS[key] <= fail:
            headers = {"Retry-After": retry_after} if retry_after else {}
            return JSONResponse({"error": f"status {status}"}, status_code=status,
                                headers=headers)
        return JSONResponse({"hits": HITS[key]})

    @app.get("/slow/{key}")
    async def slow(key: str, request: Request) -> Response:
        """Never answers in time; stops as soon as the client hangs up."""
        HITS[key] += 1
        for _ in range(200):
            if await request.is_disconnected():
                break
            await asyncio.sleep(0.01)
        return JSONResponse({"late": True})

    @app.post("/signed/{key}")
    async def signed(key: str, request: Request) -> Response:
        """Verify an HMAC over method, path, query and raw body, the way Shopee/TikTok do."""
        HITS[key] += 1
        body = await request.body()
        message = b"\n".join([request.method.encode(), request.url.path.encode(),
                              request.url.query.encode(), body])
        expected = hmac.new(SECRET, message, hashlib.sha256).hexdigest()
        given_sig = request.headers.get("X-Signature", "")
        if "ts" not in request.query_params or not hmac.compare_digest(expected, given_sig):
            return JSONResponse({"error": "bad signature"}, status_code=401)
        return JSONResponse({"ok": True, "ts": request.query_params["ts"]})

    @app.post("/graphql/{key}")
    def graphql(key: str, throttled: int = 0) -> Response:
        """Shopify-style: THROTTLED comes back as HTTP 200 with the bucket state."""
        HITS[key] += 1
        if HITS[key] <= throttled:
            return JSONResponse({
                "errors": [{"message": "Throttled", "extensions": {"code": "THROTTLED"}}],
                "extensions": {"cost": {
                    "requestedQueryCost": 50, "actualQueryCost": None,
                    "throttleStatus": {"maximumAvailable": 2000.0, "currentlyAvailable": 10,
                                       "restoreRate": 100.0}}},
            })
        return JSONResponse({
            "data": {"shop": {"name": "Emulated"}},
            "extensions": {"cost": {
                "requestedQueryCost": 50, "actualQueryCost": 12,
                "throttleStatus": {"maximumAvailable": 2000.0, "currentlyAvailable": 1988,
                                   "restoreRate": 100.0}}},
        })

    return app


@pytest.fixture(scope="module")
def platform() -> Iterator[LiveServer]:
    with LiveServer(_platform()) as server:
        yield server


def _key() -> str:
    return uuid.uuid4().hex


# --------------------------------------------------------------------------------------------
# Time doubles


class FakeTime:
    """A clock that only moves when slept on: sequential code sees exact delays, instantly."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, delay: float) -> None:
        assert len(self.sleeps) < 10_000, "sleeping forever"
        self.sleeps.append(delay)
        self.now += delay
        await asyncio.sleep(0)


class VirtualTime:
    """Concurrent sleepers wake in deadline order; time jumps only when every task is blocked.

    Unlike ``FakeTime``, two tasks sleeping at once overlap, so a limiter that lets several
    waiters sleep in parallel is caught granting more than its rate.
    """

    def __init__(self) -> None:
        self.now = 0.0
        self._timers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()

    def clock(self) -> float:
        return self.now

    async def sleep(self, delay: float) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._timers, (self.now + max(0.0, delay), next(self._seq), future))
        await future

    async def run(self, *coros: Coroutine[Any, Any, None]) -> None:
        tasks = [asyncio.create_task(coro) for coro in coros]
        for _ in range(100_000):
            for _ in range(20):  # let every runnable task reach its next sleep or lock
                await asyncio.sleep(0)
            if all(task.done() for task in tasks):
                break
            assert self._timers, "tasks blocked with no timer pending"
            wake, _, future = heapq.heappop(self._timers)
            self.now = max(self.now, wake)
            future.set_result(None)
        else:
            raise AssertionError("tasks still sleeping after 100,000 wake-ups")
        for task in tasks:
            task.result()


def _client(base_url: str, time_: FakeTime, **kwargs: Any) -> ApiClient:
    kwargs.setdefault("retry", RetryPolicy(attempts=4, base=0.5, cap=5.0))
    return ApiClient(base_url, sleep=time_.sleep, rng=random.Random(7), **kwargs)


async def _expect_error(client: ApiClient, method: str, url: str,
                        **kwargs: Any) -> ChannelError:
    async with client:
        with pytest.raises(ChannelError) as caught:
            await client.request(method, url, **kwargs)
    return caught.value


# --------------------------------------------------------------------------------------------
# Retries over real HTTP


def test_a_422_is_tried_once_and_raised_as_validation(platform: LiveServer) -> None:
    key, time_ = _key(), FakeTime()
    error = asyncio.run(_expect_error(_client(platform.url, time_), "POST",
                                      f"/flaky/{key}", params={"fail": 9, "status": 422}))
    assert error.kind is ErrorKind.VALIDATION
    assert error.status == 422
    assert not error.retryable
    assert error.details == {"error": "status 422"}
    assert HITS[key] == 1
    assert time_.sleeps == []


def test_a_503_is_tried_up_to_attempts_then_raised(platform: LiveServer) -> None:
    key, time_ = _key(), FakeTime()
    client = _client(platform.url, time_)
    error = asyncio.run(_expect_error(client, "GET", f"/flaky/{key}",
                                      params={"fail": 99, "status": 503}))
    assert error.kind is ErrorKind.PLATFORM
    assert error.status == 503
    assert HITS[key] == 4
    assert len(time_.sleeps) == 3
    assert client.stats == {"requests": 4, "retries": 3, "rate_limited": 0, "failures": 1}


def test_a_transient_500_is_retried_until_the_call_succeeds(platform: LiveServer) -> None:
    key, time_ = _key(), FakeTime()

    async def call() -> httpx.Response:
        async with _client(platform.url, time_) as client:
            return await client.request("GET", f"/flaky/{key}",
                                        params={"fail": 2, "status": 500})

    response = asyncio.run(call())
    assert response.status_code == 200
    assert response.json() == {"hits": 3}
    assert len(time_.sleeps) == 2


def test_retry_false_makes_a_single_attempt(platform: LiveServer) -> None:
    key, time_ = _key(), FakeTime()
    error = asyncio.run(_expect_error(_client(platform.url, time_), "GET", f"/flaky/{key}",
                                      params={"fail": 9, "status": 503}, retry=False))
    assert error.kind is ErrorKind.PLATFORM
    assert HITS[key] == 1


def test_a_401_is_an_auth_error_and_not_retried(platform: LiveServer) -> None:
    key, time_ = _key(), FakeTime()
    error = asyncio.run(_expect_error(_client(platform.url, time_), "GET", f"/flaky/{key}",
                                      params={"fail": 9, "status": 401}))
    assert error.kind is ErrorKind.AUTH
    assert HITS[key] == 1


def test_retry_after_in_seconds_is_waited_out(platform: LiveServer) -> None:
    key, time_ = _key(), FakeTime()

    async def call() -> tuple[httpx.Response, ApiClient]:
        async with _client(platform.url, time_) as client:
            response = await client.request("GET", f"/flaky/{key}",
                                            params={"fail": 1, "status": 429, "retry_after": "7"})
            return response, client

    response, client = asyncio.run(call())
    assert response.status_code == 200
    assert time_.sleeps == [7.0]  # backoff alone would be under 0.5 s on a first retry
    assert client.stats["rate_limited"] == 1


def test_retry_after_as_an_http_date_is_waited_out(platform: LiveServer) -> None:
    key, time_ = _key(), FakeTime()
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)

    async def call() -> httpx.Response:
        async with _client(platform.url, time_) as client:
            return await client.request("GET", f"/flaky/{key}",
                                        params={"fail": 1, "status": 429, "retry_after": when})

    assert asyncio.run(call()).status_code == 200
    assert len(time_.sleeps) == 1
    assert 27.0 <= time_.sleeps[0] <= 30.0  # the date has whole seconds


def test_a_retry_after_beyond_the_policy_limit_is_raised_not_slept(platform: LiveServer) -> None:
    key, time_ = _key(), FakeTime()
    client = _client(platform.url, time_, retry=RetryPolicy(max_retry_after=60.0))
    error = asyncio.run(_expect_error(client, "GET", f"/flaky/{key}",
                                      params={"fail": 9, "status": 429, "retry_after": "3600"}))
    assert error.kind is ErrorKind.RATE_LIMIT
    assert error.retry_after == 3600.0
    assert HITS[key] == 1
    assert time_.sleeps == []


def test_a_timeout_is_a_network_error_and_retried(platform: LiveServer) -> None:
    key, time_ = _key(), FakeTime()
    client = _client(platform.url, time_, timeout=0.05, retry=RetryPolicy(attempts=2))
    error = asyncio.run(_expect_error(client, "GET", f"/slow/{key}"))
    assert error.kind is ErrorKind.NETWORK
    assert "timeout" in error.message
    assert HITS[key] == 2
    assert len(time_.sleeps) == 1


def test_a_refused_connection_is_a_network_error() -> None:
    time_ = FakeTime()
    client = _client(f"http://127.0.0.1:{free_port()}", time_, retry=RetryPolicy(attempts=3))
    error = asyncio.run(_expect_error(client, "GET", "/anything"))
    assert error.kind is ErrorKind.NETWORK
    assert len(time_.sleeps) == 2


# --------------------------------------------------------------------------------------------
# Signing


def _signer(secret: bytes) -> Any:
    def sign(request: httpx.Request) -> None:
        request.url = request.url.copy_add_param("ts", "1700000000")
        message = b"\n".join([request.method.encode(), request.url.path.encode(),
                              request.url.query, request.content])
        request.headers["X-Signature"] = hmac.new(secret, message, hashlib.sha256).hexdigest()

    return sign


def test_auth_hook_signs_the_final_path_query_and_body(platform: LiveServer) -> None:
    key = _key()

    async def call() -> httpx.Response:
        async with _client(platform.url, FakeTime(), auth=_signer(SECRET)) as client:
            return await client.request("POST", f"/signed/{key}", params={"shop_id": 42},
                                        json={"item_id": 1, "stock": 3})

    response = asyncio.run(call())
    assert response.json() == {"ok": True, "ts": "1700000000"}


def test_an_async_auth_hook_is_awaited(platform: LiveServer) -> None:
    key = _key()
    sign = _signer(SECRET)

    async def refresh_then_sign(request: httpx.Request) -> None:
        await asyncio.sleep(0)  # e.g. an OAuth token refresh
        sign(request)

    async def call() -> httpx.Response:
        async with _client(platform.url, FakeTime(), auth=refresh_then_sign) as client:
            return await client.request("POST", f"/signed/{key}", content=b"raw bytes")

    assert asyncio.run(call()).status_code == 200


def test_a_bad_signature_is_an_auth_error_tried_once(platform: LiveServer) -> None:
    key = _key()
    client = _client(platform.url, FakeTime(), auth=_signer(b"wrong-key"))
    error = asyncio.run(_expect_error(client, "POST", f"/signed/{key}", json={"a": 1}))
    assert error.kind is ErrorKind.AUTH
    assert HITS[key] == 1


# --------------------------------------------------------------------------------------------
# A custom classifier and the cost bucket, end to end


def _shopify_classify(response: httpx.Response) -> ChannelError | None:
    body = response.json()
    for error in body.get("errors") or []:
        if error.get("extensions", {}).get("code") == "THROTTLED":
            return ChannelError(ErrorKind.RATE_LIMIT, "throttled", status=response.status_code,
                                details=body)
    return classify_response(response)


def test_a_custom_classifier_sees_the_body_and_the_bucket_resyncs(platform: LiveServer) -> None:
    key, time_ = _key(), FakeTime()
    bucket = CostBucket(1000.0, 50.0, clock=time_.clock, sleep=time_.sleep)

    async def call() -> tuple[httpx.Response, ApiClient]:
        async with _client(platform.url, time_, limiter=bucket,
                           classify=_shopify_classify) as client:
            response = await client.request("POST", f"/graphql/{key}", params={"throttled": 1},
                                            json={"query": "{ shop { name } }"}, cost=50)
            return response, client

    response, client = asyncio.run(call())
    assert response.json()["data"] == {"shop": {"name": "Emulated"}}
    assert HITS[key] == 2
    assert client.stats["rate_limited"] == 1
    # The throttled answer left 10 points: the bucket (now learning restoreRate 100 from the
    # platform) made the retry wait for 40 more, i.e. 0.4 s beyond the backoff already slept.
    backoff = time_.sleeps[0]
    assert time_.sleeps[1:] == ([pytest.approx(0.4 - backoff)] if backoff < 0.4 else [])
    assert bucket.snapshot() == {"capacity": 2000.0, "available": 1988.0, "restore_rate": 100.0}


def test_a_body_classifier_that_cannot_parse_falls_back_to_the_status(
    platform: LiveServer,
) -> None:
    key = _key()

    def json_only(response: httpx.Response) -> ChannelError | None:
        raise ValueError("not JSON")  # what response.json() does on a proxy's HTML page

    client = _client(platform.url, FakeTime(), classify=json_only)
    error = asyncio.run(_expect_error(client, "GET", f"/flaky/{key}",
                                      params={"fail": 9, "status": 404}))
    assert error.kind is ErrorKind.VALIDATION
    assert error.status == 404


# --------------------------------------------------------------------------------------------
# Circuit breaker


class ManualClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_the_breaker_opens_after_platform_failures_and_then_rejects_without_calling(
    platform: LiveServer,
) -> None:
    key, clock = _key(), ManualClock()
    breaker = CircuitBreaker(failure_threshold=3, reset_after=30.0, clock=clock)
    client = _client(platform.url, FakeTime(), breaker=breaker, retry=RetryPolicy(attempts=5))

    async def calls() -> tuple[ChannelError, ChannelError]:
        async with client:
            with pytest.raises(ChannelError) as first:
                await client.request("GET", f"/flaky/{key}", params={"fail": 99})
            clock.now = 10.0
            with pytest.raises(ChannelError) as second:
                await client.request("GET", f"/flaky/{key}", params={"fail": 99})
        return first.value, second.value

    first, second = asyncio.run(calls())
    assert isinstance(first, CircuitOpen)
    assert isinstance(first.__cause__, ChannelError)
    assert first.__cause__.kind is ErrorKind.PLATFORM
    assert isinstance(second, CircuitOpen)
    assert second.kind is ErrorKind.CIRCUIT_OPEN
    assert second.retry_after == pytest.approx(20.0)
    assert HITS[key] == 3  # the fourth attempt and the second call never reached the platform
    assert breaker.state == "open"


def test_a_successful_half_open_probe_closes_the_breaker(platform: LiveServer) -> None:
    key, clock = _key(), ManualClock()
    breaker = CircuitBreaker(failure_threshold=2, reset_after=30.0, clock=clock)
    client = _client(platform.url, FakeTime(), breaker=breaker, retry=RetryPolicy(attempts=2))

    async def calls() -> httpx.Response:
        async with client:
            with pytest.raises(ChannelError):
                await client.request("GET", f"/flaky/{key}", params={"fail": 2})
            assert breaker.snapshot()["state"] == "open"
            clock.now = 30.0
            assert breaker.state == "half_open"
            return await client.request("GET", f"/flaky/{key}", params={"fail": 2})

    assert asyncio.run(calls()).json() == {"hits": 3}
    assert breaker.snapshot() == {"state": "closed", "failures": 0, "opened_at": None}


def test_validation_and_rate_limit_answers_do_not_trip_the_breaker(platform: LiveServer) -> None:
    breaker = CircuitBreaker(failure_threshold=2, clock=ManualClock())
    client = _client(platform.url, FakeTime(), breaker=breaker)

    async def calls() -> None:
        async with client:
            for status in (422, 404, 429, 422, 429, 400):
                with pytest.raises(ChannelError):
                    await client.request("GET", f"/flaky/{_key()}",
                                         params={"fail": 9, "status": status}, retry=False)

    asyncio.run(calls())
    assert breaker.snapshot()["state"] == "closed"


def test_a_timeout_trips_the_breaker(platform: LiveServer) -> None:
    breaker = CircuitBreaker(failure_threshold=2, clock=ManualClock())
    client = _client(platform.url, FakeTime(), breaker=breaker, timeout=0.05,
                     retry=RetryPolicy(attempts=3))
    error = asyncio.run(_expect_error(client, "GET", f"/slow/{_key()}"))
    assert isinstance(error, CircuitOpen)
    assert breaker.state == "open"


def test_half_open_admits_one_probe_and_its_failure_reopens() -> None:
    clock = ManualClock()
    breaker = CircuitBreaker(failure_threshold=2, reset_after=30.0, clock=clock)
    breaker.record_failure()
    assert breaker.snapshot()["state"] == "closed"
    breaker.record_failure()
    with pytest.raises(CircuitOpen):
        breaker.before_call()
    clock.now = 31.0
    breaker.before_call()  # the probe
    with pytest.raises(CircuitOpen):
        breaker.before_call()  # everyone else waits for its verdict
    breaker.record_failure()
    assert breaker.state == "open"
    with pytest.raises(CircuitOpen) as caught:
        breaker.before_call()
    assert caught.value.retry_after == pytest.approx(30.0)


def test_a_success_resets_the_consecutive_failure_count() -> None:
    breaker = CircuitBreaker(failure_threshold=2, clock=ManualClock())
    breaker.record_failure()
    breaker.record_success()
    breaker.record_failure()
    assert breaker.state == "closed"
    assert breaker.snapshot()["failures"] == 1


def test_the_breaker_snapshot_gives_the_wall_clock_opening_time() -> None:
    breaker = CircuitBreaker(failure_threshold=1, clock=ManualClock())
    before = datetime.now(UTC)
    breaker.record_failure()
    snapshot = breaker.snapshot()
    assert snapshot["state"] == "open"
    assert snapshot["failures"] == 1
    assert before <= datetime.fromisoformat(snapshot["opened_at"]) <= datetime.now(UTC)


def test_a_probe_that_dies_locally_hands_the_probe_back(platform: LiveServer) -> None:
    clock = ManualClock()
    breaker = CircuitBreaker(failure_threshold=1, reset_after=5.0, clock=clock)
    breaker.record_failure()
    clock.now = 5.0

    def broken_hook(request: httpx.Request) -> None:
        raise RuntimeError("signing bug")

    async def call() -> None:
        async with _client(platform.url, FakeTime(), breaker=breaker, auth=broken_hook) as c:
            with pytest.raises(RuntimeError):
                await c.request("GET", f"/flaky/{_key()}")

    asyncio.run(call())
    breaker.before_call()  # a new probe may go: the dead one is not awaited forever


# --------------------------------------------------------------------------------------------
# Classification


def _response(status: int, headers: dict[str, str] | None = None,
              json: Any = None) -> httpx.Response:
    request = httpx.Request("POST", "https://shop.example/api/v2/update?access_token=SECRET")
    return httpx.Response(status, headers=headers, json=json, request=request)


@pytest.mark.parametrize(("status", "kind"), [
    (400, ErrorKind.VALIDATION), (401, ErrorKind.AUTH), (403, ErrorKind.AUTH),
    (404, ErrorKind.VALIDATION), (408, ErrorKind.NETWORK), (409, ErrorKind.VALIDATION),
    (410, ErrorKind.VALIDATION), (422, ErrorKind.VALIDATION), (429, ErrorKind.RATE_LIMIT),
    (500, ErrorKind.PLATFORM), (502, ErrorKind.PLATFORM), (503, ErrorKind.PLATFORM),
    (504, ErrorKind.PLATFORM), (302, ErrorKind.VALIDATION),
])
def test_statuses_map_to_kinds(status: int, kind: ErrorKind) -> None:
    error = classify_response(_response(status, json={"error": "x"}))
    assert error is not None
    assert error.kind is kind
    assert error.status == status


@pytest.mark.parametrize("status", [200, 201, 204, 207])
def test_2xx_is_not_an_error(status: int) -> None:
    assert classify_response(_response(status)) is None


def test_an_error_message_never_carries_the_query_string() -> None:
    error = classify_response(_response(500, json={"message": "boom"}))
    assert error is not None
    assert "SECRET" not in error.message
    assert "/api/v2/update" in error.message
    assert error.details == {"message": "boom"}


def test_a_503_keeps_its_retry_after() -> None:
    error = classify_response(_response(503, headers={"Retry-After": "12"}))
    assert error is not None
    assert error.retry_after == 12.0


def test_retry_after_parses_seconds_and_dates_and_ignores_garbage() -> None:
    now = datetime(2026, 5, 1, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after("120", now=now) == 120.0
    assert parse_retry_after("Fri, 01 May 2026 12:00:45 GMT", now=now) == 45.0
    assert parse_retry_after("Fri, 01 May 2026 11:00:00 GMT", now=now) == 0.0
    assert parse_retry_after("-5", now=now) == 0.0
    assert parse_retry_after("soon", now=now) is None
    assert parse_retry_after(None) is None


@pytest.mark.parametrize(("exc", "kind"), [
    (httpx.ReadTimeout("slow"), ErrorKind.NETWORK),
    (httpx.ConnectTimeout("slow"), ErrorKind.NETWORK),
    (httpx.ConnectError("refused"), ErrorKind.NETWORK),
    (httpx.RemoteProtocolError("hung up"), ErrorKind.NETWORK),
    (ConnectionResetError("reset"), ErrorKind.NETWORK),
    (httpx.UnsupportedProtocol("ftp"), ErrorKind.VALIDATION),
    (httpx.DecodingError("bad gzip"), ErrorKind.PLATFORM),
])
def test_exceptions_map_to_kinds(exc: Exception, kind: ErrorKind) -> None:
    assert classify_exception(exc).kind is kind


@pytest.mark.parametrize(("kind", "retryable"), [
    (ErrorKind.VALIDATION, False), (ErrorKind.AUTH, False), (ErrorKind.RATE_LIMIT, True),
    (ErrorKind.NETWORK, True), (ErrorKind.PLATFORM, True), (ErrorKind.CIRCUIT_OPEN, True),
])
def test_only_transient_kinds_are_retryable(kind: ErrorKind, retryable: bool) -> None:
    assert ChannelError(kind, "x").retryable is retryable


# --------------------------------------------------------------------------------------------
# Backoff


@settings(max_examples=300, deadline=None)
@given(
    attempt=st.integers(min_value=1, max_value=10_000),
    base=st.floats(min_value=0.001, max_value=10.0),
    cap=st.floats(min_value=0.001, max_value=120.0),
    retry_after=st.one_of(st.none(), st.floats(min_value=0.0, max_value=1.0)),
    seed=st.integers(min_value=0, max_value=2**32),
)
def test_a_delay_stays_within_cap_and_never_under_retry_after(
    attempt: int, base: float, cap: float, retry_after: float | None, seed: int,
) -> None:
    if retry_after is not None:
        retry_after *= cap  # a Retry-After the cap allows
    delay = RetryPolicy(base=base, cap=cap).delay(attempt, retry_after, random.Random(seed))
    assert 0.0 <= delay <= cap
    assert delay >= (retry_after or 0.0)


def test_backoff_ceiling_doubles_per_attempt_until_the_cap_and_is_jittered() -> None:
    policy, rng = RetryPolicy(base=0.5, cap=10.0), random.Random(3)
    for attempt, ceiling in [(1, 0.5), (2, 1.0), (3, 2.0), (4, 4.0), (5, 8.0), (6, 10.0),
                             (40, 10.0)]:
        samples = [policy.delay(attempt, rng=rng) for _ in range(300)]
        assert max(samples) <= ceiling
        assert max(samples) > 0.95 * ceiling
        assert min(samples) < 0.05 * ceiling  # full jitter: anywhere from zero
        assert len(set(samples)) == len(samples)


def test_retry_after_beyond_the_cap_wins() -> None:
    assert RetryPolicy(cap=1.0).delay(1, 45.0) == 45.0


# --------------------------------------------------------------------------------------------
# Token bucket


@settings(max_examples=60, deadline=None)
@given(
    rate=st.floats(min_value=0.5, max_value=50.0),
    burst=st.integers(min_value=1, max_value=10),
    fractions=st.lists(st.floats(min_value=0.05, max_value=1.0), min_size=1, max_size=40),
)
def test_concurrent_acquirers_never_exceed_rate_plus_burst(
    rate: float, burst: int, fractions: list[float],
) -> None:
    time_ = VirtualTime()
    bucket = TokenBucket(rate, burst, clock=time_.clock, sleep=time_.sleep)
    costs = [fraction * burst for fraction in fractions]
    grants: list[tuple[float, float]] = []

    async def acquirer(cost: float) -> None:
        await bucket.acquire(cost)
        grants.append((time_.now, cost))

    asyncio.run(time_.run(*(acquirer(cost) for cost in costs)))

    assert len(grants) == len(costs)
    for i in range(len(grants)):
        spent = 0.0
        for j in range(i, len(grants)):
            spent += grants[j][1]
            window = grants[j][0] - grants[i][0]
            assert spent <= burst + rate * window + 1e-6
    # and it is not slower than it must be: back-to-back waiting wastes no tokens
    assert grants[-1][0] == pytest.approx(max(0.0, (sum(costs) - burst) / rate), abs=1e-6)


@settings(max_examples=60, deadline=None)
@given(
    rate=st.floats(min_value=0.5, max_value=50.0),
    burst=st.integers(min_value=1, max_value=10),
    arrivals=st.lists(st.tuples(st.floats(min_value=0.0, max_value=5.0),
                                st.floats(min_value=0.05, max_value=1.0)),
                      min_size=1, max_size=40),
)
def test_acquirers_arriving_over_time_never_exceed_rate_plus_burst(
    rate: float, burst: int, arrivals: list[tuple[float, float]],
) -> None:
    """Idle gaps must not bank more than ``burst`` tokens."""
    time_ = VirtualTime()
    bucket = TokenBucket(rate, burst, clock=time_.clock, sleep=time_.sleep)
    grants: list[tuple[float, float]] = []

    async def acquirer(arrival: float, cost: float) -> None:
        await time_.sleep(arrival)
        await bucket.acquire(cost)
        grants.append((time_.now, cost))

    asyncio.run(time_.run(*(acquirer(at, fraction * burst) for at, fraction in arrivals)))

    assert len(grants) == len(arrivals)
    for i in range(len(grants)):
        spent = 0.0
        for j in range(i, len(grants)):
            spent += grants[j][1]
            assert spent <= burst + rate * (grants[j][0] - grants[i][0]) + 1e-6


def test_waiting_acquirers_are_served_in_arrival_order() -> None:
    """A dear call queued first is not starved by cheap ones that arrive after it."""
    time_ = VirtualTime()
    bucket = TokenBucket(1.0, 5.0, clock=time_.clock, sleep=time_.sleep)
    asyncio.run(bucket.acquire(5.0))  # drained
    order: list[tuple[int, float]] = []

    async def acquirer(index: int, cost: float) -> None:
        await bucket.acquire(cost)
        order.append((index, time_.now))

    costs = [5.0, 1.0, 1.0, 1.0, 2.0, 1.0]
    asyncio.run(time_.run(*(acquirer(i, cost) for i, cost in enumerate(costs))))
    assert [index for index, _ in order] == [0, 1, 2, 3, 4, 5]
    assert [at for _, at in order] == pytest.approx([5.0, 6.0, 7.0, 8.0, 10.0, 11.0])


@pytest.mark.parametrize("make", [
    lambda time_: TokenBucket(1.0, 1.0, clock=time_.clock, sleep=time_.sleep),
    lambda time_: CostBucket(1.0, 1.0, clock=time_.clock, sleep=time_.sleep),
])
def test_a_bucket_outlives_its_event_loop(make: Any) -> None:
    """Buckets are per connection and process; each sync job may run its own event loop."""
    time_ = VirtualTime()
    bucket = make(time_)
    for _ in range(2):
        asyncio.run(time_.run(*(bucket.acquire(1.0) for _ in range(3))))
    assert time_.now == pytest.approx(5.0)


def test_a_429_empties_the_token_bucket() -> None:
    time_ = FakeTime()
    bucket = TokenBucket(10.0, 10.0, clock=time_.clock, sleep=time_.sleep)
    bucket.observe(_response(429))
    asyncio.run(bucket.acquire())
    assert time_.sleeps == [pytest.approx(0.1)]


def test_the_platform_rate_header_replaces_the_configured_rate() -> None:
    time_ = FakeTime()
    bucket = TokenBucket(5.0, 1.0, clock=time_.clock, sleep=time_.sleep,
                         rate_header="x-amzn-RateLimit-Limit")
    bucket.observe(_response(200, headers={"x-amzn-RateLimit-Limit": "0.5"}))

    async def two() -> None:
        await bucket.acquire()
        await bucket.acquire()

    asyncio.run(two())
    assert bucket.rate == 0.5
    assert time_.now == pytest.approx(2.0)


def test_a_cost_larger_than_the_burst_is_refused() -> None:
    time_ = FakeTime()
    bucket = TokenBucket(1.0, 2.0, clock=time_.clock, sleep=time_.sleep)
    with pytest.raises(ValueError, match="never fit"):
        asyncio.run(bucket.acquire(3.0))


# --------------------------------------------------------------------------------------------
# Cost bucket


def _cost_body(current: float, maximum: float = 1000.0, restore: float = 50.0,
               actual: float | None = 10.0) -> dict[str, Any]:
    return {"data": {}, "extensions": {"cost": {
        "requestedQueryCost": 100, "actualQueryCost": actual,
        "throttleStatus": {"maximumAvailable": maximum, "currentlyAvailable": current,
                           "restoreRate": restore}}}}


def test_the_cost_bucket_waits_for_refill() -> None:
    time_ = FakeTime()
    bucket = CostBucket(100.0, 10.0, clock=time_.clock, sleep=time_.sleep)

    async def spend() -> None:
        await bucket.acquire(80)
        await bucket.acquire(50)

    asyncio.run(spend())
    assert time_.now == pytest.approx(3.0)  # 20 left, 30 more at 10/s
    assert bucket.snapshot()["available"] == pytest.approx(0.0)


def test_concurrent_cost_acquirers_wait_in_turn() -> None:
    time_ = VirtualTime()
    bucket = CostBucket(100.0, 10.0, clock=time_.clock, sleep=time_.sleep)
    grants: list[float] = []

    async def acquirer() -> None:
        await bucket.acquire(60)
        grants.append(time_.now)

    asyncio.run(time_.run(*(acquirer() for _ in range(4))))
    assert grants == pytest.approx([0.0, 2.0, 8.0, 14.0])


def test_throttle_status_resynchronises_capacity_rate_and_available_points() -> None:
    time_ = FakeTime()
    bucket = CostBucket(1000.0, 100.0, clock=time_.clock, sleep=time_.sleep)
    asyncio.run(bucket.acquire(50))
    bucket.observe(_response(200, json=_cost_body(1500, maximum=2000, restore=200)))
    assert bucket.snapshot() == {"capacity": 2000.0, "available": 1500.0, "restore_rate": 200.0}
    asyncio.run(bucket.acquire(1600))
    assert time_.sleeps == [pytest.approx(0.5)]  # 100 short at the platform's 200/s


def test_the_actual_query_cost_is_not_counted_twice() -> None:
    bucket = CostBucket(1000.0, 50.0, clock=ManualClock())
    asyncio.run(bucket.acquire(100))
    assert bucket.snapshot()["available"] == 900.0
    # The platform charged 40 of the 100 reserved; its number already has that taken off.
    bucket.observe(_response(200, json=_cost_body(960, actual=40)))
    assert bucket.snapshot()["available"] == 960.0


def test_the_estimate_refills_from_the_resynchronised_point() -> None:
    clock = ManualClock()
    bucket = CostBucket(1000.0, 50.0, clock=clock)
    bucket.observe(_response(200, json=_cost_body(100)))
    clock.now = 2.0
    assert bucket.snapshot()["available"] == 200.0
    clock.now = 100.0
    assert bucket.snapshot()["available"] == 1000.0


def test_a_throttled_answer_without_cost_empties_the_estimate() -> None:
    time_ = FakeTime()
    bucket = CostBucket(1000.0, 100.0, clock=time_.clock, sleep=time_.sleep)
    bucket.observe(_response(200, json={"errors": [{"extensions": {"code": "THROTTLED"}}]}))
    asyncio.run(bucket.acquire(100))
    assert time_.sleeps == [pytest.approx(1.0)]


def test_answers_without_cost_data_leave_the_estimate_alone() -> None:
    bucket = CostBucket(1000.0, 100.0, clock=ManualClock())
    asyncio.run(bucket.acquire(300))
    bucket.observe(_response(200, json={"data": {"ok": True}}))
    bucket.observe(httpx.Response(502, content=b"<html>bad gateway</html>",
                                  request=httpx.Request("POST", "https://x/graphql.json")))
    assert bucket.snapshot()["available"] == 700.0


def test_a_query_dearer_than_the_bucket_waits_for_a_full_bucket_then_goes() -> None:
    time_ = FakeTime()
    bucket = CostBucket(100.0, 10.0, clock=time_.clock, sleep=time_.sleep)

    async def spend() -> None:
        await bucket.acquire(30)
        await bucket.acquire(150)  # the platform will answer MAX_COST_EXCEEDED, not us

    asyncio.run(spend())
    assert time_.now == pytest.approx(3.0)
