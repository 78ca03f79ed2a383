"""Invariants under concurrency and crashes: one order per Shopify order however many copies of
its webhook arrive at once, one pusher per connection, one runner per job, a job resumed after
its runner dies mid-way with no page applied twice, and no webhook crossing stores."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update

from mercato.channels import jobs, push
from mercato.channels.jobs import JobContext
from mercato.channels.models import SyncJob
from mercato.core.db import SYSTEM, Database
from mercato.core.ids import new_id
from mercato.core.outbox import Dispatcher, OutboxEvent
from mercato.inventory.sales_channels import publish_availability
from tests.channels.helpers import (
    CLIENT_SECRET,
    ShopifyServer,
    connect,
    job,
    settle,
    start_job,
)
from tests.channels.shopify.test_connector import linked, orders_of
from tests.conftest import LiveServer, Org
from tests.inventory.helpers import receive


def signed(body: bytes, secret: str = CLIENT_SECRET) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def order_payload(sku: str, order_id: int) -> bytes:
    return json.dumps({
        "id": order_id, "name": f"#{order_id}", "email": "race@example.test",
        "created_at": dt.datetime.now(dt.UTC).isoformat(), "currency": "USD",
        "total_price": "4.00", "financial_status": "paid",
        "line_items": [{"id": 1, "sku": sku, "quantity": 1, "price": "4.00"}]}).encode()


def post_all(url: str, calls: list[dict[str, str]], body: bytes) -> list[int]:
    barrier = threading.Barrier(len(calls))

    def one(headers: dict[str, str]) -> int:
        barrier.wait()
        return httpx.post(url, content=body, headers=headers, timeout=30).status_code

    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(one, calls))


def test_twenty_copies_of_an_order_webhook_at_once_make_one_order_and_one_sale(
        client: TestClient, org: Org, db: Database, shopify: ShopifyServer,
        live_server: LiveServer) -> None:
    made, sku, _ = linked(client, org, db, shopify, 5)
    url = f"{live_server.url}/webhooks/shopify/{org.slug}"
    body = order_payload(sku, 777000 + int(new_id()[-4:], 36))
    base = {"X-Shopify-Topic": "orders/create", "X-Shopify-Shop-Domain": shopify.domain,
            "X-Shopify-Hmac-Sha256": signed(body), "Content-Type": "application/json"}
    same = [{**base, "X-Shopify-Webhook-Id": "one-delivery"} for _ in range(10)]
    distinct = [{**base, "X-Shopify-Webhook-Id": new_id()} for _ in range(10)]
    statuses = post_all(url, same + distinct, body)
    assert statuses == [200] * 20
    Dispatcher(db).drain()  # the worker applies what was taken
    found = orders_of(client, org, made["channel"]["id"])
    assert len(found) == 1
    response = client.get("/api/v1/inventory/levels", headers=org.headers,
                          params={"sku": sku, "location": made["locations"][0]})
    assert response.json()["data"][0]["on_hand"] == 4


def post_each(url: str, calls: list[tuple[dict[str, str], bytes]]) -> list[httpx.Response]:
    barrier = threading.Barrier(len(calls))

    def one(call: tuple[dict[str, str], bytes]) -> httpx.Response:
        barrier.wait()
        return httpx.post(url, content=call[1], headers=call[0], timeout=60)

    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(one, calls))


def test_create_and_cancel_webhooks_at_once_cancel_one_order_and_keep_the_connection_ok(
        client: TestClient, org: Org, db: Database, shopify: ShopifyServer,
        live_server: LiveServer) -> None:
    """``orders/create`` and ``orders/cancelled`` of one order, many of each, all at once: one
    order, cancelled once, its unit back on hand; following a cancellation Shopify already
    told us of is not an error, so the connection stays ``ok`` (it was marked ``failing`` with
    "'cancelled' -> 'cancelled' is not allowed")."""
    made, sku, _ = linked(client, org, db, shopify, 5)
    url = f"{live_server.url}/webhooks/shopify/{org.slug}"
    order_id = 778000 + int(new_id()[-4:], 36)
    created = order_payload(sku, order_id)
    cancelled = json.dumps({**json.loads(created),
                            "cancelled_at": dt.datetime.now(dt.UTC).isoformat(),
                            "cancel_reason": "customer"}).encode()

    def call(topic: str, body: bytes) -> tuple[dict[str, str], bytes]:
        return ({"X-Shopify-Topic": topic, "X-Shopify-Shop-Domain": shopify.domain,
                 "X-Shopify-Hmac-Sha256": signed(body), "Content-Type": "application/json",
                 "X-Shopify-Webhook-Id": new_id()}, body)

    calls = [call("orders/create", created) if i % 2 else call("orders/cancelled", cancelled)
             for i in range(16)]
    responses = post_each(url, calls)
    assert [r.status_code for r in responses] == [200] * 16, [r.text for r in responses]
    assert all(r.json()["processed"] is not False for r in responses), [
        r.text for r in responses]
    Dispatcher(db).drain()  # the worker applies them, one order's in arrival order
    found = orders_of(client, org, made["channel"]["id"])
    assert len(found) == 1
    assert found[0]["status"] == "cancelled"
    health = client.get(f"/api/v1/channels/{made['channel']['id']}/connection",
                        headers=org.headers).json()["health"]
    assert health["status"] == "ok", health
    level = client.get("/api/v1/inventory/levels", headers=org.headers,
                       params={"sku": sku, "location": made["locations"][0]}).json()["data"]
    assert level[0]["on_hand"] == 5


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True, scope="session")
def test_a_cancellation_webhook_that_read_the_order_before_another_cancelled_it_is_a_no_op(
        client: TestClient, org: Org, db: Database, shopify: ShopifyServer,
        backend: str) -> None:
    """The interleaving behind the race above, step by step: a delivery reads the order as
    open, another cancels it and commits, then the first one follows the cancellation. It is
    ``exists``, not "'cancelled' -> 'cancelled' is not allowed" (SQLite queues writers, so
    only PostgreSQL can interleave them this way)."""
    from mercato.channels.service import find_by_account
    from mercato.channels.shopify.inbound import cancel_order
    from mercato.orders import service as orders
    from mercato.orders.schemas import CancelIn

    made, sku, _ = linked(client, org, db, shopify, 5)
    order_id = 779000 + int(new_id()[-4:], 36)
    created = order_payload(sku, order_id)
    response = client.post(f"/webhooks/shopify/{org.slug}", content=created, headers={
        "X-Shopify-Topic": "orders/create", "X-Shopify-Shop-Domain": shopify.domain,
        "X-Shopify-Hmac-Sha256": signed(created), "X-Shopify-Webhook-Id": new_id(),
        "Content-Type": "application/json"})
    assert response.json()["message"] == "queued", response.text
    Dispatcher(db).drain()
    payload = {**json.loads(created), "cancelled_at": dt.datetime.now(dt.UTC).isoformat()}
    with db.transaction(tenant=org.id) as late:
        connection = find_by_account(late, "shopify", shopify.domain)
        assert connection is not None
        seen = orders.find_external(late, made["channel"]["id"], str(order_id))
        assert seen is not None
        assert seen.status == "open"
        with db.transaction(tenant=org.id) as first:
            orders.cancel(first, seen.id, CancelIn(reason="cancelled on Shopify"))
        assert cancel_order(late, connection, payload) == "exists"
    found = orders_of(client, org, made["channel"]["id"])
    assert [o["status"] for o in found] == ["cancelled"]


def test_a_webhook_for_a_shop_connected_in_another_store_is_refused(
        client: TestClient, org: Org, other_org: Org, db: Database, shopify: ShopifyServer,
        live_server: LiveServer) -> None:
    _, sku, _ = linked(client, org, db, shopify, 2)
    body = order_payload(sku, 4242)
    response = httpx.post(f"{live_server.url}/webhooks/shopify/{other_org.slug}", content=body,
                          headers={"X-Shopify-Topic": "orders/create",
                                   "X-Shopify-Shop-Domain": shopify.domain,
                                   "X-Shopify-Webhook-Id": new_id(),
                                   "X-Shopify-Hmac-Sha256": signed(body)})
    assert response.status_code == 401
    assert client.get("/api/v1/orders", headers=other_org.headers).json()["data"] == []


def test_pushers_racing_on_one_connection_send_each_number_once(
        client: TestClient, org: Org, db: Database, shopify: ShopifyServer) -> None:
    made, sku, remote = linked(client, org, db, shopify, 8)
    receive(client, org, sku, made["locations"][0], -3)
    before = len(shopify.state.mutation_log)
    while publish_availability(db):
        pass
    Dispatcher(db, worker_id="race-dispatch").drain()
    barrier = threading.Barrier(6)

    def run(i: int) -> int:
        barrier.wait()
        return push.push_due(db, f"pusher-{i}", budget=10, organization_id=org.id)

    with ThreadPoolExecutor(6) as pool:
        pushed = sum(pool.map(run, range(6)))
    assert pushed == 1
    assert len(shopify.state.mutation_log) - before == 1
    assert shopify.state.available(remote["inventory_item_id"]) == 5


def test_runners_racing_for_one_job_run_it_once(
        client: TestClient, org: Org, db: Database, shopify: ShopifyServer) -> None:
    made, sku, _ = linked(client, org, db, shopify, 4)
    shopify.state.place_order([{"sku": sku, "quantity": 1}])
    queued = start_job(client, org, made["channel"]["id"], "order_pull",
                       since="2000-01-01T00:00:00Z")
    barrier = threading.Barrier(4)

    def run(i: int) -> int:
        barrier.wait()
        return jobs.run_due(db, f"runner-{i}", budget=20, organization_id=org.id)

    with ThreadPoolExecutor(4) as pool:
        assert sum(pool.map(run, range(4))) == 1
    report = job(client, org, queued["id"])
    assert (report["status"], report["attempts"], report["done"]) == ("succeeded", 1, 1)
    assert len(orders_of(client, org, made["channel"]["id"])) == 1


class Killed(BaseException):
    """The runner's process dies (nothing catches this, like a SIGKILL)."""


