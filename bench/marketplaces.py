"""Marketplaces: how long a stock change takes to reach every connected platform at once, and
how fast their orders come in.

The same system under test as ``bench.channels`` (the server from ``bench.stack`` and a
separate ``mercato worker`` process, whose pusher pushes every due connection at once), with a
channel per platform over one location, each connected to its emulator served by uvicorn on its
own thread of this process under the platform's documented limits. Each platform is a ``Kind``
(how to start its emulator, list the SKUs on it, connect, link, read what it holds, and make a
buyer's order); ``MERCATO_BENCH_MARKET_PLATFORMS`` (comma-separated) picks some, by default
every one:

- Shopify (``mercato_emulators.shopify``): the standard plan's cost bucket, 2,000 points
  restored at 100/s; up to 250 quantities per ``inventorySetQuantities``.
- TCGplayer (``mercato_emulators.tcgplayer``): 10 requests a second (429 beyond it), and the
  connection's ``rate_per_second`` 10; the store's inventory is written one SKU per ``PUT
  .../inventory/skus/{skuId}``.
- eBay (``mercato_emulators.ebay``): ``bulk_update_price_quantity`` of at most 25 SKUs, and
  250 revisions per listing per UTC day (a round changes each listing once, so the run stays
  far below it); no per-second limit (eBay documents daily call quotas), the client's own
  pace is 5 requests a second.
- Amazon (``mercato_emulators.amazon``): SP-API's per-operation token buckets (listings PATCH
  5/s burst 5, createFeed 0.0083/s burst 15, getOrders 0.0167/s burst 20, getOrderItems 0.5/s
  burst 30), each answered with ``x-amzn-RateLimit-Limit``; from 20 SKUs at once one
  ``JSON_LISTINGS_FEED`` (processed by the emulator in ``AMAZON_FEED_DELAY`` s).
- Shopee (``mercato_emulators.shopee``): signed calls, one item per ``update_stock`` (here one
  SKU each); Mercato's client at 10 calls a second.
- TikTok Shop (``mercato_emulators.tiktok``): signed calls, one inventory update per product
  (here one SKU each); Mercato's client at 10 calls a second.

Each emulator is wrapped by a small ASGI recorder (``Recorder``) that times every API request
and notes its status, so calls, 429s and the platform's time per write come from what the
emulators answered.

Setup, through the API: ``MERCATO_BENCH_MARKET_SKUS`` (default 100) ``tcg-single`` cards (one
variant each, published on every chosen platform) with stock at one location; the same SKUs on
each emulator (0 available: Shopify's products, a card per SKU in the TCGplayer emulator's
catalog, Amazon's listings, Shopee's items, TikTok's products); the channels connected; then,
at once, each one's linking job: ``product_import`` (matched by SKU) for Shopify, Amazon,
Shopee and TikTok, TCGplayer's mappings put by hand (``PUT .../mappings``, each SKU to its Near
Mint Normal English ``skuId``) and an ``inventory_push``, and eBay's ``product_export``
(inventory item, offer and listing per SKU). The benchmark waits until every emulator holds
every number and nothing is pending.

1. ``propagation``: ``MERCATO_BENCH_MARKET_ROUNDS`` rounds (default 3); in each every SKU's
   stock changes (``POST /api/v1/inventory/adjustments``, 100 lines a request, as in
   ``bench.channels``). A SKU's latency runs from its request's return to the first poll
   (every 20 ms, in-process) at which every emulator holds its new number; req/s is SKUs
   arrived everywhere per second of the rounds. ``arrival_<platform>``: the same, to one
   platform (req/s over the first request to that platform's last arrival).
2. ``pushes_<platform>``: the rounds seen from each emulator: req/s is quantities written per
   second (over the same per-platform window), the latencies are the platform's own time per
   write call (ASGI call to last byte), the note gives write calls/s, the mean batch and the
   429 / ``THROTTLED`` answers.
3. ``single_change``: one SKU changed alone ``SINGLE_CHANGES`` times, each after the previous
   one reached every platform plus a random 0.2-1.2 s; latency to all (polled every 5 ms).
4. ``order_ingestion`` (platforms that can make a buyer's order in the benchmark: ``Kind.sell``):
   ``MERCATO_BENCH_MARKET_ORDERS`` (default 50) orders of one unit on each, then every one's
   ``order_pull`` started at once; orders ingested per second of each pull (``orders_<name>``)
   and of all together. Each SKU's number then falls by what was sold and is pushed everywhere.

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


@dataclass(frozen=True)
class Kind:
    """How the benchmark drives one platform's emulator: makes it, puts the SKUs on it,
    connects a channel to it, links the SKUs, and reads what it holds."""

    name: str
    start: Callable[[], Any]
    """The emulator's state object, under the platform's documented limits."""
    app: Callable[[Any], ASGIApp]
    write: Callable[[str, str, bytes], bool]
    """Whether a request (method, path, start of the body) writes quantities."""
    list_skus: Callable[[Platform, list[str]], None]
    """Put the SKUs on the platform (0 available) and note its id of each in ``ids``."""
    connection: Callable[[Platform], dict[str, Any]]
    """The connection's body beside ``kind`` and ``api_base``."""
    link: Callable[[Server, Platform, list[str]], str]
    """Start what links every SKU (and pushes its stock); the sync job's id."""
    read: Callable[[Platform, str], int | None]
    """The number the platform shows buyers for a SKU (None: not listed)."""
    capacity: str
    """What the platform's limit (or Mercato's own pace) allows, in quantities a second."""
    quantities: Callable[[Platform], int | None] = lambda platform: None
    """Quantities written so far from the emulator's own state (None: one per 2xx write)."""
    throttled: Callable[[Platform], int] = lambda platform: 0
    """Refusals for the rate answered other than by a 429 (Shopify's ``THROTTLED``)."""
    refusal: str = "429"
    check: Callable[[Platform, dict[str, int | None]], list[str]] = (
        lambda platform, held: [])
    """Platform-specific mismatches after the runs (eBay's offers against its items)."""
    close: Callable[[Any], None] = lambda state: None
    sell: Callable[[Platform, str], str] | None = None
    """Make a buyer's order of one unit of a SKU on the platform (its own stock goes down at
    once); the platform's order id. Platforms with it take part in ``order_ingestion``."""


