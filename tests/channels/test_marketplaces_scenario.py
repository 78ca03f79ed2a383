"""The card store on every channel at once: one PSA-graded card (one of a kind) and one
playset (four copies of a single) listed on Shopify, TCGplayer and eBay (each its emulator),
the web store and the POS, all selling the same stock at one location.

- A sale on any one of them takes the card to 0 on every other.
- Two channels selling the last copy at the same moment make one allocated order and one
  that nothing covers: flagged oversold and, on eBay (which lets a seller cancel), cancelled
  back there; Shopify's is left flagged for the store.
- A platform throttled hard while numbers change catches up afterwards with nothing lost."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from mercato.channels.events import OVERSOLD
from mercato.core.db import Database
from mercato.core.ids import new_id
from tests.channels.ebay.helpers import CLIENT_ID, CLIENT_SECRET, REFRESH_TOKEN, EbayServer
from tests.channels.helpers import ACCESS_TOKEN, VERSION, ShopifyServer, job, settle, start_job
from tests.channels.helpers import CLIENT_SECRET as SHOPIFY_SECRET
from tests.channels.tcgplayer.helpers import PRIVATE_KEY, PUBLIC_KEY, TcgplayerServer
from tests.conftest import LiveServer, Org
from tests.inventory.helpers import make_location, receive

STORE_TOKEN = "store-token-0123456789abcdef"
KINDS = ["web", "pos", "shopify", "tcgplayer", "ebay"]


def _ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


class CardStore:
    """The two cards, their stock, and the five channels selling them."""

    def __init__(self, client: TestClient, org: Org, db: Database, live: LiveServer,
                 shopify: ShopifyServer, tcg: TcgplayerServer, ebay: EbayServer) -> None:
        self.client, self.org, self.db = client, org, db
        self.shopify, self.tcg, self.ebay = shopify, tcg, ebay
        self.location = make_location(client, org)["id"]
        _ok(client.post("/api/v1/product-types/install", headers=org.headers,
                        json={"set": "tcg"}))
        tag = new_id()[-8:]
        self.slab, self.playset = f"SLAB-{tag}", f"BOLT-{tag}"
        _ok(client.post("/api/v1/products", headers=org.headers, json={
            "title": f"Charizard {tag} PSA 10", "product_type": "tcg-graded",
            "status": "active", "channels": KINDS,
            "attributes": {"game": "pokemon", "set_name": "Base Set", "collector_number": "4",
                           "rarity": "rare", "grading_company": "PSA", "grade": "10",
                           "certificate_number": f"9{tag}"},
            "variants": [{"sku": self.slab, "price": "900.00",
                          "attributes": {"finish": "holo", "language": "EN"}}]}), 201)
        _ok(client.post("/api/v1/products", headers=org.headers, json={
            "title": f"Lightning Bolt {tag}", "product_type": "tcg-single",
            "status": "active", "channels": KINDS,
            "attributes": {"game": "magic", "set_code": "LEA", "collector_number": "161",
                           "rarity": "common"},
            "variants": [{"sku": self.playset, "price": "80.00", "attributes": {
                "condition": "NM", "finish": "nonfoil", "language": "EN"}}]}), 201)
        receive(client, org, self.slab, self.location, 1)
        receive(client, org, self.playset, self.location, 4)
        self.channels = {kind: self._channel(kind) for kind in KINDS}
        # Shopify: the store's products, linked by SKU; orders come by webhook
        self.items = {sku: shopify.product(sku)["inventory_item_id"]
                      for sku in (self.slab, self.playset)}
        self._connect("shopify", {
            "kind": "shopify", "account": shopify.domain, "api_version": VERSION,
            "api_base": shopify.url,
            "credentials": {"access_token": ACCESS_TOKEN, "client_secret": SHOPIFY_SECRET},
            "settings": {"webhook_url": f"{live.url}/webhooks/shopify/{org.slug}"}})
        self._run("shopify", "product_import")
        # TCGplayer: the cards' SKUs on TCGplayer, mapped by hand
        self.sku_ids = {self.slab: tcg.sku("Charizard", "NM", "Holofoil"),
                        self.playset: tcg.sku("Lightning Bolt", "NM", "Normal")}
        self._connect("tcgplayer", {
            "kind": "tcgplayer", "account": tcg.store_key, "api_base": tcg.url,
            "credentials": {"public_key": PUBLIC_KEY, "private_key": PRIVATE_KEY,
                            "access_token": STORE_TOKEN}})
        _ok(client.put(f"/api/v1/channels/{self.channels['tcgplayer']}/mappings",
                       headers=org.headers, json={"mappings": [
                           {"resource": "variant", "local": sku, "remote_id": str(sku_id)}
                           for sku, sku_id in self.sku_ids.items()]}))
        self._run("tcgplayer", "inventory_push")
        # eBay: inventory items, offers and listings made by the export
        self._connect("ebay", {
            "kind": "ebay", "account": f"seller-{tag.lower()}", "api_base": ebay.url,
            "credentials": {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET,
                            "refresh_token": REFRESH_TOKEN},
            "settings": {"fulfillment_policy_id": "6196932000",
                         "payment_policy_id": "6196933000", "return_policy_id": "6196934000",
                         "merchant_location_key": "shop"}})
        self._run("ebay", "product_export")
        self.assert_everywhere(self.slab, 1)
        self.assert_everywhere(self.playset, 4)

    def _channel(self, kind: str) -> str:
        return str(_ok(self.client.post("/api/v1/channels", headers=self.org.headers, json={
            "name": f"{kind} {new_id()[-6:]}", "kind": kind,
            "locations": [self.location]}), 201)["id"])

    def _connect(self, kind: str, body: dict[str, Any]) -> None:
        _ok(self.client.put(f"/api/v1/channels/{self.channels[kind]}/connection",
                            headers=self.org.headers, json=body), 201)

    def _run(self, kind: str, job_kind: str) -> dict[str, Any]:
        started = start_job(self.client, self.org, self.channels[kind], job_kind)
        settle(self.db, self.org)
        done = job(self.client, self.org, started["id"])
        assert done["status"] == "succeeded", done
        return done

    def available(self, kind: str, sku: str) -> int:
        return int(_ok(self.client.get(
            f"/api/v1/channels/{self.channels[kind]}/availability", headers=self.org.headers,
            params={"sku": sku}))["available_to_sell"])

    def held(self, sku: str) -> dict[str, int | None]:
        """What each place shows buyers for the SKU."""
        listing = self.tcg.state.listing(self.sku_ids[sku])
        return {"web": self.available("web", sku), "pos": self.available("pos", sku),
                "shopify": self.shopify.state.available(self.items[sku]),
                "tcgplayer": None if listing is None else listing["quantity"],
                "ebay": self.ebay.state.quantity(sku)}

    def assert_everywhere(self, sku: str, units: int) -> None:
        assert self.held(sku) == dict.fromkeys(KINDS, units)

    def pull(self, kind: str) -> None:
        self._run(kind, "order_pull")

    def orders(self, sku: str) -> list[dict[str, Any]]:
        found = _ok(self.client.get("/api/v1/orders", headers=self.org.headers,
                                    params={"sku": sku, "limit": 50}))["data"]
        return [_ok(self.client.get(f"/api/v1/orders/{o['id']}", headers=self.org.headers))
                for o in found]


def test_a_sale_on_any_channel_takes_the_card_to_zero_on_every_other(
        client: TestClient, org: Org, db: Database, live_server: LiveServer) -> None:
    with ShopifyServer(webhook_retry_delays=[0.05, 0.1]) as shopify, \
            TcgplayerServer(store_access_token=STORE_TOKEN) as tcg, EbayServer() as ebay:
        store = CardStore(client, org, db, live_server, shopify, tcg, ebay)
        # the slab sells on TCGplayer
        tcg.state.place_order([{"skuId": store.sku_ids[store.slab], "quantity": 1}])
        store.pull("tcgplayer")
        settle(db, org)
        store.assert_everywhere(store.slab, 0)
        # the playset sells whole on eBay
        ebay.state.place_order([{"sku": store.playset, "quantity": 4}])
        store.pull("ebay")
        settle(db, org)
        store.assert_everywhere(store.playset, 0)
        # a new copy comes in and sells over the counter
        receive(client, org, store.playset, store.location, 1)
        settle(db, org)
        store.assert_everywhere(store.playset, 1)
        _ok(client.post("/api/v1/orders", headers=org.headers, json={
            "channel": store.channels["pos"], "currency": "USD",
            "lines": [{"sku": store.playset, "quantity": 1, "unit_price": "80.00"}]}), 201)
        settle(db, org)
        store.assert_everywhere(store.playset, 0)
        sources = sorted(o["channel"] for o in store.orders(store.playset))
        assert sources == sorted([store.channels["ebay"], store.channels["pos"]])
        assert not [o for o in store.orders(store.playset) + store.orders(store.slab)
                    if o["oversold"]]
        # the platforms email their buyers; Mercato does not
        [from_ebay] = [o for o in store.orders(store.playset)
                       if o["channel"] == store.channels["ebay"]]
        assert from_ebay["email"]
        sent = _ok(client.get("/api/v1/notifications", headers=org.headers,
                              params={"recipient": from_ebay["email"]}))["data"]
        assert sent == []


def test_the_last_copy_sold_twice_at_once_is_one_order_and_one_cancelled_back_on_ebay(
        client: TestClient, org: Org, db: Database, live_server: LiveServer) -> None:
    with ShopifyServer(webhook_retry_delays=[0.05, 0.1]) as shopify, \
            TcgplayerServer(store_access_token=STORE_TOKEN) as tcg, EbayServer() as ebay:
        store = CardStore(client, org, db, live_server, shopify, tcg, ebay)
        # the same moment on two platforms: each one still showed the slab
        on_shopify = shopify.state.place_order([{"sku": store.slab, "quantity": 1}])
        on_ebay = ebay.state.place_order([{"sku": store.slab, "quantity": 1}])
        assert shopify.state.wait_for_deliveries()
        store.pull("ebay")
        settle(db, org)
        by_channel = {o["channel"]: o for o in store.orders(store.slab)}
        assert set(by_channel) == {store.channels["shopify"], store.channels["ebay"]}
        kept, lost = by_channel[store.channels["shopify"]], by_channel[store.channels["ebay"]]
        assert kept["external_id"] == str(on_shopify["id"])
        assert (kept["status"], kept["oversold"]) == ("open", False)
        assert lost["external_id"] == on_ebay["orderId"]
        assert (lost["status"], lost["cancel_reason"]) == ("cancelled", OVERSOLD)
        [cancelled] = ebay.state.cancellations
        assert cancelled["legacyOrderId"] == on_ebay["orderId"]
        assert ebay.state.orders[on_ebay["orderId"]]["cancelStatus"]["cancelState"] == (
            "CANCELED")
        assert not [m for m, _ in shopify.state.mutation_log if m == "orderCancel"]
        held = store.held(store.slab)
        assert {k: v for k, v in held.items() if k != "ebay"} == dict.fromkeys(
            ["web", "pos", "shopify", "tcgplayer"], 0)
        assert held["ebay"] == 0


def test_a_throttled_platform_catches_up_with_nothing_lost(
        client: TestClient, org: Org, db: Database, live_server: LiveServer) -> None:
    with ShopifyServer(webhook_retry_delays=[0.05, 0.1]) as shopify, \
            TcgplayerServer(store_access_token=STORE_TOKEN) as tcg, EbayServer() as ebay:
        store = CardStore(client, org, db, live_server, shopify, tcg, ebay)
        tcg.state.throttle(fail_next=1_000)  # every call refused (429) until lifted
        ebay.state.throttle(1_000)
        for delta in (3, -2, 5, -1):  # 4 -> 7 -> 5 -> 10 -> 9, pushed as they come
            receive(client, org, store.playset, store.location, delta)
        settle(db, org)  # one round of pushes, refused by both
        assert store.held(store.playset)["shopify"] == 9  # the others wait meanwhile
        assert tcg.state.refused > 0
        assert ebay.state.throttled < 1_000  # eBay answered 429s
        waiting = _ok(client.get(f"/api/v1/channels/{store.channels['tcgplayer']}/connection",
                                 headers=org.headers))
        assert waiting["pending_pushes"] >= 1
        tcg.state.throttle(fail_next=0)
        ebay.state.throttle(0)
        settle(db, org)
        store.assert_everywhere(store.playset, 9)
        store.assert_everywhere(store.slab, 1)
        for kind in ("shopify", "tcgplayer", "ebay"):
            connection = _ok(client.get(
                f"/api/v1/channels/{store.channels[kind]}/connection", headers=org.headers))
            assert connection["pending_pushes"] == 0, (kind, connection)
