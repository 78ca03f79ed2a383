"""Orders ingested per second, and a duplicate-heavy mix that must not move stock twice.

1. ``ingest_unique``: every request ``POST /api/v1/orders`` a new order (external id
   ``uniq-<n>``, one line of 1 unit, paid by card), the SKU spread over 1,000 SKUs with a large
   on hand: each order takes its unit from stock (a hold, then a sale) and a gapless order
   number from one counter row every order contends for, so ``hot_row`` is its ceiling.
2. ``ingest_duplicates``: request ``n`` is a new order when ``n % 10 == 0``, else one of 50
   orders ingested during setup: ~90 % answered 200 with the first order, moving no stock.

After each case the database is read: orders made must equal the 201 responses (warm-up and
drain included), each external id must map to one order, the ledger's sale units (and its
holds) must equal the units of the orders, on hand must have dropped by exactly that, no
order may be ``oversold``, and ``stock.verify`` must find nothing.

``python -m bench orders [--db sqlite,postgresql]``; ``MERCATO_BENCH_ORDERS_SKUS`` (default
1000) changes the spread.
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bench.inventory import seed
from bench.loadgen import RequestTemplate
from bench.registry import Context, Row, register
from bench.stack import Server, stack

ORDERS = "/api/v1/orders"
CHANNEL = "shopify"
SKU_UNITS = 100_000
DUPLICATE_SEEDS = 50
NEW_EVERY = 10


def order_body(external_id: str, sku: str) -> bytes:
    return json.dumps({"channel": CHANNEL, "external_id": external_id, "currency": "USD",
                       "lines": [{"sku": sku, "quantity": 1, "unit_price": "10.00"}],
                       "payments": [{"method": "card"}]}).encode()


def seeded_id(prefix: str, i: int) -> str:
    return f"{prefix}-seed-{i}"


def unique_body(prefix: str, sku_prefix: str, skus: int, seq: int
                ) -> tuple[Mapping[str, str], bytes]:
    """The ``vary`` of ``ingest_unique``: order ``{prefix}-{seq}`` of SKU ``seq`` (scrambled)."""
    return {}, order_body(f"{prefix}-{seq}", f"{sku_prefix}-{seq * 7919 % skus}")


def duplicate_body(prefix: str, sku_prefix: str, skus: int, seq: int
                   ) -> tuple[Mapping[str, str], bytes]:
    """The ``vary`` of ``ingest_duplicates``: a new order ``{prefix}-{seq}`` every
    ``NEW_EVERY``-th request, else the next of the ``DUPLICATE_SEEDS`` seeded orders in turn."""
    sku = f"{sku_prefix}-{seq * 7919 % skus}"
    if seq % NEW_EVERY == 0:
        return {}, order_body(f"{prefix}-{seq}", sku)
    again = seq - seq // NEW_EVERY - 1  # how many duplicates came before this one
    return {}, order_body(seeded_id(prefix, again % DUPLICATE_SEEDS), sku)


def _ok(server: Server, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    status, payload = server.request(method, path, body, server.headers)
    if not 200 <= status < 300:
        raise RuntimeError(f"{method} {path} answered {status}: {payload[:500]!r}")
    return status, json.loads(payload) if payload else None


@dataclass
class Ledger:
    """What the database holds for one case's orders (external ids ``{prefix}-*``) and SKUs."""

    external_ids: set[str]
    orders: int
    twins: int
    """External ids with more than one order."""
    order_units: int
    sale_units: int
    held_units: int
    on_hand_drop: int
    oversold: int
    problems: int


def ledger(database_url: str, org_id: str, prefix: str, sku_prefix: str, skus: int) -> Ledger:
    from sqlalchemy import func, select

    from mercato.catalog.models import Variant
    from mercato.core.db import Database
    from mercato.inventory.models import StockLevel, StockMovement
    from mercato.inventory.stock import verify
    from mercato.orders.models import Order, OrderLine

    db = Database(database_url, pool_size=1)
    try:
        with db.session(write=False, tenant=org_id) as session:
            mine = (Order.channel == CHANNEL, Order.external_id.like(f"{prefix}-%"))
            ids = list(session.scalars(select(Order.external_id).where(*mine)))
            twins = session.scalar(select(func.count()).select_from(
                select(Order.external_id).where(*mine).group_by(Order.external_id)
                .having(func.count() > 1).subquery()))
            order_units = session.scalar(
                select(func.coalesce(func.sum(OrderLine.quantity), 0))
                .join(Order, Order.id == OrderLine.order_id).where(*mine))
            oversold = session.scalar(select(func.count()).where(*mine, Order.oversold))
            variants = select(Variant.id).where(
                Variant.sku.like(f"{sku_prefix}-%")).scalar_subquery()
            moved = (StockMovement.variant_id.in_(variants),
                     StockMovement.reference.like("order:%"))
            sold = session.scalar(
                select(func.coalesce(func.sum(-StockMovement.delta_on_hand), 0))
                .where(*moved, StockMovement.reason == "sale"))
            held = session.scalar(
                select(func.coalesce(func.sum(StockMovement.delta_reserved), 0))
                .where(*moved, StockMovement.reason == "reservation"))
            on_hand = session.scalar(select(func.coalesce(func.sum(StockLevel.on_hand), 0))
                                     .where(StockLevel.variant_id.in_(variants)))
            problems = verify(session)
        return Ledger({i for i in ids if i is not None}, len(ids), int(twins or 0),
                      int(order_units or 0), int(sold or 0), int(held or 0),
                      skus * SKU_UNITS - int(on_hand or 0), int(oversold or 0), len(problems))
    finally:
        db.dispose()


