"""eBay orders into Mercato (``order_pull``: paged by offset, deduplicated, a cancellation on
eBay followed) and what Mercato does to them back to eBay once: a shipping fulfillment, a
seller cancellation (Post-Order API), a refund."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from mercato.core.db import Database
from tests.channels.ebay.helpers import EbayServer, card, connect, stock
from tests.channels.helpers import (
    job,
    jobs_of,
    order_detail,
    orders_of,
    pull_orders,
    settle,
    start_job,
)
from tests.conftest import Org


@pytest.fixture
def ebay() -> Iterator[EbayServer]:
    with EbayServer() as server:
        yield server


def with_order(client: TestClient, org: Org, db: Database, server: EbayServer,
               quantity: int = 2) -> tuple[dict[str, Any], str, dict[str, Any]]:
    """A card exported to eBay with 5 in stock, bought there, and pulled into Mercato."""
    sku = card(client, org, price="8.00")
    made = connect(client, org, server)
    stock(client, org, made, sku, 5)
    start_job(client, org, made["channel"]["id"], "product_export", skus=[sku])
    settle(db, org)
    placed = server.state.place_order([{"sku": sku, "quantity": quantity}], buyer="Card_Fan",
                                      full_name="Ada Lovelace", shipping="3.00")
    assert pull_orders(client, org, db, made["channel"]["id"])["status"] == "succeeded"
    return made, sku, placed


def test_orders_are_pulled_page_by_page_once_each(
        client: TestClient, org: Org, db: Database, ebay: EbayServer) -> None:
    made, sku, placed = with_order(client, org, db, ebay)
    channel_id = made["channel"]["id"]
    [order] = orders_of(client, org, channel_id)
    shown = order_detail(client, org, order["id"])
    assert shown["external_id"] == placed["orderId"]
    assert [(line["sku"], line["quantity"], line["unit_price"]) for line in shown["lines"]] \
        == [(sku, 2, "8.00")]
    assert shown["email"] == "card_fan@members.ebay.test"
    assert shown["shipping_address"]["city"] == "San Jose"
    assert shown["financial_status"] == "paid"
    assert shown["total"] == "19.00"
    assert ebay.state.quantity(sku) == 3  # eBay took the units; Mercato's number agrees
    # more orders than a page holds, pulled again from long ago: each once
    for _ in range(3):
        ebay.state.place_order([{"sku": sku, "quantity": 1}])
    again = start_job(client, org, channel_id, "order_pull",
                      since="2000-01-01T00:00:00.000Z", page_size=2)
    settle(db, org)
    assert job(client, org, again["id"])["status"] == "succeeded"
    assert [(m, p.get("offset")) for m, p in ebay.state.order_queries][-2:] == [
        ("2", "0"), ("2", "2")]
    found = orders_of(client, org, channel_id)
    assert len(found) == 4
    assert len({o["external_id"] for o in found}) == 4


def test_an_order_cancelled_on_ebay_is_cancelled_in_mercato_and_not_sent_back(
        client: TestClient, org: Org, db: Database, ebay: EbayServer) -> None:
    made, _, placed = with_order(client, org, db, ebay)
    ebay.state.cancel_on_ebay(placed["orderId"])
    assert pull_orders(client, org, db, made["channel"]["id"])["status"] == "succeeded"
    [order] = orders_of(client, org, made["channel"]["id"])
    shown = order_detail(client, org, order["id"])
    assert shown["status"] == "cancelled"
    assert shown["cancel_reason"] == "cancelled on eBay"
    settle(db, org)
    assert jobs_of(client, org, made["channel"]["id"], "cancellation_push") == []
    assert ebay.state.cancellations == []


def test_a_fulfillment_goes_to_ebay_once(
        client: TestClient, org: Org, db: Database, ebay: EbayServer) -> None:
    made, _, placed = with_order(client, org, db, ebay)
    [order] = orders_of(client, org, made["channel"]["id"])
    response = client.post(f"/api/v1/orders/{order['id']}/fulfillments", headers=org.headers,
                           json={"carrier": "USPS", "tracking_number": "9400100000000000000"})
    assert response.status_code in (200, 201), response.text
    settle(db, org)
    [sent] = ebay.state.fulfillments[placed["orderId"]]
    assert sent["shipmentTrackingNumber"] == "9400100000000000000"
    assert sent["shippingCarrierCode"] == "USPS"
    assert sent["lineItems"] == [{"lineItemId": placed["lineItems"][0]["lineItemId"],
                                  "quantity": 2}]
    assert ebay.state.orders[placed["orderId"]]["orderFulfillmentStatus"] == "FULFILLED"
    [first] = jobs_of(client, org, made["channel"]["id"], "fulfillment_push")
    assert first["status"] == "succeeded"
    rerun = start_job(client, org, made["channel"]["id"], "fulfillment_push",
                      **first["params"])
    settle(db, org)
    assert job(client, org, rerun["id"])["status"] == "succeeded"
    assert len(ebay.state.fulfillments[placed["orderId"]]) == 1


def test_a_cancellation_and_a_refund_go_to_ebay_once(
        client: TestClient, org: Org, db: Database, ebay: EbayServer) -> None:
    made, _, placed = with_order(client, org, db, ebay)
    channel_id = made["channel"]["id"]
    [order] = orders_of(client, org, channel_id)
    cancelled = client.post(f"/api/v1/orders/{order['id']}/cancel", headers=org.headers,
                            json={"reason": "out of stock"})
    assert cancelled.status_code == 200, cancelled.text
    refunded = client.post(f"/api/v1/orders/{order['id']}/refunds", headers=org.headers,
                           json={"amount": "19.00", "reason": "out of stock"})
    assert refunded.status_code in (200, 201), refunded.text
    settle(db, org)
    remote = ebay.state.orders[placed["orderId"]]
    [cancellation] = ebay.state.cancellations
    assert cancellation["cancelReason"] == "OUT_OF_STOCK_OR_CANNOT_FULFILL"
    assert remote["cancelStatus"]["cancelState"] == "CANCELED"
    [refund] = remote["paymentSummary"]["refunds"]
    assert refund["amount"] == {"value": "19.00", "currency": "USD"}
    assert remote["orderPaymentStatus"] == "FULLY_REFUNDED"
    for kind in ("cancellation_push", "refund_push"):
        [first] = jobs_of(client, org, channel_id, kind)
        assert first["status"] == "succeeded", first
        rerun = start_job(client, org, channel_id, kind, **first["params"])
        settle(db, org)
        assert job(client, org, rerun["id"])["status"] == "succeeded"
    assert len(ebay.state.cancellations) == 1
    assert len(ebay.state.orders[placed["orderId"]]["paymentSummary"]["refunds"]) == 1
    # pulling eBay's cancelled, refunded order again changes nothing in Mercato
    assert pull_orders(client, org, db, channel_id)["status"] == "succeeded"
    shown = order_detail(client, org, order["id"])
    assert shown["cancel_reason"] == "out of stock"
    assert len(shown["refunds"]) == 1
