"""Amazon orders into Mercato (``order_pull``: ``LastUpdatedAfter`` with ``NextToken`` pages,
deduplicated, the buyer's masked address and shipping address taken, a cancellation on
Amazon followed and restocked, never sent back) and what Mercato does to them back to
Amazon once: a shipment confirmation, a seller's cancellation by order acknowledgement
feed. Amazon's buyers get no email from Mercato."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from mercato.channels import jobs
from mercato.core.db import Database
from tests.channels.amazon.helpers import AmazonServer, connect, linked, product
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


@pytest.fixture(scope="module")
def amazon() -> Iterator[AmazonServer]:
    with AmazonServer() as server:
        yield server


@pytest.fixture(autouse=True)
def no_other_orders(amazon: AmazonServer) -> None:
    """Each test sees only its own orders on the shared emulator."""
    amazon.state.forget_orders()


def on_hand(client: TestClient, org: Org, sku: str) -> int:
    response = client.get("/api/v1/inventory/levels", headers=org.headers,
                          params={"sku": sku})
    assert response.status_code == 200, response.text
    body = response.json()
    rows = body.get("data", body) if isinstance(body, dict) else body
    return sum(int(r["on_hand"]) for r in rows)


def with_order(client: TestClient, org: Org, db: Database, server: AmazonServer,
               quantity: int = 2) -> tuple[dict[str, Any], str, dict[str, Any]]:
    """A product linked to its Amazon listing with 5 in stock, bought there, pulled in."""
    sku = product(client, org, server, price="8.00")
    made = linked(client, org, db, server, [(sku, 5)])
    placed = server.state.place_order([{"sku": sku, "quantity": quantity}],
                                      buyer_name="Ada Lovelace")
    assert pull_orders(client, org, db, made["channel"]["id"])["status"] == "succeeded"
    return made, sku, placed


def test_orders_are_pulled_with_their_buyer_page_by_page_once_each(
        client: TestClient, org: Org, db: Database, amazon: AmazonServer) -> None:
    made, sku, placed = with_order(client, org, db, amazon)
    channel_id = made["channel"]["id"]
    [order] = orders_of(client, org, channel_id)
    shown = order_detail(client, org, order["id"])
    assert shown["external_id"] == placed["AmazonOrderId"]
    assert [(line["sku"], line["quantity"], line["unit_price"]) for line in shown["lines"]] \
        == [(sku, 2, "8.00")]
    assert shown["email"] == placed["BuyerInfo"]["BuyerEmail"]
    assert shown["email"].endswith("@marketplace.amazon.com")
    assert shown["shipping_address"]["city"] == "Seattle"
    assert shown["shipping_address"]["last_name"] == "Lovelace"
    assert shown["financial_status"] == "paid"
    assert amazon.state.quantity(sku) == 3  # Amazon took the units; Mercato's number agrees
    # the platform emails its buyers; Mercato does not
    sent = client.get("/api/v1/notifications", headers=org.headers,
                      params={"recipient": shown["email"]}).json()["data"]
    assert sent == []
    # more orders than a page holds, pulled again from long ago: each once
    for _ in range(3):
        amazon.state.place_order([{"sku": sku, "quantity": 1}])
    again = pull_orders(client, org, db, channel_id, since="2000-01-01T00:00:00Z", page_size=2)
    assert again["status"] == "succeeded"
    queries = amazon.state.order_queries[-2:]
    assert (queries[0]["MaxResultsPerPage"], queries[0]["LastUpdatedAfter"]) == (
        "2", "2000-01-01T00:00:00Z")
    assert "NextToken" in queries[1]
    assert "LastUpdatedAfter" not in queries[1]
    found = orders_of(client, org, channel_id)
    assert len(found) == 4
    assert len({o["external_id"] for o in found}) == 4
    # the next scheduled pull starts from the watermark, not from long ago
    assert pull_orders(client, org, db, channel_id)["status"] == "succeeded"
    assert amazon.state.order_queries[-1]["LastUpdatedAfter"] != "2000-01-01T00:00:00Z"
    assert len(orders_of(client, org, channel_id)) == 4


def test_an_order_cancelled_on_amazon_is_cancelled_and_restocked_and_not_sent_back(
        client: TestClient, org: Org, db: Database, amazon: AmazonServer) -> None:
    made, sku, placed = with_order(client, org, db, amazon)
    assert on_hand(client, org, sku) == 3
    feeds = len(amazon.state.feeds)
    amazon.state.cancel_order(placed["AmazonOrderId"])
    assert pull_orders(client, org, db, made["channel"]["id"])["status"] == "succeeded"
    [order] = orders_of(client, org, made["channel"]["id"])
    shown = order_detail(client, org, order["id"])
    assert shown["status"] == "cancelled"
    assert shown["cancel_reason"] == "cancelled on Amazon"
    assert on_hand(client, org, sku) == 5
    settle(db, org)
    assert jobs_of(client, org, made["channel"]["id"], "cancellation_push") == []
    assert len(amazon.state.feeds) == feeds
    assert amazon.state.quantity(sku) == 5


def test_a_shipment_is_confirmed_on_amazon_once(
        client: TestClient, org: Org, db: Database, amazon: AmazonServer) -> None:
    made, _, placed = with_order(client, org, db, amazon)
    [order] = orders_of(client, org, made["channel"]["id"])
    response = client.post(f"/api/v1/orders/{order['id']}/fulfillments", headers=org.headers,
                           json={"carrier": "usps", "tracking_number": "9400100000000000000"})
    assert response.status_code in (200, 201), response.text
    settle(db, org)
    [sent] = amazon.state.packages[placed["AmazonOrderId"]]
    assert (sent["carrierCode"], sent["trackingNumber"]) == ("USPS", "9400100000000000000")
    assert sent["packageReferenceId"] == "1"
    item = amazon.state.items[placed["AmazonOrderId"]][0]
    assert sent["orderItems"] == [{"orderItemId": item["OrderItemId"], "quantity": 2}]
    assert amazon.state.orders[placed["AmazonOrderId"]]["OrderStatus"] == "Shipped"
    [first] = jobs_of(client, org, made["channel"]["id"], "fulfillment_push")
    assert first["status"] == "succeeded"
    rerun = start_job(client, org, made["channel"]["id"], "fulfillment_push",
                      **first["params"])
    settle(db, org)
    assert job(client, org, rerun["id"])["status"] == "succeeded"
    assert len(amazon.state.packages[placed["AmazonOrderId"]]) == 1


def test_a_mercato_cancellation_goes_to_amazon_once_as_an_acknowledgement_feed(
        client: TestClient, org: Org, db: Database, amazon: AmazonServer) -> None:
    made, sku, placed = with_order(client, org, db, amazon)
    channel_id = made["channel"]["id"]
    [order] = orders_of(client, org, channel_id)
    feeds = len(amazon.state.feeds)
    cancelled = client.post(f"/api/v1/orders/{order['id']}/cancel", headers=org.headers,
                            json={"reason": "out of stock"})
    assert cancelled.status_code == 200, cancelled.text
    settle(db, org)
    remote = amazon.state.orders[placed["AmazonOrderId"]]
    assert (remote["OrderStatus"], remote["CanceledBy"]) == ("Canceled", "seller")
    [feed] = list(amazon.state.feeds.values())[feeds:]
    assert (feed["feedType"], feed["processingStatus"]) == (
        "POST_ORDER_ACKNOWLEDGEMENT_DATA", "DONE")
    sent = amazon.state.documents[feed["inputFeedDocumentId"]]["content"].decode()
    assert "<StatusCode>Failure</StatusCode>" in sent
    assert "<CancelReason>NoInventory</CancelReason>" in sent
    [first] = jobs_of(client, org, channel_id, "cancellation_push")
    assert first["status"] == "succeeded", first
    rerun = start_job(client, org, channel_id, "cancellation_push", **first["params"])
    settle(db, org)
    assert job(client, org, rerun["id"])["status"] == "succeeded"
    assert len(amazon.state.feeds) == feeds + 1
    # Amazon put the units back on the listing; Mercato's number is what it shows
    assert amazon.state.quantity(sku) == 5
    # pulling Amazon's cancelled order again changes nothing in Mercato
    assert pull_orders(client, org, db, channel_id)["status"] == "succeeded"
    assert order_detail(client, org, order["id"])["cancel_reason"] == "out of stock"


def test_orders_are_pulled_on_a_default_schedule_unless_the_connection_sets_its_own(
        client: TestClient, org: Org, db: Database, amazon: AmazonServer) -> None:
    default = connect(client, org, amazon)
    assert jobs.schedule_due(db, organization_id=org.id) == 1
    assert jobs.schedule_due(db, organization_id=org.id) == 0  # one is waiting
    [queued] = jobs_of(client, org, default["channel"]["id"], "order_pull")
    assert queued["trigger"] == "schedule"
    settle(db, org)
    assert jobs.schedule_due(db, organization_id=org.id) == 0  # it ran just now
    off = connect(client, org, amazon, account="A2OTHERSELLER9",
                  schedules={"order_pull": 0})
    assert jobs.schedule_due(db, organization_id=org.id) == 0
    assert jobs_of(client, org, off["channel"]["id"], "order_pull") == []


def test_a_pending_order_is_taken_once_amazon_has_the_money(
        client: TestClient, org: Org, db: Database, amazon: AmazonServer) -> None:
    sku = product(client, org, amazon, price="8.00")
    made = linked(client, org, db, amazon, [(sku, 5)])
    placed = amazon.state.place_order([{"sku": sku, "quantity": 1}], status="Pending")
    assert pull_orders(client, org, db, made["channel"]["id"])["status"] == "succeeded"
    assert orders_of(client, org, made["channel"]["id"]) == []
    amazon.state.orders[placed["AmazonOrderId"]]["OrderStatus"] = "Unshipped"
    assert pull_orders(client, org, db, made["channel"]["id"])["status"] == "succeeded"
    [order] = orders_of(client, org, made["channel"]["id"])
    assert order["external_id"] == placed["AmazonOrderId"]


def test_a_pull_s_time_slice_ends_between_orders_and_the_next_resumes_from_the_page_it_kept(
        client: TestClient, org: Org, db: Database, amazon: AmazonServer) -> None:
    """Each new order's items wait on getOrderItems' rate: a slice stops between orders (the
    worker's other channel work goes on) and the next takes up the page it saved, without
    asking Amazon for the page again or taking an order twice."""
    sku = product(client, org, amazon, price="8.00")
    made = linked(client, org, db, amazon, [(sku, 9)])
    placed = [amazon.state.place_order([{"sku": sku, "quantity": 1}])["AmazonOrderId"]
              for _ in range(4)]
    queries = len(amazon.state.order_queries)
    queued = start_job(client, org, made["channel"]["id"], "order_pull")
    slices = 0
    while True:
        claimed = jobs.claim_job(db, "slicer", organization_id=org.id)
        assert claimed == queued["id"]
        slices += 1
        if jobs.run_job(db, claimed, "slicer", budget=0.0) != "queued":
            break
        assert slices < 20
    assert slices >= 4  # one order a slice
    report = job(client, org, queued["id"])
    assert (report["status"], report["done"]) == ("succeeded", 4)
    assert len(amazon.state.order_queries) == queries + 1  # the page was asked for once
    pulled = orders_of(client, org, made["channel"]["id"])
    assert sorted(o["external_id"] for o in pulled) == sorted(placed)
