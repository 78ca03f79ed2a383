"""The demo's Shopee shop: the emulator on its own port, holding listings of a few of the
demo's cards (their seller SKUs are the demo's), and a ``shopee`` channel of the demo store
connected to it; its first job links the SKUs to the listings and pushes the stock.

The emulator pushes each order's status change to the demo store's
``/webhooks/shopee/{store}`` (signed with the partner key), which queues an ``order_pull``.
A buyer's order: ``curl -X POST {emulator}/_emulator/orders -H 'Content-Type:
application/json' -d '{"lines": [{"sku": "DEMO-CHARIZARD-NM", "quantity": 1}]}'``.

The emulator is the ``mercato-emulators`` distribution, imported only when the demo starts.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

from mercato.channels.demo_kit import connect_demo_channel
from mercato.channels.schemas import ConnectionIn, ConnectionSettings, ShopeeCredentials
from mercato.core.demo_servers import load_emulator, serve_on_thread
from mercato.settings import Settings

PARTNER_ID = "2001887"
PARTNER_KEY = "shpk-demo-partner-key-0000000000"  # the emulator's, not Shopee's
SHOP_ID = "322300222"
ACCESS_TOKEN = "demo-shopee-access-token-0000"  # noqa: S105
REFRESH_TOKEN = "demo-shopee-refresh-token-0000"  # noqa: S105
LISTINGS = {"DEMO-CHARIZARD-NM": "Charizard - Near Mint", "DEMO-SHEOLDRED-NM":
            "Sheoldred, the Apocalypse - Near Mint", "DEMO-BOLT-LP": "Lightning Bolt"}
"""Demo cards the emulated shop lists, by seller SKU."""


def load_shopee_emulator() -> ModuleType:
    return load_emulator("shopee", "the demo's Shopee shop")


def start_emulator(host: str, port: int, callback_url: str | None) -> tuple[Any, str]:
    """A ``ShopeeEmulator`` with the demo's listings, served on a daemon thread; its URL."""
    shopee = load_shopee_emulator()
    emulator = shopee.ShopeeEmulator(partner_id=PARTNER_ID, partner_key=PARTNER_KEY,
                                     shop_id=SHOP_ID, access_token=ACCESS_TOKEN,
                                     refresh_token=REFRESH_TOKEN, callback_url=callback_url)
    for sku, title in LISTINGS.items():
        emulator.add_item(title, models=[{"sku": sku, "stock": 0, "price": "9.90"}])
    return emulator, serve_on_thread(shopee.create_app(emulator), host, port,
                                     "shopee-emulator")


def seed(settings: Settings, organization_id: str, store_slug: str, mercato_url: str,
         host: str, port: int) -> str:
    """Start the emulator, connect the demo store's ``shopee`` channel to it and queue the
    linking of the demo cards; the emulator's URL."""
    webhook = f"{mercato_url}/webhooks/shopee/{store_slug}"
    _, url = start_emulator(host, port, webhook)
    connect_demo_channel(settings, organization_id, ConnectionIn(
        kind="shopee", account=SHOP_ID, api_base=url,
        credentials=ShopeeCredentials(partner_id=PARTNER_ID, partner_key=PARTNER_KEY,
                                      access_token=ACCESS_TOKEN, refresh_token=REFRESH_TOKEN),
        settings=ConnectionSettings(schedules={"order_pull": 600}, webhook_url=webhook)),
        name="Shopee (emulated)", first_job="product_import", skus=tuple(LISTINGS))
    return url
