"""The demo's Shopee shop: the emulator started with listings of the demo's cards, the demo
store's ``shopee`` channel connected to it and its SKUs linked, stock pushed."""

from __future__ import annotations

import httpx
from fastapi.testclient import TestClient

from mercato.channels.shopee import demo
from mercato.core.db import Database
from mercato.demo_store import seed_store
from mercato.settings import Settings
from tests.channels.helpers import settle
from tests.conftest import Org, free_port


def test_the_demo_links_its_cards_on_the_emulated_shopee_shop(
        client: TestClient, org: Org, db: Database, settings: Settings) -> None:
    assert seed_store(settings, org.id, org.owner_id) is True
    url = demo.seed(settings, org.id, org.slug, "http://127.0.0.1:8000", "127.0.0.1",
                    free_port())
    settle(db, org)
    channels = client.get("/api/v1/channels", headers=org.headers).json()
    channels = channels.get("data", channels) if isinstance(channels, dict) else channels
    [shopee] = [c for c in channels if c["kind"] == "shopee"]
    shown = client.get(f"/api/v1/channels/{shopee['id']}/mappings", headers=org.headers).json()
    assert sorted(m["sku"] for m in shown) == sorted(demo.LISTINGS)
    assert all(m["in_sync"] for m in shown)
    held = httpx.get(f"{url}/_emulator/stock").json()
    assert set(held) == set(demo.LISTINGS)
    assert sum(held.values()) > 0
