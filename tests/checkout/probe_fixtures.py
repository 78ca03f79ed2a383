"""Probe fixtures of the checkout module: its admin routes (one file per part, imported here)
and its storefront carts."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tests.checkout import probe_pricing, probe_tax_shipping  # noqa: F401
from tests.checkout.helpers import new_cart, shop
from tests.conftest import Org
from tests.probe import store_probe_body, store_probe_fixture

_CARTS: dict[tuple[str, str], dict[str, Any]] = {}


def _cart(client: TestClient, org: Org, shopper: dict[str, Any]) -> dict[str, Any]:
    """One cart of the shopper's per store, with a line and a code (made once)."""
    key = (org.id, shopper["customer_id"])
    if key not in _CARTS:
        skus, _, _ = shop(client, org, [5])
        promo = client.post("/api/v1/promotions", headers=org.headers, json={
            "title": "Probe", "kind": "percentage", "value": "5", "codes": [f"P{org.id[-8:]}"]})
        assert promo.status_code == 201, promo.text
        cart = new_cart(client, org, [(skus[0], 1)], headers=shopper["headers"])
        cart = client.post(f"/store/v1/{org.slug}/carts/{cart['id']}/discount-codes",
                           headers=shopper["headers"], json={"code": f"P{org.id[-8:]}"}).json()
        _CARTS[key] = cart
    return _CARTS[key]


@store_probe_fixture("cart_id")
def cart_id(client: TestClient, org: Org, shopper: dict[str, Any]) -> str:
    return str(_cart(client, org, shopper)["id"])


@store_probe_fixture("line_id")
def line_id(client: TestClient, org: Org, shopper: dict[str, Any]) -> str:
    return str(_cart(client, org, shopper)["lines"][0]["id"])


@store_probe_fixture("code")
def code(client: TestClient, org: Org, shopper: dict[str, Any]) -> str:
    return str(_cart(client, org, shopper)["codes"][0])


CART = "/store/v1/{store}/carts/{cart_id}"
store_probe_body("POST", f"{CART}/lines", {"sku": "PROBE", "quantity": 1})
store_probe_body("PATCH", f"{CART}/lines/{{line_id}}", {"quantity": 1})
store_probe_body("POST", f"{CART}/discount-codes", {"code": "PROBE"})
store_probe_body("PUT", f"{CART}/shipping-address", {"line1": "1 Main St", "country": "US"})
store_probe_body("PUT", f"{CART}/shipping-method", {"method_id": "01ARZ3NDEKTSV4RRFFQ69G5FAV"})
store_probe_body("POST", f"{CART}/checkout", {"payment": {"method": "manual"}})