@dataclass
class Platform:
    """One emulator, served, and what the benchmark knows of it."""

    kind: Kind
    state: Any
    recorder: Recorder
    url: str
    ids: dict[str, Any] = field(default_factory=dict)
    """The platform's id for each SKU (Shopify inventory item, TCGplayer ``skuId``)."""
    channel: str = ""

    @property
    def name(self) -> str:
        return self.kind.name

    def read(self, sku: str) -> int | None:
        return self.kind.read(self, sku)

    def quantities(self) -> int:
        """Quantities written so far (from the emulator's state, or one per 2xx write)."""
        counted = self.kind.quantities(self)
        if counted is not None:
            return counted
        return sum(1 for r in self.recorder.since(0) if r.write and 200 <= r.status < 300)

    def throttled(self) -> int:
        """Answers refusing a call for the rate so far."""
        return (sum(1 for r in self.recorder.since(0) if r.status == 429)
                + self.kind.throttled(self))


# -- Shopify, TCGplayer, eBay --------------------------------------------------------------------

def _shopify_start() -> Any:
    from mercato_emulators import shopify

    return shopify.ShopifyEmulator(shop_domain=SHOP_DOMAIN, access_token=ACCESS_TOKEN,
                                   client_secret=CLIENT_SECRET)


def _shopify_app(state: Any) -> ASGIApp:
    from mercato_emulators import shopify

    return shopify.create_app(state)


def _shopify_write(method: str, path: str, head: bytes) -> bool:
    return method == "POST" and path.endswith("/graphql.json") and (
        b"inventorySetQuantities" in head)


def _shopify_list(platform: Platform, skus: list[str]) -> None:
    for n, sku in enumerate(skus):
        made = platform.state.add_product(f"Bench card {n}", variants=[{"sku": sku,
                                                                        "price": "1.00"}])
        platform.ids[sku] = str(made["variants"][0]["inventory_item_id"])


def _shopify_quantities(platform: Platform) -> int:
    with platform.state.lock:
        return sum(len(v["input"]["quantities"]) for name, v in platform.state.mutation_log
                   if name == "inventorySetQuantities")


def _shopify_throttled(platform: Platform) -> int:
    with platform.state.lock:
        return int(platform.state.throttled)


SHOPIFY = Kind(
    name="shopify", start=_shopify_start, app=_shopify_app, write=_shopify_write,
    list_skus=_shopify_list,
    connection=lambda platform: {
        "mode": "channel", "account": SHOP_DOMAIN, "api_version": API_VERSION,
        "credentials": {"access_token": ACCESS_TOKEN, "client_secret": CLIENT_SECRET}},
    link=lambda server, platform, skus: start_job(server, platform, "product_import"),
    read=lambda platform, sku: int(platform.state.available(platform.ids[sku])),
    capacity=(f"Shopify's refill allows {SHOPIFY_CAPACITY:,.0f} quantities/s (100 points/s, "
              f"10 per mutation of up to 250)"),
    quantities=_shopify_quantities, throttled=_shopify_throttled, refusal="THROTTLED or 429",
    close=lambda state: state.close())


