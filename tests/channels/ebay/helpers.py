"""Shared setup for the eBay tests: the emulator on a thread, a connected ``ebay`` channel,
trading cards in the catalog."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from mercato.core.ids import new_id
from tests.conftest import LiveServer, Org
from tests.inventory.helpers import make_location, receive

CLIENT_ID = "MercatoT-ebay-PRD-0123456789abcdef"
CLIENT_SECRET = "PRD-0123456789abcdef-secret"
REFRESH_TOKEN = "v^1.1#i^1#r^1#p^3#f^0#I^3#t^Ul4xMF8yOkY0RkYx"
VERIFICATION = "verification_token_0123456789_abcdef_XYZ"


class EbayServer:
    """The eBay emulator served by uvicorn on a thread, its state at hand."""

    def __init__(self, **options: Any) -> None:
        from mercato_emulators.ebay import EbayEmulator, create_app

        self.state = EbayEmulator(client_id=CLIENT_ID, client_secret=CLIENT_SECRET,
                                  refresh_token=REFRESH_TOKEN, **options)
        self.app = create_app(self.state)
        self.server = LiveServer(self.app)
        self.url = self.server.url

    def __enter__(self) -> EbayServer:
        self.server.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.__exit__(*exc)


def connect(client: TestClient, org: Org, server: EbayServer, *,
            account: str | None = None, **settings: Any) -> dict[str, Any]:
    """An ``ebay`` channel over a new location, connected to the emulator."""
    location = make_location(client, org)["id"]
    response = client.post("/api/v1/channels", headers=org.headers, json={
        "name": f"eBay {new_id()[-6:]}", "kind": "ebay", "locations": [location]})
    assert response.status_code == 201, response.text
    channel = response.json()
    response = client.put(f"/api/v1/channels/{channel['id']}/connection", headers=org.headers,
                          json={"kind": "ebay", "account": account or f"seller-{new_id()[-8:]}",
                                "api_base": server.url,
                                "credentials": {"client_id": CLIENT_ID,
                                                "client_secret": CLIENT_SECRET,
                                                "refresh_token": REFRESH_TOKEN},
                                "settings": {"fulfillment_policy_id": "6196932000",
                                             "payment_policy_id": "6196933000",
                                             "return_policy_id": "6196934000",
                                             "merchant_location_key": "shop", **settings}})
    assert response.status_code == 201, response.text
    return {"channel": channel, "connection": response.json(), "location": location}


def card(client: TestClient, org: Org, *, graded: bool = False, condition: str = "NM",
         price: str = "12.50", channels: list[str] | None = None) -> str:
    """A trading card (an ungraded single, or a PSA 10 slab); its SKU."""
    client.post("/api/v1/product-types/install", headers=org.headers, json={"set": "tcg"})
    tag = new_id()
    sku = f"EBAY-{tag}"
    if graded:
        body: dict[str, Any] = {
            "title": f"Charizard {tag[-4:]} PSA 10", "product_type": "tcg-graded",
            "status": "active",
            "attributes": {"game": "pokemon", "set_name": "Base Set", "collector_number": "4",
                           "rarity": "rare", "grading_company": "PSA", "grade": "10",
                           "certificate_number": tag[-10:]},
            "variants": [{"sku": sku, "price": price,
                          "attributes": {"finish": "holo", "language": "EN"}}]}
    else:
        body = {
            "title": f"Sheoldred {tag[-4:]}", "product_type": "tcg-single", "status": "active",
            "attributes": {"game": "magic", "set_name": "Dominaria United",
                           "collector_number": "107", "rarity": "mythic"},
            "variants": [{"sku": sku, "price": price,
                          "attributes": {"condition": condition, "finish": "nonfoil",
                                         "language": "EN"}}]}
    if channels is not None:
        body["channels"] = channels
    response = client.post("/api/v1/products", headers=org.headers, json=body)
    assert response.status_code == 201, response.text
    return sku


def stock(client: TestClient, org: Org, made: dict[str, Any], sku: str, units: int) -> None:
    receive(client, org, sku, made["location"], units)


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
