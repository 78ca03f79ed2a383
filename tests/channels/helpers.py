"""Shared setup for channel tests: a Shopify emulator per test, a connected channel, and a
worker loop that runs what the real worker runs (publisher, dispatcher, pusher, jobs)."""

from __future__ import annotations

import time
from typing import Any

from fastapi.testclient import TestClient

from mercato.channels import jobs, push
from mercato.core.db import Database
from mercato.core.ids import new_id
from mercato.core.outbox import Dispatcher
from mercato.inventory.sales_channels import publish_availability
from tests.conftest import LiveServer, Org
from tests.inventory.helpers import make_location

ACCESS_TOKEN = "shpat_" + "0123456789abcdef0123456789abcdef"
CLIENT_SECRET = "shpss_" + "fedcba9876543210fedcba9876543210"
VERSION = "2026-10"


class ShopifyServer:
    """The Shopify emulator served by uvicorn on a thread, its state at hand."""

    def __init__(self, **options: Any) -> None:
        from mercato_emulators.shopify import ShopifyEmulator, create_app

        self.domain = options.pop("shop_domain", f"shop-{new_id()[-8:].lower()}.myshopify.com")
        self.state = ShopifyEmulator(shop_domain=self.domain, access_token=ACCESS_TOKEN,
                                     client_secret=CLIENT_SECRET, **options)
        self.app = create_app(self.state)
        self.server = LiveServer(self.app)
        self.url = self.server.url

    def __enter__(self) -> ShopifyServer:
        self.server.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.state.close()
        self.server.__exit__(*exc)

    def product(self, sku: str, available: int = 0, price: str = "5.00") -> dict[str, Any]:
        """One product with one variant of this SKU; its variant summary (gids)."""
        made = self.state.add_product(f"Card {sku}", variants=[
            {"sku": sku, "price": price, "available": available}])
        return dict(made["variants"][0])


def connect(client: TestClient, org: Org, server: ShopifyServer, *,
            mode: str = "channel", kind: str = "shopify", locations: list[str] | None = None,
            api_version: str = VERSION, **settings: Any) -> dict[str, Any]:
    """A channel of ``kind`` over new (or given) locations, connected to the emulator."""
    if locations is None:
        locations = [make_location(client, org)["id"]]
    response = client.post("/api/v1/channels", headers=org.headers, json={
        "name": f"Shopify {new_id()[-6:]}", "kind": kind, "locations": locations})
    assert response.status_code == 201, response.text
    channel = response.json()
    response = client.put(f"/api/v1/channels/{channel['id']}/connection", headers=org.headers,
                          json={"kind": kind, "mode": mode, "account": server.domain,
                                "api_version": api_version, "api_base": server.url,
                                "credentials": {"access_token": ACCESS_TOKEN,
                                                "client_secret": CLIENT_SECRET},
                                "settings": settings})
    assert response.status_code == 201, response.text
    return {"channel": channel, "connection": response.json(), "locations": locations}


def start_job(client: TestClient, org: Org, channel_id: str, kind: str,
              **params: Any) -> dict[str, Any]:
    response = client.post(f"/api/v1/channels/{channel_id}/sync-jobs", headers=org.headers,
                           json={"kind": kind, "params": params})
    assert response.status_code == 202, response.text
    return dict(response.json())


def job(client: TestClient, org: Org, job_id: str) -> dict[str, Any]:
    response = client.get(f"/api/v1/sync-jobs/{job_id}", headers=org.headers)
    assert response.status_code == 200, response.text
    return dict(response.json())


def settle(db: Database, org: Org, *, rounds: int = 60, runner: str = "test-runner") -> None:
    """Run the worker's loops until nothing is left to do: publish availability, deliver
    events, run due jobs, push quantities."""
    dispatcher = Dispatcher(db, worker_id=f"{runner}-dispatch")
    for _ in range(rounds):
        work = 0
        while publish_availability(db):
            work += 1
        work += dispatcher.drain()
        work += jobs.run_due(db, runner, budget=30, organization_id=org.id)
        work += push.push_due(db, runner, budget=10, organization_id=org.id)
        if work == 0:
            return
    raise AssertionError("the worker loops did not settle")


def orders_of(client: TestClient, org: Org, channel_id: str) -> list[dict[str, Any]]:
    """The channel's orders in Mercato's inbox."""
    response = client.get("/api/v1/orders", headers=org.headers,
                          params={"channel": channel_id, "limit": 100})
    assert response.status_code == 200, response.text
    return list(response.json()["data"])


def order_detail(client: TestClient, org: Org, order_id: str) -> dict[str, Any]:
    response = client.get(f"/api/v1/orders/{order_id}", headers=org.headers)
    assert response.status_code == 200, response.text
    return dict(response.json())


def pull_orders(client: TestClient, org: Org, db: Database, channel_id: str,
                **params: Any) -> dict[str, Any]:
    """An ``order_pull`` job, run to its end: its report."""
    report = start_job(client, org, channel_id, "order_pull", **params)
    settle(db, org)
    return job(client, org, report["id"])


def jobs_of(client: TestClient, org: Org, channel_id: str, kind: str) -> list[dict[str, Any]]:
    response = client.get(f"/api/v1/channels/{channel_id}/sync-jobs", headers=org.headers,
                          params={"kind": kind})
    assert response.status_code == 200, response.text
    return list(response.json())


def wait_for(predicate: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def delivered(db: Database, server: Any) -> bool:
    """The emulator's webhooks have all been answered (``wait_for_deliveries``), and the
    worker has handled what they queued (``core.inbound``: the answer comes first)."""
    answered = bool(server.state.wait_for_deliveries())
    Dispatcher(db, worker_id="test-webhooks").drain()
    return answered
