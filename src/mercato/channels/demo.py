"""The demo's Shopify store: the emulator on a second port, a few cards on both sides, and a
connected channel, so a newcomer can sell on "Shopify" and watch Mercato follow (and the other
way round).

The emulator keeps its state in memory, so it is seeded again at every start (in the same
order, so its ids come out the same) and a ``product_import`` job links it afresh.

The emulator is not part of the ``mercato`` package: it is the ``mercato-emulators``
distribution (``emulators/`` in the repository), imported here only when the demo starts.
``load_shopify_emulator`` raises ``core.demo_servers.EmulatorsMissing``, saying how to install
it, when it is absent.
"""

from __future__ import annotations

import contextlib
from decimal import Decimal
from types import ModuleType
from typing import Any

import structlog

from mercato import inventory
from mercato.catalog import (
    ProductCreate,
    VariantIn,
    create_product,
    install_type_set,
    stock_items,
)
from mercato.channels import jobs
from mercato.channels.schemas import ConnectionIn, ConnectionSettings, ShopifyCredentials
from mercato.channels.service import connect
from mercato.core.db import Database
from mercato.core.demo_servers import load_emulator, serve_on_thread
from mercato.inventory import (
    AdjustmentIn,
    AdjustmentLine,
    ChannelCreate,
    LocationCreate,
    channel_of_kind,
    create_channel,
)
from mercato.settings import Settings

log = structlog.get_logger("mercato.demo")

ACCESS_TOKEN = "shpat_demo_access_token_0000"  # noqa: S105 - the emulator's, not a real shop's
CLIENT_SECRET = "shpss_demo_client_secret_0000"  # noqa: S105
DOMAIN = "demo-card-shop.myshopify.com"
CARDS = (  # title, SKU, price, units in the shop
    ("Black Lotus (Unlimited) PSA 9", "DEMO-LOTUS-PSA9", "24999.00", 1),
    ("Charizard (Base Set) Near Mint", "DEMO-CHARIZARD-NM", "420.00", 2),
    ("Lightning Bolt (Alpha) Lightly Played", "DEMO-BOLT-LP", "89.00", 4),
)
TOPICS = ("ORDERS_CREATE", "ORDERS_UPDATED", "ORDERS_CANCELLED", "REFUNDS_CREATE",
          "INVENTORY_LEVELS_UPDATE")


def load_shopify_emulator() -> ModuleType:
    """``mercato_emulators.shopify``, imported now; ``EmulatorsMissing`` when not installed."""
    return load_emulator("shopify", "the demo's Shopify store")


def start_emulator(host: str, port: int) -> tuple[Any, str]:
    """A ``ShopifyEmulator`` served on a daemon thread, and its URL."""
    shopify = load_shopify_emulator()
    emulator = shopify.ShopifyEmulator(shop_domain=DOMAIN, shop_name="Demo Card Shop (Shopify)",
                                       access_token=ACCESS_TOKEN, client_secret=CLIENT_SECRET)
    return emulator, serve_on_thread(shopify.create_app(emulator), host, port,
                                     "shopify-emulator")


def seed(settings: Settings, organization_id: str, store_slug: str, mercato_url: str,
         host: str, port: int) -> str:
    """Start the emulator and connect the demo store to it; the emulator's URL."""
    emulator, url = start_emulator(host, port)
    for title, sku, price, _ in CARDS:
        emulator.add_product(title, variants=[{"sku": sku, "price": price}])
    hook = f"{mercato_url}/webhooks/shopify/{store_slug}"
    for topic in TOPICS:
        emulator.subscribe(topic, hook)
    db = Database.from_settings(settings, pool_size=1)
    try:
        with db.transaction(tenant=organization_id) as session:
            session.info["actor_label"] = "demo"
            location = inventory.find_location(session, "demo-shop")
            if location is None:
                location = inventory.create_location(session, LocationCreate(
                    name="Demo shop", code="demo-shop", pickup=True, public=True))
            if not stock_items(session, skus=[CARDS[0][1]]):
                install_type_set(session, "tcg")
                for title, sku, price, units in CARDS:
                    create_product(session, ProductCreate(
                        title=title, product_type="accessory", status="active",
                        variants=[VariantIn(sku=sku, price=Decimal(price))]))
                    inventory.adjust(session, AdjustmentIn(lines=[AdjustmentLine(
                        sku=sku, location=location.id, delta=units, reason="restock")]))
            for kind, name in (("web", "Web store"), ("pos", "Shop counter")):
                if channel_of_kind(session, kind) is None:
                    create_channel(session, ChannelCreate(name=name, kind=kind,
                                                          locations=[location.id]))
            channel = channel_of_kind(session, "shopify")
            if channel is None:
                channel = create_channel(session, ChannelCreate(
                    name="Shopify (emulated)", kind="shopify", locations=[location.id]))
            connection, _ = connect(session, channel.id, ConnectionIn(
                kind="shopify", account=DOMAIN, api_base=url,
                credentials=ShopifyCredentials(access_token=ACCESS_TOKEN,
                                               client_secret=CLIENT_SECRET),
                settings=ConnectionSettings(schedules={"order_pull": 600})), settings)
            with contextlib.suppress(jobs.JobInProgress):  # a link left from the last start
                jobs.create_job(session, connection, "product_import", trigger="demo")
            log.info("demo_shopify_connected", channel=channel.id, connection=connection.id)
    finally:
        db.dispose()
    return url
