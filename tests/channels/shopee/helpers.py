"""Shared setup for the Shopee tests: the emulator on a thread (one per module), a connected
``shopee`` channel with its own token pair, cards in the catalog listed on the shop, and the
tests' own implementation of Shopee's signatures."""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

from fastapi.testclient import TestClient

from mercato.core.ids import new_id
from tests.channels.ebay.helpers import card
from tests.conftest import LiveServer, Org
from tests.inventory.helpers import make_location, receive

PARTNER_ID = "2001887"
PARTNER_KEY = "shpk-test-0123456789abcdef0123456789abcdef"
SHOP_ID = "322300222"

__all__ = ["card"]


def sign(*parts: object, key: str = PARTNER_KEY) -> str:
    """Shopee's request sign, written here from the documentation."""
    return hmac.new(key.encode(), "".join(str(p) for p in parts).encode(),
                    hashlib.sha256).hexdigest()


def push_auth(url: str, body: bytes, key: str = PARTNER_KEY) -> str:
    """A push's Authorization, written here from the documentation."""
    return hmac.new(key.encode(), f"{url}|".encode() + body, hashlib.sha256).hexdigest()


class ShopeeServer:
    """The Shopee emulator served by uvicorn on a thread, its state at hand."""

    def __init__(self, **options: Any) -> None:
        from mercato_emulators.shopee import ShopeeEmulator, create_app

        self.state = ShopeeEmulator(partner_id=PARTNER_ID, partner_key=PARTNER_KEY,
                                    shop_id=SHOP_ID, access_token="initial-access-token",
                                    refresh_token="initial-refresh-token", **options)
        self.app = create_app(self.state)
        self.server = LiveServer(self.app)
        self.url = self.server.url

    def __enter__(self) -> ShopeeServer:
        self.server.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.__exit__(*exc)

    def list_skus(self, *skus: str, parent: str | None = None) -> dict[str, Any]:
        """An item holding these SKUs: models of one item with ``parent``, else one item
        without variations (one SKU)."""
        return self.state.add_item(f"Listing {skus[0]}", item_sku=parent or "",
                                   models=[{"sku": sku, "stock": 0, "price": "9.90"}
                                           for sku in skus])


def connect(client: TestClient, org: Org, server: ShopeeServer, **settings: Any
            ) -> dict[str, Any]:
    """A ``shopee`` channel over a new location, connected to the emulator with a token pair
    of its own (the shop authorized the app)."""
    location = make_location(client, org)["id"]
    response = client.post("/api/v1/channels", headers=org.headers, json={
        "name": f"Shopee {new_id()[-6:]}", "kind": "shopee", "locations": [location]})
    assert response.status_code == 201, response.text
    channel = response.json()
    access, refresh = server.state.authorize()
    response = client.put(f"/api/v1/channels/{channel['id']}/connection", headers=org.headers,
                          json={"kind": "shopee", "account": SHOP_ID, "api_base": server.url,
                                "credentials": {"partner_id": PARTNER_ID,
                                                "partner_key": PARTNER_KEY,
                                                "access_token": access,
                                                "refresh_token": refresh},
                                "settings": settings})
    assert response.status_code == 201, response.text
    return {"channel": channel, "connection": response.json(), "location": location,
            "refresh_token": refresh}


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
