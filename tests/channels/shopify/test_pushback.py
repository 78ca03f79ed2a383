"""What Mercato does to a Shopify order goes back to Shopify, once: a cancellation
(``orderCancel``) and a refund (``refundCreate``), each a sync job that sends nothing twice and
whose webhook echo changes nothing; Shopify taking a pending order's payment makes the Mercato
order paid. Mercato sends no email of its own to a Shopify order's buyer (Shopify does)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from fastapi.testclient import TestClient

from mercato.core.db import Database
from mercato_emulators.shopify.model import Order as RemoteOrder
from tests.channels.helpers import ShopifyServer, delivered, job, settle, start_job
from tests.channels.shopify.test_connector import linked, orders_of
from tests.conftest import LiveServer, Org
from tests.inventory.helpers import level

BUYER = "buyer@example.test"


def mutations(server: ShopifyServer, name: str) -> list[dict[str, Any]]:
    return [variables for called, variables in server.state.mutation_log if called == name]


def remote(server: ShopifyServer, order_id: int) -> dict[str, Any]:
    return next(o for o in server.state.orders if o["id"] == order_id)


def detail(client: TestClient, org: Org, order_id: str) -> dict[str, Any]:
    response = client.get(f"/api/v1/orders/{order_id}", headers=org.headers)
    assert response.status_code == 200, response.text
    return dict(response.json())


def jobs_of(client: TestClient, org: Org, channel_id: str, kind: str) -> list[dict[str, Any]]:
    response = client.get(f"/api/v1/channels/{channel_id}/sync-jobs", headers=org.headers,
                          params={"kind": kind})
    assert response.status_code == 200, response.text
    return list(response.json())


def emails_to(client: TestClient, org: Org, recipient: str) -> list[dict[str, Any]]:
    response = client.get("/api/v1/notifications", headers=org.headers,
                          params={"recipient": recipient})
    assert response.status_code == 200, response.text
    return list(response.json()["data"])


def test_an_order_cancelled_in_mercato_is_cancelled_on_shopify_once(
        client: TestClient, org: Org, db: Database, live_server: LiveServer) -> None:
    with ShopifyServer(webhook_retry_delays=[0.05, 0.1]) as server:
        hook = f"{live_server.url}/webhooks/shopify/{org.slug}"
        made, sku, _ = linked(client, org, db, server, 5, webhook_url=hook)
        channel_id = made["channel"]["id"]
        placed = server.state.place_order([{"sku": sku, "quantity": 2, "price": "10.00"}],
                                          email=BUYER)
        assert delivered(db, server)
        [order] = orders_of(client, org, channel_id)
        cancelled = client.post(f"/api/v1/orders/{order['id']}/cancel", headers=org.headers,
                                json={"reason": "customer changed their mind"})
        assert cancelled.status_code == 200, cancelled.text
        settle(db, org)
        shown = remote(server, placed["id"])
        assert shown["cancelled_at"] is not None
        assert shown["financial_status"] == "paid"  # a refund is sent on its own, if made
        [sent] = mutations(server, "orderCancel")
        assert (sent["orderId"], sent["restock"], sent["notify"]) == (
            f"gid://shopify/Order/{placed['id']}", True, True)
        assert "customer changed their mind" in sent["note"]
        [first] = jobs_of(client, org, channel_id, "cancellation_push")
        assert first["status"] == "succeeded"
        # Shopify's orders/cancelled echo of it is harmless
        assert delivered(db, server)
        echoes = [d for d in server.state.deliveries if d.topic == "orders/cancelled"]
        assert echoes
        assert all(d.ok for d in echoes)
        settle(db, org)
        after = detail(client, org, order["id"])
        assert (after["status"], after["cancel_reason"]) == (
            "cancelled", "customer changed their mind")
        assert level(client, org, sku, made["locations"][0])["on_hand"] == 5
        # the job run again sends nothing: Shopify has the order cancelled already
        again = start_job(client, org, channel_id, "cancellation_push", order_id=order["id"])
        settle(db, org)
        assert job(client, org, again["id"])["status"] == "succeeded"
        assert len(mutations(server, "orderCancel")) == 1
        assert len(jobs_of(client, org, channel_id, "cancellation_push")) == 2
        connection = client.get(f"/api/v1/channels/{channel_id}/connection",
                                headers=org.headers).json()
        assert connection["health"]["status"] == "ok"


def test_a_cancellation_that_came_from_shopify_is_not_sent_back(
        client: TestClient, org: Org, db: Database, live_server: LiveServer) -> None:
    with ShopifyServer(webhook_retry_delays=[0.05, 0.1]) as server:
        hook = f"{live_server.url}/webhooks/shopify/{org.slug}"
        made, sku, _ = linked(client, org, db, server, 5, webhook_url=hook)
        placed = server.state.place_order([{"sku": sku, "quantity": 1}])
        assert delivered(db, server)
        server.state.cancel_order(placed["id"])
        assert delivered(db, server)
        settle(db, org)
        [order] = orders_of(client, org, made["channel"]["id"])
        assert order["status"] == "cancelled"
        assert jobs_of(client, org, made["channel"]["id"], "cancellation_push") == []
        assert mutations(server, "orderCancel") == []


def test_a_refund_made_in_mercato_is_made_on_shopify_once_and_its_echo_changes_nothing(
        client: TestClient, org: Org, db: Database, live_server: LiveServer) -> None:
    with ShopifyServer(webhook_retry_delays=[0.05, 0.1]) as server:
        hook = f"{live_server.url}/webhooks/shopify/{org.slug}"
        made, sku, _ = linked(client, org, db, server, 5, webhook_url=hook)
        channel_id = made["channel"]["id"]
        placed = server.state.place_order([{"sku": sku, "quantity": 2, "price": "10.00"}],
                                          email=BUYER)
        assert delivered(db, server)
        [order] = orders_of(client, org, channel_id)
        assert detail(client, org, order["id"])["financial_status"] == "paid"
        refunded = client.post(f"/api/v1/orders/{order['id']}/refunds", headers=org.headers,
                               json={"amount": "7.50", "reason": "scratched corner"})
        assert refunded.status_code in (200, 201), refunded.text
        [mine] = refunded.json()["refunds"]
        settle(db, org)
        shown = remote(server, placed["id"])
        [back] = shown["refunds"]
        assert [t["amount"] for t in back["transactions"]] == ["7.50"]
        assert back["note"] == f"Mercato refund {mine['id']}: scratched corner"
        assert shown["financial_status"] == "partially_refunded"
        # the refunds/create echo is Mercato's own refund: not recorded a second time
        assert delivered(db, server)
        echoes = [d for d in server.state.deliveries if d.topic == "refunds/create"]
        assert echoes
        assert all(d.ok for d in echoes)
        settle(db, org)
        after = detail(client, org, order["id"])
        assert [(r["amount"], r["reason"]) for r in after["refunds"]] == [
            ("7.50", "scratched corner")]
        assert after["refunded_total"] == "7.50"
        # run again (a retry, a crash after Shopify answered): nothing more is refunded
        again = start_job(client, org, channel_id, "refund_push", order_id=order["id"],
                          refund_id=mine["id"])
        settle(db, org)
        assert job(client, org, again["id"])["status"] == "succeeded"
        assert len(mutations(server, "refundCreate")) == 1
        assert len(remote(server, placed["id"])["refunds"]) == 1
        totals = server.state.transactions(server.state.must(RemoteOrder, placed["id"]))
        assert sum((t.amount for t in totals if t.kind == "REFUND"), Decimal("0")) == \
            Decimal("7.50")
        # a refund Shopify made reaches Mercato once, and is not sent back
        server.state.refund_order(placed["id"], [], note="goodwill")
        line = placed["line_items"][0]["id"]
        server.state.refund_order(placed["id"], [{"line_item_id": line, "quantity": 1}])
        assert delivered(db, server)
        settle(db, org)
        reasons = [r["reason"] for r in detail(client, org, order["id"])["refunds"]]
        assert reasons[0] == "scratched corner"
        assert len(reasons) == 2
        assert reasons[1].startswith("Shopify refund ")
        assert len(mutations(server, "refundCreate")) == 1
        assert len(jobs_of(client, org, channel_id, "refund_push")) == 2
        # and Mercato never emailed the buyer itself: Shopify does
        assert emails_to(client, org, BUYER) == []


def test_a_refund_shopify_cannot_cover_fails_the_job_and_the_connections_health(
        client: TestClient, org: Org, db: Database, shopify: ShopifyServer) -> None:
    made, sku, _ = linked(client, org, db, shopify, 5)
    placed = shopify.state.place_order([{"sku": sku, "quantity": 1, "price": "10.00"}])
    start_job(client, org, made["channel"]["id"], "order_pull", since="2000-01-01T00:00:00Z")
    settle(db, org)
    [order] = orders_of(client, org, made["channel"]["id"])
    shopify.state.refund_order(placed["id"], [], note="refunded on Shopify meanwhile",
                               transactions=[(shopify.state.transactions(
                                   shopify.state.must(RemoteOrder, placed["id"]))[0],
                                   Decimal("10.00"))])
    refunded = client.post(f"/api/v1/orders/{order['id']}/refunds", headers=org.headers,
                           json={"amount": "4.00", "reason": "late"})
    assert refunded.status_code in (200, 201), refunded.text
    settle(db, org)
    [pushed] = jobs_of(client, org, made["channel"]["id"], "refund_push")
    assert (pushed["status"], pushed["error_kind"]) == ("failed", "validation")
    assert "left to refund" in pushed["error"]
    assert mutations(shopify, "refundCreate") == []
    health = client.get(f"/api/v1/channels/{made['channel']['id']}/connection",
                        headers=org.headers).json()["health"]
    assert health["status"] == "failing"


def test_shopify_taking_a_pending_orders_payment_makes_the_mercato_order_paid(
        client: TestClient, org: Org, db: Database, live_server: LiveServer) -> None:
    with ShopifyServer(webhook_retry_delays=[0.05, 0.1]) as server:
        hook = f"{live_server.url}/webhooks/shopify/{org.slug}"
        made, sku, _ = linked(client, org, db, server, 5, webhook_url=hook)
        placed = server.state.place_order([{"sku": sku, "quantity": 2, "price": "6.00"}],
                                          financial_status="pending", email=BUYER)
        assert delivered(db, server)
        [order] = orders_of(client, org, made["channel"]["id"])
        before = detail(client, org, order["id"])
        assert (before["financial_status"], before["paid_total"]) == ("pending", "0.00")
        server.state.mark_paid(placed["id"])
        assert delivered(db, server)
        paid = [d for d in server.state.deliveries if d.topic == "orders/paid"]
        assert paid
        assert all(d.ok for d in paid)
        after = detail(client, org, order["id"])
        assert (after["financial_status"], after["paid_total"]) == ("paid", "12.00")
        assert [(p["method"], p["amount"], p["status"]) for p in after["payments"]] == [
            ("shopify", "12.00", "paid")]
        settle(db, org)
        assert emails_to(client, org, BUYER) == []
