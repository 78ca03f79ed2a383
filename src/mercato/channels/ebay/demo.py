"""The demo's eBay seller account: the emulator on its own port and an ``ebay`` channel of the
demo store connected to it, a few of the demo's cards (a PSA 9 slab and ungraded singles)
exported as listings with their condition descriptors.

The emulator keeps its state in memory: every start lists the cards afresh (a
``product_export`` job the worker runs). A buyer's order is made with
``curl -X POST {emulator}/_emulator/orders -H 'Content-Type: application/json'
-d '{"lines": [{"sku": "DEMO-CHARIZARD-NM", "quantity": 1}]}'``; the scheduled
``order_pull`` brings it in within ten minutes (or start one from the admin).

The emulator is the ``mercato-emulators`` distribution, imported only when the demo starts
(``core.demo_servers.EmulatorsMissing`` says how to install it).
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

from mercato.channels.demo_kit import connect_demo_channel
from mercato.channels.schemas import ConnectionIn, ConnectionSettings, EbayCredentials
from mercato.core.demo_servers import load_emulator, serve_on_thread
from mercato.settings import Settings

CLIENT_ID = "MercatoD-demo-PRD-0123456789abcdef"
CLIENT_SECRET = "PRD-demo-client-secret-0000"  # noqa: S105 - the emulator's, not eBay's
REFRESH_TOKEN = "v^1.1#i^1#r^1#demo-refresh-token-0000"  # noqa: S105
VERIFICATION_TOKEN = "demo_verification_token_0000_0000_0000"  # noqa: S105
SELLER = "demo-card-shop"
SKUS = ("DEMO-LOTUS-PSA9", "DEMO-CHARIZARD-NM", "DEMO-SHEOLDRED-NM")
"""Demo cards listed on eBay (those the demo store has)."""


def load_ebay_emulator() -> ModuleType:
    return load_emulator("ebay", "the demo's eBay seller account")


def start_emulator(host: str, port: int) -> tuple[Any, str]:
    """An ``EbayEmulator`` served on a daemon thread, and its URL."""
    ebay = load_ebay_emulator()
    emulator = ebay.EbayEmulator(client_id=CLIENT_ID, client_secret=CLIENT_SECRET,
                                 refresh_token=REFRESH_TOKEN,
                                 verification_token=VERIFICATION_TOKEN, seller=SELLER)
    return emulator, serve_on_thread(ebay.create_app(emulator), host, port, "ebay-emulator")


def seed(settings: Settings, organization_id: str, store_slug: str, mercato_url: str,
         host: str, port: int) -> str:
    """Start the emulator, connect the demo store's ``ebay`` channel to it and queue the
    export of the demo cards; the emulator's URL."""
    _, url = start_emulator(host, port)
    connect_demo_channel(settings, organization_id, ConnectionIn(
        kind="ebay", account=SELLER, api_base=url,
        credentials=EbayCredentials(client_id=CLIENT_ID, client_secret=CLIENT_SECRET,
                                    refresh_token=REFRESH_TOKEN),
        settings=ConnectionSettings(
            schedules={"order_pull": 600}, verification_token=VERIFICATION_TOKEN,
            webhook_url=f"{mercato_url}/webhooks/ebay/{store_slug}",
            merchant_location_key="demo-shop")),
        name="eBay (emulated)", first_job="product_export", skus=SKUS)
    return url
