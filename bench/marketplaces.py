"""Marketplaces: how long a stock change takes to reach Shopify, TCGplayer and eBay at once.

The same system under test as ``bench.channels`` (the server from ``bench.stack`` and a
separate ``mercato worker`` process; its channel thread pushes every connection's due numbers
in turn), with three channels over one location, each connected to its emulator served by
uvicorn on its own thread of this process under the platform's documented limits:

- Shopify (``mercato_emulators.shopify``): the standard plan's cost bucket, 2,000 points
  restored at 100/s; up to 250 quantities per ``inventorySetQuantities``.
- TCGplayer (``mercato_emulators.tcgplayer``): 10 requests a second (429 beyond it), and the
  connection's ``rate_per_second`` 10; the store's inventory is written one SKU per ``PUT
  .../inventory/skus/{skuId}``.
- eBay (``mercato_emulators.ebay``): ``bulk_update_price_quantity`` of at most 25 SKUs, and
  250 revisions per listing per UTC day (a round changes each listing once, so the run stays
  far below it); no per-second limit (eBay documents daily call quotas), the client's own
  pace is 5 requests a second.

Each emulator is wrapped by a small ASGI recorder (``Recorder``) that times every API request
and notes its status, so calls, 429s and the platform's time per write come from what the
emulators answered.

Setup, through the API: ``MERCATO_BENCH_MARKET_SKUS`` (default 100) ``tcg-single`` cards (one
variant each, published on ``shopify``, ``tcgplayer`` and ``ebay``) with stock at one location;
the same SKUs on the Shopify emulator (0 available) and a card per SKU in the TCGplayer
emulator's catalog; the three channels connected; then, at once, Shopify's ``product_import``
(variants matched by SKU), TCGplayer's mappings put by hand (``PUT .../mappings``, each SKU to
its Near Mint Normal English ``skuId``) and an ``inventory_push`` job, and eBay's
``product_export`` (inventory item, offer and listing per SKU). The benchmark waits until every
emulator holds every number and nothing is pending.

1. ``propagation``: ``MERCATO_BENCH_MARKET_ROUNDS`` rounds (default 3); in each every SKU's
   stock changes (``POST /api/v1/inventory/adjustments``, 100 lines a request, as in
   ``bench.channels``). A SKU's latency runs from its request's return to the first poll
   (every 20 ms, in-process) at which all three emulators hold its new number; req/s is SKUs
   arrived everywhere per second of the rounds. ``arrival_<platform>``: the same, to one
   platform (req/s over the first request to that platform's last arrival).
2. ``pushes_<platform>``: the rounds seen from each emulator: req/s is quantities written per
   second (over the same per-platform window), the latencies are the platform's own time per
   write call (ASGI call to last byte), the note gives write calls/s, the mean batch and the
   429 / ``THROTTLED`` answers.
3. ``single_change``: one SKU changed alone ``SINGLE_CHANGES`` times, each after the previous
   one reached all three plus a random 0.2-1.2 s; latency to all three (polled every 5 ms).

Checks afterwards (``extra["check"]`` on ``propagation``): for every SKU and platform the
emulator holds what the benchmark changed it to and what ``GET
/api/v1/channels/{id}/availability`` says; every mapping in sync without a push error; eBay's
offer quantity equals its item's; no sync job failed; every connection's health ``ok`` with
nothing pending. Anything wrong is added to the ``errors`` column of ``propagation`` and named
in its note, as are SKUs that never arrived (120 s).

``python -m bench marketplaces [--db sqlite,postgresql]`` (no ceilings; ``--duration``,
``--warmup`` and ``--concurrency`` do not apply).
"""

from __future__ import annotations

import os
import random
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import quote

from bench.channels import (
    ACCESS_TOKEN,
    ADJUST_LINES,
    API_VERSION,
    ARRIVAL_TIMEOUT,
    CLIENT_SECRET,
    LINK_TIMEOUT,
    POLL,
    SHOP_DOMAIN,
    SINGLE_GAP,
    SINGLE_POLL,
    ASGIApp,
    Cpu,
    Message,
    Reader,
    Receive,
    Scope,
    Send,
    Sent,
    _spread,
    adjust,
    call,
    deltas_for,
    load_result,
    running_worker,
    send_and_watch,
    serve,
)
from bench.loadgen import percentile
from bench.registry import Context, Row, register
from bench.stack import Server, stack