def _tcgplayer_start() -> Any:
    from mercato_emulators import tcgplayer

    return tcgplayer.TcgplayerEmulator(public_key=TCG_PUBLIC_KEY, private_key=TCG_PRIVATE_KEY,
                                       store_key=TCG_STORE_KEY,
                                       store_access_token=TCG_STORE_TOKEN,
                                       rate_per_second=TCG_RATE, seed=False)


def _tcgplayer_app(state: Any) -> ASGIApp:
    from mercato_emulators import tcgplayer

    return tcgplayer.create_app(state)


def _tcgplayer_write(method: str, path: str, head: bytes) -> bool:
    return method == "PUT" and TCG_PUT.fullmatch(path) is not None


def _tcgplayer_list(platform: Platform, skus: list[str]) -> None:
    state = platform.state
    state.add_category(1, "Magic", "Magic: The Gathering")
    group = state.add_group(1, "Limited Edition Alpha", "LEA")
    for n, sku in enumerate(skus):
        card = state.add_product(group, f"Bench card {n}", str(n + 1), languages=(1,))
        platform.ids[sku] = state.find_sku(card["productId"], "NM", "Normal", "EN")


def _tcgplayer_link(server: Server, platform: Platform, skus: list[str]) -> str:
    """Mappings put by hand (each SKU to its Near Mint Normal English ``skuId``), then an
    ``inventory_push``."""
    for first in range(0, len(skus), 1000):
        call(server, "PUT", f"/api/v1/channels/{platform.channel}/mappings", {"mappings": [
            {"resource": "variant", "local": sku, "remote_id": str(platform.ids[sku])}
            for sku in skus[first:first + 1000]]})
    return start_job(server, platform, "inventory_push")


def _tcgplayer_read(platform: Platform, sku: str) -> int | None:
    listing = platform.state.listing(platform.ids[sku])
    return None if listing is None else int(listing["quantity"])


TCGPLAYER = Kind(
    name="tcgplayer", start=_tcgplayer_start, app=_tcgplayer_app, write=_tcgplayer_write,
    list_skus=_tcgplayer_list,
    connection=lambda platform: {
        "account": TCG_STORE_KEY,
        "credentials": {"public_key": TCG_PUBLIC_KEY, "private_key": TCG_PRIVATE_KEY,
                        "access_token": TCG_STORE_TOKEN},
        "settings": {"rate_per_second": TCG_RATE}},
    link=_tcgplayer_link, read=_tcgplayer_read,
    capacity=f"TCGplayer allows {TCG_RATE:.0f} calls/s of one SKU = {TCG_RATE:.0f} quantities/s")


def _ebay_start() -> Any:
    from mercato_emulators import ebay

    return ebay.EbayEmulator(client_id=EBAY_CLIENT_ID, client_secret=EBAY_CLIENT_SECRET,
                             refresh_token=EBAY_REFRESH_TOKEN,
                             revision_limit=EBAY_REVISION_LIMIT)


def _ebay_app(state: Any) -> ASGIApp:
    from mercato_emulators import ebay

    return ebay.create_app(state)


def _ebay_write(method: str, path: str, head: bytes) -> bool:
    return method == "POST" and path.endswith("/bulk_update_price_quantity")


def _ebay_read(platform: Platform, sku: str) -> int | None:
    state = platform.state
    with state.lock:
        return int(state.quantity(sku)) if sku in state.items else None


def _ebay_quantities(platform: Platform) -> int:
    with platform.state.lock:
        return sum(len(b["requests"]) for b in platform.state.bulk_log)


def _ebay_check(platform: Platform, held: dict[str, int | None]) -> list[str]:
    with platform.state.lock:
        off = [s for s in held if any(o.get("availableQuantity") != held[s]
                                      for o in platform.state.offers_of(s))]
    return [f"ebay: {len(off)} SKUs' offer quantity differs from the item (e.g. {off[:3]})"
            ] if off else []


EBAY = Kind(
    name="ebay", start=_ebay_start, app=_ebay_app, write=_ebay_write,
    list_skus=lambda platform, skus: None,  # the export makes the listings
    connection=lambda platform: {
        "account": "bench-seller",
        "credentials": {"client_id": EBAY_CLIENT_ID, "client_secret": EBAY_CLIENT_SECRET,
                        "refresh_token": EBAY_REFRESH_TOKEN},
        "settings": {"fulfillment_policy_id": "6196932000", "payment_policy_id": "6196933000",
                     "return_policy_id": "6196934000", "merchant_location_key": "shop"}},
    link=lambda server, platform, skus: start_job(server, platform, "product_export"),
    read=_ebay_read,
    capacity=(f"eBay sets no per-second limit; Mercato's client paces itself at "
              f"{EBAY_CLIENT_RATE:.0f} calls/s of up to 25 = {EBAY_CLIENT_RATE * 25:.0f} "
              f"quantities/s"),
    quantities=_ebay_quantities, check=_ebay_check)

