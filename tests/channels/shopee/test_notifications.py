"""Shopee's pushes at ``/webhooks/shopee/{store}``: the Authorization checked with the tests'
own HMAC-SHA256 of ``<callback URL>|<raw body>``, answered with an empty 200, each push
recorded once; an order status push queues an order pull; a bad signature is a 401 counted
in the connection's health."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from mercato.core.db import Database
from mercato.core.outbox import Dispatcher
from tests.channels.helpers import jobs_of, order_detail, orders_of, settle, start_job
from tests.channels.shopee.helpers import (
    SHOP_ID,
    ShopeeServer,
    card,
    connect,
    connection,
    push_auth,
    stock,
)
from tests.conftest import PUBLIC_URL, LiveServer, Org


@pytest.fixture(scope="module")
def shopee() -> Iterator[ShopeeServer]:
    with ShopeeServer() as server:
        yield server


def status_push(order_sn: str, status: str = "READY_TO_SHIP") -> bytes:
    return json.dumps({"shop_id": int(SHOP_ID), "code": 3, "timestamp": int(time.time()),
                       "data": {"ordersn": order_sn, "status": status,
                                "update_time": 1_765_000_000}}).encode()


def post(client: TestClient, org: Org, body: bytes, signature: str | None) -> Any:
    headers = {"Content-Type": "application/json"}
    if signature is not None:
        headers["Authorization"] = signature
    return client.post(f"/webhooks/shopee/{org.slug}", content=body, headers=headers)


def test_a_signed_push_is_answered_empty_and_queues_one_order_pull(
        client: TestClient, org: Org, db: Database, shopee: ShopeeServer) -> None:
    made = connect(client, org, shopee)
    channel_id = made["channel"]["id"]
    url = f"{PUBLIC_URL}/webhooks/shopee/{org.slug}"  # no webhook_url: the public URL
    body = status_push("2512060001ABCD")
    answer = post(client, org, body, push_auth(url, body))
    assert answer.status_code == 200, answer.text
    assert answer.content == b""
    assert jobs_of(client, org, channel_id, "order_pull") == []  # answered first
    Dispatcher(db).drain()
    [pulled] = jobs_of(client, org, channel_id, "order_pull")
    assert pulled["trigger"] == "webhook"
    again = post(client, org, body, push_auth(url, body))
    assert (again.status_code, again.content) == (200, b"")
    Dispatcher(db).drain()
    assert len(jobs_of(client, org, channel_id, "order_pull")) == 1  # a repeat: nothing
    health = connection(client, org, channel_id)["health"]
    assert health["last_webhook_at"] is not None
    assert health["signature_failures"] == 0


def test_a_bad_signature_is_refused_and_counted(
        client: TestClient, org: Org, db: Database, shopee: ShopeeServer) -> None:
    made = connect(client, org, shopee, webhook_url="https://hooks.example/shopee")
    channel_id = made["channel"]["id"]
    body = status_push("2512060002ABCD")
    # signed over the public URL while the connection's callback is its webhook_url
    wrong_url = post(client, org, body, push_auth(f"{PUBLIC_URL}/webhooks/shopee/{org.slug}",
                                                   body))
    assert wrong_url.status_code == 401
    assert post(client, org, body, None).status_code == 401
    assert post(client, org, body, push_auth("https://hooks.example/shopee", body,
                                             key="another-key")).status_code == 401
    health = connection(client, org, channel_id)["health"]
    assert health["signature_failures"] == 3
    assert health["status"] == "failing"
    assert "Authorization" in health["last_error"]
    Dispatcher(db).drain()
    assert jobs_of(client, org, channel_id, "order_pull") == []
    good = post(client, org, body, push_auth("https://hooks.example/shopee", body))
    assert (good.status_code, good.content) == (200, b"")
    other_shop = json.dumps({"shop_id": 1, "code": 3, "data": {}}).encode()
    assert post(client, org, other_shop, push_auth("https://hooks.example/shopee",
                                                   other_shop)).status_code == 404
    # a body naming no shop is checked against the store's one connection: refused, 401
    assert post(client, org, b"not json", "0" * 64).status_code == 401


def test_the_emulators_pushes_bring_an_order_and_its_cancellation_in(
        client: TestClient, org: Org, db: Database, shopee: ShopeeServer,
        live_server: LiveServer) -> None:
    url = f"{live_server.url}/webhooks/shopee/{org.slug}"
    sku = card(client, org)
    shopee.list_skus(sku)
    made = connect(client, org, shopee, webhook_url=url)
    channel_id = made["channel"]["id"]
    stock(client, org, made, sku, 3)
    start_job(client, org, channel_id, "product_import", skus=[sku])
    settle(db, org)
    shopee.state.orders.clear()
    shopee.state.callback_url = url
    try:
        placed = shopee.state.place_order([{"sku": sku, "quantity": 1}])
        settle(db, org)
        [order] = orders_of(client, org, channel_id)
        assert order["external_id"] == placed["order_sn"]
        shopee.state.cancel_on_shopee(placed["order_sn"])
        settle(db, org)
    finally:
        shopee.state.callback_url = None
    assert [status for status, _ in shopee.state.pushes[-2:]] == [200, 200]
    assert order_detail(client, org, order["id"])["status"] == "cancelled"


def test_a_push_signed_more_than_five_minutes_ago_is_refused_as_a_replay(
        client: TestClient, org: Org, shopee: ShopeeServer) -> None:
    connect(client, org, shopee)
    url = f"{PUBLIC_URL}/webhooks/shopee/{org.slug}"
    stale = json.dumps({"shop_id": int(SHOP_ID), "code": 3, "timestamp": int(time.time()) - 600,
                        "data": {"ordersn": "2512060009ABCD", "status": "READY_TO_SHIP",
                                 "update_time": 1_765_000_000}}).encode()
    refused = post(client, org, stale, push_auth(url, stale))
    assert refused.status_code == 401
    assert "replay" in refused.json()["detail"]


def test_a_signed_body_that_is_not_an_object_is_answered_empty_and_recorded_nowhere(
        client: TestClient, org: Org, shopee: ShopeeServer) -> None:
    connect(client, org, shopee)
    url = f"{PUBLIC_URL}/webhooks/shopee/{org.slug}"
    answer = post(client, org, b"[1, 2]", push_auth(url, b"[1, 2]"))
    assert (answer.status_code, answer.content) == (200, b"")
