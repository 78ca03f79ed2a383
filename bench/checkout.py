"""Storefront checkouts per second, and a flash sale through checkout that must not oversell.

1. ``checkout_complete``: every request ``POST /store/v1/{store}/carts/{id}/checkout`` (manual
   payment) checks out the next of the carts made during setup (one line of 1 unit each,
   spread over 1,000 SKUs with a large on hand, flat shipping and a tax rate): the cart is
   locked and priced, its stock held, the order ingested from the hold (sold, numbered) and
   the cart closed, all in one transaction. Every order takes a number from one counter row,
   so ``hot_row`` is its ceiling. Afterwards the database is read: orders from the storefront
   (``source='web'``) must equal the 201 responses (warm-up and drain included), one order per
   cart (external id = cart id), the ledger's sale units = its holds = the drop of on hand =
   the units of the orders, no order ``oversold``, no reservation of those carts left
   ``active``, and ``stock.verify`` must find nothing.
2. ``flash_sale``: 200 shoppers, each with their own cart of 1 unit of one SKU with 5 on hand,
   check out at once (one thread and connection each, released together by a barrier): exactly
   5 orders (5 x 201), the rest 409 ``insufficient_stock``, on hand 0, reserved 0, oversold 0.

The load generator's ``vary`` changes only headers and body, and a checkout names its cart in
the path, so ``checkout_complete`` sends a ``CartCheckouts`` template: a ``RequestTemplate``
whose ``encode`` puts cart ``seq`` in the path (it is pickled to the load generator like any
template). Past the last cart it asks for a cart that does not exist (404), and the note says
the run ran out of carts.

``python -m bench checkout [--db sqlite,postgresql]``; ``MERCATO_BENCH_CHECKOUT_SKUS`` (default
1000) changes the spread, ``MERCATO_BENCH_CHECKOUT_RATE`` (default 60 checkouts/s) the
expected rate that sizes the number of carts made during setup.
"""

from __future__ import annotations

import dataclasses
import http.client
import json
import math
import os
import threading
import time
from collections import Counter
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from bench.loadgen import LoadResult, RequestTemplate, percentile
from bench.registry import Context, Row, register
from bench.stack import Server, stack

SKU_UNITS = 100_000
FLASH_SHOPPERS = 200
FLASH_UNITS = 5
VARIANTS_PER_PRODUCT = 500
ADJUST_LINES = 250
CART_MARGIN = 2.0
"""Carts made = expected rate x (warm-up + duration + DRAIN_SECONDS) x this, + connections."""
DRAIN_SECONDS = 1.0
CART_THREADS = 4
OUT_OF_CARTS = "out-of-carts"
SHIPPING_PRICE = "5.00"
TAX_RATE = "0.08"
ADDRESS = {"first_name": "Ada", "last_name": "Byron", "line1": "1 Main St",
           "city": "Springfield", "region": "OR", "postal_code": "97401", "country": "US"}
CHECKOUT_BODY = json.dumps({"payment": {"method": "manual"}}).encode()
JSON = {"Content-Type": "application/json"}


def checkout_path(slug: str, cart_id: str) -> str:
    return f"/store/v1/{slug}/carts/{cart_id}/checkout"


def checkout_body(seq: int) -> tuple[Mapping[str, str], bytes]:
    """The ``vary`` of ``checkout_complete``: the body is the same for every cart (the path
    differs, see ``CartCheckouts``)."""
    return {}, CHECKOUT_BODY


@dataclass(frozen=True)
class CartCheckouts(RequestTemplate):
    """Request ``seq`` checks out ``carts[seq]``: the load generator varies only headers and
    body, and a checkout names its cart in the path."""

    slug: str = ""
    carts: tuple[str, ...] = ()

    def encode(self, host: str, seq: int | None = None) -> bytes:
        if seq is None:
            return super().encode(host, seq)
        cart = self.carts[seq] if seq < len(self.carts) else OUT_OF_CARTS
        one = RequestTemplate(self.method, checkout_path(self.slug, cart), self.headers,
                              self.body, self.vary)
        return one.encode(host, seq)


def _ok(server: Server, method: str, path: str, body: Any = None,
        headers: dict[str, str] | None = None) -> Any:
    status, payload = server.request(method, path, body,
                                     server.headers if headers is None else headers)
    if not 200 <= status < 300:
        raise RuntimeError(f"{method} {path} answered {status}: {payload[:500]!r}")
    return json.loads(payload) if payload else None