# -- Amazon, Shopee, TikTok Shop ------------------------------------------------------------------

AMAZON_CLIENT_ID = "amzn1.application-oa2-client.bench0123456789abcdef"
AMAZON_CLIENT_SECRET = "amzn1.oa2-cs.v1.bench0123456789abcdef0123456789"
AMAZON_REFRESH_TOKEN = "Atzr|IwEBIA-bench-refresh-token-0123456789"
AMAZON_SELLER = "A2BENCHSELLER01"
AMAZON_FEED_DELAY = 1.0
"""Seconds the emulator takes over a feed (Amazon's real ones take minutes)."""


def _amazon_start() -> Any:
    from mercato_emulators import amazon

    return amazon.AmazonEmulator(client_id=AMAZON_CLIENT_ID, client_secret=AMAZON_CLIENT_SECRET,
                                 refresh_token=AMAZON_REFRESH_TOKEN, seller_id=AMAZON_SELLER,
                                 feed_delay=AMAZON_FEED_DELAY)


def _amazon_app(state: Any) -> ASGIApp:
    from mercato_emulators import amazon

    return amazon.create_app(state)


def _amazon_write(method: str, path: str, head: bytes) -> bool:
    """A listing patch, or the creation of a feed (of many listings' patches)."""
    return (method == "PATCH" and "/listings/2021-08-01/items/" in path) or (
        method == "POST" and path.endswith("/feeds/2021-06-30/feeds"))


def _amazon_list(platform: Platform, skus: list[str]) -> None:
    for sku in skus:
        platform.state.add_listing(sku, quantity=0, price="1.00")


def _amazon_quantities(platform: Platform) -> int:
    """Quantity patches applied, one listing's patch alone or a feed's message."""
    with platform.state.lock:
        return sum(1 for entry in platform.state.patch_log
                   if any(p.get("path") == "/attributes/fulfillment_availability"
                          for p in entry.get("patches") or []))


def _amazon_sell(platform: Platform, sku: str) -> str:
    return str(platform.state.place_order([{"sku": sku, "quantity": 1}])["AmazonOrderId"])


AMAZON = Kind(
    name="amazon", start=_amazon_start, app=_amazon_app, write=_amazon_write,
    list_skus=_amazon_list,
    connection=lambda platform: {
        "account": AMAZON_SELLER,
        "credentials": {"client_id": AMAZON_CLIENT_ID, "client_secret": AMAZON_CLIENT_SECRET,
                        "refresh_token": AMAZON_REFRESH_TOKEN}},
    link=lambda server, platform, skus: start_job(server, platform, "product_import"),
    read=lambda platform, sku: platform.state.quantity(sku),
    capacity=("Amazon's listings PATCH allows 5 calls/s (burst 5) of one SKU; from "
              "feed_threshold (20) SKUs at once one JSON_LISTINGS_FEED carries them all "
              f"(createFeed 0.0083/s, burst 15; the emulator processes a feed in "
              f"{AMAZON_FEED_DELAY:.0f} s)"),
    quantities=_amazon_quantities, sell=_amazon_sell)

SHOPEE_PARTNER_ID = "2001999"
SHOPEE_PARTNER_KEY = "shpk-bench-0123456789abcdef0123456789abcdef"
SHOPEE_SHOP_ID = "322300999"
SHOPEE_RATE = 10.0
"""Calls a second Mercato's Shopee client keeps under when the connection sets none."""


def _shopee_start() -> Any:
    from mercato_emulators import shopee

    return shopee.ShopeeEmulator(partner_id=SHOPEE_PARTNER_ID, partner_key=SHOPEE_PARTNER_KEY,
                                 shop_id=SHOPEE_SHOP_ID, access_token="bench-access-token-0",
                                 refresh_token="bench-refresh-token-0")


def _shopee_app(state: Any) -> ASGIApp:
    from mercato_emulators import shopee

    return shopee.create_app(state)


def _shopee_write(method: str, path: str, head: bytes) -> bool:
    return method == "POST" and path.endswith("/api/v2/product/update_stock")


def _shopee_list(platform: Platform, skus: list[str]) -> None:
    for sku in skus:
        platform.state.add_item(f"Listing {sku}", models=[{"sku": sku, "stock": 0,
                                                           "price": "1.00"}])


def _shopee_connection(platform: Platform) -> dict[str, Any]:
    access, refresh = platform.state.authorize()  # the shop authorized the app
    return {"account": SHOPEE_SHOP_ID,
            "credentials": {"partner_id": SHOPEE_PARTNER_ID,
                            "partner_key": SHOPEE_PARTNER_KEY, "access_token": access,
                            "refresh_token": refresh}}


