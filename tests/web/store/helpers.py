"""Products for the storefront's page tests: cards made through the catalog API, with stock
received through the inventory API."""

from __future__ import annotations

import re
from typing import Any

from fastapi.testclient import TestClient

from mercato.core.ids import new_id
from tests.catalog.test_products import _install
from tests.conftest import Org
from tests.inventory.helpers import make_location, receive

STORE_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def variant(sku: str, price: str = "1.00", condition: str = "NM",
            finish: str = "nonfoil") -> dict[str, Any]:
    return {"sku": sku, "price": price,
            "attributes": {"condition": condition, "finish": finish, "language": "EN"}}


def card(client: TestClient, org: Org, title: str, *, tag: str,
         variants: list[dict[str, Any]] | None = None, stock: dict[str, int] | None = None,
         **extra: Any) -> dict[str, Any]:
    """An active card (``tcg-single``) tagged ``tag``; ``stock`` units received per SKU."""
    _install(client, org)
    body = {"title": title, "product_type": "tcg-single", "status": "active", "tags": [tag],
            "attributes": {"game": "magic", "set_code": "M21", "collector_number": "1",
                           "rarity": "rare", **extra.pop("attributes", {})},
            "variants": variants or [variant(f"S-{new_id()}")], **extra}
    made = client.post("/api/v1/products", headers=org.headers, json=body)
    assert made.status_code == 201, made.text
    if stock:
        place = make_location(client, org)
        for sku, units in stock.items():
            receive(client, org, sku, place["code"], units)
    return dict(made.json())


def csrf_in(html: str) -> str:
    found = STORE_CSRF.search(html)
    assert found, "the page has no CSRF field"
    return found.group(1)