PREFIX = "MK"
START_UNITS = 20
SINGLE_CHANGES = 10
SETTLE_TIMEOUT = 120.0
PLATFORMS = ("shopify", "tcgplayer", "ebay")
TCG_PUBLIC_KEY = "tcg-public-bench0123456789"
TCG_PRIVATE_KEY = "tcg-private-bench9876543210"
TCG_STORE_KEY = "benchstore"
TCG_STORE_TOKEN = "store-token-bench0123456789abcdef"
TCG_RATE = 10.0
EBAY_CLIENT_ID = "MercatoB-bench-PRD-0123456789abcdef"
EBAY_CLIENT_SECRET = "PRD-bench0123456789abcdef-secret"
EBAY_REFRESH_TOKEN = "v^1.1#i^1#r^1#p^3#f^0#I^3#t^benchRefreshToken"
EBAY_REVISION_LIMIT = 250
EBAY_CLIENT_RATE = 5.0
"""Mercato's eBay client's requests a second when the connection sets none."""
SHOPIFY_CAPACITY = 2_500.0
"""Quantities a second Shopify's refill allows: 100 points/s / 10 per mutation x 250."""
TCG_PUT = re.compile(r".*/stores/[^/]+/inventory/skus/\d+")
CARD_ATTRIBUTES = {"game": "magic", "set_code": "LEA", "set_name": "Limited Edition Alpha",
                   "rarity": "common"}


# -- the emulators ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Request:
    started: float
    ended: float
    status: int
    write: bool
    """A call that writes quantities (else a read, a token, anything else)."""


class Recorder:
    """Wraps an emulator's ASGI app: times each API request (not ``/health`` or the control
    API), notes its status and whether ``write`` says it writes quantities (given the method,
    the path and the start of the body), without changing it."""

    def __init__(self, app: ASGIApp, write: Callable[[str, str, bytes], bool]) -> None:
        self.app = app
        self.write = write
        self.requests: list[Request] = []
        self._lock = threading.Lock()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = str(scope.get("path", ""))
        if scope["type"] != "http" or path == "/health" or path.startswith("/_emulator"):
            await self.app(scope, receive, send)
            return
        started = time.monotonic()
        head = bytearray()
        status = 0

        async def peek() -> Message:
            message = await receive()
            if len(head) < 4096:
                head.extend(message.get("body", b"")[:4096])
            return message

        async def note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        await self.app(scope, peek, note)
        request = Request(started, time.monotonic(), status,
                          self.write(str(scope["method"]), path, bytes(head)))
        with self._lock:
            self.requests.append(request)

    def count(self) -> int:
        with self._lock:
            return len(self.requests)

    def since(self, index: int) -> list[Request]:
        with self._lock:
            return self.requests[index:]


@dataclass
class Platform:
    """One emulator, served, and what the benchmark knows of it."""

    name: str
    state: Any
    recorder: Recorder
    url: str
    ids: dict[str, Any] = field(default_factory=dict)
    """The platform's id for each SKU (Shopify inventory item, TCGplayer ``skuId``)."""
    channel: str = ""

    def read(self, sku: str) -> int | None:
        """The number the platform shows buyers for ``sku`` (None: not listed)."""
        state = self.state
        if self.name == "shopify":
            return int(state.available(self.ids[sku]))
        if self.name == "tcgplayer":
            listing = state.listing(self.ids[sku])
            return None if listing is None else int(listing["quantity"])
        with state.lock:
            return int(state.quantity(sku)) if sku in state.items else None

    def quantities(self) -> int:
        """Quantities written so far, counted from the emulator's own state (TCGplayer's
        store writes come from the recorder: one SKU a successful PUT)."""
        state = self.state
        with state.lock:
            if self.name == "shopify":
                return sum(len(v["input"]["quantities"]) for name, v in state.mutation_log
                           if name == "inventorySetQuantities")
            if self.name == "ebay":
                return sum(len(b["requests"]) for b in state.bulk_log)
        return sum(1 for r in self.recorder.since(0) if r.write and 200 <= r.status < 300)

    def throttled(self) -> int:
        """Answers refusing a call for the rate so far: 429s, and Shopify's ``THROTTLED``
        (answered 200)."""
        refused = sum(1 for r in self.recorder.since(0) if r.status == 429)
        if self.name == "shopify":
            with self.state.lock:
                refused += int(self.state.throttled)
        return refused