def _shopee_sell(platform: Platform, sku: str) -> str:
    return str(platform.state.place_order([{"sku": sku, "quantity": 1}])["order_sn"])


SHOPEE = Kind(
    name="shopee", start=_shopee_start, app=_shopee_app, write=_shopee_write,
    list_skus=_shopee_list, connection=_shopee_connection,
    link=lambda server, platform, skus: start_job(server, platform, "product_import"),
    read=lambda platform, sku: platform.state.stock(sku),
    capacity=(f"Shopee: update_stock takes one item (its models together; here one SKU "
              f"each); Mercato's client paces itself at {SHOPEE_RATE:.0f} calls/s"),
    sell=_shopee_sell)


TIKTOK_APP_KEY = "6benchappkey"
TIKTOK_APP_SECRET = "bench-app-secret-0123456789"
TIKTOK_ACCESS = "TTP_bench-access-token-0123456789"
TIKTOK_REFRESH = "TTP_bench-refresh-token-0123456789"
TIKTOK_CIPHER = "ROW_BenchShop_Ab12"
TIKTOK_SHOP_ID = "7494100000000000001"
TIKTOK_RATE = 10.0
"""Calls a second Mercato's TikTok client keeps under when the connection sets none."""


def _tiktok_start() -> Any:
    from mercato_emulators import tiktok

    return tiktok.TiktokEmulator(app_key=TIKTOK_APP_KEY, app_secret=TIKTOK_APP_SECRET,
                                 access_token=TIKTOK_ACCESS, refresh_token=TIKTOK_REFRESH,
                                 shop_cipher=TIKTOK_CIPHER, shop_id=TIKTOK_SHOP_ID)


def _tiktok_app(state: Any) -> ASGIApp:
    from mercato_emulators import tiktok

    return tiktok.create_app(state)


def _tiktok_write(method: str, path: str, head: bytes) -> bool:
    return method == "POST" and path.endswith("/inventory/update")


def _tiktok_list(platform: Platform, skus: list[str]) -> None:
    for n, sku in enumerate(skus):
        platform.state.add_product(f"Bench card {n}", [{"seller_sku": sku, "quantity": 0,
                                                        "price": "1.00"}])


def _tiktok_sell(platform: Platform, sku: str) -> str:
    return str(platform.state.place_order([{"seller_sku": sku, "quantity": 1}],
                                          notify=False)["id"])


TIKTOK = Kind(
    name="tiktok", start=_tiktok_start, app=_tiktok_app, write=_tiktok_write,
    list_skus=_tiktok_list,
    connection=lambda platform: {
        "account": TIKTOK_CIPHER,
        "credentials": {"app_key": TIKTOK_APP_KEY, "app_secret": TIKTOK_APP_SECRET,
                        "access_token": TIKTOK_ACCESS, "refresh_token": TIKTOK_REFRESH},
        "settings": {"shop_id": TIKTOK_SHOP_ID}},
    link=lambda server, platform, skus: start_job(server, platform, "product_import"),
    read=lambda platform, sku: int(platform.state.quantity(sku)),
    capacity=(f"TikTok Shop: one inventory update per product (here one SKU each); Mercato's "
              f"client paces itself at {TIKTOK_RATE:.0f} calls/s"),
    sell=_tiktok_sell)

KINDS: dict[str, Kind] = {k.name: k for k in (SHOPIFY, TCGPLAYER, EBAY, AMAZON, SHOPEE,
                                                TIKTOK)}
"""Every platform the benchmark can drive, in the order its rows are printed."""


def chosen() -> list[str]:
    """``MERCATO_BENCH_MARKET_PLATFORMS`` (comma-separated), default every one."""
    names = [n.strip() for n in os.environ.get("MERCATO_BENCH_MARKET_PLATFORMS",
                                               ",".join(KINDS)).split(",") if n.strip()]
    unknown = [n for n in names if n not in KINDS]
    if unknown or not names:
        raise ValueError(f"MERCATO_BENCH_MARKET_PLATFORMS: unknown {unknown}; choose from "
                         f"{sorted(KINDS)}")
    return names


@contextmanager
def emulators(names: list[str]) -> Iterator[dict[str, Platform]]:
    """The chosen emulators under their platforms' limits, each on its own uvicorn thread."""
    states = {name: KINDS[name].start() for name in names}
    try:
        with ExitStack() as served:
            platforms = {}
            for name in names:
                kind = KINDS[name]
                recorder = Recorder(kind.app(states[name]), kind.write)
                platforms[name] = Platform(kind, states[name], recorder,
                                           served.enter_context(serve(recorder, name)))
            yield platforms
    finally:
        for name, state in states.items():
            KINDS[name].close(state)


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


