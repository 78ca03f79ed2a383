"""Webhooks of one shop and the health of its one connection: a second connection (BinderPOS,
wrong credentials) can no longer take the shop and break a working one; a webhook refused for
its signature is counted and makes the health fail, though the request itself rolls back."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from mercato.core.db import Database
from tests.channels.helpers import ACCESS_TOKEN, VERSION, ShopifyServer, delivered, settle
from tests.channels.shopify.test_connector import linked, orders_of
from tests.conftest import LiveServer, Org
from tests.inventory.helpers import make_location


def health(client: TestClient, org: Org, channel_id: str) -> dict[str, Any]:
    response = client.get(f"/api/v1/channels/{channel_id}/connection", headers=org.headers)
    assert response.status_code == 200, response.text
    return dict(response.json()["health"])


def test_a_binderpos_connection_cannot_take_a_working_shops_webhooks(
        client: TestClient, org: Org, db: Database, live_server: LiveServer) -> None:
    with ShopifyServer(webhook_retry_delays=[0.05, 0.1]) as server:
        hook = f"{live_server.url}/webhooks/shopify/{org.slug}"
        made, sku, _ = linked(client, org, db, server, 5, webhook_url=hook)
        binder = client.post("/api/v1/channels", headers=org.headers, json={
            "name": "BinderPOS", "kind": "binderpos",
            "locations": [make_location(client, org)["id"]]}).json()
        for account in (server.domain, f"https://{server.domain.upper()}/"):
            refused = client.put(f"/api/v1/channels/{binder['id']}/connection",
                                 headers=org.headers, json={
                                     "kind": "binderpos", "mode": "system_of_record",
                                     "account": account, "api_version": VERSION,
                                     "api_base": server.url,
                                     "credentials": {"access_token": "shpat_not_this_shops",
                                                     "client_secret": "not_this_shops_secret"}})
            assert refused.status_code == 409, refused.text
        placed = server.state.place_order([{"sku": sku, "quantity": 1, "price": "4.00"}])
        assert delivered(db, server)
        assert [d.status for d in server.state.deliveries if d.topic == "orders/create"] == [200]
        assert [o["external_id"] for o in orders_of(client, org, made["channel"]["id"])] == [
            str(placed["id"])]
        seen = health(client, org, made["channel"]["id"])
        assert (seen["status"], seen["signature_failures"]) == ("ok", 0)
        assert seen["last_webhook_at"] is not None


def test_refused_signatures_are_counted_in_health_until_one_verifies_again(
        client: TestClient, org: Org, db: Database, live_server: LiveServer) -> None:
    with ShopifyServer(webhook_retry_delays=[0.05, 0.1]) as server:
        hook = f"{live_server.url}/webhooks/shopify/{org.slug}"
        made, sku, _ = linked(client, org, db, server, 5, webhook_url=hook)
        channel_id = made["channel"]["id"]
        assert health(client, org, channel_id)["status"] == "ok"
        rotated = "shpss_" + "0" * 32
        server.state.client_secret = rotated  # rotated in Shopify, not yet in Mercato
        server.state.place_order([{"sku": sku, "quantity": 1}])
        assert delivered(db, server)
        refusals = [d.status for d in server.state.deliveries if d.topic == "orders/create"]
        assert refusals == [401, 401, 401]  # the first try and two retries
        refused = [d for d in server.state.deliveries if d.status == 401]
        assert len(refused) >= 3  # orders/create and inventory_levels/update, retried
        assert orders_of(client, org, channel_id) == []
        failing = health(client, org, channel_id)
        assert failing["status"] == "failing"
        assert failing["signature_failures"] == len(refused)
        assert failing["last_signature_failure_at"] is not None
        assert failing["last_error_kind"] == "auth"
        assert "X-Shopify-Hmac-Sha256" in failing["last_error"]
        # a successful job does not hide that every webhook is refused
        pull = client.post(f"/api/v1/channels/{channel_id}/sync-jobs", headers=org.headers,
                           json={"kind": "order_pull",
                                 "params": {"since": "2000-01-01T00:00:00Z"}})
        assert pull.status_code == 202, pull.text
        settle(db, org)
        assert len(orders_of(client, org, channel_id)) == 1
        still = health(client, org, channel_id)
        assert (still["status"], still["signature_failures"]) == ("failing", len(refused))
        # the new secret given to Mercato: counting starts again, and webhooks verify
        fixed = client.put(f"/api/v1/channels/{channel_id}/connection", headers=org.headers,
                           json={"kind": "shopify", "mode": "channel",
                                 "account": server.domain, "api_version": VERSION,
                                 "api_base": server.url, "settings": {"webhook_url": hook},
                                 "credentials": {"access_token": ACCESS_TOKEN,
                                                 "client_secret": rotated}})
        assert fixed.status_code == 200, fixed.text
        assert fixed.json()["health"]["signature_failures"] == 0
        server.state.place_order([{"sku": sku, "quantity": 1}])
        assert delivered(db, server)
        assert [d.status for d in server.state.deliveries
                if d.topic == "orders/create"][-1] == 200
        assert len(orders_of(client, org, channel_id)) == 2
        settle(db, org)
        healed = health(client, org, channel_id)
        assert (healed["status"], healed["signature_failures"]) == ("ok", 0)
        assert healed["last_webhook_at"] > failing["last_signature_failure_at"]
