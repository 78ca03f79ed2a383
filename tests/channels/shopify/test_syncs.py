"""The remaining syncs against the emulator: product export and price push in channel mode,
a full inventory push, cancelling a running job, refunds and product edits by webhook, and a
BinderPOS connection (a Shopify store as the system of record)."""

from __future__ import annotations

import threading
import time
from typing import Any

from fastapi.testclient import TestClient

from mercato.channels import jobs
from mercato.core.db import Database
from mercato.core.ids import new_id
from tests.channels.helpers import ShopifyServer, connect, delivered, job, settle, start_job
from tests.channels.shopify.test_connector import linked, orders_of
from tests.conftest import LiveServer, Org
from tests.inventory.helpers import level, make_variants, receive


def product(client: TestClient, org: Org, sku: str) -> dict[str, Any]:
    response = client.get("/api/v1/products", headers=org.headers, params={"q": sku})
    assert response.status_code == 200, response.text
    return dict(response.json()["data"][0])


def test_product_export_creates_published_products_on_shopify_and_pushes_their_stock(
        client: TestClient, org: Org, db: Database, shopify: ShopifyServer) -> None:
    skus = make_variants(client, org, 2, price="3.25")
    made = connect(client, org, shopify)
    for sku in skus:
        receive(client, org, sku, made["locations"][0], 4)
    exported = start_job(client, org, made["channel"]["id"], "product_export", skus=skus)
    settle(db, org)
    assert job(client, org, exported["id"])["status"] == "succeeded"
    for sku in skus:
        variant = shopify.state.variant_by_sku(sku)
        assert variant is not None
        assert str(variant.price) == "3.25"
        assert shopify.state.available(shopify.state.item_of(variant).gid) == 4
    again = start_job(client, org, made["channel"]["id"], "product_export", skus=skus)
    settle(db, org)
    assert job(client, org, again["id"])["status"] == "succeeded"
    assert sum(1 for sku in skus if shopify.state.variant_by_sku(sku)) == 2  # updated, not doubled


def test_price_push_sends_mercatos_prices_to_linked_variants(
        client: TestClient, org: Org, db: Database, shopify: ShopifyServer) -> None:
    made, sku, _ = linked(client, org, db, shopify, 1)
    found = product(client, org, sku)
    variant = found["variants"][0]
    response = client.patch(f"/api/v1/variants/{variant['id']}", headers=org.headers,
                            json={"price": "7.77", "compare_at_price": "9.00"})
    assert response.status_code == 200, response.text
    pushed = start_job(client, org, made["channel"]["id"], "price_push")
    settle(db, org)
    assert job(client, org, pushed["id"])["status"] == "succeeded"
    on_shopify = shopify.state.variant_by_sku(sku)
    assert on_shopify is not None
    assert (str(on_shopify.price), str(on_shopify.compare_at_price)) == ("7.77", "9.00")


def test_a_full_inventory_push_corrects_every_drifted_number(
        client: TestClient, org: Org, db: Database, shopify: ShopifyServer) -> None:
    made, _, remote = linked(client, org, db, shopify, 6)
    shopify.state.set_available(remote["inventory_item_id"], 40, notify=False)
    pushed = start_job(client, org, made["channel"]["id"], "inventory_push")
    settle(db, org)
    report = job(client, org, pushed["id"])
    assert (report["status"], report["total"], report["done"]) == ("succeeded", 1, 1)
    assert shopify.state.available(remote["inventory_item_id"]) == 6


def test_cancelling_a_running_job_stops_it_at_its_next_page(
        client: TestClient, org: Org, db: Database) -> None:
    with ShopifyServer(bulk_delay=30) as server:
        server.product(f"SLOW-{new_id()}", 1)
        made = connect(client, org, server, mode="system_of_record", locations=[])
        started = start_job(client, org, made["channel"]["id"], "product_import")
        runner = threading.Thread(target=jobs.run_due, args=(db, "cancel-test"),
                                  kwargs={"budget": 60, "organization_id": org.id})
        runner.start()
        deadline = time.monotonic() + 20
        while job(client, org, started["id"])["status"] != "running":
            assert time.monotonic() < deadline
            time.sleep(0.05)
        response = client.post(f"/api/v1/sync-jobs/{started['id']}/cancel", headers=org.headers)
        assert response.status_code == 200
        assert response.json()["cancel_requested"] is True
        runner.join(timeout=30)
        assert not runner.is_alive()
        assert job(client, org, started["id"])["status"] == "cancelled"


