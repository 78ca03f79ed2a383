"""What one checkout reads: pricing's facts once, no stock before the hold.

A behaviour check, not a timing: the SQL statements of one checkout are recorded with a
``before_cursor_execute`` listener on the engine and compared by text. Numbers per checkout,
before and after, are in bench/README.md (``python -m bench.statements``).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager

from bench.statements import counting
from fastapi.testclient import TestClient

from mercato.core.db import Database
from tests.checkout.helpers import ADDRESS, checkout, new_cart, shop, tax_rate
from tests.conftest import Org
from tests.storefront_helpers import store_url

ONLINE_LOCATIONS = re.compile(r"SELECT locations\.id FROM locations WHERE locations\.active")
"""Where a hold without a sales channel may take stock from."""


@contextmanager
def statements(db: Database) -> Iterator[list[str]]:
    """Every statement the engine runs in the block (counted as ``python -m bench.statements``
    counts them: the in-process worker's left out), on one line each, once the block ends."""
    seen: list[str] = []
    with counting(db.engine) as counted:
        yield seen
    seen.extend(" ".join(s.split()) for s in counted.statements)


def reads(seen: list[str], table: str) -> list[str]:
    return [s for s in seen if s.startswith("SELECT") and re.search(rf"\bFROM {table}\b", s)]


def test_a_checkout_reads_what_pricing_needs_once(client: TestClient, org: Org,
                                                  db: Database) -> None:
    skus, _place, method = shop(client, org, [5, 5])
    tax_rate(client, org, "0.08")
    # a rule and a promotion scoped by SKU: both need the variants' facts
    rule = client.post("/api/v1/pricing-rules", headers=org.headers, json={
        "title": "One SKU", "adjustment": "percentage", "value": "10",
        "scope": {"kind": "sku", "values": [skus[0]]}})
    assert rule.status_code == 201, rule.text
    for body in (
        {"title": "Auto", "kind": "percentage", "value": "5",
         "scope": {"kind": "sku", "values": [skus[1]]}},
        {"title": "Coded", "kind": "fixed_amount", "value": "1.00", "currency": "USD",
         "codes": ["ONEOFF"], "per_customer_limit": 1}):
        made = client.post("/api/v1/promotions", headers=org.headers, json=body)
        assert made.status_code == 201, made.text
    cart = new_cart(client, org, [(skus[0], 1), (skus[1], 2)], method_id=method,
                    address=ADDRESS)
    coded = client.post(store_url(org.slug, f"/carts/{cart['id']}/discount-codes"),
                        json={"code": "ONEOFF"})
    assert coded.status_code == 201, coded.text

    with statements(db) as seen:
        done = checkout(client, org, cart["id"], {"method": "manual"})
    assert done.status_code == 201, done.text
    order = done.json()
    assert (order["subtotal"], order["discount_total"]) == ("29.00", "2.00"), order

    # the online locations are read by inventory's hold alone (the order's units are all
    # held), never by checkout's own pricing: a checkout leaves stock to its reservation
    assert_read_once(seen, but={})
    for table in ("promotion_usages", "sales_channels", "tax_settings", "tax_rates",
                  "shipping_methods", "shipping_zones", "pricing_rules", "price_lists",
                  "product_collections", "payment_settings"):
        assert len(reads(seen, table)) == 1, (table, reads(seen, table))
    assert_no_stock_read_before_the_hold(seen)


def test_a_checkout_through_a_web_sales_channel_reads_it_once(
        client: TestClient, org: Org, db: Database) -> None:
    skus, place, method = shop(client, org, [5])
    channel = client.post("/api/v1/channels", headers=org.headers, json={
        "name": "Web", "kind": "web", "locations": [place["id"]]})
    assert channel.status_code == 201, channel.text
    cart = new_cart(client, org, [(skus[0], 2)], method_id=method, address=ADDRESS)

    with statements(db) as seen:
        done = checkout(client, org, cart["id"], {"method": "manual"})
    assert done.status_code == 201, done.text
    staff = client.get(f"/api/v1/orders/{done.json()['id']}", headers=org.headers).json()
    assert staff["channel_id"] == channel.json()["id"]
    # the storefront's channel is found once, by kind, with its locations; inventory's hold
    # and the orders module's ingest name it by id and find it in the session
    by_kind = [s for s in reads(seen, "sales_channels") if "WHERE sales_channels.kind" in s]
    assert len(by_kind) == 1, by_kind
    assert_read_once(seen, but={})
    assert not [s for s in seen if ONLINE_LOCATIONS.search(s)]  # the channel's locations
    assert_no_stock_read_before_the_hold(seen)


CHANNEL_BY_ID = re.compile(r"FROM sales_channels WHERE sales_channels\.id = ")
CHANNEL_LOCATIONS = re.compile(r"FROM channel_locations WHERE channel_locations\.channel_id")


def assert_read_once(seen: list[str], *, but: dict[re.Pattern[str], int]) -> None:
    """No SELECT ran twice, except those matching a pattern of ``but``, at most that often
    (PostgreSQL's ``set_config`` for row-level security, once per transaction and savepoint,
    aside)."""
    selects = Counter(s for s in seen if s.startswith("SELECT")
                      and not s.startswith("SELECT set_config"))
    for pattern, most in but.items():
        found = sum(n for s, n in selects.items() if pattern.search(s))
        assert found <= most, (pattern.pattern, found)
    repeated = {s: n for s, n in selects.items()
                if n > 1 and not any(p.search(s) for p in but)}
    assert not repeated, repeated


def assert_no_stock_read_before_the_hold(seen: list[str]) -> None:
    hold = next(i for i, s in enumerate(seen) if s.startswith("INSERT INTO reservations"))
    assert not [s for s in seen[:hold] if reads([s], "stock_levels")], \
        "the cart was priced with its stock read before the hold"