def _shopify_write(method: str, path: str, head: bytes) -> bool:
    return method == "POST" and path.endswith("/graphql.json") and (
        b"inventorySetQuantities" in head)


def _tcgplayer_write(method: str, path: str, head: bytes) -> bool:
    return method == "PUT" and TCG_PUT.fullmatch(path) is not None


def _ebay_write(method: str, path: str, head: bytes) -> bool:
    return method == "POST" and path.endswith("/bulk_update_price_quantity")


@contextmanager
def emulators() -> Iterator[dict[str, Platform]]:
    """The three emulators under their platforms' limits, each on its own uvicorn thread."""
    from mercato_emulators import ebay, shopify, tcgplayer

    shop = shopify.ShopifyEmulator(shop_domain=SHOP_DOMAIN, access_token=ACCESS_TOKEN,
                                   client_secret=CLIENT_SECRET)
    tcg = tcgplayer.TcgplayerEmulator(public_key=TCG_PUBLIC_KEY, private_key=TCG_PRIVATE_KEY,
                                      store_key=TCG_STORE_KEY,
                                      store_access_token=TCG_STORE_TOKEN,
                                      rate_per_second=TCG_RATE, seed=False)
    bay = ebay.EbayEmulator(client_id=EBAY_CLIENT_ID, client_secret=EBAY_CLIENT_SECRET,
                            refresh_token=EBAY_REFRESH_TOKEN,
                            revision_limit=EBAY_REVISION_LIMIT)
    recorders = {"shopify": Recorder(shopify.create_app(shop), _shopify_write),
                 "tcgplayer": Recorder(tcgplayer.create_app(tcg), _tcgplayer_write),
                 "ebay": Recorder(ebay.create_app(bay), _ebay_write)}
    states = {"shopify": shop, "tcgplayer": tcg, "ebay": bay}
    try:
        with ExitStack() as served:
            yield {name: Platform(name, states[name], recorders[name],
                                  served.enter_context(serve(recorders[name], name)))
                   for name in PLATFORMS}
    finally:
        shop.close()


# -- setup --------------------------------------------------------------------------------------

@dataclass
class Market:
    """What the benchmark set up and what it expects every platform to hold."""

    server: Server
    platforms: dict[str, Platform]
    location: str
    current: dict[str, int]
    """Each SKU's number as the benchmark changed it (= every channel's available-to-sell)."""
    pids: tuple[int, ...]
    setup: dict[str, float] = field(default_factory=dict)
    """Seconds each linking job took, from the moment all three were started."""

    def readers(self) -> dict[str, Reader]:
        return {name: p.read for name, p in self.platforms.items()}

    def pending(self) -> dict[str, int]:
        return {name: int(call(self.server, "GET", f"/api/v1/channels/{p.channel}/connection")
                          ["pending_pushes"]) for name, p in self.platforms.items()}

    def settle(self) -> None:
        """Wait until nothing is left to push and every platform holds every number."""
        deadline = time.monotonic() + SETTLE_TIMEOUT
        while time.monotonic() < deadline:
            if not any(self.pending().values()) and all(
                    p.read(s) == q for p in self.platforms.values()
                    for s, q in self.current.items()):
                return
            time.sleep(0.2)
        off = {name: sum(1 for s, q in self.current.items() if p.read(s) != q)
               for name, p in self.platforms.items()}
        raise RuntimeError(f"the connections did not settle: pending {self.pending()}, "
                           f"SKUs off per platform {off}")


