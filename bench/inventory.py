"""Reservations per second, and a flash sale that must not oversell.

1. ``reserve_hot``: every request reserves 1 unit of one SKU with a huge on hand (unique
   reference per request): every request contends for one level row, like ``hot_row`` does,
   so the ratio to ``hot_row`` is the cost of a real reservation over the bare conditional
   UPDATE. Afterwards the level's ``reserved`` must equal the 2xx responses exactly.
2. ``reserve_spread``: the same request over 10,000 SKUs (stock received through
   ``POST /api/v1/inventory/adjustments``, 250 lines per request): little contention.
3. ``adjust_250``: once that stock is in and the tables' statistics are current (as
   autovacuum keeps them), one more unit of every spread SKU through
   ``POST /api/v1/inventory/adjustments`` of 250 lines each, one client, one call after
   another: seconds per call and lines/s (req/s is calls/s).
4. ``flash_sale``: 200 buyers at once (one thread each, released together) for 5 units: how
   many succeeded, and ``oversold`` = units reserved in the database - 5 (must be 0, and
   exactly 5 buyers must succeed).

``python -m bench inventory [--db sqlite,postgresql]``; ``MERCATO_BENCH_INVENTORY_SKUS``
(default 10000) changes the spread.
"""

from __future__ import annotations

import functools
import http.client
import json
import os
import threading
import time
from collections import Counter
from collections.abc import Mapping
from typing import Any

from bench.loadgen import LoadResult, RequestTemplate, percentile
from bench.registry import Context, Row, register
from bench.stack import Server, stack

RESERVE = "/api/v1/inventory/reservations"
HOT_UNITS = 1_000_000
SPREAD_UNITS = 1_000
FLASH_BUYERS = 200
FLASH_UNITS = 5
VARIANTS_PER_PRODUCT = 500
ADJUST_LINES = 250


def reservation_body(prefix: str, skus: int, seq: int) -> tuple[Mapping[str, str], bytes]:
    """The ``vary`` of the load: a unique reference per request, and SKU ``seq`` (scrambled)
    of ``skus`` (``{prefix}-0`` ... ``{prefix}-{skus-1}``), or the only one when ``skus`` is 1."""
    sku = f"{prefix}-{seq * 7919 % skus}"
    return {}, json.dumps({"reference": f"{prefix}-r{seq}",
                           "lines": [{"sku": sku, "quantity": 1}]}).encode()


def _ok(server: Server, method: str, path: str, body: Any = None) -> Any:
    status, payload = server.request(method, path, body, server.headers)
    if not 200 <= status < 300:
        raise RuntimeError(f"{method} {path} answered {status}: {payload[:500]!r}")
    return json.loads(payload) if payload else None


def seed(server: Server, prefix: str, count: int, units: int, location: str) -> list[float]:
    """``count`` SKUs named ``{prefix}-{i}`` with ``units`` more each at ``location`` (created
    first unless they exist), through the catalog and inventory APIs; the seconds each
    adjustment call took."""
    for first in range(0, count, VARIANTS_PER_PRODUCT):
        numbers = range(first, min(count, first + VARIANTS_PER_PRODUCT))
        if _ok(server, "GET", f"/api/v1/variants?sku={prefix}-{first}")["data"]:
            continue  # made by an earlier call
        _ok(server, "POST", "/api/v1/products", {
            "title": f"Bench {prefix} {first}", "product_type": "accessory",
            "variants": [{"sku": f"{prefix}-{i}", "price": "1.00"} for i in numbers]})
    seconds = []
    for first in range(0, count, ADJUST_LINES):
        started = time.perf_counter()
        _ok(server, "POST", "/api/v1/inventory/adjustments", {"lines": [
            {"sku": f"{prefix}-{i}", "location": location, "delta": units, "reason": "restock"}
            for i in range(first, min(count, first + ADJUST_LINES))]})
        seconds.append(time.perf_counter() - started)
    return seconds


def timed_row(ctx: Context, case: str, seconds: list[float]) -> Row:
    """A row of calls made one after another (not a load): their latencies and calls/s."""
    ordered = sorted(seconds)
    total = sum(seconds)
    result = LoadResult(
        requests=len(ordered), duration=total, rps=len(ordered) / total if total else 0.0,
        p50_ms=percentile(ordered, 0.50) * 1000, p95_ms=percentile(ordered, 0.95) * 1000,
        p99_ms=percentile(ordered, 0.99) * 1000, max_ms=(ordered[-1] if ordered else 0) * 1000,
        non_2xx=0, errors=0, status_counts={201: len(ordered)}, ok_total=len(ordered),
        errors_total=0, event_loop="sequential")
    return Row(ctx.benchmark, ctx.database, case, result, 1)


def analyze(database_url: str) -> None:
    """Current planner statistics for the tables the seeding filled, as autovacuum would
    have them by the time a store adjusts stock it has had for a while."""
    from mercato.core.db import Database

    db = Database(database_url, pool_size=1)
    try:
        db.analyze(("products", "variants", "stock_levels", "stock_movements"))
    finally:
        db.dispose()


def held(database_url: str, org_id: str, prefix: str) -> tuple[int, int]:
    """(units reserved on the levels, units held by active reservations) for the SKUs named
    ``{prefix}-*``, read from the database."""
    from sqlalchemy import func, select

    from mercato.core.db import Database
    from mercato.inventory.models import Reservation, ReservationLine, StockLevel
    from mercato.inventory.stock import verify

    db = Database(database_url, pool_size=1)
    try:
        with db.session(write=False, tenant=org_id) as session:
            variants = select(ReservationLine.variant_id).where(
                ReservationLine.sku.like(f"{prefix}-%")).scalar_subquery()
            reserved = session.scalar(select(func.coalesce(func.sum(StockLevel.reserved), 0))
                                      .where(StockLevel.variant_id.in_(variants)))
            holding = session.scalar(
                select(func.coalesce(func.sum(ReservationLine.quantity), 0))
                .join(Reservation, Reservation.id == ReservationLine.reservation_id)
                .where(Reservation.status == "active", ReservationLine.sku.like(f"{prefix}-%")))
            problems = verify(session)
        if problems:
            raise RuntimeError(f"stock.verify found {len(problems)} problems: {problems[:3]}")
        return int(reserved or 0), int(holding or 0)
    finally:
        db.dispose()


