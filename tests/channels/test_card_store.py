"""The card-store scenario: one card, quantity 1, listed on the web store, the POS and two
Shopify stores (emulated). A sale on one store takes it to 0 everywhere else; a simultaneous
sale on the other store is recorded and flagged oversold, never silently lost."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from mercato.channels.events import OVERSOLD
from mercato.core.db import Database
from mercato.core.ids import new_id
from tests.channels.helpers import ShopifyServer, connect, settle, start_job
from tests.conftest import LiveServer, Org
from tests.inventory.helpers import make_location, make_variants, receive


def channel(client: TestClient, org: Org, kind: str, location: str) -> str:
    response = client.post("/api/v1/channels", headers=org.headers, json={
        "name": f"{kind} {new_id()[-6:]}", "kind": kind, "locations": [location]})
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def available(client: TestClient, org: Org, channel_id: str, sku: str) -> int:
    response = client.get(f"/api/v1/channels/{channel_id}/availability", headers=org.headers,
                          params={"sku": sku})
    assert response.status_code == 200, response.text
    return int(response.json()["available_to_sell"])


class Store:
    """One card listed everywhere."""

    def __init__(self, client: TestClient, org: Org, db: Database, live: LiveServer,
                 a: ShopifyServer, b: ShopifyServer, **settings: Any) -> None:
        self.client, self.org, self.db = client, org, db
        self.sku = make_variants(client, org, product_type="tcg-graded")[0]
        self.location = make_location(client, org)["id"]
        receive(client, org, self.sku, self.location, 1)
        self.web = channel(client, org, "web", self.location)
        self.pos = channel(client, org, "pos", self.location)
        hook = f"{live.url}/webhooks/shopify/{org.slug}"
        self.items: dict[str, str] = {}
        self.shops: dict[str, dict[str, Any]] = {}
        for name, server in (("a", a), ("b", b)):
            self.items[name] = server.product(self.sku)["inventory_item_id"]
            self.shops[name] = connect(client, org, server, locations=[self.location],
                                       webhook_url=hook, **settings)
            start_job(client, org, self.shops[name]["channel"]["id"], "product_import")
        settle(db, org)
        assert a.state.available(self.items["a"]) == 1
        assert b.state.available(self.items["b"]) == 1

    def orders(self) -> list[dict[str, Any]]:
        response = self.client.get("/api/v1/orders", headers=self.org.headers,
                                   params={"sku": self.sku, "limit": 50})
        assert response.status_code == 200, response.text
        return [o for o in response.json()["data"]
                if o["channel"] in {s["channel"]["id"] for s in self.shops.values()}]


def test_a_sale_on_one_shopify_store_takes_the_card_off_every_other_channel(
        client: TestClient, org: Org, db: Database, live_server: LiveServer) -> None:
    with ShopifyServer(webhook_retry_delays=[0.05, 0.1]) as a, \
            ShopifyServer(webhook_retry_delays=[0.05, 0.1]) as b:
        store = Store(client, org, db, live_server, a, b)
        a.state.place_order([{"sku": store.sku, "quantity": 1}])
        assert a.state.wait_for_deliveries()
        settle(db, org)
        assert b.state.available(store.items["b"]) == 0
        assert a.state.available(store.items["a"]) == 0
        assert available(client, org, store.web, store.sku) == 0
        assert available(client, org, store.pos, store.sku) == 0
        assert [o["oversold"] for o in store.orders()] == [False]


def test_a_simultaneous_sale_on_the_second_store_is_flagged_oversold_not_lost(
        client: TestClient, org: Org, db: Database, live_server: LiveServer) -> None:
    with ShopifyServer(webhook_retry_delays=[0.05, 0.1]) as a, \
            ShopifyServer(webhook_retry_delays=[0.05, 0.1]) as b:
        store = Store(client, org, db, live_server, a, b)
        first = a.state.place_order([{"sku": store.sku, "quantity": 1}])
        second = b.state.place_order([{"sku": store.sku, "quantity": 1}])
        assert a.state.wait_for_deliveries()
        assert b.state.wait_for_deliveries()
        settle(db, org)
        orders = store.orders()
        assert sorted(o["external_id"] for o in orders) == sorted(
            [str(first["id"]), str(second["id"])])
        assert sorted(o["oversold"] for o in orders) == [False, True]
        assert [o["status"] for o in orders if o["oversold"]] != ["cancelled"]
        assert available(client, org, store.web, store.sku) == 0
        assert a.state.available(store.items["a"]) == 0
        assert b.state.available(store.items["b"]) == 0
        assert not [m for m, _ in a.state.mutation_log + b.state.mutation_log
                    if m == "orderCancel"]


def test_with_cancel_oversold_the_sale_nothing_covers_is_cancelled_back_on_its_store(
        client: TestClient, org: Org, db: Database, live_server: LiveServer) -> None:
    with ShopifyServer(webhook_retry_delays=[0.05, 0.1]) as a, \
            ShopifyServer(webhook_retry_delays=[0.05, 0.1]) as b:
        store = Store(client, org, db, live_server, a, b, cancel_oversold=True)
        a.state.place_order([{"sku": store.sku, "quantity": 1}])
        assert a.state.wait_for_deliveries()
        settle(db, org)
        second = b.state.place_order([{"sku": store.sku, "quantity": 1}])
        assert b.state.wait_for_deliveries()
        settle(db, org)
        assert b.state.wait_for_deliveries()  # the echo of the cancellation
        settle(db, org)
        by_store = {o["external_id"]: o for o in store.orders()}
        lost = by_store[str(second["id"])]
        assert lost["status"] == "cancelled"  # and so no longer short
        shown = client.get(f"/api/v1/orders/{lost['id']}", headers=org.headers).json()
        assert shown["cancel_reason"] == OVERSOLD
        assert [o["status"] for k, o in by_store.items() if k != str(second["id"])] != [
            "cancelled"]
        [sent] = [v for m, v in b.state.mutation_log if m == "orderCancel"]
        assert sent["orderId"] == f"gid://shopify/Order/{second['id']}"
        assert not [m for m, _ in a.state.mutation_log if m == "orderCancel"]
        assert available(client, org, store.web, store.sku) == 0