def compare(found: Ledger, expected_ids: set[str]) -> list[str]:
    """What disagrees, in words (empty: exact)."""
    wrong = []
    if found.external_ids != expected_ids:
        missing, extra = expected_ids - found.external_ids, found.external_ids - expected_ids
        wrong.append(f"orders {found.orders:,} for {len(expected_ids):,} expected "
                     f"({len(missing)} missing, {len(extra)} unexpected)")
    if found.twins:
        wrong.append(f"{found.twins} external ids with more than one order")
    units = found.order_units
    if not found.sale_units == found.held_units == found.on_hand_drop == units:
        wrong.append(f"order units {units:,} but sale units {found.sale_units:,}, held "
                     f"{found.held_units:,}, on hand down {found.on_hand_drop:,}")
    if found.oversold:
        wrong.append(f"{found.oversold} oversold orders")
    if found.problems:
        wrong.append(f"stock.verify found {found.problems} problems")
    return wrong


@register("orders", description="orders ingested/s, unique and ~90 % duplicates (dedupe by "
                                "channel and external id)")
def orders(ctx: Context) -> list[Row]:
    skus = int(os.environ.get("MERCATO_BENCH_ORDERS_SKUS", "1000"))
    with stack(ctx.database) as s:
        server = s.server
        _ok(server, "POST", "/api/v1/product-types/install", {"set": "tcg"})
        org_id = _ok(server, "GET", "/api/v1/me")[1]["organization"]["id"]
        location = _ok(server, "POST", "/api/v1/locations",
                       {"name": "Warehouse", "code": "WH", "kind": "warehouse"})[1]["id"]
        seed(server, "OU", skus, SKU_UNITS, location)
        seed(server, "OD", skus, SKU_UNITS, location)
        for i in range(DUPLICATE_SEEDS):
            status, _ = _ok(server, "POST", ORDERS,
                            json.loads(order_body(seeded_id("dup", i), f"OD-{i * 7919 % skus}")))
            if status != 201:
                raise RuntimeError(f"seeding order {i} answered {status}, not 201")
        headers = {**server.headers, "Content-Type": "application/json"}
        rows = []
        for case, prefix, sku_prefix, vary in (("ingest_unique", "uniq", "OU", unique_body),
                                               ("ingest_duplicates", "dup", "OD", duplicate_body)):
            template = RequestTemplate("POST", ORDERS, headers,
                                       vary=functools.partial(vary, prefix, sku_prefix, skus))
            row = ctx.measure(case, server, template, ceiling="hot_row")
            result = row.result
            sent = result.ok_total  # every request numbered 0..sent-1 answered 2xx
            found = ledger(s.database_url, org_id, prefix, sku_prefix, skus)
            if case == "ingest_unique":
                expected = {f"{prefix}-{n}" for n in range(sent)}
                made = sent
                mix = f"{sent:,} 2xx (warm-up and drain included)"
            else:
                new = {f"{prefix}-{n}" for n in range(0, sent, NEW_EVERY)}
                expected = new | {seeded_id(prefix, i) for i in range(DUPLICATE_SEEDS)}
                made = len(new)
                mix = (f"{sent:,} 2xx (warm-up and drain included): {made:,} new (201), "
                       f"{sent - made:,} duplicates (200); "
                       f"in the window {result.status_counts.get(201, 0):,} x 201, "
                       f"{result.status_counts.get(200, 0):,} x 200")
            wrong = compare(found, expected)
            if result.errors_total:
                wrong.append(f"{result.errors_total} socket errors, so the count is uncertain")
            row.extra["check"] = {
                "ok_responses": sent, "created_expected": made,
                "orders": found.orders, "seeded": 0 if case == "ingest_unique"
                else DUPLICATE_SEEDS, "twins": found.twins, "order_units": found.order_units,
                "sale_units": found.sale_units, "held_units": found.held_units,
                "on_hand_drop": found.on_hand_drop, "oversold": found.oversold,
                "verify_problems": found.problems, "exact": not wrong}
            seeded = "" if case == "ingest_unique" else f" + {DUPLICATE_SEEDS} seeded"
            row.extra["note"] = (
                f"{skus:,} SKUs; {mix}; orders in the database "
                f"{found.orders:,} (= {made:,} created{seeded}), "
                f"{'one per external id' if not found.twins else 'TWINS'}, sale "
                f"units {found.sale_units:,} = held {found.held_units:,} = on hand down "
                f"{found.on_hand_drop:,} = order units {found.order_units:,}, oversold "
                f"{found.oversold}: {'exact' if not wrong else 'MISMATCH: ' + '; '.join(wrong)}"
                f"; verify() {'clean' if not found.problems else 'NOT clean'}")
            rows.append(row)
        return rows
