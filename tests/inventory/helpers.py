"""Shared setup for inventory tests: variants through the catalog API, locations, stock."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from mercato.core.ids import new_id
from tests.conftest import Org


def make_variants(client: TestClient, org: Org, count: int = 1, *,
                  product_type: str = "accessory", price: str = "1.00") -> list[str]:
    """``count`` new SKUs (one product), through the catalog API."""
    client.post("/api/v1/product-types/install", headers=org.headers, json={"set": "tcg"})
    tag = new_id()
    variants: list[dict[str, Any]] = [{"sku": f"INV-{tag}-{i}", "price": price}
                                      for i in range(count)]
    attributes = {"game": "pokemon", "set_code": "BS", "collector_number": "4",
                  "grading_company": "PSA", "grade": "10", "certificate_number": tag[-10:]} \
        if product_type == "tcg-graded" else {}
    response = client.post("/api/v1/products", headers=org.headers, json={
        "title": f"Item {tag}", "product_type": product_type, "variants": variants,
        "attributes": attributes})
    assert response.status_code == 201, response.text
    return [v["sku"] for v in response.json()["variants"]]


def make_location(client: TestClient, org: Org, **fields: Any) -> dict[str, Any]:
    code = fields.pop("code", f"L{new_id()[-8:]}")
    response = client.post("/api/v1/locations", headers=org.headers,
                           json={"name": f"Location {code}", "code": code, **fields})
    assert response.status_code == 201, response.text
    return dict(response.json())


def receive(client: TestClient, org: Org, sku: str, location: str, units: int) -> None:
    response = client.post("/api/v1/inventory/adjustments", headers=org.headers, json={
        "lines": [{"sku": sku, "location": location, "delta": units, "reason": "restock"}]})
    assert response.status_code == 201, response.text


def level(client: TestClient, org: Org, sku: str, location: str) -> dict[str, Any]:
    response = client.get("/api/v1/inventory/levels", headers=org.headers,
                          params={"sku": sku, "location": location})
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    return dict(data[0]) if data else {"on_hand": 0, "reserved": 0, "available": 0}