def make_cards(server: Server, skus: list[str], channels: list[str]) -> None:
    """One ``tcg-single`` card per SKU (Near Mint, non-foil, English), on every platform."""
    call(server, "POST", "/api/v1/product-types/install", {"set": "tcg"})
    for n, sku in enumerate(skus):
        call(server, "POST", "/api/v1/products", {
            "title": f"Bench card {n}", "product_type": "tcg-single", "status": "active",
            "channels": channels,
            "attributes": {**CARD_ATTRIBUTES, "collector_number": str(n + 1)},
            "variants": [{"sku": sku, "price": "1.00", "attributes": {
                "condition": "NM", "finish": "nonfoil", "language": "EN"}}]})


def connect(server: Server, platform: Platform, location: str) -> None:
    platform.channel = call(server, "POST", "/api/v1/channels", {
        "name": f"{platform.name} bench", "kind": platform.name,
        "locations": [location]})["id"]
    call(server, "PUT", f"/api/v1/channels/{platform.channel}/connection",
         {"kind": platform.name, "api_base": platform.url,
          **platform.kind.connection(platform)})


def start_job(server: Server, platform: Platform, kind: str) -> str:
    return str(call(server, "POST", f"/api/v1/channels/{platform.channel}/sync-jobs",
                    {"kind": kind})["id"])


def set_up(server: Server, platforms: dict[str, Platform], skus: list[str],
           pids: tuple[int, ...]) -> Market:
    """Cards with stock, every channel connected, every SKU linked on each, and every
    platform holding the stock: the rounds start from a quiet system."""
    location = call(server, "POST", "/api/v1/locations",
                    {"name": "Card shop", "code": "SHOP"})["id"]
    make_cards(server, skus, list(platforms))
    stock = {sku: START_UNITS + n % 13 for n, sku in enumerate(skus)}
    for first in range(0, len(skus), ADJUST_LINES):
        adjust(server, location, {s: stock[s] for s in skus[first:first + ADJUST_LINES]})
    for platform in platforms.values():
        platform.kind.list_skus(platform, skus)
        connect(server, platform, location)
    started = time.monotonic()
    jobs = {name: platform.kind.link(server, platform, skus)
            for name, platform in platforms.items()}
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
                 {n: after.quantities[n] - before.quantities[n] for n in market.platforms},
                 writes, others,
                 {n: after.throttled[n] - before.throttled[n] for n in market.platforms},
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


def _every(names: list[str]) -> str:
    return "all " + {1: "one", 2: "two", 3: "three", 4: "four", 5: "five", 6: "six"}.get(
        len(names), str(len(names)))


def rounds_rows(ctx: Context, market: Market, rounds: list[Round], cpu: Cpu) -> list[Row]:
    skus = len(market.current)
    names = list(market.platforms)
    every = _every(names)
    seconds = sum(r.sent.ended - r.sent.started for r in rounds)
    latency = [t for r in rounds for t in r.latency]
    missing = sum(r.missing for r in rounds)
    cores = cpu.cores()
    propagation = Row(ctx.benchmark, ctx.database, "propagation",
                      load_result(latency, len(latency), seconds, missing, cores,
                                  _missing(missing, every)), 1)
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
                          "writes_s": _writes(r, n)} for n in names}}
        for r in rounds]
    propagation.extra["note"] = (
        f"{skus:,} cards on {', '.join(names)} (linked in "
        + ", ".join(f"{n} {market.setup[n]:.1f} s" for n in names)
        + f"; all holding the stock {market.setup['settled']:.1f} s after the jobs started); "
        f"{len(rounds)} rounds of {skus:,} changes ({ADJUST_LINES} lines a request), sent in "
        + ", ".join(f"{r.sent.sending:.1f}" for r in rounds) + f" s, on {every} in "
        + ", ".join(f"{r.sent.ended - r.sent.started:.1f}" for r in rounds)
        + f" s; latency to {every} p50/p95/max per round "
        + ", ".join(_p(r.latency) for r in rounds) + " ms; by platform (pooled) "
        + ", ".join(f"{n} {_p([t for r in rounds for t in r.arrival[n]])}" for n in names)
        + " ms" + (f"; {missing} NEVER ARRIVED everywhere" if missing else ""))
    rows = [propagation]
    for name in names:
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
    for name in names:
        kind = market.platforms[name].kind
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
        row.extra["note"] = (
            f"{quantities:,} quantities in {len(writes)} write calls (mean "
            f"{row.extra['push']['mean_batch']:.1f} per call) over {window:.1f} s = "
            f"{row.extra['push']['quantities_per_s']:.1f} quantities/s, "
            f"{row.extra['push']['calls_per_s']:.2f} calls/s; {others} other requests; "
            f"{kind.refusal}: {throttled}; writes from-to (s after each round's first request) "
            + ", ".join("-".join(f"{t:.1f}" for t in _writes(r, name)) for r in rounds)
            + f"; {kind.capacity}; latencies are the platform's time per write call")
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
    every = _every(list(market.platforms))
    started = time.monotonic()
    for n in range(SINGLE_CHANGES):
        done.append(change(market, {sku: 1 if n % 2 == 0 else -1}, cpu, poll=SINGLE_POLL))
        time.sleep(pace.uniform(*SINGLE_GAP))
    seconds = time.monotonic() - started
    latency = [t for r in done for t in r.latency]
    missing = sum(r.missing for r in done)
    row = Row(ctx.benchmark, ctx.database, "single_change",
              load_result(latency, len(latency), seconds, missing, cpu.cores(),
                          _missing(missing, every)), 1)
    by_platform = {n: [t for r in done for t in r.arrival[n]] for n in market.platforms}
    row.extra["platforms"] = {n: {"p50_ms": percentile(sorted(v), 0.5) * 1000,
                                  "p95_ms": percentile(sorted(v), 0.95) * 1000,
                                  "max_ms": max(v, default=0) * 1000}
                              for n, v in by_platform.items()}
    row.extra["note"] = (
        f"one SKU changed alone {SINGLE_CHANGES} times ({SINGLE_GAP[0]}-{SINGLE_GAP[1]} s "
        f"apart after it reached {every}, polled every {SINGLE_POLL * 1000:.0f} ms): to "
        f"{every} {_spread(latency)}; p50/p95/max by platform "
        + ", ".join(f"{n} {_p(v)}" for n, v in by_platform.items())
        + " ms; req/s is changes over the whole case, gaps included")
    return row