def seed_active(server: Server, prefix: str, count: int, units: int, location: str) -> None:
    """``count`` SKUs named ``{prefix}-{i}`` with ``units`` each at ``location``, in products
    created ``active`` (a draft is not for sale), through the catalog and inventory APIs."""
    for first in range(0, count, VARIANTS_PER_PRODUCT):
        numbers = range(first, min(count, first + VARIANTS_PER_PRODUCT))
        _ok(server, "POST", "/api/v1/products", {
            "title": f"Bench {prefix} {first}", "product_type": "accessory", "status": "active",
            "variants": [{"sku": f"{prefix}-{i}", "price": "10.00"} for i in numbers]})
    for first in range(0, count, ADJUST_LINES):
        _ok(server, "POST", "/api/v1/inventory/adjustments", {"lines": [
            {"sku": f"{prefix}-{i}", "location": location, "delta": units, "reason": "restock"}
            for i in range(first, min(count, first + ADJUST_LINES))]})


@dataclass
class Store:
    org_id: str
    slug: str
    location_id: str
    method_id: str


def open_store(server: Server) -> Store:
    """A store that sells, picks up, ships (flat 5.00 to the US) and taxes (8 %)."""
    _ok(server, "POST", "/api/v1/product-types/install", {"set": "tcg"})
    organization = _ok(server, "GET", "/api/v1/me")["organization"]
    location = _ok(server, "POST", "/api/v1/locations",
                   {"name": "Store", "code": "ST", "kind": "store", "pickup": True})["id"]
    zone = _ok(server, "POST", "/api/v1/shipping/zones", {"name": "US", "countries": ["US"]})
    method = _ok(server, "POST", "/api/v1/shipping/methods", {
        "zone_id": zone["id"], "title": "Standard", "code": "std", "kind": "flat",
        "currency": "USD", "price": SHIPPING_PRICE})["id"]
    _ok(server, "POST", "/api/v1/tax/rates", {"country": "US", "title": "Sales tax",
                                              "rate": TAX_RATE})
    return Store(organization["id"], organization["slug"], location, method)


def make_carts(server: Server, store: Store, skus: list[str]) -> tuple[list[str], float]:
    """One guest cart per SKU in ``skus`` (1 unit, address and shipping method set), made
    with a few threads; (cart ids in the order of ``skus``, seconds taken)."""

    def one(n: int) -> str:
        cart = _ok(server, "POST", f"/store/v1/{store.slug}/carts", {
            "currency": "USD", "email": f"shopper-{n}@bench.test",
            "lines": [{"sku": skus[n], "quantity": 1}], "shipping_address": ADDRESS,
            "shipping_method_id": store.method_id}, headers={})
        return str(cart["id"])

    started = time.perf_counter()
    with ThreadPoolExecutor(CART_THREADS) as pool:
        ids = list(pool.map(one, range(len(skus))))
    return ids, time.perf_counter() - started


def carts_needed(ctx: Context) -> int:
    rate = float(os.environ.get("MERCATO_BENCH_CHECKOUT_RATE", "60"))
    return math.ceil(rate * (ctx.warmup + ctx.duration + DRAIN_SECONDS) * CART_MARGIN) \
        + ctx.concurrency


@dataclass
class Ledger:
    """What the database holds for one case's carts and SKUs (``{sku_prefix}-*``)."""

    web_orders: int
    """Orders with ``source='web'`` in the whole organization."""
    of_carts: int
    """Of those, orders whose external id is one of the case's carts."""
    twins: int
    """Carts with more than one order."""
    completed_carts: int
    order_units: int
    sale_units: int
    held_units: int
    on_hand_drop: int
    reserved: int
    active_holds: int
    """Reservations of the case's carts still ``active``."""
    oversold: int
    problems: int


def ledger(database_url: str, org_id: str, carts: set[str], sku_prefix: str,
           units_each: int, skus: int) -> Ledger:
    from sqlalchemy import func, select

    from mercato.catalog.models import Variant
    from mercato.checkout.cart.models import Cart
    from mercato.core.db import Database
    from mercato.inventory.models import Reservation, StockLevel, StockMovement
    from mercato.inventory.stock import verify
    from mercato.orders.models import Order, OrderLine

    db = Database(database_url, pool_size=1)
    try:
        with db.session(write=False, tenant=org_id) as session:
            web = list(session.execute(
                select(Order.id, Order.external_id, Order.oversold).where(Order.source == "web")))
            mine = [(oid, ext, over) for oid, ext, over in web if ext in carts]
            per_cart = Counter(ext for _, ext, _ in mine)
            ids = {oid for oid, _, _ in mine}
            order_units = sum(q for oid, q in session.execute(
                select(OrderLine.order_id, OrderLine.quantity)
                .join(Order, Order.id == OrderLine.order_id).where(Order.source == "web"))
                if oid in ids)
            completed = sum(1 for cid, status in session.execute(
                select(Cart.id, Cart.status).where(Cart.status == "completed"))
                if cid in carts and status == "completed")
            holds = sum(1 for (ref,) in session.execute(
                select(Reservation.reference).where(Reservation.status == "active",
                                                    Reservation.reference.like("cart:%")))
                if ref.split(":")[1] in carts)
            variants = select(Variant.id).where(
                Variant.sku.like(f"{sku_prefix}-%")).scalar_subquery()
            moved = StockMovement.variant_id.in_(variants)
            sold = session.scalar(
                select(func.coalesce(func.sum(-StockMovement.delta_on_hand), 0))
                .where(moved, StockMovement.reason == "sale"))
            held = session.scalar(
                select(func.coalesce(func.sum(StockMovement.delta_reserved), 0))
                .where(moved, StockMovement.reason == "reservation"))
            on_hand, reserved = session.execute(
                select(func.coalesce(func.sum(StockLevel.on_hand), 0),
                       func.coalesce(func.sum(StockLevel.reserved), 0))
                .where(StockLevel.variant_id.in_(variants))).one()
            problems = verify(session)
        return Ledger(
            web_orders=len(web), of_carts=len(mine),
            twins=sum(1 for n in per_cart.values() if n > 1), completed_carts=completed,
            order_units=int(order_units), sale_units=int(sold or 0), held_units=int(held or 0),
            on_hand_drop=skus * units_each - int(on_hand or 0), reserved=int(reserved or 0),
            active_holds=holds, oversold=sum(1 for _, _, over in mine if over),
            problems=len(problems))
    finally:
        db.dispose()


