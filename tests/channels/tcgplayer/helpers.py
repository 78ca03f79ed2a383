"""The TCGplayer emulator served on a thread for a test, a connected channel, and cards in
Mercato that match (or not) the emulator's catalog."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from mercato.core.ids import new_id
from tests.conftest import LiveServer, Org
from tests.inventory.helpers import make_location

PUBLIC_KEY = "tcg-public-0123456789abcdef"
PRIVATE_KEY = "tcg-private-fedcba9876543210"


class TcgplayerServer:
    """The emulator on uvicorn on a thread; ``state`` is its ``TcgplayerEmulator``."""

    def __init__(self, **options: Any) -> None:
        from mercato_emulators.tcgplayer import TcgplayerEmulator, create_app

        self.store_key = options.pop("store_key", f"store{new_id()[-8:].lower()}")
        self.state = TcgplayerEmulator(public_key=PUBLIC_KEY, private_key=PRIVATE_KEY,
                                       store_key=self.store_key, **options)
        self.server = LiveServer(create_app(self.state))
        self.url = self.server.url

    def __enter__(self) -> TcgplayerServer:
        self.server.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.__exit__(*exc)

    def sku(self, name: str, condition: str = "NM", printing: str = "Normal",
            language: str = "EN") -> int:
        """The id of a seeded card's SKU."""
        product = next(p for p in self.state.products.values() if p.name == name)
        return self.state.find_sku(product.product_id, condition, printing, language)


def connect(client: TestClient, org: Org, server: TcgplayerServer, *,
            code: str | None = None, **settings: Any) -> dict[str, Any]:
    """A tcgplayer channel over a new location, connected to the emulator with a fresh
    authorization code (or ``code``)."""
    location = make_location(client, org)["id"]
    response = client.post("/api/v1/channels", headers=org.headers, json={
        "name": f"TCGplayer {new_id()[-6:]}", "kind": "tcgplayer", "locations": [location]})
    assert response.status_code == 201, response.text
    channel = response.json()
    response = client.put(f"/api/v1/channels/{channel['id']}/connection", headers=org.headers,
                          json={"kind": "tcgplayer", "account": server.store_key,
                                "api_base": server.url,
                                "credentials": {"public_key": PUBLIC_KEY,
                                                "private_key": PRIVATE_KEY,
                                                "authorization_code": code
                                                or server.state.new_code()},
                                "settings": settings})
    assert response.status_code == 201, response.text
    return {"channel": channel, "connection": response.json(), "location": location}


def make_card(client: TestClient, org: Org, *, sku: str | None = None, game: str = "magic",
              set_code: str | None = "LEA", set_name: str | None = None,
              number: str = "161", title: str = "Lightning Bolt", condition: str = "NM",
              finish: str = "nonfoil", language: str = "EN", price: str = "80.00") -> str:
    """A single card in Mercato (type ``tcg-single``); its SKU."""
    client.post("/api/v1/product-types/install", headers=org.headers, json={"set": "tcg"})
    sku = sku or f"CARD-{new_id()}"
    attributes: dict[str, Any] = {"game": game, "collector_number": number}
    if set_code:
        attributes["set_code"] = set_code
    if set_name:
        attributes["set_name"] = set_name
    response = client.post("/api/v1/products", headers=org.headers, json={
        "title": title, "product_type": "tcg-single", "attributes": attributes,
        "variants": [{"sku": sku, "price": price, "attributes": {
            "condition": condition, "finish": finish, "language": language}}]})
    assert response.status_code == 201, response.text
    return sku