def order_ingestion(ctx: Context, market: Market, per_platform: int) -> list[Row]:
    """``per_platform`` buyers' orders (one unit of a SKU each, the SKUs in turn) made on
    every platform that sells, then every one's ``order_pull`` started at once: orders in
    Mercato per second of each pull, and of all of them together. Mercato's number of each
    SKU then falls by the units sold, which every platform is then pushed."""
    sellers = {n: p for n, p in market.platforms.items() if p.kind.sell is not None}
    if not sellers:
        return []
    server, skus = market.server, list(market.current)
    sold: dict[str, int] = {}
    made: dict[str, list[str]] = {}
    for name, platform in sellers.items():
        sell = platform.kind.sell
        assert sell is not None
        made[name] = []
        for n in range(per_platform):
            sku = skus[n % len(skus)]
            made[name].append(sell(platform, sku))
            sold[sku] = sold.get(sku, 0) + 1
    cpu = Cpu(market.pids)
    started = time.monotonic()
    jobs = {name: start_job(server, platform, "order_pull")
            for name, platform in sellers.items()}
    took: dict[str, float] = {}
    statuses: dict[str, dict[str, Any]] = {}
    while len(took) < len(jobs) and time.monotonic() - started < LINK_TIMEOUT:
        for name, job_id in jobs.items():
            if name not in took:
                job = call(server, "GET", f"/api/v1/sync-jobs/{job_id}")
                if job["status"] not in ("queued", "running"):
                    took[name], statuses[name] = time.monotonic() - started, job
        time.sleep(0.05)
    seconds = max(took.values(), default=LINK_TIMEOUT)
    rows: list[Row] = []
    total = 0
    wrong: list[str] = []
    for name, platform in sellers.items():
        orders = call(server, "GET", f"/api/v1/orders?channel={platform.channel}&limit=250")
        got = {o.get("external_id") for o in orders["data"]}
        missing = [o for o in made[name] if o not in got]
        total += len(made[name]) - len(missing)
        job = statuses.get(name, {"status": "still running", "failed": 0})
        if missing or job["status"] != "succeeded":
            wrong.append(f"{name}: job {job['status']}, {len(missing)} orders not in Mercato "
                         f"(e.g. {missing[:3]})")
        row = Row(ctx.benchmark, ctx.database, f"orders_{name}",
                  load_result([took.get(name, seconds)], len(made[name]) - len(missing),
                              took.get(name, seconds), len(missing), cpu.cores(),
                              f"{len(missing)} orders not ingested" if missing else None), 1)
        row.extra["note"] = (
            f"{len(made[name])} orders made on {name}, pulled by one order_pull in "
            f"{took.get(name, seconds):.2f} s (latency = the job's time) = "
            f"{(len(made[name]) - len(missing)) / took.get(name, seconds):.1f} orders/s; "
            f"job {job['status']}")
        rows.append(row)
    together = Row(ctx.benchmark, ctx.database, "order_ingestion",
                   load_result(list(took.values()), total, seconds,
                               sum(len(v) for v in made.values()) - total, cpu.cores(),
                               "; ".join(wrong) or None), 1)
    together.extra["note"] = (
        f"{sum(len(v) for v in made.values())} orders on {', '.join(sellers)} "
        f"({per_platform} each), their pulls started at once, all in Mercato after "
        f"{seconds:.2f} s = {total / seconds:.1f} orders/s; "
        + ("every order ingested once" if not wrong else "MISSING: " + "; ".join(wrong)))
    for sku, units in sold.items():
        market.current[sku] -= units
    return [together, *rows]