def make_cards(server: Server, skus: list[str]) -> None:
    """One ``tcg-single`` card per SKU (Near Mint, non-foil, English), on all three."""
    call(server, "POST", "/api/v1/product-types/install", {"set": "tcg"})
    for n, sku in enumerate(skus):
        call(server, "POST", "/api/v1/products", {
            "title": f"Bench card {n}", "product_type": "tcg-single", "status": "active",
            "channels": list(PLATFORMS),
            "attributes": {**CARD_ATTRIBUTES, "collector_number": str(n + 1)},
            "variants": [{"sku": sku, "price": "1.00", "attributes": {
                "condition": "NM", "finish": "nonfoil", "language": "EN"}}]})


def connect(server: Server, platform: Platform, location: str, body: dict[str, Any]) -> None:
    platform.channel = call(server, "POST", "/api/v1/channels", {
        "name": f"{platform.name} bench", "kind": platform.name,
        "locations": [location]})["id"]
    call(server, "PUT", f"/api/v1/channels/{platform.channel}/connection",
         {"kind": platform.name, "api_base": platform.url, **body})


def start_job(server: Server, platform: Platform, kind: str) -> str:
    return str(call(server, "POST", f"/api/v1/channels/{platform.channel}/sync-jobs",
                    {"kind": kind})["id"])


def set_up(server: Server, platforms: dict[str, Platform], skus: list[str],
           pids: tuple[int, ...]) -> Market:
    """Cards with stock, the three channels connected, every SKU linked on each, and every
    platform holding the stock: the rounds start from a quiet system."""
    location = call(server, "POST", "/api/v1/locations",
                    {"name": "Card shop", "code": "SHOP"})["id"]
    make_cards(server, skus)
    stock = {sku: START_UNITS + n % 13 for n, sku in enumerate(skus)}
    for first in range(0, len(skus), ADJUST_LINES):
        adjust(server, location, {s: stock[s] for s in skus[first:first + ADJUST_LINES]})
    shop, tcg, bay = platforms["shopify"], platforms["tcgplayer"], platforms["ebay"]
    tcg.state.add_category(1, "Magic", "Magic: The Gathering")
    group = tcg.state.add_group(1, "Limited Edition Alpha", "LEA")
    for n, sku in enumerate(skus):
        made = shop.state.add_product(f"Bench card {n}", variants=[{"sku": sku,
                                                                   "price": "1.00"}])
        shop.ids[sku] = str(made["variants"][0]["inventory_item_id"])
        card = tcg.state.add_product(group, f"Bench card {n}", str(n + 1), languages=(1,))
        tcg.ids[sku] = tcg.state.find_sku(card["productId"], "NM", "Normal", "EN")
    connect(server, shop, location, {
        "mode": "channel", "account": SHOP_DOMAIN, "api_version": API_VERSION,
        "credentials": {"access_token": ACCESS_TOKEN, "client_secret": CLIENT_SECRET}})
    connect(server, tcg, location, {
        "account": TCG_STORE_KEY,
        "credentials": {"public_key": TCG_PUBLIC_KEY, "private_key": TCG_PRIVATE_KEY,
                        "access_token": TCG_STORE_TOKEN},
        "settings": {"rate_per_second": TCG_RATE}})
    connect(server, bay, location, {
        "account": "bench-seller",
        "credentials": {"client_id": EBAY_CLIENT_ID, "client_secret": EBAY_CLIENT_SECRET,
                        "refresh_token": EBAY_REFRESH_TOKEN},
        "settings": {"fulfillment_policy_id": "6196932000", "payment_policy_id": "6196933000",
                     "return_policy_id": "6196934000", "merchant_location_key": "shop"}})
    for first in range(0, len(skus), 1000):
        call(server, "PUT", f"/api/v1/channels/{tcg.channel}/mappings", {"mappings": [
            {"resource": "variant", "local": sku, "remote_id": str(tcg.ids[sku])}
            for sku in skus[first:first + 1000]]})
    started = time.monotonic()
    jobs = {"shopify": start_job(server, shop, "product_import"),
            "tcgplayer": start_job(server, tcg, "inventory_push"),
            "ebay": start_job(server, bay, "product_export")}
    took: dict[str, float] = {}
    while len(took) < len(jobs):
        for name, job_id in jobs.items():
            if name in took:
                continue
            job = call(server, "GET", f"/api/v1/sync-jobs/{job_id}")
            if job["status"] in ("queued", "running"):
                continue
            if job["status"] != "succeeded" or job["failed"]:
                raise RuntimeError(f"{name}'s {job['kind']} did not link every SKU: {job}")
            took[name] = time.monotonic() - started
        if time.monotonic() - started > LINK_TIMEOUT:
            raise RuntimeError(f"linking jobs did not finish in {LINK_TIMEOUT:.0f} s: "
                               f"done {sorted(took)}")
        time.sleep(0.2)
    market = Market(server, platforms, location, stock, pids, took)
    market.settle()
    market.setup["settled"] = time.monotonic() - started
    return market


