"""The demo's eBay account: the emulator started, the demo store's ``ebay`` channel
connected to it, and the demo's cards listed with their condition descriptors."""

from __future__ import annotations

import httpx
from fastapi.testclient import TestClient

from mercato.channels.ebay import demo
from mercato.core.db import Database
from mercato.demo_store import seed_store
from mercato.settings import Settings
from tests.channels.helpers import settle
from tests.conftest import Org, free_port


def test_the_demo_lists_its_cards_on_the_emulated_ebay(
        client: TestClient, org: Org, db: Database, settings: Settings) -> None:
    assert seed_store(settings, org.id, org.owner_id) is True
    url = demo.seed(settings, org.id, org.slug, "http://127.0.0.1:8000", "127.0.0.1",
                    free_port())
    settle(db, org)
    channels = client.get("/api/v1/channels", headers=org.headers).json()
    channels = channels.get("data", channels) if isinstance(channels, dict) else channels
    [ebay] = [c for c in channels if c["kind"] == "ebay"]
    shown = client.get(f"/api/v1/channels/{ebay['id']}/mappings", headers=org.headers).json()
    assert sorted(m["sku"] for m in shown) == sorted(demo.SKUS)
    slab = httpx.get(f"{url}/_emulator/items/DEMO-LOTUS-PSA9").json()
    assert slab["item"]["condition"] == "LIKE_NEW"
    assert slab["offers"][0]["listingId"]
