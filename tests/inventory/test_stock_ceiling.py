"""A level holds at most 2**31 - 1 units (32-bit columns on PostgreSQL): a movement past it is
a 422 naming the field and moves nothing, on both databases, never a failed statement."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import update

from mercato.core.db import Database
from mercato.inventory import stock
from mercato.inventory.sales_channels import publish_availability
from tests.conftest import Org
from tests.inventory.helpers import level, make_location, make_variants, receive
from tests.inventory.purchasing.test_purchasing import create_po, receive_po

CEILING = 2**31 - 1
NEAR = CEILING - 10


def fill(db: Database, org: Org, on_hand: int) -> None:
    """Every level of ``org`` to ``on_hand`` units (no API takes a level that high at once)."""
    with db.transaction(tenant=org.id) as session:
        session.execute(update(stock.levels_t)
                        .where(stock.levels_t.c.organization_id == org.id)
                        .values(on_hand=on_hand))


def past_ceiling(response: Any, field: str = "on_hand") -> None:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["code"] == "validation_error"
    assert [e["field"] for e in body["errors"]] == [field]


def test_an_adjustment_past_the_ceiling_is_422_and_moves_nothing(
        client: TestClient, db: Database, org: Org) -> None:
    sku, other = make_variants(client, org, 2)
    place = make_location(client, org)["code"]
    receive(client, org, sku, place, 1)
    receive(client, org, other, place, 1)
    fill(db, org, NEAR)
    one = client.post("/api/v1/inventory/adjustments", headers=org.headers, json={
        "lines": [{"sku": sku, "location": place, "delta": 11, "reason": "restock"}]})
    past_ceiling(one)
    both = client.post("/api/v1/inventory/adjustments", headers=org.headers, json={
        "lines": [{"sku": sku, "location": place, "delta": 5, "reason": "restock"},
                  {"sku": other, "location": place, "delta": 100, "reason": "restock"}]})
    past_ceiling(both)
    assert level(client, org, sku, place)["on_hand"] == NEAR
    assert level(client, org, other, place)["on_hand"] == NEAR
    upto = client.post("/api/v1/inventory/adjustments", headers=org.headers, json={
        "lines": [{"sku": sku, "location": place, "delta": 10, "reason": "restock"}]})
    assert upto.status_code == 201, upto.text
    assert level(client, org, sku, place)["on_hand"] == CEILING


def test_receiving_a_purchase_order_or_a_transfer_past_the_ceiling_is_422(
        client: TestClient, db: Database, org: Org) -> None:
    sku = make_variants(client, org)[0]
    here, there = make_location(client, org)["code"], make_location(client, org)["code"]
    receive(client, org, sku, here, 1000)
    receive(client, org, sku, there, 1)
    po = create_po(client, org, [(sku, 50, "1.00")])
    moved = client.post("/api/v1/inventory/transfers", headers=org.headers, json={
        "from_location": here, "to_location": there,
        "lines": [{"sku": sku, "quantity": 500}]})
    assert moved.status_code == 201, moved.text
    fill(db, org, NEAR)
    past_ceiling(receive_po(client, org, po["id"], there, [(sku, 50)]))
    past_ceiling(client.post(f"/api/v1/inventory/transfers/{moved.json()['id']}/receive",
                             headers=org.headers))
    assert level(client, org, sku, there)["on_hand"] == NEAR


def test_availability_over_locations_past_the_ceiling_is_published_capped(
        client: TestClient, db: Database, org: Org) -> None:
    """Two full locations hold twice what one column can: the publisher (the worker) states
    the most a column holds rather than failing on every run for this organization."""
    sku = make_variants(client, org)[0]
    here, there = make_location(client, org)["code"], make_location(client, org)["code"]
    receive(client, org, sku, here, 1)
    receive(client, org, sku, there, 1)
    fill(db, org, CEILING)
    with db.transaction(tenant=org.id) as session:
        stock.mark_changed(session, location_ids=[level(client, org, sku, here)["location_id"]])
    while publish_availability(db):
        pass
    variant = client.get("/api/v1/variants", headers=org.headers,
                         params={"sku": sku}).json()["data"][0]
    assert variant["available"] == CEILING