# -- measuring ----------------------------------------------------------------------------------

@dataclass
class Counters:
    """Per platform: recorder position, quantities written, rate refusals."""

    requests: dict[str, int]
    quantities: dict[str, int]
    throttled: dict[str, int]

    @classmethod
    def of(cls, market: Market) -> Counters:
        ps = market.platforms
        return cls({n: p.recorder.count() for n, p in ps.items()},
                   {n: p.quantities() for n, p in ps.items()},
                   {n: p.throttled() for n, p in ps.items()})


@dataclass
class Round:
    """One change of every SKU and what each platform saw of it."""

    sent: Sent
    latency: list[float]
    """Per SKU that reached all three: request returned -> the last platform held it."""
    arrival: dict[str, list[float]]
    """Per platform, per SKU that reached it: request returned -> it held the number."""
    window: dict[str, float]
    """Per platform: first request sent -> its last arrival (or the timeout)."""
    quantities: dict[str, int]
    writes: dict[str, list[Request]]
    """Per platform, the write calls it answered 2xx during the round."""
    others: dict[str, int]
    """Per platform, every other request it answered (reads, tokens, refused calls)."""
    throttled: dict[str, int]
    missing: int
    """SKUs not on all three by the timeout."""


def change(market: Market, deltas: dict[str, int], cpu: Cpu, *, poll: float = POLL) -> Round:
    """Change the SKUs in ``deltas`` and time their arrival on every platform."""
    want = {sku: market.current[sku] + delta for sku, delta in deltas.items()}
    before = Counters.of(market)
    sent = send_and_watch(market.server, market.location, deltas, want, market.readers(), cpu,
                          poll=poll)
    market.current.update(want)
    after = Counters.of(market)
    arrival = {n: [t - sent.changed[s] for s, t in seen.items()]
               for n, seen in sent.seen.items()}
    everywhere = [max(seen[s] for seen in sent.seen.values()) - sent.changed[s]
                  for s in want if all(s in seen for seen in sent.seen.values())]
    window = {n: (max(seen.values()) if len(seen) == len(want) else sent.ended) - sent.started
              for n, seen in sent.seen.items()}
    writes: dict[str, list[Request]] = {}
    others: dict[str, int] = {}
    for name, platform in market.platforms.items():
        answered = platform.recorder.since(before.requests[name])
        writes[name] = [r for r in answered if r.write and 200 <= r.status < 300]
        others[name] = len(answered) - len(writes[name])
    return Round(sent, everywhere, arrival, window,
                 {n: after.quantities[n] - before.quantities[n] for n in PLATFORMS}, writes,
                 others, {n: after.throttled[n] - before.throttled[n] for n in PLATFORMS},
                 len(want) - len(everywhere))


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f}"


def _p(values: list[float]) -> str:
    ordered = sorted(values)
    return (f"{_ms(percentile(ordered, 0.5))}/{_ms(percentile(ordered, 0.95))}"
            f"/{_ms(ordered[-1] if ordered else 0)}")


def _writes(done: Round, name: str) -> list[float]:
    """[first write call started, last one ended], seconds after the round's first request:
    when the pusher was at the platform."""
    writes = done.writes[name]
    if not writes:
        return []
    return [min(w.started for w in writes) - done.sent.started,
            max(w.ended for w in writes) - done.sent.started]