def test_refunds_and_cancellations_on_shopify_reach_the_mercato_order(
        client: TestClient, org: Org, db: Database, live_server: LiveServer) -> None:
    with ShopifyServer(webhook_retry_delays=[0.05, 0.1]) as server:
        hook = f"{live_server.url}/webhooks/shopify/{org.slug}"
        made, sku, _ = linked(client, org, db, server, 5, webhook_url=hook)
        placed = server.state.place_order([{"sku": sku, "quantity": 2, "price": "10.00"}])
        assert delivered(db, server)
        server.state.refund_order(placed["id"], [
            {"line_item_id": placed["line_items"][0]["id"], "quantity": 1}])
        assert delivered(db, server)
        order = orders_of(client, org, made["channel"]["id"])[0]
        detail = client.get(f"/api/v1/orders/{order['id']}", headers=org.headers).json()
        assert [r["reason"] for r in detail["refunds"]] == [
            f"Shopify refund {server.state.orders[-1]['refunds'][0]['id']}"]
        server.state.cancel_order(placed["id"])
        assert delivered(db, server)
        detail = client.get(f"/api/v1/orders/{order['id']}", headers=org.headers).json()
        assert detail["status"] == "cancelled"
        assert level(client, org, sku, made["locations"][0])["on_hand"] == 5


def test_a_binderpos_store_is_imported_as_the_system_of_record_and_follows_its_edits(
        client: TestClient, org: Org, db: Database, live_server: LiveServer) -> None:
    with ShopifyServer(webhook_retry_delays=[0.05]) as server:
        tag = new_id()[-6:]
        made_product = server.state.add_product(f"Sol Ring {tag}", variants=[
            {"sku": f"SR-{tag}-NM", "price": "1.00", "available": 3,
             "options": {"Condition": "Near Mint"}}])
        hook = f"{live_server.url}/webhooks/shopify/{org.slug}"
        made = connect(client, org, server, kind="binderpos", mode="system_of_record",
                       locations=[], webhook_url=hook)
        started = start_job(client, org, made["channel"]["id"], "product_import")
        settle(db, org)
        assert job(client, org, started["id"])["status"] == "succeeded"
        assert product(client, org, f"SR-{tag}-NM")["title"] == f"Sol Ring {tag}"
        server.state.update_product(made_product["id"], title=f"Sol Ring (C21) {tag}",
                                    prices={f"SR-{tag}-NM": "1.25"})
        assert delivered(db, server)
        edited = product(client, org, f"SR-{tag}-NM")
        assert edited["title"] == f"Sol Ring (C21) {tag}"
        assert edited["variants"][0]["price"] == "1.25"


def test_a_sync_job_that_skips_items_ends_completed_with_errors_and_can_be_retried(
        client: TestClient, org: Org, db: Database, shopify: ShopifyServer) -> None:
    """A job that ran to the end but could not apply some items says so in its status (not
    ``succeeded``), with the items and why; it can be run again once they are fixed."""
    sku = make_variants(client, org)[0]
    shopify.product(sku, 1)
    stranger = f"UNKNOWN-{new_id()}"
    shopify.product(stranger, 1)  # a Shopify SKU Mercato has no variant for
    made = connect(client, org, shopify)
    started = start_job(client, org, made["channel"]["id"], "product_import")
    settle(db, org)
    report = job(client, org, started["id"])
    assert (report["status"], report["failed"]) == ("completed_with_errors", 1), report
    assert [e["item"] for e in report["errors"]] == [f"sku {stranger}"]
    again = client.post(f"/api/v1/sync-jobs/{started['id']}/retry", headers=org.headers)
    assert again.status_code in (200, 201, 202), again.text
    assert again.json()["retry_of"] == started["id"]