# -- checks -------------------------------------------------------------------------------------

def check(market: Market) -> tuple[dict[str, Any], list[str]]:
    """Every platform against Mercato's channel availability and the benchmark's changes."""
    server = market.server
    wrong: list[str] = []
    found: dict[str, Any] = {"skus": len(market.current), "platforms": list(market.platforms)}
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
        jobs = call(server, "GET", f"/api/v1/channels/{channel}/sync-jobs?limit=500")
        failed = [j for j in jobs if j["status"] == "failed"]
        connection = call(server, "GET", f"/api/v1/channels/{channel}/connection")
        health = connection["health"]
        for label, bad in (("emulator number differs from the change", off),
                           ("channel availability differs from the emulator", mercato_off),
                           ("not mapped", unmapped), ("not in sync or push_error", unsynced)):
            if bad:
                wrong.append(f"{name}: {len(bad)} SKUs {label} (e.g. {bad[:3]})")
        own = platform.kind.check(platform, held)
        wrong.extend(own)
        if failed:
            wrong.append(f"{name}: {len(failed)} sync jobs failed: {failed[0].get('error')}")
        if health["status"] != "ok" or connection["pending_pushes"]:
            wrong.append(f"{name}: health {health['status']} ({health.get('last_error')}), "
                         f"{connection['pending_pushes']} pending")
        found[name] = {"emulator_off": len(off), "availability_off": len(mercato_off),
                       "unmapped": len(unmapped), "not_in_sync": len(unsynced),
                       "own_checks": own, "jobs": len(jobs),
                       "jobs_failed": len(failed), "health": health["status"],
                       "pending_pushes": connection["pending_pushes"]}
    found["exact"] = not wrong
    return found, wrong


def attach(row: Row, found: dict[str, Any], wrong: list[str]) -> None:
    """The checks on ``row``: in its note, and in its errors column when anything is off."""
    row.extra["check"] = found
    row.extra["note"] += (
        f"; check: {found['skus']:,} SKUs x {len(found['platforms'])} platforms, emulator = "
        f"changes = channel availability, all mapped and in_sync, eBay offers = items, no job "
        f"failed, health "
        f"ok, nothing pending: " + ("exact" if not wrong else "MISMATCH: " + "; ".join(wrong)))
    if wrong:
        result = row.result
        row.result = replace(result, errors=result.errors + len(wrong),
                             errors_total=result.errors_total + len(wrong),
                             sample_error=result.sample_error or wrong[0])


@register("marketplaces", uses_ceilings=False,
          description="Every marketplace at once against its emulator (Shopify, TCGplayer, "
                      "eBay, ...): stock change -> all (p50/p95), quantities pushed/s per "
                      "platform")
def marketplaces(ctx: Context) -> list[Row]:
    count = int(os.environ.get("MERCATO_BENCH_MARKET_SKUS", "100"))
    rounds = int(os.environ.get("MERCATO_BENCH_MARKET_ROUNDS", "3"))
    orders = int(os.environ.get("MERCATO_BENCH_MARKET_ORDERS", "50"))
    names = chosen()
    if "ebay" in names and rounds + SINGLE_CHANGES + 1 >= EBAY_REVISION_LIMIT:
        raise ValueError(f"{rounds} rounds would reach eBay's {EBAY_REVISION_LIMIT} "
                         "revisions a listing a day")
    skus = [f"{PREFIX}-{n}" for n in range(count)]
    with stack(ctx.database) as s, emulators(names) as platforms, \
            running_worker(s.database_url) as worker:
        market = set_up(s.server, platforms, skus, (*s.server.pids, worker.pid))
        rows = propagation(ctx, market, rounds)
        single = single_change(ctx, market)
        ingested = order_ingestion(ctx, market, orders)
        market.settle()
        attach(rows[0], *check(market))
        if worker.poll() is not None:
            raise RuntimeError(f"mercato worker exited with {worker.returncode}")
        return [*rows, single, *ingested]
