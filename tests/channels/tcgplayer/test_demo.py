"""The demo's TCGplayer store: the emulator started with the demo store's cards, the channel
connected, and the link job finding the demo's singles."""

from __future__ import annotations

from fastapi.testclient import TestClient

from mercato.channels.tcgplayer import demo
from mercato.core.db import Database
from mercato.settings import Settings
from tests.channels.helpers import settle
from tests.conftest import Org, free_port
from tests.inventory.helpers import make_location


def test_the_demo_connects_a_tcgplayer_channel_that_links_the_demo_cards(
        client: TestClient, org: Org, db: Database, settings: Settings) -> None:
    client.post("/api/v1/product-types/install", headers=org.headers, json={"set": "tcg"})
    location = make_location(client, org, code="demo-shop")
    response = client.post("/api/v1/products", headers=org.headers, json={
        "title": "Sheoldred, the Apocalypse", "product_type": "tcg-single",
        "attributes": {"game": "magic", "set_code": "DMU", "collector_number": "107"},
        "variants": [{"sku": "DEMO-SHEOLDRED-NM-F", "price": "94.99", "attributes": {
            "condition": "NM", "finish": "foil", "language": "EN"}}]})
    assert response.status_code == 201, response.text
    url = demo.seed(settings, org.id, "127.0.0.1", free_port(), location["code"])
    settle(db, org)
    channels = client.get("/api/v1/channels", headers=org.headers).json()["data"]
    channel = next(c for c in channels if c["kind"] == "tcgplayer")
    mappings = client.get(f"/api/v1/channels/{channel['id']}/mappings",
                          headers=org.headers).json()
    assert [m["sku"] for m in mappings] == ["DEMO-SHEOLDRED-NM-F"]
    assert url.startswith("http://127.0.0.1:")
