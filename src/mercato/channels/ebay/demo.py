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

import contextlib
from types import ModuleType
from typing import Any

import structlog

from mercato import inventory
from mercato.catalog import stock_items
from mercato.channels import jobs
from mercato.channels.schemas import ConnectionIn, ConnectionSettings, EbayCredentials
from mercato.channels.service import connect
from mercato.core.db import Database
from mercato.core.demo_servers import load_emulator, serve_on_thread
from mercato.inventory import ChannelCreate, LocationCreate, channel_of_kind, create_channel
from mercato.settings import Settings

log = structlog.get_logger("mercato.demo")

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
    db = Database.from_settings(settings, pool_size=1)
    try:
        with db.transaction(tenant=organization_id) as session:
            session.info["actor_label"] = "demo"
            location = inventory.find_location(session, "demo-shop")
            if location is None:
                location = inventory.create_location(session, LocationCreate(
                    name="Demo shop", code="demo-shop", pickup=True, public=True))
            channel = channel_of_kind(session, "ebay")
            if channel is None:
                channel = create_channel(session, ChannelCreate(
                    name="eBay (emulated)", kind="ebay", locations=[location.id]))
            connection, _ = connect(session, channel.id, ConnectionIn(
                kind="ebay", account=SELLER, api_base=url,
                credentials=EbayCredentials(client_id=CLIENT_ID, client_secret=CLIENT_SECRET,
                                            refresh_token=REFRESH_TOKEN),
                settings=ConnectionSettings(
                    schedules={"order_pull": 600}, verification_token=VERIFICATION_TOKEN,
                    webhook_url=f"{mercato_url}/webhooks/ebay/{store_slug}",
                    merchant_location_key="demo-shop")), settings)
            skus = [i.sku for i in stock_items(session, skus=list(SKUS))]
            if skus:
                with contextlib.suppress(jobs.JobInProgress):
                    jobs.create_job(session, connection, "product_export", trigger="demo",
                                    params={"skus": skus})
            log.info("demo_ebay_connected", channel=channel.id, connection=connection.id,
                     skus=skus)
    finally:
        db.dispose()
    return url
