"""The demo store is ready to buy from: what ``mercato demo`` seeds, driven through the public
API as a newcomer would (the demo command itself is run in ``tests/test_cli.py``)."""

from __future__ import annotations

from decimal import Decimal

from fastapi.testclient import TestClient

from mercato.demo_store import (
    CASHIER_EMAIL,
    CUSTOMER_EMAIL,
    DEMO_PASSWORD,
    PROMO_CODE,
    SHOP_CODE,
    WAREHOUSE_CODE,
    seed_store,
)
from mercato.settings import Settings
from tests.conftest import Org


def _seeded(settings: Settings, org: Org) -> None:
    assert seed_store(settings, org.id, org.owner_id) is True


def test_seeding_twice_changes_nothing_the_second_time(settings: Settings, client: TestClient,
                                                       org: Org) -> None:
    _seeded(settings, org)
    before = client.get(f"/store/v1/{org.slug}/products", params={"limit": 100}).json()
    assert seed_store(settings, org.id, org.owner_id) is False
    after = client.get(f"/store/v1/{org.slug}/products", params={"limit": 100}).json()
    assert [p["id"] for p in after["data"]] == [p["id"] for p in before["data"]]


def test_the_catalog_has_games_conditions_foils_sealed_and_a_graded_slab(
        settings: Settings, client: TestClient, org: Org) -> None:
    _seeded(settings, org)
    listed = client.get(f"/store/v1/{org.slug}/products", params={"limit": 100})
    assert listed.status_code == 200, listed.text
    products = listed.json()["data"]
    types = {p["product_type"] for p in products}
    assert {"tcg-single", "tcg-sealed", "tcg-graded", "accessory"} <= types
    games = {p["attributes"].get("game") for p in products} - {None}
    assert {"magic", "pokemon", "yugioh", "lorcana"} <= games
    sheoldred = next(p for p in products if p["title"].startswith("Sheoldred"))
    page = client.get(f"/store/v1/{org.slug}/products/{sheoldred['slug']}").json()
    finishes = {v["attributes"]["finish"] for v in page["variants"]}
    assert finishes == {"nonfoil", "foil"}
    featured = client.get(f"/store/v1/{org.slug}/products",
                          params={"collection": "featured"}).json()["data"]
    assert len(featured) >= 3


def test_stock_lies_in_two_locations(settings: Settings, client: TestClient, org: Org) -> None:
    _seeded(settings, org)
    levels = client.get("/api/v1/inventory/levels", headers=org.headers,
                        params={"sku": "DEMO-SHEOLDRED-NM"})
    assert levels.status_code == 200, levels.text
    locations = client.get("/api/v1/locations", headers=org.headers).json()["data"]
    by_code = {loc["code"]: loc["id"] for loc in locations}
    held = {row["location_id"] for row in levels.json()["data"] if row["on_hand"] > 0}
    assert held == {by_code[SHOP_CODE], by_code[WAREHOUSE_CODE]}


def test_a_shopper_can_ship_two_ways_or_pick_up_with_tax_and_the_promotion_code(
        settings: Settings, client: TestClient, org: Org) -> None:
    _seeded(settings, org)
    base = f"/store/v1/{org.slug}"
    cart = client.post(f"{base}/carts", json={}).json()
    line = client.post(f"{base}/carts/{cart['id']}/lines",
                       json={"sku": "DEMO-SHEOLDRED-NM", "quantity": 1})
    assert line.status_code in (200, 201), line.text
    address = {"first_name": "Ada", "last_name": "Byron", "line1": "1 Main St",
               "city": "Austin", "region": "TX", "postal_code": "78701", "country": "US"}
    put = client.put(f"{base}/carts/{cart['id']}/shipping-address", json=address)
    assert put.status_code == 200, put.text
    methods = client.get(f"{base}/carts/{cart['id']}/shipping-methods").json()
    assert {m["code"] for m in methods} == {"standard", "express", "pickup"}
    coded = client.post(f"{base}/carts/{cart['id']}/discount-codes", json={"code": PROMO_CODE})
    assert coded.status_code in (200, 201), coded.text
    priced = coded.json()
    assert Decimal(priced["discount_total"]) == Decimal("7.50")
    assert Decimal(priced["tax_total"]) > 0


def test_the_printed_sign_ins_work(settings: Settings, client: TestClient, org: Org) -> None:
    _seeded(settings, org)
    customer = client.post(f"/store/v1/{org.slug}/auth/token",
                           json={"email": CUSTOMER_EMAIL, "password": DEMO_PASSWORD})
    assert customer.status_code == 200, customer.text
    history = client.get(f"/store/v1/{org.slug}/me/orders", headers={
        "Authorization": f"Bearer {customer.json()['access_token']}"})
    assert history.status_code == 200, history.text
    assert len(history.json()["data"]) == 1
    cashier = client.post("/api/v1/auth/token",
                          json={"email": CASHIER_EMAIL, "password": DEMO_PASSWORD,
                                "organization": org.slug})
    assert cashier.status_code == 200, cashier.text


def test_orders_come_from_several_channels(settings: Settings, client: TestClient,
                                           org: Org) -> None:
    _seeded(settings, org)
    orders = client.get("/api/v1/orders", headers=org.headers).json()["data"]
    assert {o["source"] for o in orders} >= {"web", "pos", "shopify"}
