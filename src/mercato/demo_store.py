"""The demo's card store: a believable catalog and the settings a shopper needs to buy from it.

``mercato demo`` calls ``seed_store`` once, on a new organization, before the server starts:
games and sets, singles by condition and finish, sealed product, a graded slab, stock across
two locations (the shop, with opening hours and pickup, and a warehouse), a web shipping zone
with two methods and pickup, a tax rate, a promotion code, a cashier, a customer account, and
a few orders from the web, the counter and Shopify. Everything goes through the modules' own
service functions, so the demo holds nothing an operator could not have made.

``seed_store`` is idempotent per store: it does nothing when the shop location exists.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from mercato import checkout, inventory, payments
from mercato.catalog import ProductCreate, VariantIn, create_product, install_type_set
from mercato.catalog.schemas import CollectionCreate
from mercato.catalog.service import create_collection
from mercato.checkout.promotions.schemas import PromotionIn
from mercato.checkout.shipping.schemas import ShippingMethodIn, ShippingZoneIn
from mercato.checkout.tax.schemas import TaxRateIn
from mercato.core.db import Database
from mercato.core.principal import Principal
from mercato.identity import customer_auth
from mercato.identity.permissions import Role, permissions_for
from mercato.identity.service import Identity
from mercato.inventory import AdjustmentIn, AdjustmentLine, ChannelCreate, LocationCreate
from mercato.inventory.schemas import OpeningHours, OpeningInterval
from mercato.orders import OrderIn
from mercato.orders.service import ingest
from mercato.settings import Settings

SHOP_CODE = "demo-shop"
WAREHOUSE_CODE = "demo-warehouse"
CASHIER_EMAIL = "cashier@demo.mercato.dev"
CUSTOMER_EMAIL = "shopper@demo.mercato.dev"
DEMO_PASSWORD = "mercato-demo"  # noqa: S105 - the demo's published sign-in
PROMO_CODE = "WELCOME10"

SHOP_ADDRESS = {"line1": "200 Congress Ave", "city": "Austin", "region": "TX",
                "postal_code": "78701", "country": "US"}
WAREHOUSE_ADDRESS = {"line1": "5100 E Ben White Blvd", "city": "Austin", "region": "TX",
                     "postal_code": "78741", "country": "US"}

Variant = tuple[str, str, str, str, int, int]
"""SKU, condition, finish, price, units in the shop, units in the warehouse."""

SINGLES: list[tuple[str, dict[str, Any], list[Variant]]] = [
    ("Lightning Bolt", {"game": "magic", "set_code": "LEA", "set_name": "Limited Edition Alpha",
                        "collector_number": "161", "rarity": "common"}, [
        ("DEMO-BOLT-NM", "NM", "nonfoil", "129.00", 1, 0),
        ("DEMO-BOLT-LP", "LP", "nonfoil", "89.00", 4, 2),
    ]),
    ("Sheoldred, the Apocalypse", {"game": "magic", "set_code": "DMU",
                                   "set_name": "Dominaria United", "collector_number": "107",
                                   "rarity": "mythic"}, [
        ("DEMO-SHEOLDRED-NM", "NM", "nonfoil", "74.99", 3, 4),
        ("DEMO-SHEOLDRED-NM-F", "NM", "foil", "94.99", 1, 0),
    ]),
    ("Ragavan, Nimble Pilferer", {"game": "magic", "set_code": "MH2",
                                  "set_name": "Modern Horizons 2", "collector_number": "138",
                                  "rarity": "mythic"}, [
        ("DEMO-RAGAVAN-NM", "NM", "nonfoil", "49.99", 2, 2),
        ("DEMO-RAGAVAN-LP-F", "LP", "foil", "59.99", 1, 0),
    ]),
    ("Charizard", {"game": "pokemon", "set_code": "BS", "set_name": "Base Set",
                   "collector_number": "4", "rarity": "rare"}, [
        ("DEMO-CHARIZARD-NM", "NM", "holo", "420.00", 2, 0),
        ("DEMO-CHARIZARD-MP", "MP", "holo", "240.00", 1, 1),
    ]),
    ("Umbreon VMAX (Alternate Art)", {"game": "pokemon", "set_code": "EVS",
                                      "set_name": "Evolving Skies", "collector_number": "215",
                                      "rarity": "secret"}, [
        ("DEMO-UMBREON-NM", "NM", "holo", "1150.00", 1, 0),
    ]),
    ("Pikachu", {"game": "pokemon", "set_code": "BS", "set_name": "Base Set",
                 "collector_number": "58", "rarity": "common"}, [
        ("DEMO-PIKACHU-NM", "NM", "nonfoil", "9.99", 6, 10),
        ("DEMO-PIKACHU-LP", "LP", "nonfoil", "5.99", 8, 0),
    ]),
    ("Blue-Eyes White Dragon", {"game": "yugioh", "set_code": "LOB",
                                "set_name": "Legend of Blue Eyes White Dragon",
                                "collector_number": "001", "rarity": "rare"}, [
        ("DEMO-BEWD-NM", "NM", "nonfoil", "129.00", 1, 1),
        ("DEMO-BEWD-LP", "LP", "nonfoil", "79.00", 2, 0),
    ]),
    ("Elsa - Spirit of Winter", {"game": "lorcana", "set_code": "TFC",
                                 "set_name": "The First Chapter", "collector_number": "42",
                                 "rarity": "special"}, [
        ("DEMO-ELSA-NM", "NM", "nonfoil", "34.99", 2, 3),
        ("DEMO-ELSA-NM-F", "NM", "foil", "199.00", 1, 0),
    ]),
]

SEALED: list[tuple[str, dict[str, Any], str, str, int, int]] = [
    ("Bloomburrow Play Booster Box", {"game": "magic", "set_code": "BLB",
                                      "set_name": "Bloomburrow", "kind": "booster-box"},
     "DEMO-BLB-BOX", "139.99", 3, 12),
    ("Scarlet & Violet 151 Booster Bundle", {"game": "pokemon", "set_code": "MEW",
                                             "set_name": "151", "kind": "bundle"},
     "DEMO-MEW-BUNDLE", "44.99", 5, 20),
]

SLAB = ("Black Lotus (Unlimited) PSA 9", {
    "game": "magic", "set_code": "2ED", "set_name": "Unlimited Edition",
    "collector_number": "233", "rarity": "rare", "grading_company": "PSA", "grade": "9",
    "certificate_number": "48151623"}, "DEMO-LOTUS-PSA9", "24999.00")

FEATURED = ("DEMO-LOTUS-PSA9", "DEMO-CHARIZARD-NM", "DEMO-SHEOLDRED-NM", "DEMO-BLB-BOX")


def _hours() -> OpeningHours:
    day = [OpeningInterval(opens="11:00", closes="20:00")]
    return OpeningHours(mon=day, tue=day, wed=day, thu=day, fri=[
        OpeningInterval(opens="11:00", closes="23:00")], sat=[
        OpeningInterval(opens="10:00", closes="22:00")],
        sun=[OpeningInterval(opens="12:00", closes="18:00")],
        note="Friday Night Magic from 18:00.")


def seed_store(settings: Settings, organization_id: str, owner_id: str) -> bool:
    """Seed the demo store; False when it was seeded before."""
    db = Database.from_settings(settings, pool_size=1)
    identity = Identity(settings, db)
    try:
        with db.transaction(tenant=organization_id) as session:
            session.info["actor_label"] = "demo"
            if inventory.find_location(session, SHOP_CODE) is not None:
                return False
            shop, warehouse = _locations(session)
            _catalog(session, shop.id, warehouse.id)
            channels = _channels(session, shop.id, warehouse.id)
            _selling(session, organization_id, shop.id)
            _people(session, identity, organization_id, owner_id)
            _orders(session, organization_id, channels)
        return True
    finally:
        db.dispose()


def _locations(session: Session) -> tuple[inventory.Location, inventory.Location]:
    shop = inventory.create_location(session, LocationCreate.model_validate({
        "name": "Demo shop", "code": SHOP_CODE, "pickup": True, "public": True,
        "phone": "+1 512 555 0142", "address": SHOP_ADDRESS, "latitude": "30.2669",
        "longitude": "-97.7428", "hours": _hours()}))
    warehouse = inventory.create_location(session, LocationCreate.model_validate({
        "name": "Warehouse", "code": WAREHOUSE_CODE, "kind": "warehouse",
        "address": WAREHOUSE_ADDRESS, "latitude": "30.2156", "longitude": "-97.7089"}))
    return shop, warehouse


def _catalog(session: Session, shop: str, warehouse: str) -> None:
    install_type_set(session, "tcg")
    featured = create_collection(session, CollectionCreate(
        name="Staff picks", slug="featured", description="What we would buy ourselves."))
    session.flush()
    stock: list[AdjustmentLine] = []

    def collections(skus: list[str]) -> list[str]:
        return [featured.slug] if any(s in FEATURED for s in skus) else []

    for title, attributes, variants in SINGLES:
        create_product(session, ProductCreate(
            title=title, product_type="tcg-single", status="active", attributes=attributes,
            tags=[attributes["game"], attributes["set_name"]],
            collections=collections([v[0] for v in variants]),
            description=f"{title} from {attributes['set_name']}, graded by our staff.",
            variants=[VariantIn(sku=sku, price=Decimal(price), weight_grams=5,
                                title=f"{condition} {finish}",
                                attributes={"condition": condition, "finish": finish,
                                            "language": "EN"})
                      for sku, condition, finish, price, _, _ in variants]))
        for sku, _, _, _, here, there in variants:
            stock += _units(sku, shop, here) + _units(sku, warehouse, there)
    for title, attributes, sku, price, here, there in SEALED:
        create_product(session, ProductCreate(
            title=title, product_type="tcg-sealed", status="active", attributes=attributes,
            tags=[attributes["game"], "sealed"], collections=collections([sku]),
            description=f"Factory-sealed {title}.",
            variants=[VariantIn(sku=sku, price=Decimal(price), weight_grams=900,
                                attributes={"language": "EN"})]))
        stock += _units(sku, shop, here) + _units(sku, warehouse, there)
    title, attributes, sku, price = SLAB
    create_product(session, ProductCreate(
        title=title, product_type="tcg-graded", status="active", attributes=attributes,
        tags=["magic", "graded"], collections=collections([sku]),
        description="One of a kind: PSA 9 Mint, certificate 48151623.",
        variants=[VariantIn(sku=sku, price=Decimal(price), weight_grams=120,
                            attributes={"finish": "nonfoil", "language": "EN",
                                        "serial_number": "48151623"})]))
    stock += _units(sku, shop, 1)
    create_product(session, ProductCreate(
        title="Matte card sleeves (100)", product_type="accessory", status="active",
        attributes={"brand": "Dragon Shield"}, tags=["accessories"],
        variants=[VariantIn(sku=f"DEMO-SLEEVES-{color.upper()}", price=Decimal("11.99"),
                            title=color, attributes={"color": color}, weight_grams=150)
                  for color in ("black", "blue", "red")]))
    for color in ("black", "blue", "red"):
        stock += _units(f"DEMO-SLEEVES-{color.upper()}", shop, 12)
    inventory.adjust(session, AdjustmentIn(lines=stock))


def _units(sku: str, location: str, units: int) -> list[AdjustmentLine]:
    return [AdjustmentLine(sku=sku, location=location, delta=units, reason="restock")] \
        if units else []


def _channels(session: Session, shop: str, warehouse: str) -> dict[str, str]:
    web = inventory.create_channel(session, ChannelCreate(name="Web store", kind="web",
                                                          locations=[shop, warehouse]))
    pos = inventory.create_channel(session, ChannelCreate(name="Shop counter", kind="pos",
                                                          locations=[shop]))
    return {"web": web.id, "pos": pos.id}


def _selling(session: Session, organization_id: str, shop: str) -> None:
    zone = checkout.create_shipping_zone(session, ShippingZoneIn(name="United States",
                                                                 countries=["US"]))
    session.flush()
    for title, code, price in (("Standard (3-5 days, tracked)", "standard", "4.99"),
                               ("Express (1-2 days)", "express", "14.99")):
        checkout.create_shipping_method(session, ShippingMethodIn(
            zone_id=zone.id, title=title, code=code, kind="flat", currency="USD",
            price=Decimal(price)))
    checkout.create_shipping_method(session, ShippingMethodIn(
        title="Pick up at the Demo shop", code="pickup", kind="pickup", currency="USD",
        pickup_location=SHOP_CODE))
    checkout.create_tax_rate(session, TaxRateIn(country="US", region="US-TX",
                                                title="Texas sales tax", rate=Decimal("0.0825")))
    checkout.create_promotion(session, PromotionIn(
        title="Welcome: 10% off", kind="percentage", value=Decimal("10"),
        codes=[PROMO_CODE]))
    payments.set_methods(session, organization_id,
                         ["manual", "store_credit", "gift_card", "stripe"])


def _people(session: Session, identity: Identity, organization_id: str, owner_id: str) -> None:
    owner = Principal(kind="staff", id=owner_id, organization_id=organization_id,
                      label="demo", permissions=frozenset(permissions_for(Role.OWNER)),
                      role=Role.OWNER.value)
    identity.create_staff(session, owner, email=CASHIER_EMAIL, role=Role.CASHIER,
                          password=DEMO_PASSWORD, invite=False)
    account = customer_auth.sign_up(session, identity, email=CUSTOMER_EMAIL,
                                    password=DEMO_PASSWORD, first_name="Sam",
                                    last_name="Shopper")
    account.verified_at = dt.datetime.now(dt.UTC)
    session.flush()


def _orders(session: Session, organization_id: str, channels: dict[str, str]) -> None:
    shopper = {"email": CUSTOMER_EMAIL, "first_name": "Sam", "last_name": "Shopper"}
    home = {"line1": "1100 Congress Ave", "city": "Austin", "region": "TX",
            "postal_code": "78701", "country": "US", "first_name": "Sam",
            "last_name": "Shopper"}
    placed = dt.datetime.now(dt.UTC) - dt.timedelta(days=3)
    for channel, external, lines, payment, extra in (
        ("web", "demo-web-1001", [("DEMO-PIKACHU-NM", 2), ("DEMO-SLEEVES-BLUE", 1)], "manual",
         {"customer": shopper, "shipping_address": home}),
        ("pos", "demo-pos-1002", [("DEMO-BOLT-LP", 1)], "cash", {}),
        ("shopify", "demo-shopify-1003", [("DEMO-MEW-BUNDLE", 1)], "shopify_payments",
         {"customer": {"email": "alex@example.com", "first_name": "Alex"}}),
    ):
        ingest(session, organization_id, OrderIn.model_validate({
            "channel": channels.get(channel, channel), "external_id": external,
            "currency": "USD", "lines": [{"sku": sku, "quantity": qty} for sku, qty in lines],
            "payments": [{"method": payment}], "placed_at": placed, "tags": ["demo"],
            **extra}))
        placed += dt.timedelta(days=1)
