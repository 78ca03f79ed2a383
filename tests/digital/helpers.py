"""Digital goods for the tests: a digital product type with a private attribute, products
of it on sale, key pools, and buying through the storefront's real checkout."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from mercato.core.db import Database
from mercato.core.ids import new_id
from mercato.core.outbox import Dispatcher
from tests.conftest import Org
from tests.storefront_helpers import store_url

SECRET_URL = "https://files.example.com/secret-build-7f3a9c.zip"
"""A private attribute's value: it must never reach anything public."""


def digital_type(client: TestClient, org: Org) -> dict[str, Any]:
    made = client.post("/api/v1/product-types", headers=org.headers, json={
        "name": "Game key", "slug": f"game-key-{new_id()[-6:].lower()}", "digital": True,
        "attributes_schema": {"type": "object", "properties": {
            "platform": {"type": "string"},
            "download_url": {"type": "string", "x-private": True}}},
        "variant_attributes_schema": {"type": "object", "properties": {
            "edition": {"type": "string"},
            "activation_note": {"type": "string", "x-private": True}}}})
    assert made.status_code == 201, made.text
    return dict(made.json())


def digital_product(client: TestClient, org: Org, *, price: str = "20.00",
                    product_type: dict[str, Any] | None = None) -> dict[str, Any]:
    """An active digital product with one variant: its ``sku`` and ``variant_id`` too."""
    kind = product_type or digital_type(client, org)
    sku = f"KEY-{new_id()[-8:]}"
    made = client.post("/api/v1/products", headers=org.headers, json={
        "title": f"Starfall {sku}", "product_type": kind["slug"], "status": "active",
        "attributes": {"platform": "steam", "download_url": SECRET_URL},
        "variants": [{"sku": sku, "price": price, "attributes": {
            "edition": "deluxe", "activation_note": "redeem-at-partner-portal-xyzzy"}}]})
    assert made.status_code == 201, made.text
    product = dict(made.json())
    return {**product, "sku": sku, "variant_id": product["variants"][0]["id"]}


def upload_keys(client: TestClient, org: Org, variant_id: str, keys: list[str]) -> Any:
    return client.post(f"/api/v1/digital/variants/{variant_id}/keys", headers=org.headers,
                       json={"keys": keys})


def pool_of(client: TestClient, org: Org, variant_id: str) -> dict[str, Any]:
    got = client.get(f"/api/v1/digital/variants/{variant_id}/keys", headers=org.headers)
    assert got.status_code == 200, got.text
    return dict(got.json())


def digital_cart(client: TestClient, org: Org, lines: list[tuple[str, int]], *,
                 headers: dict[str, str] | None = None,
                 email: str = "gamer@example.com") -> dict[str, Any]:
    made = client.post(store_url(org.slug, "/carts"), headers=headers or {}, json={
        "lines": [{"sku": s, "quantity": q} for s, q in lines], "email": email})
    assert made.status_code == 201, made.text
    return dict(made.json())


def pay(client: TestClient, org: Org, order_id: str) -> None:
    paid = client.post(f"/api/v1/orders/{order_id}/payments", headers=org.headers,
                       json={"method": "bank_transfer"})
    assert paid.status_code == 201, paid.text


def deliveries(client: TestClient, org: Org, order_id: str) -> list[dict[str, Any]]:
    got = client.get("/api/v1/digital/deliveries", headers=org.headers,
                     params={"order_id": order_id})
    assert got.status_code == 200, got.text
    return list(got.json()["data"])


def run_worker(db: Database) -> None:
    """Deliver the events recorded so far (``order.paid`` starts deliveries)."""
    Dispatcher(db).drain()
