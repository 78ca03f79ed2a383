from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from mercato.core.ids import new_id
from tests.conftest import Org
from tests.probe import probe_body, probe_fixture, store_probe_body, store_probe_fixture


def make_product(client: TestClient, org: Org) -> dict:
    client.post("/api/v1/product-types/install", headers=org.headers, json={"set": "tcg"})
    response = client.post("/api/v1/products", headers=org.headers, json={
        "title": "Probe Card", "product_type": "accessory",
        "variants": [{"sku": f"PROBE-{new_id()}", "price": "1.00"}]})
    assert response.status_code == 201, response.text
    return dict(response.json())


@probe_fixture("product_type_id")
def product_type(client: TestClient, org: Org) -> str:
    response = client.post("/api/v1/product-types", headers=org.headers, json={
        "name": "Probe", "slug": f"probe-{new_id().lower()}"})
    return str(response.json()["id"])


@probe_fixture("category_id")
def category(client: TestClient, org: Org) -> str:
    response = client.post("/api/v1/categories", headers=org.headers, json={
        "name": "Probe", "slug": f"probe-{new_id().lower()}"})
    return str(response.json()["id"])


@probe_fixture("collection_id")
def collection(client: TestClient, org: Org) -> str:
    response = client.post("/api/v1/collections", headers=org.headers, json={
        "name": "Probe", "slug": f"probe-{new_id().lower()}"})
    return str(response.json()["id"])


@probe_fixture("product_id")
def product(client: TestClient, org: Org) -> str:
    return str(make_product(client, org)["id"])


@probe_fixture("variant_id")
def variant(client: TestClient, org: Org) -> str:
    return str(make_product(client, org)["variants"][0]["id"])


probe_body("PATCH", "/api/v1/product-types/{product_type_id}", {"name": "Renamed"})
probe_body("PATCH", "/api/v1/products/{product_id}", {"title": "Renamed"})
probe_body("PATCH", "/api/v1/collections/{collection_id}", {"name": "Renamed"})
probe_body("PATCH", "/api/v1/variants/{variant_id}", {"price": "2.00"})
probe_body("POST", "/api/v1/products/{product_id}/variants",
           {"sku": "PROBE-OTHER", "price": "1.00"})


@probe_fixture("import_id")
def import_job(client: TestClient, org: Org) -> str:
    response = client.post("/api/v1/imports", headers=org.headers, data={"dry_run": "true"},
                           files={"file": ("p.csv", b"sku,price\nPROBE-1,1.00\n", "text/csv")})
    assert response.status_code == 202, response.text
    return str(response.json()["id"])


from tests.catalog import probe_reviews  # noqa: E402, F401


@store_probe_fixture("slug")
def published_product(client: TestClient, org: Org, shopper: dict[str, Any]) -> str:
    """An active product's slug (storefront product routes)."""
    from tests.checkout.helpers import activate
    from tests.inventory.helpers import make_variants

    sku = make_variants(client, org, 1)[0]
    activate(client, org, [sku])
    variant = client.get("/api/v1/variants", headers=org.headers,
                         params={"sku": sku}).json()["data"][0]
    slug = str(client.get(f"/api/v1/products/{variant['product_id']}",
                          headers=org.headers).json()["slug"])
    review = client.post(f"/store/v1/{org.slug}/products/{slug}/reviews",
                         headers=shopper["headers"],
                         json={"rating": 5, "title": "Probe", "body": "A probe's review."})
    assert review.status_code == 201, review.text
    return slug


store_probe_body("POST", "/store/v1/{store}/products/{slug}/reviews",
                 {"rating": 4, "title": "Probe", "body": "Another probe review."})
