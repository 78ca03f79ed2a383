"""Channel sync: how long a stock change takes to reach Shopify, and how fast Mercato pushes.

The system under test is Mercato as deployed: the server (``bench.stack``) and a separate
``mercato worker`` process (same ``MERCATO_*`` environment) whose loops carry a change to the
platform: the publisher (about once a second) recomputes changed levels' channel numbers and
records each one wanted on its mapping in the same transaction, and the pusher (its own
thread, every 0.25 s) sends due numbers, up to 250 per ``inventorySetQuantities``. The
platform is the Shopify emulator (``mercato_emulators.shopify``), served by uvicorn on a
thread of this process with Shopify's standard-plan limits (cost bucket of 2,000 points,
restored at 100 points/s, ``THROTTLED`` answered with HTTP 200), so the benchmark can read what
it holds (``emulator.available``) without a request. Every GraphQL request it answers is timed
by a small ASGI wrapper (start and end, and whether it was an ``inventorySetQuantities``).

Setup, through the API: a location, the ``tcg`` product types, ``MERCATO_BENCH_CHANNEL_SKUS``
(default 1,000) SKUs in ``accessory`` products of 500 variants, without stock; the same SKUs on
the emulator (one product with one variant each, 0 available); a ``shopify`` channel over that
location connected to the emulator (``api_base``, the emulator's token and secret); the
variants linked the merchant's way, by a ``product_import`` job (channel mode: Shopify's
variants paged through and matched by SKU), whose time is reported with ``first_push``. With
no stock yet, the first push is the first stock received.

1. ``first_push``: every SKU receives its first stock (1,000 + n mod 97 units,
   ``POST /api/v1/inventory/adjustments``, 100 lines per request, as in ``propagation``).
   Mercato does not know Shopify's numbers yet, so the pusher reads them first (the
   compare-and-set value) and then sets them. Latency per SKU as in ``propagation``; req/s is
   SKUs arrived per second.
2. ``propagation``: 3 rounds; in each, every SKU's stock changes (``POST
   /api/v1/inventory/adjustments``, 100 lines per request, one request at a time on a thread,
   a different non-zero delta per SKU and round). A SKU's change time is the moment its request
   returned; the main thread meanwhile reads the emulator every 20 ms and notes the first time
   it holds each SKU's new number. Latency = first seen - change time (so it carries up to
   20 ms of polling granularity), pooled over the rounds; req/s is SKUs arrived per second of
   the rounds (first request sent to last arrival). Between rounds the benchmark waits until
   the connection has nothing pending.
3. ``push_rate``: the same rounds seen from the emulator: req/s is quantities pushed per
   second (``inventorySetQuantities`` quantities in ``mutation_log``) over the rounds' time;
   the latencies are the emulator's own time per ``inventorySetQuantities`` request (ASGI call
   to last byte); the note gives calls/s, the mean batch, ``THROTTLED`` answers
   (``emulator.throttled``) and what the bucket would allow.
4. ``single_change``: one SKU changed alone, 20 times, each change after the previous one
   arrived plus a random 0.2-1.2 s (so changes fall at every phase of the publisher's second):
   what a shopper sees after one sale. Latency as in ``propagation`` (polled every 5 ms).
5. ``push_rate_tight``: the emulator's bucket is shrunk (``MERCATO_BENCH_CHANNEL_TIGHT``,
   default ``20,2``: 20 points restored at 2/s, one ``inventorySetQuantities`` every 5 s after
   a burst of two; a mutation costs 10 points whatever its size; 100 points at 50/s would not
   bind, its burst of ten calls covers a whole round) and one more round of every
   SKU runs: quantities/s and calls/s, ``THROTTLED`` answers, per-SKU latency, and whether
   every number still arrived. Mercato learns the new bucket from the next answer's
   ``throttleStatus``.

Checks, after the single changes and again after the tight round (``extra["check"]``, summed
up in the note): every SKU's number on the emulator equals what the benchmark changed it to and
each mapping's ``want_quantity`` and ``remote_quantity``; every mapping is ``in_sync`` and
linked to the right inventory item; for a sample of 50 SKUs
``GET /api/v1/channels/{id}/availability`` equals the emulator; no sync job failed; the
connection's health is ``ok`` with nothing pending. A SKU that never arrived (120 s) counts in
the ``errors`` column.

``python -m bench channels [--db sqlite,postgresql]`` (no ceilings: nothing here is an HTTP
load). ``--duration``, ``--warmup`` and ``--concurrency`` do not apply.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping, MutableMapping
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from bench.loadgen import LoadResult, _cpu_seconds, _machine_cpu_seconds, percentile
from bench.registry import Context, Row, register
from bench.stack import ROOT, Server, free_port, mercato_command, server_env, stack, stop

PREFIX = "CH"
START_UNITS = 1_000
ROUNDS = 3
ADJUST_LINES = 100
SINGLE_CHANGES = 20
SINGLE_GAP = (0.2, 1.2)
POLL = 0.02
SINGLE_POLL = 0.005
ARRIVAL_TIMEOUT = 120.0
SETTLE_TIMEOUT = 60.0
AVAILABILITY_SAMPLE = 50
LINK_TIMEOUT = 300.0
VARIANTS_PER_PRODUCT = 500
ACCESS_TOKEN = "shpat_" + "bench0123456789abcdef0123456789ab"
CLIENT_SECRET = "shpss_" + "benchfedcba9876543210fedcba98765"
API_VERSION = "2026-10"
SHOP_DOMAIN = "bench-shop.myshopify.com"
SET_MUTATION = b"inventorySetQuantities"
Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


# -- the emulator, served from this process -----------------------------------------------------

@dataclass(frozen=True)
class Call:
    started: float
    ended: float
    sets: bool
    """An ``inventorySetQuantities`` (else any other GraphQL request)."""


class TimedApp:
    """Wraps the emulator's ASGI app: notes when each GraphQL request started and ended, and
    whether it set quantities (peeking at the start of its body), without changing it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.calls: list[Call] = []
        self._lock = threading.Lock()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not str(scope["path"]).endswith("/graphql.json"):
            await self.app(scope, receive, send)
            return
        started = time.monotonic()
        head = bytearray()

        async def peek() -> Message:
            message = await receive()
            if len(head) < 4096:
                head.extend(message.get("body", b"")[:4096])
            return message

        await self.app(scope, peek, send)
        with self._lock:
            self.calls.append(Call(started, time.monotonic(), SET_MUTATION in head))

    def since(self, index: int) -> list[Call]:
        with self._lock:
            return self.calls[index:]

    def count(self) -> int:
        with self._lock:
            return len(self.calls)


