"""The demo's Amazon seller: the emulator started with its listings, the demo store's
``amazon`` channel connected to it, the demo's sealed products linked and their stock on
Amazon."""

from __future__ import annotations

import httpx
from fastapi.testclient import TestClient

from mercato.channels.amazon import demo
from mercato.core.db import Database
from mercato.demo_store import seed_store
from mercato.settings import Settings
from tests.channels.helpers import settle
from tests.conftest import Org, free_port


def test_the_demo_links_its_sealed_products_to_the_emulated_amazon_listings(
        client: TestClient, org: Org, db: Database, settings: Settings) -> None:
    assert seed_store(settings, org.id, org.owner_id) is True
    url = demo.seed(settings, org.id, "127.0.0.1", free_port())
    settle(db, org)
    channels = client.get("/api/v1/channels", headers=org.headers).json()
    channels = channels.get("data", channels) if isinstance(channels, dict) else channels
    [amazon] = [c for c in channels if c["kind"] == "amazon"]
    shown = client.get(f"/api/v1/channels/{amazon['id']}/mappings", headers=org.headers).json()
    assert sorted(m["sku"] for m in shown) == sorted(demo.SKUS)
    assert all(m["in_sync"] for m in shown)
    quantities = httpx.get(f"{url}/_emulator/quantities").json()
    assert {m["sku"]: m["remote_quantity"] for m in shown} == {
        sku: quantities[sku] for sku in demo.SKUS}
    assert quantities["DEMO-BLB-BOX"] > 0