def flash_sale(server: Server, prefix: str) -> tuple[LoadResult, Counter[int]]:
    """``FLASH_BUYERS`` threads, each with its own connection, released at once."""
    barrier = threading.Barrier(FLASH_BUYERS)
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    lock = threading.Lock()

    def buyer(n: int) -> None:
        conn = http.client.HTTPConnection(server.host, server.port, timeout=120)
        body = json.dumps({"reference": f"{prefix}-buyer-{n}",
                           "lines": [{"sku": f"{prefix}-0", "quantity": 1}]})
        try:
            conn.connect()
            barrier.wait()
            started = time.perf_counter()
            conn.request("POST", RESERVE, body=body,
                         headers={**server.headers, "Content-Type": "application/json"})
            response = conn.getresponse()
            response.read()
            elapsed = time.perf_counter() - started
            with lock:
                latencies.append(elapsed)
                statuses[response.status] += 1
        finally:
            conn.close()

    threads = [threading.Thread(target=buyer, args=(n,)) for n in range(FLASH_BUYERS)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - started
    ordered = sorted(latencies)
    ok = sum(n for status, n in statuses.items() if 200 <= status < 300)
    result = LoadResult(
        requests=len(ordered), duration=seconds, rps=len(ordered) / seconds,
        p50_ms=percentile(ordered, 0.50) * 1000, p95_ms=percentile(ordered, 0.95) * 1000,
        p99_ms=percentile(ordered, 0.99) * 1000, max_ms=(ordered[-1] if ordered else 0) * 1000,
        non_2xx=len(ordered) - ok, errors=FLASH_BUYERS - len(ordered),
        status_counts=dict(sorted(statuses.items())), ok_total=ok,
        errors_total=FLASH_BUYERS - len(ordered), event_loop="threads")
    return result, statuses


@register("inventory", description="reservations/s on one hot SKU and over 10k SKUs; "
                                   "flash sale of 5 units to 200 buyers")
def inventory(ctx: Context) -> list[Row]:
    skus = int(os.environ.get("MERCATO_BENCH_INVENTORY_SKUS", "10000"))
    with stack(ctx.database) as s:
        server = s.server
        _ok(server, "POST", "/api/v1/product-types/install", {"set": "tcg"})
        org_id = _ok(server, "GET", "/api/v1/me")["organization"]["id"]
        location = _ok(server, "POST", "/api/v1/locations",
                       {"name": "Warehouse", "code": "WH", "kind": "warehouse"})["id"]
        seed(server, "HOT", 1, HOT_UNITS, location)
        seed(server, "SPREAD", skus, SPREAD_UNITS, location)
        seed(server, "FLASH", 1, FLASH_UNITS, location)
        analyze(s.database_url)
        adjusting = seed(server, "SPREAD", skus, 1, location)
        rows = []
        adjust = timed_row(ctx, "adjust_250", adjusting)
        adjust.extra["note"] = (
            f"{len(adjusting)} calls of {ADJUST_LINES} lines (existing levels, statistics "
            f"current) one after another: {sum(adjusting) / len(adjusting):.3f} s per call, "
            f"{ADJUST_LINES * len(adjusting) / sum(adjusting):,.0f} lines/s")
        rows.append(adjust)
        for case, prefix, count in (("reserve_hot", "HOT", 1),
                                    ("reserve_spread", "SPREAD", skus)):
            template = RequestTemplate(
                "POST", RESERVE, {**server.headers, "Content-Type": "application/json"},
                vary=functools.partial(reservation_body, prefix, count))
            row = ctx.measure(case, server, template, ceiling="hot_row")
            reserved, holding = held(s.database_url, org_id, prefix)
            ok = row.result.ok_total
            row.extra["check"] = {"ok_responses": ok, "reserved": reserved,
                                  "held_by_active": holding,
                                  "exact": reserved == holding == ok}
            row.extra["note"] = (
                f"{count:,} SKU(s); {ok:,} 2xx (warm-up and drain included), reserved "
                f"{reserved:,}, held by active reservations {holding:,}: "
                f"{'exact' if reserved == holding == ok else 'MISMATCH'}; verify() clean")
            rows.append(row)
        result, statuses = flash_sale(server, "FLASH")
        reserved, holding = held(s.database_url, org_id, "FLASH")
        oversold = reserved - FLASH_UNITS
        row = Row(ctx.benchmark, ctx.database, "flash_sale", result, FLASH_BUYERS)
        row.extra["flash_sale"] = {"buyers": FLASH_BUYERS, "units": FLASH_UNITS,
                                   "succeeded": statuses.get(201, 0),
                                   "refused_409": statuses.get(409, 0),
                                   "reserved": reserved, "held_by_active": holding,
                                   "oversold": oversold}
        row.extra["note"] = (
            f"{FLASH_BUYERS} buyers at once for {FLASH_UNITS} units: "
            f"{statuses.get(201, 0)} succeeded, {statuses.get(409, 0)} refused (409), "
            f"reserved in the database {reserved}, oversold = {oversold}"
            f"{'' if oversold == 0 and statuses.get(201, 0) == FLASH_UNITS else ' (WRONG)'}")
        rows.append(row)
        return rows
