"""Storefront set-up for cart and checkout tests: a store that sells, ships and taxes."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from mercato.core.ids import new_id
from tests.conftest import Org
from tests.inventory.helpers import make_location
from tests.orders.helpers import stocked
from tests.storefront_helpers import store_url

ADDRESS = {"first_name": "Ada", "last_name": "Byron", "line1": "1 Main St",
           "city": "Springfield", "region": "OR", "postal_code": "97401", "country": "US"}


def flat_shipping(client: TestClient, org: Org, *, price: str = "5.00") -> str:
    """A US zone with one flat-rate method; its id."""
    zone = client.post("/api/v1/shipping/zones", headers=org.headers,
                       json={"name": f"US {new_id()[-6:]}", "countries": ["US"]})
    assert zone.status_code == 201, zone.text
    method = client.post("/api/v1/shipping/methods", headers=org.headers, json={
        "zone_id": zone.json()["id"], "title": "Standard", "code": f"std-{new_id()[-8:]}",
        "kind": "flat", "currency": "USD", "price": price})
    assert method.status_code == 201, method.text
    return str(method.json()["id"])


def pickup_method(client: TestClient, org: Org, location: dict[str, Any]) -> str:
    method = client.post("/api/v1/shipping/methods", headers=org.headers, json={
        "title": "Pick up in store", "code": f"pickup-{new_id()[-8:]}", "kind": "pickup",
        "currency": "USD", "pickup_location": location["id"]})
    assert method.status_code == 201, method.text
    return str(method.json()["id"])


def tax_rate(client: TestClient, org: Org, rate: str, *, region: str | None = None) -> None:
    made = client.post("/api/v1/tax/rates", headers=org.headers, json={
        "country": "US", "title": f"Tax {rate}", "rate": rate,
        **({"region": region} if region else {})})
    assert made.status_code == 201, made.text


def shop(client: TestClient, org: Org, units: list[int], *,
         price: str = "10.00") -> tuple[list[str], dict[str, Any], str]:
    """SKUs with ``units`` on hand at a store that picks up and ships; (skus, location,
    flat shipping method id)."""
    place = make_location(client, org, pickup=True)
    skus, _ = stocked(client, org, units, price=price, location=place)
    activate(client, org, skus)
    return skus, place, flat_shipping(client, org)


def activate(client: TestClient, org: Org, skus: list[str]) -> None:
    """Products are drafts until published: make these SKUs' products active."""
    for sku in skus:
        variant = client.get("/api/v1/variants", headers=org.headers,
                             params={"sku": sku}).json()["data"][0]
        product = client.get(f"/api/v1/products/{variant['product_id']}", headers=org.headers)
        if product.json()["status"] != "active":
            changed = client.patch(f"/api/v1/products/{variant['product_id']}",
                                   headers={**org.headers, "If-Match": product.headers["ETag"]},
                                   json={"status": "active"})
            assert changed.status_code == 200, changed.text


def new_cart(client: TestClient, org: Org, lines: list[tuple[str, int]], *,
             headers: dict[str, str] | None = None, email: str | None = "buyer@example.com",
             method_id: str | None = None, address: dict[str, Any] | None = None,
             ) -> dict[str, Any]:
    made = client.post(store_url(org.slug, "/carts"), headers=headers or {}, json={
        "lines": [{"sku": s, "quantity": q} for s, q in lines],
        **({"email": email} if email else {})})
    assert made.status_code == 201, made.text
    cart = dict(made.json())
    if address is not None or method_id is not None:
        put = client.put(store_url(org.slug, f"/carts/{cart['id']}/shipping-address"),
                         headers=headers or {}, json=address or ADDRESS)
        assert put.status_code == 200, put.text
        cart = put.json()
    if method_id is not None:
        chosen = client.put(store_url(org.slug, f"/carts/{cart['id']}/shipping-method"),
                            headers=headers or {}, json={"method_id": method_id})
        assert chosen.status_code == 200, chosen.text
        cart = chosen.json()
    return cart


def checkout(client: TestClient, org: Org, cart_id: str, payment: dict[str, Any], *,
             headers: dict[str, str] | None = None) -> Any:
    return client.post(store_url(org.slug, f"/carts/{cart_id}/checkout"),
                       headers=headers or {}, json={"payment": payment})