def compare(found: Ledger, created: int, earlier: int = 0) -> list[str]:
    """What disagrees with ``created`` orders of 1 unit each (after ``earlier`` storefront
    orders of other cases), in words (empty: exact)."""
    wrong = []
    if not found.web_orders - earlier == found.of_carts == created:
        wrong.append(f"{found.of_carts:,} orders of the carts ({found.web_orders:,} from the "
                     f"storefront) for {created:,} created")
    if found.twins:
        wrong.append(f"{found.twins} carts with more than one order")
    if found.completed_carts != created:
        wrong.append(f"{found.completed_carts:,} carts completed for {created:,} orders")
    units = found.order_units
    if not found.sale_units == found.held_units == found.on_hand_drop == units == created:
        wrong.append(f"order units {units:,} but sale units {found.sale_units:,}, held "
                     f"{found.held_units:,}, on hand down {found.on_hand_drop:,}")
    if found.reserved:
        wrong.append(f"{found.reserved} units still reserved")
    if found.active_holds:
        wrong.append(f"{found.active_holds} reservations of the carts still active")
    if found.oversold:
        wrong.append(f"{found.oversold} oversold orders")
    if found.problems:
        wrong.append(f"stock.verify found {found.problems} problems")
    return wrong


def check_of(found: Ledger, wrong: list[str]) -> dict[str, Any]:
    return {**dataclasses.asdict(found), "exact": not wrong}


def at_once(server: Server, paths: list[str], body: bytes) -> LoadResult:
    """One thread and connection per path, released together by a barrier, each sending one
    ``POST`` (not a closed loop: req/s is requests / wall time)."""
    barrier = threading.Barrier(len(paths))
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    samples: list[str] = []
    lock = threading.Lock()

    def shopper(path: str) -> None:
        conn = http.client.HTTPConnection(server.host, server.port, timeout=120)
        try:
            conn.connect()
            barrier.wait()
            started = time.perf_counter()
            conn.request("POST", path, body=body, headers=JSON)
            response = conn.getresponse()
            answer = response.read()
            elapsed = time.perf_counter() - started
            with lock:
                latencies.append(elapsed)
                statuses[response.status] += 1
                if not 200 <= response.status < 300 and not samples:
                    samples.append(f"{response.status} "
                                   f"{answer[:300].decode('utf-8', 'replace')}")
        finally:
            conn.close()

    threads = [threading.Thread(target=shopper, args=(path,)) for path in paths]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - started
    ordered = sorted(latencies)
    ok = sum(n for status, n in statuses.items() if 200 <= status < 300)
    return LoadResult(
        requests=len(ordered), duration=seconds, rps=len(ordered) / seconds,
        p50_ms=percentile(ordered, 0.50) * 1000, p95_ms=percentile(ordered, 0.95) * 1000,
        p99_ms=percentile(ordered, 0.99) * 1000, max_ms=(ordered[-1] if ordered else 0) * 1000,
        non_2xx=len(ordered) - ok, errors=len(paths) - len(ordered),
        status_counts=dict(sorted(statuses.items())), ok_total=ok,
        errors_total=len(paths) - len(ordered), event_loop="threads",
        sample_non_2xx=samples[0] if samples else None)


