"""The demo's TikTok Shop: the emulator on its own port, a shop there whose products carry
some of the demo's cards as seller SKUs, and a ``tiktok`` channel of the demo store connected
to it, linked by seller SKU (a ``product_import`` job the worker runs), its stock pushed.

The emulator sends its webhooks to the demo's ``/webhooks/tiktok/{store}``, so a buyer's
order arrives within seconds: ``curl -X POST {emulator}/_emulator/orders -H 'Content-Type:
application/json' -d '{"lines": [{"seller_sku": "DEMO-PIKACHU-NM", "quantity": 1}]}'``
(and ``/_emulator/orders/{id}/cancel`` cancels it on TikTok's side). The emulator keeps its
state in memory: every start makes the shop afresh.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

from mercato.channels.demo_kit import connect_demo_channel
from mercato.channels.schemas import ConnectionIn, ConnectionSettings, TiktokCredentials
from mercato.core.demo_servers import load_emulator, serve_on_thread
from mercato.settings import Settings

APP_KEY = "6demo0app0key"
APP_SECRET = "demo-app-secret-0000-0000"  # noqa: S105 - the emulator's, not TikTok's
ACCESS_TOKEN = "TTP_demo-access-token-0000"  # noqa: S105
REFRESH_TOKEN = "TTP_demo-refresh-token-0000"  # noqa: S105
SHOP_CIPHER = "ROW_DemoCardShop01"
SHOP_ID = "7494105515082810525"
SKUS = ("DEMO-PIKACHU-NM", "DEMO-UMBREON-NM", "DEMO-RAGAVAN-NM")
"""Demo cards the emulated shop lists (with these seller SKUs)."""


def load_tiktok_emulator() -> ModuleType:
    return load_emulator("tiktok", "the demo's TikTok Shop")


def start_emulator(host: str, port: int, webhook_url: str | None = None) -> tuple[Any, str]:
    """A ``TiktokEmulator`` with the demo's products, served on a daemon thread; its URL."""
    tiktok = load_tiktok_emulator()
    emulator = tiktok.TiktokEmulator(app_key=APP_KEY, app_secret=APP_SECRET,
                                     access_token=ACCESS_TOKEN, refresh_token=REFRESH_TOKEN,
                                     shop_cipher=SHOP_CIPHER, shop_id=SHOP_ID,
                                     webhook_url=webhook_url)
    for sku in SKUS:
        emulator.add_product(sku.replace("DEMO-", "").replace("-", " ").title(),
                             [{"seller_sku": sku, "quantity": 0, "price": "9.99"}])
    return emulator, serve_on_thread(tiktok.create_app(emulator), host, port,
                                     "tiktok-emulator")


def seed(settings: Settings, organization_id: str, store_slug: str, mercato_url: str,
         host: str, port: int) -> str:
    """Start the emulator, connect the demo store's ``tiktok`` channel to it and queue the
    link of the demo cards; the emulator's URL."""
    hook = f"{mercato_url}/webhooks/tiktok/{store_slug}"
    _, url = start_emulator(host, port, webhook_url=hook)
    connect_demo_channel(settings, organization_id, ConnectionIn(
        kind="tiktok", account=SHOP_CIPHER, api_base=url,
        credentials=TiktokCredentials(app_key=APP_KEY, app_secret=APP_SECRET,
                                      access_token=ACCESS_TOKEN, refresh_token=REFRESH_TOKEN),
        settings=ConnectionSettings(schedules={"order_pull": 600}, shop_id=SHOP_ID,
                                    webhook_url=hook)),
        name="TikTok Shop (emulated)", first_job="product_import", skus=SKUS)
    return url
