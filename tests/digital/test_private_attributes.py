"""A private attribute (a download URL, an activation note) is staff's: never in the
storefront's API, pages, search or facets; always in /api/v1."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.conftest import Org
from tests.digital.helpers import SECRET_URL, digital_product, digital_type
from tests.storefront_helpers import store_url

NOTE = "redeem-at-partner-portal-xyzzy"


def test_a_private_attribute_appears_nowhere_public(client: TestClient, org: Org) -> None:
    product = digital_product(client, org)
    slug = product["slug"]
    public = [
        client.get(store_url(org.slug, "/products")),
        client.get(store_url(org.slug, f"/products/{slug}")),
        client.get(f"/s/{org.slug}/products"),
        client.get(f"/s/{org.slug}/products/{slug}"),
        client.get(f"/s/{org.slug}/products", params={"q": "xyzzy"}),
    ]
    for answer in public:
        assert answer.status_code == 200, (answer.request.url, answer.text[:300])
        assert SECRET_URL not in answer.text, answer.request.url
        assert NOTE not in answer.text, answer.request.url
        assert "download_url" not in answer.text, answer.request.url
        assert "activation_note" not in answer.text, answer.request.url
    shown = client.get(store_url(org.slug, f"/products/{slug}")).json()
    assert shown["attributes"] == {"platform": "steam"}
    assert shown["variants"][0]["attributes"] == {"edition": "deluxe"}
    # nor can a search or a filter find the product by a private value
    for params in ({"q": "xyzzy"}, {"q": "secret-build-7f3a9c"},
                   {"attr.download_url": SECRET_URL}, {"attr.activation_note": NOTE}):
        found = client.get(store_url(org.slug, "/products"), params=params).json()["data"]
        assert slug not in {p["slug"] for p in found}, params
    found = client.get(store_url(org.slug, "/products"), params={"q": "starfall"}).json()
    assert slug in {p["slug"] for p in found["data"]}  # public words still find it
    counted = client.get(store_url(org.slug, "/products"), params={
        "facets": "attr.download_url,attr.activation_note,attr.platform"})
    assert SECRET_URL not in counted.text
    assert NOTE not in counted.text
    assert counted.json()["facets"] == {  # a private attribute has no values to count
        "attr.download_url": [], "attr.activation_note": [],
        "attr.platform": [{"value": "steam", "count": 1}]}

    # staff see everything
    staff = client.get(f"/api/v1/products/{product['id']}", headers=org.headers).json()
    assert staff["attributes"]["download_url"] == SECRET_URL
    assert staff["variants"][0]["attributes"]["activation_note"] == NOTE
    listed = client.get("/api/v1/products", headers=org.headers,
                        params={"product_type": product["product_type_id"]}).json()["data"]
    assert [p["attributes"]["download_url"] for p in listed] == [SECRET_URL]


def test_marking_an_attribute_private_later_hides_it_at_once(client: TestClient,
                                                             org: Org) -> None:
    kind = client.post("/api/v1/product-types", headers=org.headers, json={
        "name": "Ebook", "slug": "ebook", "digital": True, "attributes_schema": {
            "type": "object", "properties": {"file_url": {"type": "string"}}}}).json()
    assert kind["private_attributes"] == []
    made = client.post("/api/v1/products", headers=org.headers, json={
        "title": "Moby", "product_type": "ebook", "status": "active",
        "attributes": {"file_url": "https://cdn.example.com/moby-77.epub"},
        "variants": [{"sku": "EB-MOBY", "price": "3.00"}]})
    assert made.status_code == 201, made.text
    page = store_url(org.slug, f"/products/{made.json()['slug']}")
    shown = client.get(page).json()
    assert "attributes" in shown, shown
    assert shown["attributes"] == {"file_url": "https://cdn.example.com/moby-77.epub"}
    current = client.get(f"/api/v1/product-types/{kind['id']}", headers=org.headers)
    changed = client.patch(f"/api/v1/product-types/{kind['id']}",
                           headers={**org.headers, "If-Match": current.headers["ETag"]},
                           json={"attributes_schema": {"type": "object", "properties": {
                               "file_url": {"type": "string", "x-private": True}}}})
    assert changed.status_code == 200, changed.text
    assert changed.json()["private_attributes"] == ["file_url"]
    assert changed.json()["digital"] is True
    shown = client.get(page)
    assert shown.status_code == 200
    assert "moby-77" not in shown.text
    found = client.get(store_url(org.slug, "/products"), params={"q": "moby 77"}).json()
    assert found["data"] == []


def test_a_product_type_says_whether_it_is_digital(client: TestClient, org: Org) -> None:
    kind = digital_type(client, org)
    assert kind["digital"] is True
    assert kind["private_attributes"] == ["activation_note", "download_url"]
    plain = client.post("/api/v1/product-types", headers=org.headers,
                        json={"name": "Shirt", "slug": "shirt"}).json()
    assert plain["digital"] is False