def checkout_complete(ctx: Context, server: Server, store: Store, database_url: str,
                      skus: int) -> Row:
    count = carts_needed(ctx)
    carts, seconds = make_carts(server, store, [f"CO-{n * 7919 % skus}" for n in range(count)])
    template = CartCheckouts("POST", "", {**JSON}, vary=checkout_body, slug=store.slug,
                             carts=tuple(carts))
    row = ctx.measure("checkout_complete", server, template, ceiling="hot_row")
    result = row.result
    sent = result.ok_total
    found = ledger(database_url, store.org_id, set(carts), "CO", SKU_UNITS, skus)
    wrong = compare(found, sent)
    ran_out = found.completed_carts >= len(carts) or 404 in result.status_counts
    if result.errors_total:
        wrong.append(f"{result.errors_total} socket errors, so the count is uncertain")
    row.extra["check"] = {"ok_responses": sent, "carts": len(carts), "ran_out": ran_out,
                          **check_of(found, wrong)}
    row.extra["note"] = (
        f"{len(carts):,} carts made in setup ({len(carts) / seconds:.0f} carts/s, "
        f"{CART_THREADS} threads) over {skus:,} SKUs"
        f"{'; RAN OUT OF CARTS (raise MERCATO_BENCH_CHECKOUT_RATE)' if ran_out else ''}; "
        f"{sent:,} 2xx (warm-up and drain included); orders from the storefront "
        f"{found.web_orders:,}, {'one per cart' if not found.twins else 'TWINS'}, carts "
        f"completed {found.completed_carts:,}, sale units {found.sale_units:,} = held "
        f"{found.held_units:,} = on hand down {found.on_hand_drop:,} = order units "
        f"{found.order_units:,}, still reserved {found.reserved}, active holds "
        f"{found.active_holds}, oversold {found.oversold}: "
        f"{'exact' if not wrong else 'MISMATCH: ' + '; '.join(wrong)}"
        f"; verify() {'clean' if not found.problems else 'NOT clean'}")
    return row


def flash_sale(ctx: Context, server: Server, store: Store, database_url: str,
               earlier: int) -> Row:
    """``earlier``: storefront orders made before (by ``checkout_complete``)."""
    carts, _ = make_carts(server, store, ["FLASH-0"] * FLASH_SHOPPERS)
    result = at_once(server, [checkout_path(store.slug, cart) for cart in carts], CHECKOUT_BODY)
    statuses = result.status_counts
    found = ledger(database_url, store.org_id, set(carts), "FLASH", FLASH_UNITS, 1)
    sold = statuses.get(201, 0)
    refused = statuses.get(409, 0)
    on_hand = FLASH_UNITS - found.on_hand_drop
    oversold = found.order_units - FLASH_UNITS
    wrong = compare(found, sold, earlier)
    if (sold, refused) != (FLASH_UNITS, FLASH_SHOPPERS - FLASH_UNITS):
        wrong.append(f"{sold} x 201 and {refused} x 409, not {FLASH_UNITS} and "
                     f"{FLASH_SHOPPERS - FLASH_UNITS}")
    if on_hand or oversold:
        wrong.append(f"on hand {on_hand}, oversold {oversold}")
    row = Row(ctx.benchmark, ctx.database, "flash_sale", result, FLASH_SHOPPERS)
    row.extra["flash_sale"] = {"shoppers": FLASH_SHOPPERS, "units": FLASH_UNITS,
                               "succeeded": sold, "refused_409": refused, "on_hand": on_hand,
                               "oversold": oversold}
    row.extra["check"] = check_of(found, wrong)
    row.extra["note"] = (
        f"{FLASH_SHOPPERS} shoppers at once, each with a cart of 1 unit, for {FLASH_UNITS} "
        f"units: statuses {dict(statuses)}; orders {found.of_carts} (one per cart: "
        f"{'yes' if not found.twins else 'NO'}), on hand {on_hand}, reserved "
        f"{found.reserved}, active holds {found.active_holds}, oversold = {oversold} "
        f"(orders flagged oversold {found.oversold}): "
        f"{'exact' if not wrong else 'WRONG: ' + '; '.join(wrong)}"
        f"; verify() {'clean' if not found.problems else 'NOT clean'}")
    return row


@register("checkout", description="storefront checkouts/s (cart -> order, manual payment); "
                                  "flash sale of 5 units to 200 shoppers through checkout")
def checkout(ctx: Context) -> list[Row]:
    skus = int(os.environ.get("MERCATO_BENCH_CHECKOUT_SKUS", "1000"))
    with stack(ctx.database) as s:
        server = s.server
        store = open_store(server)
        seed_active(server, "CO", skus, SKU_UNITS, store.location_id)
        seed_active(server, "FLASH", 1, FLASH_UNITS, store.location_id)
        complete = checkout_complete(ctx, server, store, s.database_url, skus)
        flash = flash_sale(ctx, server, store, s.database_url,
                           earlier=complete.extra["check"]["web_orders"])
        return [complete, flash]
