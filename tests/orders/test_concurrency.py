"""Proof under concurrency, over real HTTP: identical ingests make one order and one stock
movement; concurrent fulfillments and refunds stop exactly at the order's limits; many
channels selling the last card at once take it once and flag the rest oversold.

SQLite: threads against one in-process server. PostgreSQL: threads against three server
processes sharing one database (the stacks of tests/inventory/test_concurrency.py).
"""

from __future__ import annotations

from collections import Counter
from decimal import Decimal

from tests.conftest import Org, walk_pages
from tests.inventory import test_concurrency as stacks
from tests.inventory.helpers import make_location, make_variants, receive
from tests.inventory.test_concurrency import Load, Stack, assert_consistent
from tests.orders.helpers import order_body, unique

ORDERS = "/api/v1/orders"
# the inventory proof's stacks (one in-process SQLite server; three PostgreSQL processes)
sqlite_stack, sqlite_org = stacks.sqlite_stack, stacks.sqlite_org
pg_stack, pg_org = stacks.pg_stack, stacks.pg_org


def _stock(stack_: Stack, org: Org, units: int) -> tuple[str, str]:
    [sku] = make_variants(stack_.client, org)
    location = make_location(stack_.client, org)["code"]
    receive(stack_.client, org, sku, location, units)
    return sku, location


def _sales(stack_: Stack, org: Org, sku: str) -> list[dict]:
    return [row for row in walk_pages(stack_.client, "/api/v1/inventory/ledger", org.headers,
                                      limit=250, sku=sku) if row["reason"] == "sale"]


def identical_ingests(stack_: Stack, org: Org) -> None:
    """60 copies of one channel order at once: one 201, the rest 200 with the same order,
    one hold and one sale in the ledger."""
    sku, location = _stock(stack_, org, 10)
    body = order_body([(sku, 2)], channel="shopify", external_id=unique())
    load = Load(stack_.urls, org)
    answers = load.run([lambda: load.post(ORDERS, body) for _ in range(60)])
    statuses = Counter(r.status_code for r in answers)
    assert statuses == {201: 1, 200: 59}, dict(statuses)
    assert len({r.json()["id"] for r in answers}) == 1
    assert [row["delta_on_hand"] for row in _sales(stack_, org, sku)] == [-2]
    listed = stack_.client.get(ORDERS, headers=org.headers, params={"sku": sku}).json()
    assert len(listed["data"]) == 1
    levels = stack_.client.get("/api/v1/inventory/levels", headers=org.headers,
                               params={"sku": sku, "location": location}).json()["data"]
    assert (levels[0]["on_hand"], levels[0]["reserved"]) == (8, 0)
    assert_consistent(stack_, org)


def last_card_on_many_channels(stack_: Stack, org: Org) -> None:
    """One card, 40 channel orders for it at once: one takes it, 39 are accepted short."""
    sku, location = _stock(stack_, org, 1)
    load = Load(stack_.urls, org)
    answers = load.run([
        (lambda n=n: load.post(ORDERS, order_body([(sku, 1)], channel=f"ch{n % 4}",
                                                  external_id=f"{sku}-{n}")))
        for n in range(40)])
    assert Counter(r.status_code for r in answers) == {201: 40}
    allocated = sum(r.json()["lines"][0]["allocated"] for r in answers)
    flagged = [r for r in answers if r.json()["oversold"]]
    assert (allocated, len(flagged)) == (1, 39)
    assert len({r.json()["number"] for r in answers}) == 40  # numbers never repeat
    levels = stack_.client.get("/api/v1/inventory/levels", headers=org.headers,
                               params={"sku": sku, "location": location}).json()["data"]
    assert (levels[0]["on_hand"], levels[0]["reserved"]) == (0, 0)
    queue = walk_pages(stack_.client, ORDERS, org.headers, limit=250, flag="oversold",
                       sku=sku)
    assert len(queue) == 39
    assert_consistent(stack_, org)


def fulfil_and_refund_limits(stack_: Stack, org: Org) -> None:
    """40 fulfillments of 1 unit for a line of 5, and 40 refunds of 1.00 against 10.00 paid,
    all at once: exactly 5 ship and exactly 10 refunds pass; the rest are 409."""
    sku, _ = _stock(stack_, org, 5)
    created = stack_.client.post(ORDERS, headers=org.headers, json=order_body(
        [(sku, 5)], price="2.00", payments=[{"method": "card", "amount": "6.00"},
                                            {"method": "cash", "amount": "4.00"}]))
    assert created.status_code == 201, created.text
    order = created.json()
    line = order["lines"][0]["id"]
    load = Load(stack_.urls, org)
    url = f"{ORDERS}/{order['id']}"
    jobs = [lambda: load.post(f"{url}/fulfillments",
                              {"lines": [{"line_id": line, "quantity": 1}]})
            for _ in range(40)]
    jobs += [lambda: load.post(f"{url}/refunds", {"amount": "1.00"}) for _ in range(40)]
    answers = load.run(jobs)
    shipped = Counter(r.status_code for r in answers[:40])
    refunded = Counter(r.status_code for r in answers[40:])
    assert shipped == {201: 5, 409: 35}, dict(shipped)
    assert refunded == {201: 10, 409: 30}, dict(refunded)
    final = stack_.client.get(url, headers=org.headers).json()
    assert (final["lines"][0]["fulfilled"], final["fulfillment_status"]) == (5, "fulfilled")
    assert len(final["fulfillments"]) == 5
    assert (final["refunded_total"], final["financial_status"]) == ("10.00", "refunded")
    assert sum(Decimal(r["amount"]) for r in final["refunds"]) == Decimal("10.00")
    assert [p["refunded"] for p in final["payments"]] == ["6.00", "4.00"]


def test_sqlite_identical_ingests_make_one_order_and_one_movement(
        sqlite_stack: Stack, sqlite_org: Org) -> None:
    identical_ingests(sqlite_stack, sqlite_org)


def test_sqlite_the_last_card_sold_on_many_channels_is_taken_once(
        sqlite_stack: Stack, sqlite_org: Org) -> None:
    last_card_on_many_channels(sqlite_stack, sqlite_org)


def test_sqlite_concurrent_fulfillments_and_refunds_stop_at_the_limits(
        sqlite_stack: Stack, sqlite_org: Org) -> None:
    fulfil_and_refund_limits(sqlite_stack, sqlite_org)


def test_postgresql_identical_ingests_over_three_processes_make_one_order(
        pg_stack: Stack, pg_org: Org) -> None:
    identical_ingests(pg_stack, pg_org)


def test_postgresql_the_last_card_sold_on_many_channels_is_taken_once(
        pg_stack: Stack, pg_org: Org) -> None:
    last_card_on_many_channels(pg_stack, pg_org)


def test_postgresql_concurrent_fulfillments_and_refunds_stop_at_the_limits(
        pg_stack: Stack, pg_org: Org) -> None:
    fulfil_and_refund_limits(pg_stack, pg_org)