def _missing(count: int, where: str) -> str | None:
    return f"{count} SKUs not on {where} after {ARRIVAL_TIMEOUT:.0f} s" if count else None


def capacity(name: str) -> str:
    """What the platform's limit (or Mercato's own pace) allows, in quantities a second."""
    if name == "shopify":
        return (f"Shopify's refill allows {SHOPIFY_CAPACITY:,.0f} quantities/s (100 points/s, "
                f"10 per mutation of up to 250)")
    if name == "tcgplayer":
        return f"TCGplayer allows {TCG_RATE:.0f} calls/s of one SKU = {TCG_RATE:.0f} quantities/s"
    return (f"eBay sets no per-second limit; Mercato's client paces itself at "
            f"{EBAY_CLIENT_RATE:.0f} calls/s of up to 25 = {EBAY_CLIENT_RATE * 25:.0f} "
            f"quantities/s")


def rounds_rows(ctx: Context, market: Market, rounds: list[Round], cpu: Cpu) -> list[Row]:
    skus = len(market.current)
    seconds = sum(r.sent.ended - r.sent.started for r in rounds)
    latency = [t for r in rounds for t in r.latency]
    missing = sum(r.missing for r in rounds)
    cores = cpu.cores()
    propagation = Row(ctx.benchmark, ctx.database, "propagation",
                      load_result(latency, len(latency), seconds, missing, cores,
                                  _missing(missing, "all three")), 1)
    propagation.extra["setup"] = market.setup
    propagation.extra["rounds"] = [{
        "skus": skus, "seconds": r.sent.ended - r.sent.started, "sending_seconds":
        r.sent.sending, "missing": r.missing,
        "p50_ms": percentile(sorted(r.latency), 0.5) * 1000,
        "p95_ms": percentile(sorted(r.latency), 0.95) * 1000,
        "max_ms": max(r.latency, default=0) * 1000,
        "platforms": {n: {"p50_ms": percentile(sorted(r.arrival[n]), 0.5) * 1000,
                          "p95_ms": percentile(sorted(r.arrival[n]), 0.95) * 1000,
                          "last_s": r.window[n], "quantities": r.quantities[n],
                          "write_calls": len(r.writes[n]), "other_requests": r.others[n],
                          "throttled": r.throttled[n],
                          "writes_s": _writes(r, n)} for n in PLATFORMS}}
        for r in rounds]
    propagation.extra["note"] = (
        f"{skus:,} cards on Shopify, TCGplayer and eBay (linked in "
        + ", ".join(f"{n} {market.setup[n]:.1f} s" for n in PLATFORMS)
        + f"; all holding the stock {market.setup['settled']:.1f} s after the jobs started); "
        f"{len(rounds)} rounds of {skus:,} changes ({ADJUST_LINES} lines a request), sent in "
        + ", ".join(f"{r.sent.sending:.1f}" for r in rounds) + " s, on all three in "
        + ", ".join(f"{r.sent.ended - r.sent.started:.1f}" for r in rounds)
        + " s; latency to all three p50/p95/max per round "
        + ", ".join(_p(r.latency) for r in rounds) + " ms; by platform (pooled) "
        + ", ".join(f"{n} {_p([t for r in rounds for t in r.arrival[n]])}" for n in PLATFORMS)
        + " ms" + (f"; {missing} NEVER ARRIVED everywhere" if missing else ""))
    rows = [propagation]
    for name in PLATFORMS:
        arrived = [t for r in rounds for t in r.arrival[name]]
        window = sum(r.window[name] for r in rounds)
        lost = len(rounds) * skus - len(arrived)
        row = Row(ctx.benchmark, ctx.database, f"arrival_{name}",
                  load_result(arrived, len(arrived), window, lost, cores,
                              _missing(lost, name)), 1)
        row.extra["note"] = (
            f"{len(arrived):,} numbers arrived on {name} ({len(rounds)} rounds); last one "
            + ", ".join(f"{r.window[name]:.1f}" for r in rounds)
            + " s after each round's first request; req/s is SKUs arrived per second; "
            + _spread(arrived))
        rows.append(row)
    for name in PLATFORMS:
        writes = [w for r in rounds for w in r.writes[name]]
        quantities = sum(r.quantities[name] for r in rounds)
        window = sum(r.window[name] for r in rounds)
        others = sum(r.others[name] for r in rounds)
        throttled = sum(r.throttled[name] for r in rounds)
        row = Row(ctx.benchmark, ctx.database, f"pushes_{name}",
                  load_result([w.ended - w.started for w in writes], quantities, window, 0,
                              cores), 1)
        row.extra["push"] = {
            "quantities": quantities, "write_calls": len(writes), "other_requests": others,
            "throttled": throttled, "seconds": window,
            "quantities_per_s": quantities / window if window else 0.0,
            "calls_per_s": len(writes) / window if window else 0.0,
            "mean_batch": quantities / len(writes) if writes else 0.0}
        refusal = "THROTTLED or 429" if name == "shopify" else "429"
        row.extra["note"] = (
            f"{quantities:,} quantities in {len(writes)} write calls (mean "
            f"{row.extra['push']['mean_batch']:.1f} per call) over {window:.1f} s = "
            f"{row.extra['push']['quantities_per_s']:.1f} quantities/s, "
            f"{row.extra['push']['calls_per_s']:.2f} calls/s; {others} other requests; "
            f"{refusal}: {throttled}; writes from-to (s after each round's first request) "
            + ", ".join("-".join(f"{t:.1f}" for t in _writes(r, name)) for r in rounds)
            + f"; {capacity(name)}; latencies are the platform's time per write call")
        rows.append(row)
    return rows


