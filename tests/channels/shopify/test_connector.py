"""The Shopify connector against the emulator: linking by SKU, the inventory push (latest
number only, compare-and-set with re-read), orders by webhook (verified, deduplicated) and by
backfill, fulfillments sent back, system-of-record import, pacing by the cost bucket."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
from typing import Any

import httpx
from fastapi.testclient import TestClient

from mercato.channels.registry import ConnectionConfig
from mercato.channels.shopify.client import ShopifyClient
from mercato.core.db import Database
from mercato.core.ids import new_id
from tests.channels.helpers import (
    ACCESS_TOKEN,
    CLIENT_SECRET,
    VERSION,
    ShopifyServer,
    connect,
    delivered,
    job,
    settle,
    start_job,
)
from tests.conftest import LiveServer, Org
from tests.inventory.helpers import level, make_variants, receive


def linked(client: TestClient, org: Org, db: Database, server: ShopifyServer, units: int,
           *, remote: int = 0, api_version: str = VERSION,
           **settings: Any) -> tuple[dict[str, Any], str, dict[str, Any]]:
    """A Mercato SKU with ``units`` in stock, the same SKU on the emulator with ``remote``,
    a channel-mode connection, and the link made by a product_import job."""
    sku = make_variants(client, org)[0]
    remote_variant = server.product(sku, remote)
    made = connect(client, org, server, api_version=api_version, **settings)
    receive(client, org, sku, made["locations"][0], units)
    start_job(client, org, made["channel"]["id"], "product_import")
    settle(db, org)
    return made, sku, remote_variant


def orders_of(client: TestClient, org: Org, channel_id: str) -> list[dict[str, Any]]:
    response = client.get("/api/v1/orders", headers=org.headers,
                          params={"channel": channel_id, "limit": 100})
    assert response.status_code == 200, response.text
    return list(response.json()["data"])


def test_linking_by_sku_then_pushing_makes_shopify_show_mercatos_number(
        client: TestClient, org: Org, db: Database, shopify: ShopifyServer) -> None:
    made, sku, remote = linked(client, org, db, shopify, 3, remote=7)
    assert shopify.state.available(remote["inventory_item_id"]) == 3
    mappings = client.get(f"/api/v1/channels/{made['channel']['id']}/mappings",
                          headers=org.headers).json()
    assert [(m["sku"], m["remote_id"], m["in_sync"]) for m in mappings] == [
        (sku, remote["id"], True)]
    stray = shopify.product(f"ONLY-ON-SHOPIFY-{new_id()}")
    again = start_job(client, org, made["channel"]["id"], "product_import")
    settle(db, org)
    report = job(client, org, again["id"])
    assert report["status"] == "completed_with_errors"  # it ran to the end, one item skipped
    assert [e["item"] for e in report["errors"]] == [f"sku {stray['sku']}"]
    health = client.get(f"/api/v1/channels/{made['channel']['id']}/connection",
                        headers=org.headers).json()["health"]
    assert health["status"] == "ok"


def test_a_burst_of_changes_to_one_sku_sends_the_latest_number_once(
        client: TestClient, org: Org, db: Database, shopify: ShopifyServer) -> None:
    made, sku, remote = linked(client, org, db, shopify, 30)
    before = sum(1 for name, _ in shopify.state.mutation_log
                 if name == "inventorySetQuantities")
    for _ in range(20):
        receive(client, org, sku, made["locations"][0], -1)
    settle(db, org)
    sets = [v for name, v in shopify.state.mutation_log if name == "inventorySetQuantities"]
    assert len(sets) - before == 1
    assert shopify.state.available(remote["inventory_item_id"]) == 10


def test_a_stale_compare_and_set_is_reread_and_mercatos_number_still_wins(
        client: TestClient, org: Org, db: Database, shopify: ShopifyServer) -> None:
    made, sku, remote = linked(client, org, db, shopify, 5)
    shopify.state.set_available(remote["inventory_item_id"], 9, notify=False)  # behind our back
    receive(client, org, sku, made["locations"][0], -1)
    settle(db, org)
    assert shopify.state.available(remote["inventory_item_id"]) == 4
    stale = [v for name, v in shopify.state.mutation_log if name == "inventorySetQuantities"]
    assert len(stale) >= 3  # the first push, the stale attempt, the retry after re-reading


def test_an_older_api_version_pushes_with_compare_quantity_and_no_idempotency_key(
        client: TestClient, org: Org, db: Database, shopify: ShopifyServer) -> None:
    made, sku, remote = linked(client, org, db, shopify, 6, api_version="2025-10")
    shopify.state.set_available(remote["inventory_item_id"], 2, notify=False)
    receive(client, org, sku, made["locations"][0], -1)
    settle(db, org)
    assert shopify.state.available(remote["inventory_item_id"]) == 5
    sent = [v for name, v in shopify.state.mutation_log if name == "inventorySetQuantities"]
    assert "compareQuantity" in sent[-1]["input"]["quantities"][0]
    assert "key" not in sent[-1]


def test_orders_arrive_by_signed_webhook_once_and_bad_signatures_are_refused(
        client: TestClient, org: Org, db: Database, live_server: LiveServer) -> None:
    with ShopifyServer(deliver_duplicates=True, webhook_retry_delays=[0.05, 0.1]) as server:
        hook = f"{live_server.url}/webhooks/shopify/{org.slug}"
        made, sku, remote = linked(client, org, db, server, 4, webhook_url=hook)
        order = server.state.place_order([{"sku": sku, "quantity": 2, "price": "6.50"}],
                                         email="buyer@example.test")
        assert delivered(db, server)
        found = orders_of(client, org, made["channel"]["id"])
        assert [(o["external_id"], o["oversold"]) for o in found] == [(str(order["id"]), False)]
        assert len({d.webhook_id for d in server.state.deliveries
                    if d.topic == "orders/create"}) == 1
        assert level(client, org, sku, made["locations"][0])["on_hand"] == 2
        settle(db, org)
        assert server.state.available(remote["inventory_item_id"]) == 2
        body = json.dumps({"id": 1, "line_items": []}).encode()
        forged = httpx.post(hook, content=body, headers={
            "X-Shopify-Topic": "orders/create", "X-Shopify-Shop-Domain": server.domain,
            "X-Shopify-Webhook-Id": new_id(),
            "X-Shopify-Hmac-Sha256": base64.b64encode(hmac.new(
                b"wrong secret", body, hashlib.sha256).digest()).decode()})
        assert forged.status_code == 401
        assert forged.headers["content-type"].startswith("application/problem+json")


def test_the_order_backfill_ingests_missed_orders_once_and_follows_cancellations(
        client: TestClient, org: Org, db: Database, shopify: ShopifyServer) -> None:
    made, sku, _ = linked(client, org, db, shopify, 6)
    first = shopify.state.place_order([{"sku": sku, "quantity": 1}])
    second = shopify.state.place_order([{"sku": sku, "quantity": 2}])
    shopify.state.cancel_order(second["id"])
    for _ in range(2):
        start_job(client, org, made["channel"]["id"], "order_pull",
                  since="2000-01-01T00:00:00Z")
        settle(db, org)
    found = {o["external_id"]: o for o in orders_of(client, org, made["channel"]["id"])}
    assert sorted(found) == sorted([str(first["id"]), str(second["id"])])
    assert found[str(second["id"])]["status"] == "cancelled"
    assert level(client, org, sku, made["locations"][0])["on_hand"] == 5


def test_a_fulfillment_made_in_mercato_is_sent_back_to_shopify(
        client: TestClient, org: Org, db: Database, shopify: ShopifyServer) -> None:
    made, sku, _ = linked(client, org, db, shopify, 3)
    placed = shopify.state.place_order([{"sku": sku, "quantity": 1}])
    start_job(client, org, made["channel"]["id"], "order_pull", since="2000-01-01T00:00:00Z")
    settle(db, org)
    order = orders_of(client, org, made["channel"]["id"])[0]
    response = client.post(f"/api/v1/orders/{order['id']}/fulfillments", headers=org.headers,
                           json={"carrier": "UPS", "tracking_number": "1Z999"})
    assert response.status_code in (200, 201), response.text
    settle(db, org)
    remote = next(o for o in shopify.state.orders if o["id"] == placed["id"])
    assert remote["fulfillment_status"] == "fulfilled"


def test_system_of_record_import_takes_catalog_stock_and_later_level_changes(
        client: TestClient, org: Org, db: Database, live_server: LiveServer) -> None:
    with ShopifyServer(webhook_retry_delays=[0.05]) as server:
        tag = new_id()[-6:]
        server.state.add_product(f"Lightning Bolt {tag}", variants=[
            {"sku": f"LB-{tag}-NM", "price": "2.00", "available": 4,
             "options": {"Condition": "NM"}},
            {"sku": f"LB-{tag}-LP", "price": "1.50", "available": 1,
             "options": {"Condition": "LP"}}])
        server.state.add_product(f"Counterspell {tag}", variants=[
            {"sku": f"CS-{tag}", "price": "3.00", "available": 2}])
        hook = f"{live_server.url}/webhooks/shopify/{org.slug}"
        made = connect(client, org, server, mode="system_of_record", locations=[],
                       webhook_url=hook)
        started = start_job(client, org, made["channel"]["id"], "product_import")
        settle(db, org)
        assert job(client, org, started["id"])["status"] == "succeeded"
        products = client.get("/api/v1/products", headers=org.headers,
                              params={"q": tag, "limit": 10}).json()["data"]
        assert sorted(p["title"] for p in products) == [f"Counterspell {tag}",
                                                        f"Lightning Bolt {tag}"]
        locations = client.get(f"/api/v1/channels/{made['channel']['id']}/mappings",
                               headers=org.headers, params={"resource": "location"}).json()
        shop_location = locations[0]["local_id"]
        assert level(client, org, f"LB-{tag}-NM", shop_location)["available"] == 4
        item = server.state.variant_by_sku(f"LB-{tag}-NM")
        assert item is not None
        server.state.set_available(server.state.item_of(item).gid, 9)
        assert delivered(db, server)
        assert level(client, org, f"LB-{tag}-NM", shop_location)["available"] == 9


def test_the_client_paces_itself_by_the_cost_bucket_and_recovers_from_throttling(
        db: Database) -> None:
    with ShopifyServer(bucket_size=60, restore_rate=200) as server:
        def config(bucket: int) -> ConnectionConfig:
            return ConnectionConfig(
                id=new_id(), organization_id="x", channel_id="c", kind="shopify",
                mode="channel", account=server.domain, api_version=VERSION,
                api_base=server.url,
                secrets={"access_token": ACCESS_TOKEN, "client_secret": CLIENT_SECRET},
                settings={"bucket_size": bucket, "restore_rate": 200})

        async def paced(cfg: ConnectionConfig) -> int:
            async with ShopifyClient(cfg) as shop:
                return len([await shop.locations() for _ in range(12)])  # 12 x 22 > 60

        async def burst(cfg: ConnectionConfig) -> int:
            async with ShopifyClient(cfg) as shop:
                results = await asyncio.gather(*(shop.locations() for _ in range(30)))
            return len(results)

        assert asyncio.run(paced(config(60))) == 12
        assert server.state.throttled == 0  # it waited for points instead of being refused
        assert asyncio.run(burst(config(5000))) == 30  # thinks the bucket is huge: learns
        assert server.state.throttled >= 1


def test_an_order_with_a_line_mercato_does_not_know_keeps_the_rest_and_names_it(
        client: TestClient, org: Org, db: Database, shopify: ShopifyServer) -> None:
    made, sku, _ = linked(client, org, db, shopify, 3)
    stray = shopify.product(f"SHOPIFY-ONLY-{new_id()}", 5)
    shopify.state.place_order([{"sku": sku, "quantity": 1},
                               {"sku": stray["sku"], "quantity": 2}])
    start_job(client, org, made["channel"]["id"], "order_pull", since="2000-01-01T00:00:00Z")
    settle(db, org)
    order = orders_of(client, org, made["channel"]["id"])[0]
    detail = client.get(f"/api/v1/orders/{order['id']}", headers=org.headers).json()
    assert [(line["sku"], line["quantity"]) for line in detail["lines"]] == [(sku, 1)]
    assert "unmatched-lines" in detail["tags"]
    assert f"2 x Card {stray['sku']} (SKU {stray['sku']})" in detail["note"]
