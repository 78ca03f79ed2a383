"""TikTok Shop orders into Mercato (``order_pull`` by update time with TikTok's page token,
deduplicated, a cancellation on TikTok followed and restocked) and what Mercato does to them
back to TikTok once: a seller cancellation, a package marked shipped. The channel's buyer
gets no email from Mercato."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from mercato.core.db import Database
from mercato.core.outbox import Dispatcher
from mercato.notifications.models import Notification
from tests.channels.helpers import (
    job,
    jobs_of,
    order_detail,
    orders_of,
    pull_orders,
    settle,
    start_job,
)
from tests.channels.tiktok.helpers import TiktokServer, linked
from tests.conftest import Org
from tests.inventory.helpers import level

BUYER = "v2b2V5@scs.tiktokw.us"


@pytest.fixture(scope="module")
def tts() -> Iterator[TiktokServer]:
    with TiktokServer() as server:
        yield server


def pull(client: TestClient, org: Org, db: Database, channel_id: str,
         **params: Any) -> dict[str, Any]:
    """An order pull, done; the shop (shared by the module's tests) has other tests' orders,
    whose SKUs this organization does not know: those, and only those, are reported."""
    done = pull_orders(client, org, db, channel_id, **params)
    assert done["status"] in ("succeeded", "completed_with_errors"), done
    assert all("no line with a seller SKU" in e["message"] for e in done["errors"]), done
    return done


def with_order(client: TestClient, org: Org, db: Database, server: TiktokServer,
               quantity: int = 2) -> tuple[dict[str, Any], str, dict[str, Any]]:
    """A SKU linked with 5 in stock, bought on TikTok, and pulled into Mercato."""
    made, [sku] = linked(client, org, db, server, units=5)
    placed = server.state.place_order([{"seller_sku": sku, "quantity": quantity}],
                                      buyer_email=BUYER, name="Ada Lovelace",
                                      shipping_fee="3.00")
    done = pull(client, org, db, made["channel"]["id"])
    assert f"order {placed['id']}" not in [e["item"] for e in done["errors"]]
    return made, sku, placed


def test_orders_are_pulled_with_their_buyer_page_by_page_once_each(
        client: TestClient, org: Org, db: Database, tts: TiktokServer) -> None:
    made, sku, placed = with_order(client, org, db, tts)
    channel_id = made["channel"]["id"]
    [order] = orders_of(client, org, channel_id)
    shown = order_detail(client, org, order["id"])
    assert shown["external_id"] == placed["id"]
    assert [(line["sku"], line["quantity"], line["unit_price"]) for line in shown["lines"]] \
        == [(sku, 2, "8.00")]  # two TikTok line items, one per unit
    assert shown["email"] == BUYER.lower()
    assert shown["shipping_address"]["city"] == "Culver City"
    assert shown["shipping_address"]["region"] == "California"
    assert shown["shipping_address"]["last_name"] == "Lovelace"
    assert shown["financial_status"] == "paid"
    assert shown["total"] == "19.00"
    assert tts.state.quantity(sku) == 3  # TikTok took the units; Mercato's number agrees
    assert level(client, org, sku, made["location"])["on_hand"] == 3
    # more orders than a page holds, pulled again from long ago: each once
    for _ in range(2):
        tts.state.place_order([{"seller_sku": sku, "quantity": 1}])
    tts.state.place_order([{"seller_sku": sku, "quantity": 1}], status="UNPAID")
    before = len(tts.state.calls)
    pull(client, org, db, channel_id, since="2000-01-01T00:00:00Z", page_size=2)
    searches = [q for _, path, q in tts.state.calls[before:] if path.endswith("/search")]
    assert len(searches) >= 2
    assert {q["page_size"] for q in searches} == {"2"}
    assert "page_token" not in searches[0]
    assert searches[1]["page_token"]
    assert searches[0]["sort_field"] == "update_time"
    found = orders_of(client, org, channel_id)
    assert len(found) == 3  # the unpaid one waits for its payment
    assert len({o["external_id"] for o in found}) == 3


def test_an_order_cancelled_on_tiktok_is_cancelled_and_restocked_and_not_sent_back(
        client: TestClient, org: Org, db: Database, tts: TiktokServer) -> None:
    made, sku, placed = with_order(client, org, db, tts)
    assert level(client, org, sku, made["location"])["on_hand"] == 3
    tts.state.cancel_on_tiktok(placed["id"])
    pull(client, org, db, made["channel"]["id"])
    [order] = orders_of(client, org, made["channel"]["id"])
    shown = order_detail(client, org, order["id"])
    assert shown["status"] == "cancelled"
    assert shown["cancel_reason"] == "cancelled on TikTok Shop"
    assert level(client, org, sku, made["location"])["on_hand"] == 5
    settle(db, org)
    assert jobs_of(client, org, made["channel"]["id"], "cancellation_push") == []
    assert tts.state.cancellations == [] or all(
        c["order_id"] != placed["id"] for c in tts.state.cancellations)


def test_a_cancellation_in_mercato_goes_to_tiktok_once(
        client: TestClient, org: Org, db: Database, tts: TiktokServer) -> None:
    made, sku, placed = with_order(client, org, db, tts)
    channel_id = made["channel"]["id"]
    [order] = orders_of(client, org, channel_id)
    cancelled = client.post(f"/api/v1/orders/{order['id']}/cancel", headers=org.headers,
                            json={"reason": "out of stock"})
    assert cancelled.status_code == 200, cancelled.text
    settle(db, org)
    mine = [c for c in tts.state.cancellations if c["order_id"] == placed["id"]]
    assert [c["cancel_reason"] for c in mine] == ["seller_cancel_reason_out_of_stock"]
    assert tts.state.orders[placed["id"]]["status"] == "CANCELLED"
    assert tts.state.quantity(sku) == 5  # TikTok put its units back; Mercato's number agrees
    [first] = jobs_of(client, org, channel_id, "cancellation_push")
    assert first["status"] == "succeeded", first
    rerun = start_job(client, org, channel_id, "cancellation_push", **first["params"])
    settle(db, org)
    assert job(client, org, rerun["id"])["status"] == "succeeded"
    assert len([c for c in tts.state.cancellations if c["order_id"] == placed["id"]]) == 1
    pull(client, org, db, channel_id)
    assert order_detail(client, org, order["id"])["cancel_reason"] == "out of stock"


def test_a_fulfillment_goes_to_tiktok_once_and_the_buyer_gets_no_email(
        client: TestClient, org: Org, db: Database, tts: TiktokServer) -> None:
    made, _, placed = with_order(client, org, db, tts)
    [order] = orders_of(client, org, made["channel"]["id"])
    response = client.post(f"/api/v1/orders/{order['id']}/fulfillments", headers=org.headers,
                           json={"carrier": "UPS", "tracking_number": "1Z999AA10123456784"})
    assert response.status_code in (200, 201), response.text
    settle(db, org)
    [sent] = [p for p in tts.state.packages if p["order_id"] == placed["id"]]
    assert sent["tracking_number"] == "1Z999AA10123456784"
    assert sent["shipping_provider_id"] == "7117859084333745966"  # UPS
    assert sorted(sent["order_line_item_ids"]) == sorted(i["id"] for i in placed["line_items"])
    assert tts.state.orders[placed["id"]]["status"] == "AWAITING_COLLECTION"
    [first] = jobs_of(client, org, made["channel"]["id"], "fulfillment_push")
    assert first["status"] == "succeeded", first
    rerun = start_job(client, org, made["channel"]["id"], "fulfillment_push", **first["params"])
    settle(db, org)
    assert job(client, org, rerun["id"])["status"] == "succeeded"
    assert len([p for p in tts.state.packages if p["order_id"] == placed["id"]]) == 1
    Dispatcher(db).drain()
    with db.session(write=False, tenant=org.id) as session:
        assert session.scalars(select(Notification.recipient).where(
            Notification.recipient.in_([BUYER, BUYER.lower()]))).all() == []
