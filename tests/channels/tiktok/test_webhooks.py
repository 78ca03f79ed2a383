"""TikTok Shop's webhooks at ``/webhooks/tiktok/{store}``: signed as documented (hex
HMAC-SHA256 of app key + raw body, keyed with the app secret; signed here by the test's own
code), a bad one refused with 401 and counted in the health, a stale signed ``timestamp``
refused, each ``tts_notification_id`` taken once, an ORDER_STATUS_CHANGE answered at once and
an ``order_pull`` queued by the worker, which brings the order (and a cancellation on TikTok)
into Mercato."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from mercato.core.db import Database
from mercato.core.outbox import Dispatcher
from tests.channels.helpers import jobs_of, order_detail, orders_of, settle
from tests.channels.tiktok.helpers import (
    SHOP_ID,
    TiktokServer,
    connection,
    linked,
    webhook_sign,
)
from tests.conftest import LiveServer, Org
from tests.inventory.helpers import level


@pytest.fixture(scope="module")
def tts() -> Iterator[TiktokServer]:
    with TiktokServer() as server:
        yield server


def hook(client: TestClient, org: Org, body: dict[str, Any], *,
         signature: str | None = None) -> Any:
    raw = json.dumps(body).encode()
    return client.post(f"/webhooks/tiktok/{org.slug}", content=raw, headers={
        "Content-Type": "application/json",
        "Authorization": webhook_sign(raw) if signature is None else signature})


def status_change(order_id: str, notification: str, status: str = "AWAITING_SHIPMENT",
                  shop_id: str = SHOP_ID) -> dict[str, Any]:
    return {"type": 1, "tts_notification_id": notification, "shop_id": shop_id,
            "timestamp": int(time.time()), "data": {"order_id": order_id, "order_status": status,
                                              "update_time": 1700000000}}


def test_a_signed_order_webhook_queues_a_pull_once_and_a_bad_one_is_refused(
        client: TestClient, org: Org, db: Database, tts: TiktokServer) -> None:
    made, [sku] = linked(client, org, db, tts)
    channel_id = made["channel"]["id"]
    placed = tts.state.place_order([{"seller_sku": sku, "quantity": 1}], notify=False)
    body = status_change(placed["id"], f"n-{placed['id']}")
    first = hook(client, org, body)
    assert first.status_code == 200, first.text
    assert (first.json()["topic"], first.json()["processed"], first.json()["message"]) == (
        "ORDER_STATUS_CHANGE", True, "queued")
    assert jobs_of(client, org, channel_id, "order_pull") == []  # answered first
    Dispatcher(db).drain()
    [queued] = jobs_of(client, org, channel_id, "order_pull")
    assert (queued["status"], queued["trigger"]) == ("queued", "webhook")
    again = hook(client, org, body)
    assert again.status_code == 200
    assert again.json()["duplicate"] is True
    Dispatcher(db).drain()
    assert len(jobs_of(client, org, channel_id, "order_pull")) == 1
    # a bad signature, a signature with another secret, none: 401, counted, nothing queued
    other = json.dumps(status_change(placed["id"], "n-bad")).encode()
    assert hook(client, org, status_change(placed["id"], "n-bad"),
                signature="0" * 64).status_code == 401
    assert hook(client, org, status_change(placed["id"], "n-bad"),
                signature=webhook_sign(other, app_secret="another-secret")).status_code == 401
    assert hook(client, org, status_change(placed["id"], "n-bad"),
                signature="").status_code == 401
    health = connection(client, org, channel_id)["health"]
    assert health["signature_failures"] == 3
    assert health["status"] == "failing"
    assert "Authorization" in health["last_error"]
    assert len(jobs_of(client, org, channel_id, "order_pull")) == 1
    # the refused one was not recorded: signed correctly, it is taken
    assert hook(client, org, status_change(placed["id"], "n-bad")).json()["duplicate"] is False
    settle(db, org)
    [order] = orders_of(client, org, channel_id)
    assert order["external_id"] == placed["id"]
    assert connection(client, org, channel_id)["health"]["last_webhook_at"] is not None


def test_the_emulators_webhooks_bring_an_order_and_its_cancellation(
        client: TestClient, org: Org, db: Database, tts: TiktokServer,
        live_server: LiveServer) -> None:
    made, [sku] = linked(client, org, db, tts, units=4)
    channel_id = made["channel"]["id"]
    tts.state.webhook_url = f"{live_server.url}/webhooks/tiktok/{org.slug}"
    try:
        placed = tts.state.place_order([{"seller_sku": sku, "quantity": 2}])
        assert tts.state.deliveries[-1]["status"] == 200, tts.state.deliveries[-1]
        settle(db, org)
        [order] = orders_of(client, org, channel_id)
        assert order["external_id"] == placed["id"]
        assert level(client, org, sku, made["location"])["available"] == 2
        tts.state.cancel_on_tiktok(placed["id"])
        assert tts.state.deliveries[-1]["status"] == 200, tts.state.deliveries[-1]
        settle(db, org)
    finally:
        tts.state.webhook_url = None
    shown = order_detail(client, org, order["id"])
    assert shown["status"] == "cancelled"
    assert level(client, org, sku, made["location"])["available"] == 4


def test_a_webhook_names_its_connection_by_shop_id(
        client: TestClient, org: Org, db: Database, tts: TiktokServer) -> None:
    linked(client, org, db, tts, shop_id="1111111111")
    response = hook(client, org, status_change("576461413038785752", "n-other",
                                               shop_id="2222222222"))
    assert response.status_code == 200  # the only connection is taken
    assert hook(client, org, {"type": 1}, signature="nope").status_code == 401


def test_a_stale_signed_timestamp_is_refused_as_a_replay(
        client: TestClient, org: Org, db: Database, tts: TiktokServer) -> None:
    linked(client, org, db, tts)
    body = status_change("576461413038785752", "n-stale")
    body["timestamp"] = int(time.time()) - 3600
    refused = hook(client, org, body)
    assert refused.status_code == 401
    assert "replay" in refused.json()["detail"]
    body["timestamp"] = int(time.time())
    assert hook(client, org, body).json()["duplicate"] is False  # nothing was recorded


def test_a_deauthorization_shows_in_the_health_as_needing_reauthorization(
        client: TestClient, org: Org, db: Database, tts: TiktokServer) -> None:
    from tests.channels.tiktok.helpers import connect

    made = connect(client, org, tts)
    answer = hook(client, org, {"type": 6, "tts_notification_id": "n-deauth",
                                "shop_id": SHOP_ID, "timestamp": int(time.time()),
                                "data": {"message": "seller deauthorized"}})
    assert answer.status_code == 200, answer.text
    assert answer.json()["topic"] == "SELLER_DEAUTHORIZATION"
    Dispatcher(db).drain()
    health = connection(client, org, made["channel"]["id"])["health"]
    assert (health["status"], health["last_error_kind"]) == ("failing", "auth")
    assert "re-authorization" in health["last_error"]
