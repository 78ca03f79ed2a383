"""Shared setup for the TikTok Shop tests: the emulator on a thread (one per module), a
connected ``tiktok`` channel with a fresh token pair, SKUs on both sides, and the test's own
implementation of TikTok's documented signatures."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Any

from fastapi.testclient import TestClient

from mercato.core.ids import new_id
from tests.channels.helpers import job, settle, start_job
from tests.conftest import LiveServer, Org
from tests.inventory.helpers import make_location, make_variants, receive

APP_KEY = "6a1b2c3d4e5f6"
APP_SECRET = "test-app-secret-0123456789"
SHOP_CIPHER = "ROW_TestCardShop_Ab12"
SHOP_ID = "7494105515082810525"
WAREHOUSE = "7068517275539719942"
OTHER_WAREHOUSE = "7068517275539719943"


def request_sign(path: str, query: dict[str, str], body: bytes = b"") -> str:
    """TikTok's documented request signature, written here independently of the code."""
    keys = sorted(k for k in query if k not in ("sign", "access_token"))
    text = APP_SECRET + path + "".join(k + query[k] for k in keys) + body.decode() + APP_SECRET
    return hmac.new(APP_SECRET.encode(), text.encode(), hashlib.sha256).hexdigest()


def webhook_sign(body: bytes, app_key: str = APP_KEY, app_secret: str = APP_SECRET) -> str:
    """TikTok's documented webhook signature: hex HMAC-SHA256 of app key + raw body."""
    return hmac.new(app_secret.encode(), app_key.encode() + body, hashlib.sha256).hexdigest()


class TiktokServer:
    """The TikTok Shop emulator served by uvicorn on a thread, its state at hand."""

    def __init__(self, **options: Any) -> None:
        from mercato_emulators.tiktok import TiktokEmulator, create_app

        self.state = TiktokEmulator(app_key=APP_KEY, app_secret=APP_SECRET,
                                    access_token="TTP_initial-access-token",
                                    refresh_token="TTP_initial-refresh-token",
                                    shop_cipher=SHOP_CIPHER, shop_id=SHOP_ID,
                                    warehouses=(WAREHOUSE, OTHER_WAREHOUSE), **options)
        self.app = create_app(self.state)
        self.server = LiveServer(self.app)
        self.url = self.server.url

    def __enter__(self) -> TiktokServer:
        self.server.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.__exit__(*exc)

    def tokens(self, lifetime: float | None = None) -> tuple[str, str]:
        """A fresh access and refresh token for one connection (the emulator rotates pairs,
        so connections of a shared emulator never share one)."""
        access, refresh = f"TTP_{secrets.token_hex(12)}", f"TTP_{secrets.token_hex(12)}"
        with self.state.lock:
            now = self.state.now()
            self.state.access_tokens[access] = now + (lifetime or self.state.token_lifetime)
            self.state.refresh_tokens[refresh] = now + self.state.refresh_lifetime
        return access, refresh


def connect(client: TestClient, org: Org, server: TiktokServer, *,
            token_lifetime: float | None = None, **settings: Any) -> dict[str, Any]:
    """A ``tiktok`` channel over a new location, connected to the emulator."""
    location = make_location(client, org)["id"]
    response = client.post("/api/v1/channels", headers=org.headers, json={
        "name": f"TikTok {new_id()[-6:]}", "kind": "tiktok", "locations": [location]})
    assert response.status_code == 201, response.text
    channel = response.json()
    access, refresh = server.tokens(token_lifetime)
    response = client.put(f"/api/v1/channels/{channel['id']}/connection", headers=org.headers,
                          json={"kind": "tiktok", "account": SHOP_CIPHER,
                                "api_base": server.url,
                                "credentials": {"app_key": APP_KEY, "app_secret": APP_SECRET,
                                                "access_token": access,
                                                "refresh_token": refresh},
                                "settings": {"shop_id": SHOP_ID, **settings}})
    assert response.status_code == 201, response.text
    return {"channel": channel, "connection": response.json(), "location": location,
            "access_token": access, "refresh_token": refresh}


def listed(client: TestClient, org: Org, server: TiktokServer, count: int = 1,
           price: str = "8.00", quantity: int = 0) -> list[str]:
    """``count`` Mercato SKUs, and one TikTok product with a SKU of each as seller SKU."""
    skus = make_variants(client, org, count, price=price)
    server.state.add_product(f"Card {skus[0]}", [
        {"seller_sku": sku, "quantity": quantity, "price": price,
         "warehouse_ids": [WAREHOUSE, OTHER_WAREHOUSE]} for sku in skus])
    return skus


def linked(client: TestClient, org: Org, db: Any, server: TiktokServer, units: int = 5,
           count: int = 1, **settings: Any) -> tuple[dict[str, Any], list[str]]:
    """A connection whose SKUs (``units`` each in stock) are linked and pushed."""
    made = connect(client, org, server, **settings)
    skus = listed(client, org, server, count)
    for sku in skus:
        receive(client, org, sku, made["location"], units)
    report = start_job(client, org, made["channel"]["id"], "product_import", skus=skus)
    settle(db, org)
    done = job(client, org, report["id"])
    assert done["status"] == "succeeded", done
    return made, skus


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