def test_a_job_whose_runner_dies_resumes_after_the_last_saved_page_and_applies_none_twice(
        client: TestClient, org: Org, db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    from mercato.channels.shopify import sync

    monkeypatch.setattr(sync, "PAGE", 10)
    with ShopifyServer() as server:
        tag = new_id()[-6:]
        for i in range(35):
            server.state.add_product(f"Card {tag} {i}", variants=[
                {"sku": f"R-{tag}-{i}", "price": "1.00", "available": 1}])
        made = connect(client, org, server, mode="system_of_record", locations=[])
        queued = start_job(client, org, made["channel"]["id"], "product_import")

        real: Callable[..., None] = JobContext.progress
        calls = {"n": 0}

        def dies_on_the_sixth_save(self: JobContext, **kw: Any) -> None:
            calls["n"] += 1
            if calls["n"] == 6:  # after pages 1-2 committed, before page 3's
                raise Killed
            real(self, **kw)

        monkeypatch.setattr(JobContext, "progress", dies_on_the_sixth_save)
        job_id = jobs.claim_job(db, "doomed", organization_id=org.id)
        assert job_id == queued["id"]
        with pytest.raises(Killed):
            jobs.run_job(db, job_id, "doomed", budget=60)
        monkeypatch.setattr(JobContext, "progress", real)
        half = job(client, org, job_id)
        assert (half["status"], half["done"]) == ("running", 20)
        with db.transaction(tenant=SYSTEM) as session:  # its lease runs out
            session.execute(update(SyncJob).where(SyncJob.id == job_id).values(
                lease_until=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)))
        settle(db, org)
        done = job(client, org, job_id)
        assert (done["status"], done["done"], done["total"]) == ("succeeded", 35, 35)
        with db.session(tenant=org.id) as session:
            created = session.scalar(select(func.count()).select_from(OutboxEvent).where(
                OutboxEvent.type == "product.created",
                OutboxEvent.data["title"].as_string().like(f"Card {tag} %")))
        assert created == 35


def test_a_signed_but_malformed_webhook_changes_nothing_and_shows_in_health(
        client: TestClient, org: Org, db: Database, shopify: ShopifyServer,
        live_server: LiveServer) -> None:
    made, _, _ = linked(client, org, db, shopify, 1)
    url = f"{live_server.url}/webhooks/shopify/{org.slug}"
    for body in (b"{not json", b"[1, 2]", json.dumps({"line_items": "nope"}).encode()):
        response = httpx.post(url, content=body, headers={
            "X-Shopify-Topic": "orders/create", "X-Shopify-Shop-Domain": shopify.domain,
            "X-Shopify-Webhook-Id": new_id(), "X-Shopify-Hmac-Sha256": signed(body)})
        assert response.status_code == 200, response.text
    Dispatcher(db).drain()  # what is malformed is found by the worker at the latest
    assert orders_of(client, org, made["channel"]["id"]) == []
    health = client.get(f"/api/v1/channels/{made['channel']['id']}/connection",
                        headers=org.headers).json()["health"]
    assert health["status"] == "failing"
    assert health["last_error"].startswith("orders/create: malformed payload")