def propagation(ctx: Context, market: Market, count: int) -> list[Row]:
    cpu = Cpu(market.pids)
    skus = list(market.current)
    rounds: list[Round] = []
    for round_no in range(count):
        rounds.append(change(market, deltas_for(skus, round_no), cpu))
        market.settle()
    return rounds_rows(ctx, market, rounds, cpu)


def single_change(ctx: Context, market: Market) -> Row:
    sku = next(iter(market.current))
    pace = random.Random(7919)  # spacing, not security
    cpu = Cpu(market.pids)
    done: list[Round] = []
    started = time.monotonic()
    for n in range(SINGLE_CHANGES):
        done.append(change(market, {sku: 1 if n % 2 == 0 else -1}, cpu, poll=SINGLE_POLL))
        time.sleep(pace.uniform(*SINGLE_GAP))
    seconds = time.monotonic() - started
    latency = [t for r in done for t in r.latency]
    missing = sum(r.missing for r in done)
    row = Row(ctx.benchmark, ctx.database, "single_change",
              load_result(latency, len(latency), seconds, missing, cpu.cores(),
                          _missing(missing, "all three")), 1)
    by_platform = {n: [t for r in done for t in r.arrival[n]] for n in PLATFORMS}
    row.extra["platforms"] = {n: {"p50_ms": percentile(sorted(v), 0.5) * 1000,
                                  "p95_ms": percentile(sorted(v), 0.95) * 1000,
                                  "max_ms": max(v, default=0) * 1000}
                              for n, v in by_platform.items()}
    row.extra["note"] = (
        f"one SKU changed alone {SINGLE_CHANGES} times ({SINGLE_GAP[0]}-{SINGLE_GAP[1]} s "
        f"apart after it reached all three, polled every {SINGLE_POLL * 1000:.0f} ms): to all "
        f"three {_spread(latency)}; p50/p95/max by platform "
        + ", ".join(f"{n} {_p(v)}" for n, v in by_platform.items())
        + " ms; req/s is changes over the whole case, gaps included")
    return row


# -- checks -------------------------------------------------------------------------------------

