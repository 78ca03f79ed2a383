"""Product types defined at run time: JSON Schema validated on every write, safe changes."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mercato.catalog.validation import attribute_errors
from mercato.core.ids import new_id
from tests.conftest import Org

CARD_SCHEMA = {
    "type": "object",
    "properties": {
        "rarity": {"type": "string", "enum": ["common", "rare"]},
        "power": {"type": "integer", "minimum": 0, "maximum": 20},
        "released": {"type": "string", "format": "date"},
    },
    "required": ["rarity"],
}


def _type(client: TestClient, org: Org, **extra: Any) -> dict:
    body = {"name": "Card", "slug": f"card-{new_id().lower()}", "attributes_schema": CARD_SCHEMA,
            **extra}
    response = client.post("/api/v1/product-types", headers=org.headers, json=body)
    assert response.status_code == 201, response.text
    return dict(response.json())


def _product(client: TestClient, org: Org, type_slug: str, attributes: dict) -> Any:
    return client.post("/api/v1/products", headers=org.headers, json={
        "title": "Card", "product_type": type_slug, "attributes": attributes,
        "variants": [{"sku": f"S-{new_id()}", "price": "1.00"}]})


def test_attributes_are_validated_and_each_violation_names_its_field(
    client: TestClient, org: Org
) -> None:
    slug = _type(client, org)["slug"]
    assert _product(client, org, slug, {"rarity": "rare", "power": 3}).status_code == 201
    bad = _product(client, org, slug, {"power": 99, "released": "yesterday"})
    assert bad.status_code == 422
    fields = {e["field"] for e in bad.json()["errors"]}
    assert fields == {"attributes.rarity", "attributes.power", "attributes.released"}


def test_an_invalid_schema_is_refused(client: TestClient, org: Org) -> None:
    for schema, field in (({"type": "object", "properties": {"x": {"type": "nope"}}},
                           "attributes_schema.properties.x.type"),
                          ({"type": "array"}, "attributes_schema.type")):
        response = client.post("/api/v1/product-types", headers=org.headers, json={
            "name": "Bad", "slug": f"bad-{new_id().lower()}", "attributes_schema": schema})
        assert response.status_code == 422
        assert response.json()["errors"][0]["field"] == field


def test_a_schema_change_that_would_break_products_is_refused_with_a_report(
    client: TestClient, org: Org
) -> None:
    created = _type(client, org)
    product = _product(client, org, created["slug"], {"rarity": "rare"}).json()
    stricter = {**CARD_SCHEMA, "required": ["rarity", "power"]}
    refused = client.patch(f"/api/v1/product-types/{created['id']}", headers=org.headers,
                           json={"attributes_schema": stricter})
    assert refused.status_code == 409
    assert refused.json()["broken_count"] == 1
    assert refused.json()["errors"] == [{
        "field": f"products.{product['id']}.attributes.power",
        "message": "'power' is a required property"}]
    looser = {**CARD_SCHEMA, "required": []}
    accepted = client.patch(f"/api/v1/product-types/{created['id']}", headers=org.headers,
                            json={"attributes_schema": looser})
    assert accepted.status_code == 200
    assert accepted.json()["attributes_schema"]["required"] == []


def test_the_tcg_type_set_installs_once(client: TestClient, org: Org) -> None:
    first = client.post("/api/v1/product-types/install", headers=org.headers,
                        json={"set": "tcg"})
    again = client.post("/api/v1/product-types/install", headers=org.headers,
                        json={"set": "tcg"})
    assert first.status_code == again.status_code == 200
    slugs = [t["slug"] for t in first.json()]
    assert slugs == ["tcg-single", "tcg-graded", "tcg-sealed", "accessory"]
    assert [t["id"] for t in again.json()] == [t["id"] for t in first.json()]
    graded = next(t for t in first.json() if t["slug"] == "tcg-graded")
    assert graded["serialized"] is True


def test_a_card_is_one_product_with_a_variant_per_condition_and_finish(
    client: TestClient, org: Org
) -> None:
    client.post("/api/v1/product-types/install", headers=org.headers, json={"set": "tcg"})
    variants = [
        {"sku": f"BLC-{c}-{f}-{new_id()[-6:]}", "price": p,
         "attributes": {"condition": c, "finish": f, "language": "EN"}}
        for c, f, p in (("NM", "nonfoil", "12.50"), ("LP", "nonfoil", "10.00"),
                        ("NM", "foil", "40.00"))
    ]
    response = client.post("/api/v1/products", headers=org.headers, json={
        "title": "Black Lotus", "product_type": "tcg-single",
        "attributes": {"game": "magic", "set_code": "LEA", "set_name": "Alpha",
                       "collector_number": "232", "rarity": "rare"},
        "variants": variants})
    assert response.status_code == 201, response.text
    assert [v["price"] for v in response.json()["variants"]] == ["12.50", "10.00", "40.00"]
    bad_condition = client.post("/api/v1/products", headers=org.headers, json={
        "title": "X", "product_type": "tcg-single",
        "attributes": {"game": "magic", "set_code": "LEA", "collector_number": "1"},
        "variants": [{"sku": f"X-{new_id()}", "price": "1.00",
                      "attributes": {"condition": "NM", "finish": "MINT",
                                     "language": "EN"}}]})
    assert bad_condition.status_code == 422  # a condition is data (any text); a finish is not
    assert bad_condition.json()["errors"][0]["field"] == "variants.0.attributes.finish"


def test_a_serialized_product_has_exactly_one_variant(client: TestClient, org: Org) -> None:
    client.post("/api/v1/product-types/install", headers=org.headers, json={"set": "tcg"})
    attributes = {"game": "pokemon", "set_code": "BS", "collector_number": "4",
                  "grading_company": "PSA", "grade": "10", "certificate_number": "12345678"}
    two = client.post("/api/v1/products", headers=org.headers, json={
        "title": "Charizard PSA 10", "product_type": "tcg-graded", "attributes": attributes,
        "variants": [{"sku": f"A-{new_id()}", "price": "9000.00"},
                     {"sku": f"B-{new_id()}", "price": "9000.00"}]})
    assert two.status_code == 422
    one = client.post("/api/v1/products", headers=org.headers, json={
        "title": "Charizard PSA 10", "product_type": "tcg-graded", "attributes": attributes,
        "variants": [{"sku": f"A-{new_id()}", "price": "9000.00"}]})
    assert one.status_code == 201
    more = client.post(f"/api/v1/products/{one.json()['id']}/variants", headers=org.headers,
                       json={"sku": f"C-{new_id()}", "price": "1.00"})
    assert more.status_code == 422


attribute_values = st.one_of(st.none(), st.booleans(), st.integers(-50, 50),
                             st.text(max_size=8), st.sampled_from(["common", "rare"]))


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.sampled_from(["rarity", "power", "extra"]), attribute_values))
def test_validation_accepts_exactly_the_values_the_schema_allows(
    attributes: dict[str, Any],
) -> None:
    expected_ok = (
        attributes.get("rarity") in ("common", "rare")
        and (
            "power" not in attributes
            or (type(attributes["power"]) is int and 0 <= attributes["power"] <= 20)
        )
    )
    assert (attribute_errors(CARD_SCHEMA, attributes, "attributes") == []) == expected_ok