@dataclass
class Emulator:
    state: Any
    """The ``ShopifyEmulator``."""
    timed: TimedApp
    url: str

    def mutations(self) -> int:
        with self.state.lock:
            return len(self.state.mutation_log)

    def quantities_since(self, index: int) -> tuple[int, int]:
        """(``inventorySetQuantities`` calls, quantities in them) in ``mutation_log`` after
        ``index``."""
        with self.state.lock:
            entries = self.state.mutation_log[index:]
        sets = [v for name, v in entries if name == "inventorySetQuantities"]
        return len(sets), sum(len(v["input"]["quantities"]) for v in sets)

    def throttled(self) -> int:
        with self.state.lock:
            return int(self.state.throttled)

    def limit(self, bucket_size: float, restore_rate: float) -> None:
        """Another plan's bucket, full from now on."""
        with self.state.lock:
            self.state.bucket_size = float(bucket_size)
            self.state.restore_rate = float(restore_rate)
            self.state.reset_bucket()


@contextmanager
def serve(app: ASGIApp, name: str) -> Iterator[str]:
    """``app`` served by uvicorn on a thread of this process until the block ends; yields its
    base URL. The benchmark reads the emulator's state directly, without a request."""
    import uvicorn

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None,
                                           access_log=False, lifespan="off"))
    thread = threading.Thread(target=server.run, name=f"{name}-emulator", daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 15
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the {name} emulator did not start")
            time.sleep(0.02)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@contextmanager
def emulator() -> Iterator[Emulator]:
    """The Shopify emulator on a uvicorn thread (default limits), until the block ends."""
    from mercato_emulators.shopify import ShopifyEmulator, create_app

    state = ShopifyEmulator(shop_domain=SHOP_DOMAIN, access_token=ACCESS_TOKEN,
                            client_secret=CLIENT_SECRET)
    timed = TimedApp(create_app(state))
    try:
        with serve(timed, "shopify") as url:
            yield Emulator(state, timed, url)
    finally:
        state.close()


# -- the worker process -------------------------------------------------------------------------

@contextmanager
def running_worker(database_url: str) -> Iterator[subprocess.Popen[bytes]]:
    """``mercato worker`` in its own process with the server's environment; stopped (SIGTERM)
    when the block ends. Its log is printed if the block fails."""
    with tempfile.NamedTemporaryFile(prefix="mercato-bench-worker-", suffix=".log",
                                     delete=False) as log:
        log_path = Path(log.name)
        process = subprocess.Popen([*mercato_command(), "worker"], env=server_env(database_url),
                                   cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    try:
        time.sleep(0.5)
        if process.poll() is not None:
            raise RuntimeError(f"mercato worker exited with {process.returncode}")
        yield process
    except BaseException:
        tail = log_path.read_text(errors="replace").splitlines()[-40:]
        sys.stderr.write("--- worker log (last lines) ---\n" + "\n".join(tail) + "\n")
        raise
    finally:
        stop(process)
        log_path.unlink(missing_ok=True)


# -- HTTP helpers -------------------------------------------------------------------------------

def call(server: Server, method: str, path: str, body: Any = None) -> Any:
    status, payload = server.request(method, path, body, server.headers)
    if not 200 <= status < 300:
        raise RuntimeError(f"{method} {path} answered {status}: {payload[:500]!r}")
    return json.loads(payload) if payload else None


def adjust(server: Server, location: str, deltas: dict[str, int]) -> None:
    call(server, "POST", "/api/v1/inventory/adjustments", {"lines": [
        {"sku": sku, "location": location, "delta": delta, "reason": "adjustment"}
        for sku, delta in deltas.items()]})


@dataclass
class Shop:
    """What the benchmark set up and what it expects the emulator to hold."""

    server: Server
    emulator: Emulator
    location: str
    channel: str
    items: dict[str, str]
    """Emulator inventory item gid by SKU."""
    current: dict[str, int]
    """Each SKU's number as the benchmark changed it (= the channel's available-to-sell)."""
    pids: tuple[int, ...]
    """The server and the worker."""
    link_seconds: float = 0.0
    """How long the ``product_import`` job took to link every SKU."""

    def pending(self) -> int:
        return int(call(self.server, "GET",
                        f"/api/v1/channels/{self.channel}/connection")["pending_pushes"])

    def settle(self) -> None:
        """Wait until nothing is left to push and the emulator holds every number."""
        deadline = time.monotonic() + SETTLE_TIMEOUT
        while time.monotonic() < deadline:
            if not self.pending() and all(self.emulator.state.available(self.items[s]) == q
                                          for s, q in self.current.items()):
                return
            time.sleep(0.2)
        raise RuntimeError("the connection did not settle: pushes still pending")


def make_products(server: Server, skus: list[str]) -> None:
    """The SKUs in ``accessory`` products of ``VARIANTS_PER_PRODUCT`` variants, no stock."""
    for first in range(0, len(skus), VARIANTS_PER_PRODUCT):
        call(server, "POST", "/api/v1/products", {
            "title": f"Bench {PREFIX} {first}", "product_type": "accessory",
            "variants": [{"sku": sku, "price": "1.00"}
                         for sku in skus[first:first + VARIANTS_PER_PRODUCT]]})


def set_up(server: Server, shop: Emulator, skus: list[str], pids: tuple[int, ...]) -> Shop:
    """Products without stock in Mercato and on the emulator, a connected channel, and every
    variant linked by a ``product_import`` job: the first stock received is the first push."""
    location = call(server, "POST", "/api/v1/locations",
                    {"name": "Warehouse", "code": "WH"})["id"]
    call(server, "POST", "/api/v1/product-types/install", {"set": "tcg"})
    make_products(server, skus)
    items = {}
    for sku in skus:
        made = shop.state.add_product(f"Bench {sku}", variants=[{"sku": sku, "price": "1.00"}])
        items[sku] = str(made["variants"][0]["inventory_item_id"])
    channel = call(server, "POST", "/api/v1/channels", {
        "name": "Shopify bench", "kind": "shopify", "locations": [location]})["id"]
    call(server, "PUT", f"/api/v1/channels/{channel}/connection", {
        "kind": "shopify", "mode": "channel", "account": SHOP_DOMAIN,
        "api_version": API_VERSION, "api_base": shop.url,
        "credentials": {"access_token": ACCESS_TOKEN, "client_secret": CLIENT_SECRET}})
    started = time.monotonic()
    job = call(server, "POST", f"/api/v1/channels/{channel}/sync-jobs",
               {"kind": "product_import"})
    while True:
        job = call(server, "GET", f"/api/v1/sync-jobs/{job['id']}")
        if job["status"] in ("succeeded", "failed", "cancelled"):
            break
        if time.monotonic() - started > LINK_TIMEOUT:
            raise RuntimeError(f"product_import did not finish: {job}")
        time.sleep(0.2)
    if job["status"] != "succeeded" or job["done"] != len(skus) or job["failed"]:
        raise RuntimeError(f"product_import did not link every SKU: {job}")
    linked = time.monotonic() - started
    made = Shop(server, shop, location, channel, items, dict.fromkeys(skus, 0), pids)
    made.link_seconds = linked
    return made


# -- measuring ----------------------------------------------------------------------------------

@dataclass
class Cpu:
    """Cores busy over a stretch: server + worker, this process (emulator and poller), all."""

    pids: tuple[int, ...]
    seconds: float = 0.0
    used: list[float] = field(default_factory=lambda: [0.0, 0.0, 0.0])
    known: bool = True
    _start: tuple[float | None, float, float | None, float] | None = None

    def __enter__(self) -> Cpu:
        self._start = (_cpu_seconds(self.pids), time.process_time(), _machine_cpu_seconds(),
                       time.monotonic())
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._start is not None
        server0, own0, machine0, t0 = self._start
        server1, machine1 = _cpu_seconds(self.pids), _machine_cpu_seconds()
        if None in (server0, server1, machine0, machine1):
            self.known = False
        else:
            self.used[0] += float(server1 or 0) - float(server0 or 0)
            self.used[2] += float(machine1 or 0) - float(machine0 or 0)
        self.used[1] += time.process_time() - own0
        self.seconds += time.monotonic() - t0

    def cores(self) -> tuple[float | None, float | None, float | None]:
        if not self.seconds:
            return None, None, None
        own = self.used[1] / self.seconds
        if not self.known:
            return None, own, None
        return self.used[0] / self.seconds, own, self.used[2] / self.seconds


Reader = Callable[[str], int | None]
"""What a platform holds for a SKU, read in-process from its emulator."""


def watch_many(readers: Mapping[str, Reader], want: dict[str, int],
               changed: dict[str, float], *, poll: float = POLL,
               failed: Callable[[], None] = lambda: None) -> dict[str, dict[str, float]]:
    """Per platform, the first time its emulator held each SKU's wanted number, for SKUs whose
    change time is known (``changed`` fills while this runs); stops when every platform has
    every number or after ``ARRIVAL_TIMEOUT``."""
    seen: dict[str, dict[str, float]] = {name: {} for name in readers}
    deadline = time.monotonic() + ARRIVAL_TIMEOUT
    while (any(len(s) < len(want) for s in seen.values())
           and time.monotonic() < deadline):
        failed()
        for name, read in readers.items():
            got = seen[name]
            for sku in [s for s in list(changed) if s not in got]:
                if read(sku) == want[sku]:
                    got[sku] = time.monotonic()
        time.sleep(poll)
    return seen


def watch(shop: Shop, want: dict[str, int], changed: dict[str, float], *,
          poll: float = POLL, failed: Callable[[], None] = lambda: None) -> dict[str, float]:
    """``watch_many`` for the Shopify emulator alone."""
    return watch_many({"shopify": lambda s: shop.emulator.state.available(shop.items[s])},
                      want, changed, poll=poll, failed=failed)["shopify"]


@dataclass
class Sent:
    """A change of many SKUs sent while their arrival was watched."""

    changed: dict[str, float]
    """When each SKU's request returned."""
    seen: dict[str, dict[str, float]]
    """Per platform, when its emulator first held each SKU's new number."""
    started: float
    sending: float
    """First request sent to the last one answered: the changes alone."""
    ended: float
    """The last arrival on any platform (or the timeout)."""


def send_and_watch(server: Server, location: str, deltas: dict[str, int],
                   want: dict[str, int], readers: Mapping[str, Reader], cpu: Cpu, *,
                   poll: float = POLL) -> Sent:
    """Change every SKU in ``deltas`` (``ADJUST_LINES`` a request, one at a time on a thread)
    while this thread watches ``readers`` for ``want``."""
    changed: dict[str, float] = {}
    skus = list(deltas)
    sent = 0.0

    def send() -> None:
        nonlocal sent
        for first in range(0, len(skus), ADJUST_LINES):
            batch = skus[first:first + ADJUST_LINES]
            adjust(server, location, {s: deltas[s] for s in batch})
            done = time.monotonic()
            for sku in batch:
                changed[sku] = done
        sent = time.monotonic()

    with cpu, ThreadPoolExecutor(1, thread_name_prefix="adjust") as pool:
        started = sent = time.monotonic()
        sender: Future[None] = pool.submit(send)

        def failed() -> None:
            if sender.done() and sender.exception() is not None:
                sender.result()

        seen = watch_many(readers, want, changed, poll=poll, failed=failed)
        sender.result()
        complete = all(len(s) == len(want) for s in seen.values())
        ended = (max((t for s in seen.values() for t in s.values()), default=started)
                 if complete else time.monotonic())
    return Sent(changed, seen, started, sent - started, ended)


@dataclass
class Round:
    """One change of many SKUs and what the emulator saw of it."""

    latencies: list[float]
    seconds: float
    """First request sent to the last arrival (or the timeout)."""
    sending: float
    """First request sent to the last one answered: the changes alone."""
    missing: int
    calls: int
    """``inventorySetQuantities`` in ``mutation_log`` (replays included)."""
    quantities: int
    throttled: int
    requests: list[Call]
    """Every GraphQL request the emulator answered meanwhile."""


def change_round(shop: Shop, deltas: dict[str, int], cpu: Cpu) -> Round:
    """Change every SKU in ``deltas`` (100 lines a request, on a thread) and time each SKU
    from its request's return until the emulator holds its new number."""
    want = {sku: shop.current[sku] + delta for sku, delta in deltas.items()}
    mutations, requests, throttled = (shop.emulator.mutations(), shop.emulator.timed.count(),
                                      shop.emulator.throttled())
    done = send_and_watch(
        shop.server, shop.location, deltas, want,
        {"shopify": lambda s: shop.emulator.state.available(shop.items[s])}, cpu)
    seen = done.seen["shopify"]
    shop.current.update(want)
    calls, quantities = shop.emulator.quantities_since(mutations)
    return Round(latencies=[seen[s] - done.changed[s] for s in seen],
                 seconds=done.ended - done.started, sending=done.sending,
                 missing=len(want) - len(seen), calls=calls, quantities=quantities,
                 throttled=shop.emulator.throttled() - throttled,
                 requests=shop.emulator.timed.since(requests))


def deltas_for(skus: list[str], round_no: int) -> dict[str, int]:
    """A different non-zero delta per SKU and round: up in even rounds, down in odd ones."""
    sign = -1 if round_no % 2 else 1
    return {sku: sign * (1 + (n * 7 + round_no * 3) % 19) for n, sku in enumerate(skus)}


def load_result(latencies: list[float], count: int, seconds: float, missing: int,
                cores: tuple[float | None, float | None, float | None],
                sample_error: str | None = None) -> LoadResult:
    """A ``LoadResult`` from samples measured here (not by the load generator): ``count``
    over ``seconds`` is the rate, ``missing`` goes in the errors column."""
    ordered = sorted(latencies)
    return LoadResult(
        requests=count, duration=seconds, rps=count / seconds if seconds else 0.0,
        p50_ms=percentile(ordered, 0.50) * 1000, p95_ms=percentile(ordered, 0.95) * 1000,
        p99_ms=percentile(ordered, 0.99) * 1000, max_ms=(ordered[-1] if ordered else 0) * 1000,
        non_2xx=0, errors=missing, status_counts={}, ok_total=count, errors_total=missing,
        sample_error=sample_error, server_cpu=cores[0], client_cpu=cores[1],
        machine_cpu=cores[2], event_loop="measured in bench.channels")


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f}"


def _spread(values: list[float]) -> str:
    ordered = sorted(values)
    return (f"p50/p95/p99/max {_ms(percentile(ordered, 0.5))}/{_ms(percentile(ordered, 0.95))}"
            f"/{_ms(percentile(ordered, 0.99))}/{_ms(ordered[-1] if ordered else 0)} ms")


def _missing(count: int) -> str | None:
    return (f"{count} SKUs not on the emulator after {ARRIVAL_TIMEOUT:.0f} s" if count
            else None)


def push_capacity(restore_rate: float) -> float:
    """Quantities per second the bucket allows once its burst is spent: full batches of
    Shopify's push batch at its flat cost of a mutation."""
    import mercato.channels.shopify.sync  # noqa: F401 - registers Shopify's batch size
    from mercato.channels.registry import batch_size
    from mercato_emulators.shopify.schema import MUTATION_COST

    return restore_rate / float(MUTATION_COST) * batch_size("shopify")


# -- cases --------------------------------------------------------------------------------------

def first_push(ctx: Context, shop: Shop) -> Row:
    cpu = Cpu(shop.pids)
    received = {sku: START_UNITS + n % 97 for n, sku in enumerate(shop.current)}
    done = change_round(shop, received, cpu)
    sets = sum(1 for c in done.requests if c.sets)
    other = len(done.requests) - sets
    row = Row(ctx.benchmark, ctx.database, "first_push",
              load_result(done.latencies, len(done.latencies), done.seconds, done.missing,
                          cpu.cores(), _missing(done.missing)), 1)
    row.extra["first_push"] = {
        "link_seconds": shop.link_seconds, "skus": len(received), "seconds": done.seconds,
        "missing": done.missing,
        "set_calls": done.calls, "quantities_pushed": done.quantities, "set_requests": sets,
        "other_requests": other, "throttled": done.throttled}
    row.extra["note"] = (
        f"{len(received):,} SKUs linked by product_import in {shop.link_seconds:.1f} s; "
        f"first stock of {len(received):,} SKUs received ({ADJUST_LINES} lines a "
        f"request, sent in {done.sending:.1f} s) -> all on the emulator in "
        f"{done.seconds:.1f} s"
        + (f" ({done.missing} NEVER ARRIVED)" if done.missing else "")
        + f"; {done.calls} inventorySetQuantities carrying {done.quantities:,} quantities, "
        f"{other} other requests (reads of Shopify's levels for compare-and-set), THROTTLED "
        f"{done.throttled}; req/s is SKUs arrived per second")
    return row


def propagation(ctx: Context, shop: Shop) -> tuple[Row, Row]:
    rounds: list[Round] = []
    cpu = Cpu(shop.pids)
    skus = list(shop.current)
    for round_no in range(ROUNDS):
        rounds.append(change_round(shop, deltas_for(skus, round_no), cpu))
        shop.settle()
    latencies = [t for r in rounds for t in r.latencies]
    seconds = sum(r.seconds for r in rounds)
    missing = sum(r.missing for r in rounds)
    arrived = len(latencies)
    row = Row(ctx.benchmark, ctx.database, "propagation",
              load_result(latencies, arrived, seconds, missing, cpu.cores(), _missing(missing)),
              1)
    row.extra["rounds"] = [{
        "skus": len(skus), "seconds": r.seconds, "sending_seconds": r.sending,
        "missing": r.missing,
        "p50_ms": percentile(sorted(r.latencies), 0.5) * 1000,
        "p95_ms": percentile(sorted(r.latencies), 0.95) * 1000,
        "max_ms": max(r.latencies, default=0) * 1000, "set_calls": r.calls,
        "quantities_pushed": r.quantities, "throttled": r.throttled} for r in rounds]
    row.extra["note"] = (
        f"{ROUNDS} rounds of {len(skus):,} SKUs changed ({ADJUST_LINES} lines a request); "
        f"changes sent in " + ", ".join(f"{r.sending:.1f}" for r in rounds) + " s, all "
        "arrived in " + ", ".join(f"{r.seconds:.1f}" for r in rounds) + " s; per round "
        + "; ".join(_spread(r.latencies) for r in rounds)
        + (f"; {missing} NEVER ARRIVED" if missing else ""))
    return row, push_row(ctx, "push_rate", rounds, cpu, bucket=(2000, 100))


def push_row(ctx: Context, case: str, rounds: list[Round], cpu: Cpu,
             bucket: tuple[float, float]) -> Row:
    seconds = sum(r.seconds for r in rounds)
    quantities = sum(r.quantities for r in rounds)
    calls = sum(r.calls for r in rounds)
    throttled = sum(r.throttled for r in rounds)
    changed = sum(len(r.latencies) + r.missing for r in rounds)
    sets = [c for r in rounds for c in r.requests if c.sets]
    others = sum(1 for r in rounds for c in r.requests if not c.sets)
    row = Row(ctx.benchmark, ctx.database, case,
              load_result([c.ended - c.started for c in sets], quantities, seconds,
                          sum(r.missing for r in rounds), cpu.cores()), 1)
    row.extra["push"] = {
        "bucket_size": bucket[0], "restore_rate": bucket[1], "rounds": len(rounds),
        "skus_changed": changed, "quantities_pushed": quantities, "set_calls": calls,
        "set_requests": len(sets), "other_requests": others, "throttled": throttled,
        "seconds": seconds, "quantities_per_s": quantities / seconds if seconds else 0.0,
        "calls_per_s": calls / seconds if seconds else 0.0,
        "mean_batch": quantities / calls if calls else 0.0,
        "capacity_quantities_per_s": push_capacity(bucket[1])}
    mean = row.extra["push"]["mean_batch"]
    row.extra["note"] = (
        f"bucket {bucket[0]:.0f} points at {bucket[1]:.0f}/s: {quantities:,} quantities for "
        f"{changed:,} changes in {calls} inventorySetQuantities (mean {mean:.0f} "
        f"per call, {len(sets)} requests, {others} other) over {seconds:.1f} s = "
        f"{quantities / seconds:.0f} quantities/s, {calls / seconds:.2f} calls/s; THROTTLED "
        f"{throttled}; the bucket's refill alone allows {push_capacity(bucket[1]):,.0f} "
        f"quantities/s; latencies are the emulator's time per inventorySetQuantities")
    return row


def single_change(ctx: Context, shop: Shop) -> Row:
    sku = next(iter(shop.current))
    pace = random.Random(7919)  # spacing, not security
    latencies: list[float] = []
    missing = 0
    cpu = Cpu(shop.pids)
    started = time.monotonic()
    for n in range(SINGLE_CHANGES):
        delta = 1 if n % 2 == 0 else -1
        with cpu:
            adjust(shop.server, shop.location, {sku: delta})
            changed = time.monotonic()
            shop.current[sku] += delta
            seen = watch(shop, {sku: shop.current[sku]}, {sku: changed}, poll=SINGLE_POLL)
        if sku in seen:
            latencies.append(seen[sku] - changed)
        else:
            missing += 1
        time.sleep(pace.uniform(*SINGLE_GAP))
    seconds = time.monotonic() - started
    row = Row(ctx.benchmark, ctx.database, "single_change",
              load_result(latencies, len(latencies), seconds, missing, cpu.cores(),
                          _missing(missing)), 1)
    row.extra["note"] = (
        f"one SKU changed alone {SINGLE_CHANGES} times ({SINGLE_GAP[0]}-{SINGLE_GAP[1]} s "
        f"apart after each arrived, polled every {SINGLE_POLL * 1000:.0f} ms): "
        f"{_spread(latencies)}; req/s is changes over the whole case, gaps included")
    return row


def tight(ctx: Context, shop: Shop, bucket: tuple[float, float]) -> Row:
    shop.emulator.limit(*bucket)
    cpu = Cpu(shop.pids)
    done = change_round(shop, deltas_for(list(shop.current), ROUNDS), cpu)
    shop.settle()
    row = push_row(ctx, "push_rate_tight", [done], cpu, bucket)
    row.extra["latency"] = {"p50_ms": percentile(sorted(done.latencies), 0.5) * 1000,
                            "p95_ms": percentile(sorted(done.latencies), 0.95) * 1000,
                            "max_ms": max(done.latencies, default=0) * 1000,
                            "missing": done.missing}
    row.extra["note"] += (
        f"; per SKU {_spread(done.latencies)}; "
        + (f"{done.missing} NEVER ARRIVED" if done.missing
           else f"all {len(done.latencies):,} arrived in {done.seconds:.1f} s (changes sent "
                f"in {done.sending:.1f} s)"))
    return row


# -- checks -------------------------------------------------------------------------------------

def check(shop: Shop) -> tuple[dict[str, Any], list[str]]:
    """Mercato's view and the emulator's against what the benchmark changed."""
    server, channel, emu = shop.server, shop.channel, shop.emulator.state
    mappings = call(server, "GET", f"/api/v1/channels/{channel}/mappings?resource=variant"
                                   f"&limit=5000")
    by_sku = {m["sku"]: m for m in mappings}
    held = {sku: emu.available(shop.items[sku]) for sku in shop.current}
    wrong: list[str] = []
    off = [s for s, q in shop.current.items() if held[s] != q]
    unmapped = [s for s in shop.current if s not in by_sku]
    mislinked = [s for s, m in by_sku.items() if shop.items.get(s) != m["remote_extra"]]
    unsynced = [m["sku"] for m in mappings if not m["in_sync"] or m["push_error"]]
    wanted_off = [s for s, m in by_sku.items() if m["want_quantity"] != shop.current.get(s)]
    remote_off = [s for s, m in by_sku.items() if m["remote_quantity"] != held.get(s)]
    step = max(1, len(shop.current) // AVAILABILITY_SAMPLE)
    sample = list(shop.current)[::step][:AVAILABILITY_SAMPLE]
    sample_off = [s for s in sample if call(
        server, "GET", f"/api/v1/channels/{channel}/availability?sku={quote(s)}"
    )["available_to_sell"] != held[s]]
    jobs = call(server, "GET", f"/api/v1/channels/{channel}/sync-jobs?limit=500")
    failed = [j for j in jobs if j["status"] == "failed"]
    connection = call(server, "GET", f"/api/v1/channels/{channel}/connection")
    health = connection["health"]
    for label, bad in (("emulator number differs from the change", off),
                       ("not mapped", unmapped), ("mapped to another item", mislinked),
                       ("not in sync or push_error", unsynced),
                       ("want_quantity differs", wanted_off),
                       ("remote_quantity differs from the emulator", remote_off),
                       ("channel availability differs (sample)", sample_off)):
        if bad:
            wrong.append(f"{len(bad)} SKUs {label} (e.g. {bad[:3]})")
    if failed:
        wrong.append(f"{len(failed)} sync jobs failed: {failed[0].get('error')}")
    if health["status"] != "ok" or connection["pending_pushes"]:
        wrong.append(f"health {health['status']} ({health.get('last_error')}), "
                     f"{connection['pending_pushes']} pending")
    found = {"skus": len(shop.current), "mappings": len(mappings), "emulator_off": len(off),
             "unmapped": len(unmapped), "mislinked": len(mislinked),
             "not_in_sync": len(unsynced), "want_off": len(wanted_off),
             "remote_off": len(remote_off), "availability_sample": len(sample),
             "availability_off": len(sample_off), "jobs": len(jobs), "jobs_failed": len(failed),
             "health": health["status"], "pending_pushes": connection["pending_pushes"],
             "exact": not wrong}
    return found, wrong


def attach(row: Row, found: dict[str, Any], wrong: list[str]) -> None:
    row.extra["check"] = found
    row.extra["note"] += (
        f"; check: {found['skus']:,} SKUs, emulator = changes = want = remote, all in_sync, "
        f"{found['availability_sample']} availabilities = emulator, {found['jobs']} jobs, none "
        f"failed, health {found['health']}, pending {found['pending_pushes']}: "
        + ("exact" if not wrong else "MISMATCH: " + "; ".join(wrong)))


def tight_bucket() -> tuple[float, float]:
    size, rate = os.environ.get("MERCATO_BENCH_CHANNEL_TIGHT", "20,2").split(",")
    return float(size), float(rate)


@register("channels", uses_ceilings=False,
          description="Shopify sync against the emulator: stock change -> Shopify latency "
                      "(1k SKUs and one alone), quantities pushed/s under the rate limit")
def channels(ctx: Context) -> list[Row]:
    count = int(os.environ.get("MERCATO_BENCH_CHANNEL_SKUS", "1000"))
    skus = [f"{PREFIX}-{n}" for n in range(count)]
    with stack(ctx.database) as s, emulator() as shop_api, \
            running_worker(s.database_url) as worker:
        shop = set_up(s.server, shop_api, skus, (*s.server.pids, worker.pid))
        first = first_push(ctx, shop)
        shop.settle()
        spread, rate = propagation(ctx, shop)
        single = single_change(ctx, shop)
        shop.settle()
        attach(spread, *check(shop))
        limited = tight(ctx, shop, tight_bucket())
        attach(limited, *check(shop))
        if worker.poll() is not None:
            raise RuntimeError(f"mercato worker exited with {worker.returncode}")
        return [first, spread, rate, single, limited]
