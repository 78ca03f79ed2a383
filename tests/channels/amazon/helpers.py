"""Shared setup for the Amazon tests: the SP-API emulator on a thread (one per module), a
connected ``amazon`` channel, products in the catalog listed on Amazon."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from mercato.core.ids import new_id
from tests.channels.helpers import job, settle, start_job
from tests.conftest import LiveServer, Org
from tests.inventory.helpers import make_location, receive

CLIENT_ID = "amzn1.application-oa2-client.0123456789abcdef0123456789abcdef"
CLIENT_SECRET = "amzn1.oa2-cs.v1.0123456789abcdef0123456789abcdef0123456789abcdef"
REFRESH_TOKEN = "Atzr|IwEBIA-test-refresh-token-0123456789"
SELLER = "A2TESTSELLER01"
FAST_RATES = {"getOrders": (5.0, 20.0), "createFeed": (5.0, 15.0),
              "getFeedDocument": (5.0, 10.0), "getOrder": (5.0, 30.0),
              "getOrderItems": (5.0, 30.0)}
"""Amazon's slowest usage plans sped up so a module's tests never wait a minute."""


class AmazonServer:
    """The SP-API emulator served by uvicorn on a thread, its state at hand."""

    def __init__(self, **options: Any) -> None:
        from mercato_emulators.amazon import AmazonEmulator, create_app

        options.setdefault("rates", FAST_RATES)
        options.setdefault("feed_delay", 0.2)
        self.state = AmazonEmulator(client_id=CLIENT_ID, client_secret=CLIENT_SECRET,
                                    refresh_token=REFRESH_TOKEN, seller_id=SELLER, **options)
        self.app = create_app(self.state)
        self.server = LiveServer(self.app)
        self.url = self.server.url

    def __enter__(self) -> AmazonServer:
        self.server.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.__exit__(*exc)


def connect(client: TestClient, org: Org, server: AmazonServer, *,
            account: str = SELLER.lower(), **settings: Any) -> dict[str, Any]:
    """An ``amazon`` channel over a new location, connected to the emulator."""
    location = make_location(client, org)["id"]
    response = client.post("/api/v1/channels", headers=org.headers, json={
        "name": f"Amazon {new_id()[-6:]}", "kind": "amazon", "locations": [location]})
    assert response.status_code == 201, response.text
    channel = response.json()
    response = client.put(f"/api/v1/channels/{channel['id']}/connection", headers=org.headers,
                          json={"kind": "amazon", "account": account,
                                "api_base": server.url,
                                "credentials": {"client_id": CLIENT_ID,
                                                "client_secret": CLIENT_SECRET,
                                                "refresh_token": REFRESH_TOKEN},
                                "settings": settings})
    assert response.status_code == 201, response.text
    return {"channel": channel, "connection": response.json(), "location": location}


def product(client: TestClient, org: Org, server: AmazonServer | None, *,
            price: str = "12.50", listed: bool = True) -> str:
    """A product published everywhere; listed on Amazon (an offer of the same SKU) unless
    ``listed`` is false. Its SKU."""
    client.post("/api/v1/product-types/install", headers=org.headers, json={"set": "tcg"})
    sku = f"AMZ-{new_id()[-10:]}"
    response = client.post("/api/v1/products", headers=org.headers, json={
        "title": f"Booster box {sku[-4:]}", "status": "active",
        "product_type": "accessory",
        "variants": [{"sku": sku, "price": price}]})
    assert response.status_code == 201, response.text
    if listed and server is not None:
        server.state.add_listing(sku, quantity=0, price=price)
    return sku


def linked(client: TestClient, org: Org, db: Any, server: AmazonServer,
           skus_units: list[tuple[str, int]], **settings: Any) -> dict[str, Any]:
    """A connection whose products are stocked and linked (``product_import``)."""
    made = connect(client, org, server, **settings)
    for sku, units in skus_units:
        receive(client, org, sku, made["location"], units)
    report = start_job(client, org, made["channel"]["id"], "product_import",
                       skus=[sku for sku, _ in skus_units])
    settle(db, org)
    made["job"] = job(client, org, report["id"])
    return made


def mappings(client: TestClient, org: Org, channel_id: str,
             resource: str = "variant") -> list[dict[str, Any]]:
    response = client.get(f"/api/v1/channels/{channel_id}/mappings", headers=org.headers,
                          params={"resource": resource})
    assert response.status_code == 200, response.text
    return list(response.json())


def connection(client: TestClient, org: Org, channel_id: str) -> dict[str, Any]:
    response = client.get(f"/api/v1/channels/{channel_id}/connection", headers=org.headers)
    assert response.status_code == 200, response.text
    return dict(response.json())