def check(market: Market) -> tuple[dict[str, Any], list[str]]:
    """Every platform against Mercato's channel availability and the benchmark's changes."""
    server = market.server
    wrong: list[str] = []
    found: dict[str, Any] = {"skus": len(market.current)}
    for name, platform in market.platforms.items():
        channel = platform.channel
        held = {sku: platform.read(sku) for sku in market.current}
        available = {sku: call(server, "GET", f"/api/v1/channels/{channel}/availability"
                                              f"?sku={quote(sku)}")["available_to_sell"]
                     for sku in market.current}
        off = [s for s, q in market.current.items() if held[s] != q]
        mercato_off = [s for s in market.current if available[s] != held[s]]
        mappings = call(server, "GET", f"/api/v1/channels/{channel}/mappings?resource=variant"
                                       f"&limit=5000")
        mapped = {m["sku"] for m in mappings}
        unmapped = [s for s in market.current if s not in mapped]
        unsynced = [m["sku"] for m in mappings if not m["in_sync"] or m["push_error"]]
        offer_off: list[str] = []
        if name == "ebay":
            with platform.state.lock:
                offer_off = [s for s in market.current if any(
                    o.get("availableQuantity") != held[s]
                    for o in platform.state.offers_of(s))]
        jobs = call(server, "GET", f"/api/v1/channels/{channel}/sync-jobs?limit=500")
        failed = [j for j in jobs if j["status"] == "failed"]
        connection = call(server, "GET", f"/api/v1/channels/{channel}/connection")
        health = connection["health"]
        for label, bad in (("emulator number differs from the change", off),
                           ("channel availability differs from the emulator", mercato_off),
                           ("not mapped", unmapped), ("not in sync or push_error", unsynced),
                           ("offer quantity differs from the item", offer_off)):
            if bad:
                wrong.append(f"{name}: {len(bad)} SKUs {label} (e.g. {bad[:3]})")
        if failed:
            wrong.append(f"{name}: {len(failed)} sync jobs failed: {failed[0].get('error')}")
        if health["status"] != "ok" or connection["pending_pushes"]:
            wrong.append(f"{name}: health {health['status']} ({health.get('last_error')}), "
                         f"{connection['pending_pushes']} pending")
        found[name] = {"emulator_off": len(off), "availability_off": len(mercato_off),
                       "unmapped": len(unmapped), "not_in_sync": len(unsynced),
                       "offer_off": len(offer_off), "jobs": len(jobs),
                       "jobs_failed": len(failed), "health": health["status"],
                       "pending_pushes": connection["pending_pushes"]}
    found["exact"] = not wrong
    return found, wrong


def attach(row: Row, found: dict[str, Any], wrong: list[str]) -> None:
    """The checks on ``row``: in its note, and in its errors column when anything is off."""
    row.extra["check"] = found
    row.extra["note"] += (
        f"; check: {found['skus']:,} SKUs x 3 platforms, emulator = changes = channel "
        f"availability, all mapped and in_sync, eBay offers = items, no job failed, health "
        f"ok, nothing pending: " + ("exact" if not wrong else "MISMATCH: " + "; ".join(wrong)))
    if wrong:
        result = row.result
        row.result = replace(result, errors=result.errors + len(wrong),
                             errors_total=result.errors_total + len(wrong),
                             sample_error=result.sample_error or wrong[0])


@register("marketplaces", uses_ceilings=False,
          description="Shopify, TCGplayer and eBay at once against their emulators: stock "
                      "change -> all three (p50/p95), quantities pushed/s per platform")
def marketplaces(ctx: Context) -> list[Row]:
    count = int(os.environ.get("MERCATO_BENCH_MARKET_SKUS", "100"))
    rounds = int(os.environ.get("MERCATO_BENCH_MARKET_ROUNDS", "3"))
    if rounds + SINGLE_CHANGES + 1 >= EBAY_REVISION_LIMIT:
        raise ValueError(f"{rounds} rounds would reach eBay's {EBAY_REVISION_LIMIT} "
                         "revisions a listing a day")
    skus = [f"{PREFIX}-{n}" for n in range(count)]
    with stack(ctx.database) as s, emulators() as platforms, \
            running_worker(s.database_url) as worker:
        market = set_up(s.server, platforms, skus, (*s.server.pids, worker.pid))
        rows = propagation(ctx, market, rounds)
        single = single_change(ctx, market)
        market.settle()
        attach(rows[0], *check(market))
        if worker.poll() is not None:
            raise RuntimeError(f"mercato worker exited with {worker.returncode}")
        return [*rows, single]
