"""Channels: locations in priority order, buffers, available-to-sell, and its coalesced
publication (``inventory.availability_changed``, ``inventory.low_stock``, variants.available)."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, select, update

from mercato.catalog import stock_items
from mercato.core.db import SYSTEM, Database, utcnow
from mercato.core.ids import new_id
from mercato.core.outbox import OutboxEvent
from mercato.inventory import stock
from mercato.inventory.sales_channels import (
    publish_availability,
    sellable,
    web_channel,
    web_units,
)
from tests.conftest import Org
from tests.inventory.helpers import make_location, make_variants, receive
from tests.inventory.test_levels import assert_consistent, fields

CHANGED, LOW = "inventory.availability_changed", "inventory.low_stock"


def make_channel(client: TestClient, org: Org, locations: list[str],
                 **body: Any) -> dict[str, Any]:
    response = client.post("/api/v1/channels", headers=org.headers, json={
        "name": f"Channel {new_id()}", "kind": "web", "locations": locations, **body})
    assert response.status_code == 201, response.text
    return dict(response.json())


def atp(client: TestClient, org: Org, channel: dict[str, Any], sku: str) -> int:
    response = client.get(f"/api/v1/channels/{channel['id']}/availability",
                          headers=org.headers, params={"sku": sku})
    assert response.status_code == 200, response.text
    return int(response.json()["available_to_sell"])


def publish(db: Database) -> None:
    """Publish rounds until nothing is due (other tests' levels share the database)."""
    for _ in range(20):
        publish_availability(db)
        with db.session(write=False, tenant=SYSTEM) as session:
            due = session.scalar(select(func.count()).select_from(stock.levels_t).where(
                stock.levels_t.c.changes > stock.levels_t.c.published))
        if not due:
            return
    raise AssertionError("availability never caught up")


def events(db: Database, org: Org, kind: str) -> list[dict[str, Any]]:
    with db.session(write=False, tenant=org.id) as session:
        return [dict(e.data) for e in session.scalars(
            select(OutboxEvent).where(OutboxEvent.organization_id == org.id,
                                      OutboxEvent.type == kind)
            .order_by(OutboxEvent.position))]


def adjust(client: TestClient, org: Org, sku: str, location: str, delta: int) -> None:
    response = client.post("/api/v1/inventory/adjustments", headers=org.headers, json={
        "lines": [{"sku": sku, "location": location, "delta": delta, "reason": "adjustment"}]})
    assert response.status_code == 201, response.text


def variant_available(client: TestClient, org: Org, sku: str) -> int:
    response = client.get("/api/v1/variants", headers=org.headers, params={"sku": sku})
    assert response.status_code == 200, response.text
    return int(response.json()["data"][0]["available"])


# -- channels ----------------------------------------------------------------------------------

def test_channel_keeps_its_locations_by_id_or_code_in_priority_order(
        client: TestClient, org: Org) -> None:
    first, second, third = (make_location(client, org) for _ in range(3))
    made = make_channel(client, org, [third["code"], first["id"], second["code"]],
                        default_buffer=2)
    assert made["locations"] == [third["id"], first["id"], second["id"]]
    assert made["default_buffer"] == 2
    got = client.get(f"/api/v1/channels/{made['id']}", headers=org.headers)
    assert got.status_code == 200
    assert got.json()["locations"] == made["locations"]
    listed = client.get("/api/v1/channels", headers=org.headers)
    assert [c["id"] for c in listed.json()["data"]] == [made["id"]]


def test_a_channel_emails_its_buyers_by_default_only_when_no_platform_does(
        client: TestClient, org: Org) -> None:
    defaults = {kind: make_channel(client, org, [], kind=kind)["email_buyers"]
                for kind in ("web", "pos", "manual", "other", "shopify", "tcgplayer", "ebay",
                             "amazon", "shopee", "tiktok", "binderpos")}
    assert defaults == {"web": True, "pos": True, "manual": True, "other": True,
                        "shopify": False, "tcgplayer": False, "ebay": False, "amazon": False,
                        "shopee": False, "tiktok": False, "binderpos": False}
    chosen = make_channel(client, org, [], kind="shopify", email_buyers=True)
    assert chosen["email_buyers"] is True
    shop = make_channel(client, org, [], kind="shopify")
    got = client.get(f"/api/v1/channels/{shop['id']}", headers=org.headers)
    turned = client.patch(f"/api/v1/channels/{shop['id']}",
                          headers={**org.headers, "If-Match": got.headers["ETag"]},
                          json={"email_buyers": True})
    assert turned.status_code == 200, turned.text
    assert turned.json()["email_buyers"] is True
    assert client.get(f"/api/v1/channels/{shop['id']}",
                      headers=org.headers).json()["email_buyers"] is True
    null = client.patch(f"/api/v1/channels/{shop['id']}", headers=org.headers,
                        json={"email_buyers": None})
    assert null.status_code == 422
    # a new kind takes that kind's default, unless the same request says otherwise
    rekinded = client.patch(f"/api/v1/channels/{shop['id']}", headers=org.headers,
                            json={"kind": "ebay"})
    assert rekinded.json()["email_buyers"] is False
    both = client.patch(f"/api/v1/channels/{shop['id']}", headers=org.headers,
                        json={"kind": "web", "email_buyers": False})
    assert (both.json()["kind"], both.json()["email_buyers"]) == ("web", False)


def test_channel_with_an_unknown_location_is_422_naming_it(client: TestClient,
                                                          org: Org) -> None:
    place = make_location(client, org)
    response = client.post("/api/v1/channels", headers=org.headers, json={
        "name": "Web", "kind": "web", "locations": [place["code"], "NOWHERE"]})
    assert response.status_code == 422, response.text
    assert fields(response) == ["locations.1"]
    assert client.get("/api/v1/channels", headers=org.headers).json()["data"] == []


def test_available_to_sell_counts_only_the_channels_locations_less_safety_and_buffer(
        client: TestClient, org: Org, db: Database) -> None:
    sku, = make_variants(client, org)
    shop, depot, outside = (make_location(client, org) for _ in range(3))
    receive(client, org, sku, shop["code"], 10)
    receive(client, org, sku, depot["code"], 4)
    receive(client, org, sku, outside["code"], 50)
    assert client.put("/api/v1/inventory/levels", headers=org.headers, json={
        "sku": sku, "location": shop["code"], "safety_stock": 3}).status_code == 200
    held = client.post("/api/v1/inventory/reservations", headers=org.headers, json={
        "reference": f"r-{new_id()}", "lines": [{"sku": sku, "quantity": 1,
                                                 "location": depot["code"]}]})
    assert held.status_code == 201, held.text
    web = make_channel(client, org, [shop["code"], depot["code"]], default_buffer=2)
    assert atp(client, org, web, sku) == (10 - 3) + (4 - 1) - 2  # 8
    buffers = client.put(f"/api/v1/channels/{web['id']}/buffers", headers=org.headers,
                         json={"buffers": [{"sku": sku, "buffer": 5}]})
    assert buffers.status_code == 200, buffers.text
    assert buffers.json()["buffers"] == [{"sku": sku, "buffer": 5}]
    assert atp(client, org, web, sku) == 5
    huge = client.put(f"/api/v1/channels/{web['id']}/buffers", headers=org.headers,
                      json={"buffers": [{"sku": sku, "buffer": 100}]})
    assert huge.status_code == 200
    assert atp(client, org, web, sku) == 0  # never below zero
    removed = client.put(f"/api/v1/channels/{web['id']}/buffers", headers=org.headers,
                         json={"buffers": [{"sku": sku, "buffer": None}]})
    assert removed.status_code == 200
    assert removed.json()["buffers"] == []
    assert atp(client, org, web, sku) == 8  # the default again
    unknown = client.put(f"/api/v1/channels/{web['id']}/buffers", headers=org.headers,
                         json={"buffers": [{"sku": "NOPE", "buffer": 1}]})
    assert unknown.status_code == 422
    assert fields(unknown) == ["buffers.0.sku"]
    assert_consistent(db, org)


# -- publication -------------------------------------------------------------------------------

def test_burst_of_reservations_publishes_one_event_per_channel_with_the_final_number(
        client: TestClient, org: Org, db: Database) -> None:
    sku, = make_variants(client, org)
    place = make_location(client, org)
    receive(client, org, sku, place["code"], 30)
    web = make_channel(client, org, [place["code"]])
    pos = make_channel(client, org, [place["code"]], kind="pos", default_buffer=5)
    publish(db)
    first = events(db, org, CHANGED)
    assert sorted((e["channel_id"], e["available_to_sell"]) for e in first) == \
        sorted([(web["id"], 30), (pos["id"], 25)])
    for _ in range(20):
        response = client.post("/api/v1/inventory/reservations", headers=org.headers, json={
            "reference": f"burst-{new_id()}", "lines": [{"sku": sku, "quantity": 1}]})
        assert response.status_code == 201, response.text
    publish(db)
    burst = events(db, org, CHANGED)[len(first):]
    assert sorted((e["channel_id"], e["sku"], e["available_to_sell"], e["previous"])
                  for e in burst) == sorted([(web["id"], sku, 10, 30), (pos["id"], sku, 5, 25)])
    publish(db)
    assert len(events(db, org, CHANGED)) == len(first) + 2  # nothing changed: no event
    assert_consistent(db, org)


def test_only_channels_whose_number_changed_get_an_event(
        client: TestClient, org: Org, db: Database) -> None:
    sku, = make_variants(client, org)
    shop, depot = make_location(client, org), make_location(client, org)
    receive(client, org, sku, shop["code"], 5)
    receive(client, org, sku, depot["code"], 5)
    store = make_channel(client, org, [shop["code"]])
    warehouse = make_channel(client, org, [depot["code"]])
    publish(db)
    seen = len(events(db, org, CHANGED))
    adjust(client, org, sku, depot["code"], -2)
    publish(db)
    new = events(db, org, CHANGED)[seen:]
    assert [(e["channel_id"], e["available_to_sell"]) for e in new] == [(warehouse["id"], 3)]
    assert store["id"] not in {e["channel_id"] for e in new}
    adjust(client, org, sku, depot["code"], 1)
    adjust(client, org, sku, depot["code"], -1)  # back where it was: nothing to tell
    publish(db)
    assert len(events(db, org, CHANGED)) == seen + 1


def test_buffer_change_publishes_an_event(client: TestClient, org: Org, db: Database) -> None:
    sku, = make_variants(client, org)
    place = make_location(client, org)
    receive(client, org, sku, place["code"], 9)
    web = make_channel(client, org, [place["code"]])
    publish(db)
    seen = len(events(db, org, CHANGED))
    response = client.put(f"/api/v1/channels/{web['id']}/buffers", headers=org.headers,
                          json={"buffers": [{"sku": sku, "buffer": 4}]})
    assert response.status_code == 200
    publish(db)
    new = events(db, org, CHANGED)[seen:]
    assert [(e["channel_id"], e["available_to_sell"]) for e in new] == [(web["id"], 5)]


def test_publication_sets_the_variants_available_total(client: TestClient, org: Org,
                                                       db: Database) -> None:
    sku, = make_variants(client, org)
    shop, depot = make_location(client, org), make_location(client, org)
    receive(client, org, sku, shop["code"], 4)
    receive(client, org, sku, depot["code"], 3)
    publish(db)
    assert variant_available(client, org, sku) == 7
    held = client.post("/api/v1/inventory/reservations", headers=org.headers, json={
        "reference": f"r-{new_id()}", "lines": [{"sku": sku, "quantity": 2}]})
    assert held.status_code == 201
    publish(db)
    assert variant_available(client, org, sku) == 5
    assert_consistent(db, org)


def test_low_stock_is_emitted_once_per_crossing(client: TestClient, org: Org,
                                                db: Database) -> None:
    sku, = make_variants(client, org)
    place = make_location(client, org)
    receive(client, org, sku, place["code"], 10)
    assert client.put("/api/v1/inventory/levels", headers=org.headers, json={
        "sku": sku, "location": place["code"], "reorder_point": 3,
        "reorder_quantity": 20}).status_code == 200
    publish(db)
    assert events(db, org, LOW) == []
    adjust(client, org, sku, place["code"], -7)  # available 3: at the reorder point
    publish(db)
    low = events(db, org, LOW)
    assert [(e["sku"], e["available"], e["reorder_point"]) for e in low] == [(sku, 3, 3)]
    adjust(client, org, sku, place["code"], -1)  # still low
    publish(db)
    assert len(events(db, org, LOW)) == 1
    adjust(client, org, sku, place["code"], 10)  # recovered
    publish(db)
    assert len(events(db, org, LOW)) == 1
    adjust(client, org, sku, place["code"], -10)  # and low again
    publish(db)
    assert [e["available"] for e in events(db, org, LOW)] == [3, 2]
    assert_consistent(db, org)


def test_the_storefronts_one_statement_read_agrees_with_sellable_everywhere(
        client: TestClient, db: Database, org: Org) -> None:
    """``web_units`` (the storefront page's one read) against ``sellable`` (a read per part),
    through every case: no web channel, a channel with some locations, a default and a
    per-SKU buffer, live holds and an expired hold the worker has not released yet."""
    skus = make_variants(client, org, 4)
    shop, backroom, closed = (make_location(client, org) for _ in range(3))
    for i, sku in enumerate(skus):
        receive(client, org, sku, shop["code"], 3 + i)
        receive(client, org, sku, backroom["code"], 2 * i + 1)
    receive(client, org, skus[0], closed["code"], 7)

    def agree() -> dict[str, int]:
        with db.session(write=False, tenant=org.id) as session:
            ids = [item.id for item in stock_items_of(session, skus)]
            one = web_units(session, [*ids, new_id()])
            parts = sellable(session, web_channel(session), [*ids])
            assert {k: v for k, v in one.items() if k in parts} == parts
            assert sum(1 for k in one if k not in parts) == 1  # an unknown id: 0
            return {sku: one[i] for sku, i in zip(skus, ids, strict=True)}

    first = agree()  # no web channel: every active location that fulfils online
    assert first[skus[0]] == 3 + 1 + 7
    client.patch(f"/api/v1/locations/{closed['id']}", headers=org.headers,
                 json={"active": False})
    assert agree()[skus[0]] == 3 + 1
    web = make_channel(client, org, [shop["code"], backroom["code"]], default_buffer=1)
    client.put(f"/api/v1/channels/{web['id']}/buffers", headers=org.headers,
               json={"buffers": [{"sku": skus[1], "buffer": 2}]})
    held = client.post("/api/v1/inventory/reservations", headers=org.headers, json={
        "reference": f"live-{new_id()}", "lines": [{"sku": skus[2], "quantity": 2}]})
    assert held.status_code == 201, held.text
    old = client.post("/api/v1/inventory/reservations", headers=org.headers, json={
        "reference": f"old-{new_id()}", "lines": [{"sku": skus[3], "quantity": 4}]})
    assert old.status_code == 201, old.text
    with db.transaction(tenant=org.id) as session:
        session.execute(update(stock.reservations_t)
                        .where(stock.reservations_t.c.id == old.json()["id"])
                        .values(expires_at=utcnow()))
    counted = agree()
    assert counted[skus[3]] == 6 + 7 - 1  # the expired hold counts as free again
    assert counted[skus[1]] == 4 + 3 - 2  # its own buffer
    assert counted[skus[2]] == 5 + 5 - 2 - 1  # the live hold and the default buffer


def stock_items_of(session: Any, skus: list[str]) -> list[Any]:
    found = {item.sku: item for item in stock_items(session, skus=skus)}
    return [found[sku] for sku in skus]
