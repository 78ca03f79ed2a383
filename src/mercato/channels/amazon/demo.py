"""The demo's Amazon seller account: the SP-API emulator on its own port, holding listings
(offers) for a few of the demo's sealed products, and an ``amazon`` channel of the demo store
connected to it, its SKUs linked to those listings and its stock pushed.

The emulator keeps its state in memory: every start lists the products afresh and the
``product_import`` job links them again. A buyer's order is made with
``curl -X POST {emulator}/_emulator/orders -H 'Content-Type: application/json'
-d '{"lines": [{"sku": "DEMO-BLB-BOX", "quantity": 1}]}'``; the scheduled ``order_pull``
brings it in within ten minutes (or start one from the admin). ``GET
{emulator}/_emulator/quantities`` shows what Amazon offers of each SKU.

The emulator is the ``mercato-emulators`` distribution, imported only when the demo starts
(``core.demo_servers.EmulatorsMissing`` says how to install it).
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

from mercato.channels.demo_kit import connect_demo_channel
from mercato.channels.schemas import AmazonCredentials, ConnectionIn, ConnectionSettings
from mercato.core.demo_servers import load_emulator, serve_on_thread
from mercato.settings import Settings

CLIENT_ID = "amzn1.application-oa2-client.demo0123456789abcdef"
CLIENT_SECRET = "amzn1.oa2-cs.v1.demo-client-secret-0000"  # noqa: S105 - the emulator's
REFRESH_TOKEN = "Atzr|demo-refresh-token-0000"  # noqa: S105
SELLER = "A2DEMOCARDSHOP"
LISTINGS = (("DEMO-BLB-BOX", "139.99"), ("DEMO-MEW-BUNDLE", "44.99"),
            ("DEMO-SLEEVES-BLUE", "9.99"))
"""Demo products the emulated seller offers on Amazon, with their prices there."""
SKUS = tuple(sku for sku, _ in LISTINGS)


def load_amazon_emulator() -> ModuleType:
    return load_emulator("amazon", "the demo's Amazon seller account")


def start_emulator(host: str, port: int) -> tuple[Any, str]:
    """An ``AmazonEmulator`` with the demo's listings, served on a daemon thread, and its
    URL."""
    amazon = load_amazon_emulator()
    emulator = amazon.AmazonEmulator(client_id=CLIENT_ID, client_secret=CLIENT_SECRET,
                                     refresh_token=REFRESH_TOKEN, seller_id=SELLER,
                                     feed_delay=5.0)
    for sku, price in LISTINGS:
        emulator.add_listing(sku, quantity=0, price=price)
    return emulator, serve_on_thread(amazon.create_app(emulator), host, port, "amazon-emulator")


def seed(settings: Settings, organization_id: str, host: str, port: int) -> str:
    """Start the emulator, connect the demo store's ``amazon`` channel to it and queue the
    linking of the demo's listed products; the emulator's URL."""
    _, url = start_emulator(host, port)
    connect_demo_channel(settings, organization_id, ConnectionIn(
        kind="amazon", account=SELLER, api_base=url,
        credentials=AmazonCredentials(client_id=CLIENT_ID, client_secret=CLIENT_SECRET,
                                      refresh_token=REFRESH_TOKEN),
        settings=ConnectionSettings(schedules={"order_pull": 600})),
        name="Amazon (emulated)", first_job="product_import", skus=SKUS)
    return url
