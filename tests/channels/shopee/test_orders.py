"""Shopee orders into Mercato (``order_pull`` by update_time windows and cursor, deduplicated;
a cancellation on Shopee followed and restocked) and what Mercato does to them back to
Shopee once: the seller's cancellation, the shipment."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from mercato.core.db import Database
from tests.channels.helpers import (
    job,
    jobs_of,
    order_detail,
    orders_of,
    pull_orders,
    settle,
    start_job,
)
from tests.channels.shopee.helpers import ShopeeServer, card, connect, stock
from tests.conftest import Org
from tests.inventory.helpers import level


@pytest.fixture(scope="module")
def shopee() -> Iterator[ShopeeServer]:
    with ShopeeServer() as server:
        yield server


def with_order(client: TestClient, org: Org, db: Database, server: ShopeeServer,
               quantity: int = 2) -> tuple[dict[str, Any], str, dict[str, Any]]:
    """A card linked on Shopee with 5 in stock, bought there, and pulled into Mercato (the
    module's shop forgets the orders of earlier tests, made for other organizations)."""
    server.state.orders.clear()
    sku = card(client, org, price="8.00")
    server.list_skus(sku)
    made = connect(client, org, server)
    stock(client, org, made, sku, 5)
    start_job(client, org, made["channel"]["id"], "product_import", skus=[sku])
    settle(db, org)
    placed = server.state.place_order([{"sku": sku, "quantity": quantity}],
                                      buyer="card_fan_88", name="Ada Lovelace")
    assert pull_orders(client, org, db, made["channel"]["id"])["status"] == "succeeded"
    return made, sku, placed


def test_orders_are_pulled_with_their_buyer_once_each(
        client: TestClient, org: Org, db: Database, shopee: ShopeeServer) -> None:
    made, sku, placed = with_order(client, org, db, shopee)
    channel_id = made["channel"]["id"]
    [order] = orders_of(client, org, channel_id)
    shown = order_detail(client, org, order["id"])
    assert shown["external_id"] == placed["order_sn"]
    assert [(line["sku"], line["quantity"], line["unit_price"]) for line in shown["lines"]] \
        == [(sku, 2, "9.90")]
    assert shown["shipping_address"]["last_name"] == "Lovelace"
    assert shown["shipping_address"]["postal_code"] == "018956"
    assert "card_fan_88" in shown["note"]
    assert shown["financial_status"] == "paid"
    assert shown["total"] == "22.30"
    assert shown["email"] is None  # Shopee's buyer hears from Shopee, never from Mercato
    sent = client.get("/api/v1/notifications", headers=org.headers)
    assert sent.status_code == 200, sent.text
    assert [n for n in sent.json()["data"] if n["reference"] == f"order:{order['id']}"] == []
    assert shopee.state.stock(sku) == 3  # Shopee took the units; Mercato's number agrees
    # more orders than a page holds, pulled again from long ago: each once
    for _ in range(3):
        shopee.state.place_order([{"sku": sku, "quantity": 1}])
    queries = len(shopee.state.order_queries)
    again = pull_orders(client, org, db, channel_id, since="2026-01-01T00:00:00Z", page_size=2)
    assert again["status"] == "succeeded"
    asked = shopee.state.order_queries[queries:]
    assert all(int(q["time_to"]) - int(q["time_from"]) <= 15 * 86400 for q in asked)
    assert any(q.get("cursor") for q in asked)
    found = orders_of(client, org, channel_id)
    assert len(found) == 4
    assert len({o["external_id"] for o in found}) == 4
    assert pull_orders(client, org, db, channel_id)["status"] == "succeeded"
    assert len(orders_of(client, org, channel_id)) == 4


def test_an_order_cancelled_on_shopee_is_cancelled_and_restocked_and_not_sent_back(
        client: TestClient, org: Org, db: Database, shopee: ShopeeServer) -> None:
    made, sku, placed = with_order(client, org, db, shopee)
    assert level(client, org, sku, made["location"])["available"] == 3
    shopee.state.cancel_on_shopee(placed["order_sn"])
    assert pull_orders(client, org, db, made["channel"]["id"])["status"] == "succeeded"
    [order] = orders_of(client, org, made["channel"]["id"])
    shown = order_detail(client, org, order["id"])
    assert shown["status"] == "cancelled"
    assert shown["cancel_reason"] == "cancelled on Shopee"
    settle(db, org)
    assert jobs_of(client, org, made["channel"]["id"], "cancellation_push") == []
    assert not [c for c in shopee.state.cancellations if c["order_sn"] == placed["order_sn"]]
    assert level(client, org, sku, made["location"])["available"] == 5
    assert shopee.state.stock(sku) == 5  # the units are back on Shopee and in Mercato


def test_a_cancellation_in_mercato_goes_to_shopee_once(
        client: TestClient, org: Org, db: Database, shopee: ShopeeServer) -> None:
    made, sku, placed = with_order(client, org, db, shopee)
    channel_id = made["channel"]["id"]
    [order] = orders_of(client, org, channel_id)
    cancelled = client.post(f"/api/v1/orders/{order['id']}/cancel", headers=org.headers,
                            json={"reason": "out of stock"})
    assert cancelled.status_code == 200, cancelled.text
    settle(db, org)
    [sent] = [c for c in shopee.state.cancellations if c["order_sn"] == placed["order_sn"]]
    assert sent["cancel_reason"] == "OUT_OF_STOCK"
    assert sent["item_list"] == [{"item_id": placed["item_list"][0]["item_id"],
                                  "model_id": 0}]
    assert shopee.state.orders[placed["order_sn"]]["order_status"] == "CANCELLED"
    [first] = jobs_of(client, org, channel_id, "cancellation_push")
    assert first["status"] == "succeeded", first
    rerun = start_job(client, org, channel_id, "cancellation_push", **first["params"])
    settle(db, org)
    assert job(client, org, rerun["id"])["status"] == "succeeded"
    assert len([c for c in shopee.state.cancellations
                if c["order_sn"] == placed["order_sn"]]) == 1
    assert shopee.state.stock(sku) == 5
    assert pull_orders(client, org, db, channel_id)["status"] == "succeeded"
    assert order_detail(client, org, order["id"])["cancel_reason"] == "out of stock"


def test_a_fulfillment_ships_the_order_on_shopee_once(
        client: TestClient, org: Org, db: Database, shopee: ShopeeServer) -> None:
    made, _, placed = with_order(client, org, db, shopee)
    channel_id = made["channel"]["id"]
    [order] = orders_of(client, org, channel_id)
    response = client.post(f"/api/v1/orders/{order['id']}/fulfillments", headers=org.headers,
                           json={"carrier": "Ninja Van", "tracking_number": "NV123456789SG"})
    assert response.status_code in (200, 201), response.text
    settle(db, org)
    [sent] = [s for s in shopee.state.shipments if s["order_sn"] == placed["order_sn"]]
    assert sent["non_integrated"] == {"tracking_number": "NV123456789SG"}
    assert shopee.state.orders[placed["order_sn"]]["order_status"] == "PROCESSED"
    [first] = jobs_of(client, org, channel_id, "fulfillment_push")
    assert first["status"] == "succeeded"
    rerun = start_job(client, org, channel_id, "fulfillment_push", **first["params"])
    settle(db, org)
    assert job(client, org, rerun["id"])["status"] == "succeeded"
    assert len([s for s in shopee.state.shipments
                if s["order_sn"] == placed["order_sn"]]) == 1
