"""Products and variants: uniqueness, money, ETags, events, filters and pagination."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from mercato.catalog import service
from mercato.catalog.service import SORTS
from mercato.core.db import Database
from mercato.core.ids import new_id
from mercato.core.outbox import OutboxEvent
from tests.conftest import Org, staff_token, walk_pages


def _install(client: TestClient, org: Org) -> None:
    client.post("/api/v1/product-types/install", headers=org.headers, json={"set": "tcg"})


def _card(title: str = "Card", *, sku: str | None = None, price: str = "1.00",
          **extra: Any) -> dict[str, Any]:
    return {"title": title, "product_type": "tcg-single",
            "attributes": {"game": "magic", "set_code": "M21", "collector_number": "1",
                           "rarity": "rare", **extra.pop("attributes", {})},
            "variants": [{"sku": sku or f"SKU-{new_id()}", "price": price,
                          "attributes": {"condition": "NM", "finish": "nonfoil",
                                         "language": "EN"}}],
            **extra}


def test_create_read_update_delete_a_product(client: TestClient, org: Org) -> None:
    _install(client, org)
    created = client.post("/api/v1/products", headers=org.headers,
                          json=_card("Llanowar Elves", tags=["green", "elf", "green"],
                                     vendor="WotC", media=[
                                         {"url": "https://img.test/b.jpg", "position": 2},
                                         {"url": "https://img.test/a.jpg", "alt": "front",
                                          "position": 1}]))
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["status"] == "draft"
    assert body["tags"] == ["elf", "green"]
    assert [m["url"] for m in body["media"]] == ["https://img.test/a.jpg",
                                                 "https://img.test/b.jpg"]
    assert body["slug"].startswith("llanowar-elves-")
    fetched = client.get(f"/api/v1/products/{body['id']}", headers=org.headers)
    assert fetched.json() == body
    updated = client.patch(f"/api/v1/products/{body['id']}", json={"status": "active"},
                           headers={**org.headers, "If-Match": fetched.headers["ETag"]})
    assert updated.status_code == 200
    assert updated.json()["status"] == "active"
    stale = client.patch(f"/api/v1/products/{body['id']}", json={"status": "archived"},
                         headers={**org.headers, "If-Match": fetched.headers["ETag"]})
    assert stale.status_code == 412
    assert client.delete(f"/api/v1/products/{body['id']}",
                         headers=org.headers).status_code == 204
    assert client.get(f"/api/v1/products/{body['id']}", headers=org.headers).status_code == 404
    variant_id = body["variants"][0]["id"]
    assert client.get(f"/api/v1/variants/{variant_id}", headers=org.headers).status_code == 404


def test_sku_and_barcode_are_unique_per_organization(
    client: TestClient, org: Org, other_org: Org
) -> None:
    _install(client, org)
    _install(client, other_org)
    sku = f"DUP-{new_id()}"
    first = _card(sku=sku)
    first["variants"][0]["barcode"] = barcode = f"0{new_id()[-11:]}"
    assert client.post("/api/v1/products", headers=org.headers, json=first).status_code == 201
    again = client.post("/api/v1/products", headers=org.headers, json=_card(sku=sku))
    assert again.status_code == 409
    assert again.json()["errors"] == [{"field": "variants.0.sku",
                                       "message": f"SKU {sku!r} is taken"}]
    same_barcode = _card()
    same_barcode["variants"][0]["barcode"] = barcode
    clash = client.post("/api/v1/products", headers=org.headers, json=same_barcode)
    assert clash.status_code == 409
    assert clash.json()["errors"][0]["field"] == "variants.0.barcode"
    elsewhere = client.post("/api/v1/products", headers=other_org.headers, json=_card(sku=sku))
    assert elsewhere.status_code == 201
    twice = _card(sku=f"T-{new_id()}")
    twice["variants"].append(dict(twice["variants"][0]))
    twice["product_type"] = "accessory"
    for v in twice["variants"]:
        v["attributes"] = {}
    repeated = client.post("/api/v1/products", headers=org.headers, json=twice)
    assert repeated.status_code == 409
    assert repeated.json()["errors"][0]["field"] == "variants.1.sku"


def test_prices_are_decimal_strings_never_floats(client: TestClient, org: Org) -> None:
    _install(client, org)
    for price, ok in (("12.5", True), ("0.10", True), (12, True), (12.5, False),
                      ("1.234", False), ("-1.00", False), ("abc", False)):
        response = client.post("/api/v1/products", headers=org.headers,
                               json=_card(price=price))  # type: ignore[arg-type]
        assert (response.status_code == 201) is ok, (price, response.text)
        if ok:
            assert response.json()["variants"][0]["price"] == f"{float(price):.2f}"
        else:
            assert response.json()["errors"][0]["field"] == "variants.0.price"


def test_a_weight_past_a_32_bit_integer_is_422_not_a_server_error(
    client: TestClient, org: Org
) -> None:
    """``weight_grams`` is a 32-bit integer column: a larger weight made the database refuse
    the row, a 500 (PostgreSQL: integer out of range; SQLite past 2**63: OverflowError)."""
    _install(client, org)
    for too_heavy in (2**31, 2**63):
        card = _card()
        card["variants"][0]["weight_grams"] = too_heavy
        response = client.post("/api/v1/products", headers=org.headers, json=card)
        assert response.status_code == 422, response.text
        assert [e["field"] for e in response.json()["errors"]] == ["variants.0.weight_grams"]
    card = _card()
    card["variants"][0]["weight_grams"] = 2**31 - 1
    made = client.post("/api/v1/products", headers=org.headers, json=card)
    assert made.status_code == 201, made.text
    variant = made.json()["variants"][0]
    assert variant["weight_grams"] == 2**31 - 1
    url = f"/api/v1/variants/{variant['id']}"
    heavier = client.patch(url, headers=org.headers, json={"weight_grams": 2**31})
    assert (heavier.status_code, heavier.json()["errors"][0]["field"]) == (422, "weight_grams")
    added = client.post(f"/api/v1/products/{made.json()['id']}/variants", headers=org.headers,
                        json={**card["variants"][0], "sku": f"SKU-{new_id()}",
                              "weight_grams": 2**40})
    assert (added.status_code, added.json()["errors"][0]["field"]) == (422, "weight_grams")
    assert client.get(url, headers=org.headers).json()["weight_grams"] == 2**31 - 1


def test_variants_are_found_by_sku_and_edited_with_if_match(
    client: TestClient, org: Org
) -> None:
    _install(client, org)
    sku = f"FIND-{new_id()}"
    product = client.post("/api/v1/products", headers=org.headers, json=_card(sku=sku)).json()
    found = client.get("/api/v1/variants", headers=org.headers, params={"sku": sku}).json()
    assert [v["id"] for v in found["data"]] == [product["variants"][0]["id"]]
    variant = client.get(f"/api/v1/variants/{found['data'][0]['id']}", headers=org.headers)
    changed = client.patch(f"/api/v1/variants/{variant.json()['id']}",
                           headers={**org.headers, "If-Match": variant.headers["ETag"]},
                           json={"price": "3.50", "compare_at_price": "4.00"})
    assert changed.status_code == 200
    assert changed.json()["price"] == "3.50"
    bad = client.patch(f"/api/v1/variants/{variant.json()['id']}", headers=org.headers,
                       json={"attributes": {"condition": "NM", "finish": "MINT",
                                            "language": "EN"}})
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "attributes.finish"


def test_editing_a_variant_onto_a_taken_sku_or_barcode_is_a_409_that_changes_nothing(
    client: TestClient, org: Org
) -> None:
    """The edit used to be flushed before its savepoint began, so the clash ended the whole
    transaction and naming the taken SKU then failed: a 500 the fuzz pass found."""
    _install(client, org)
    taken = _card(sku=f"TAKEN-{new_id()}")
    taken["variants"][0]["barcode"] = barcode = f"0{new_id()[-11:]}"
    assert client.post("/api/v1/products", headers=org.headers, json=taken).status_code == 201
    mine = client.post("/api/v1/products", headers=org.headers, json=_card()).json()
    url = f"/api/v1/variants/{mine['variants'][0]['id']}"
    before = client.get(url, headers=org.headers).json()
    sku = taken["variants"][0]["sku"]
    clash = client.patch(url, headers=org.headers, json={"sku": sku, "price": "7.00"})
    assert clash.status_code == 409, clash.text
    assert clash.json()["errors"] == [{"field": "sku", "message": f"SKU {sku!r} is taken"}]
    clash = client.patch(url, headers=org.headers, json={"barcode": barcode})
    assert (clash.status_code, clash.json()["errors"][0]["field"]) == (409, "barcode")
    assert client.get(url, headers=org.headers).json() == before
    fresh = f"FRESH-{new_id()}"
    assert client.patch(url, headers=org.headers, json={"sku": fresh}).json()["sku"] == fresh


def test_changes_are_published_as_events_with_what_changed(
    client: TestClient, db: Database, org: Org
) -> None:
    _install(client, org)
    product = client.post("/api/v1/products", headers=org.headers, json=_card()).json()
    client.patch(f"/api/v1/products/{product['id']}", headers=org.headers,
                 json={"title": "Renamed", "status": "active"})
    variant_id = product["variants"][0]["id"]
    client.patch(f"/api/v1/variants/{variant_id}", headers=org.headers, json={"price": "9.99"})
    client.delete(f"/api/v1/products/{product['id']}", headers=org.headers)
    with db.session(tenant=org.id) as session:
        events = session.scalars(select(OutboxEvent).where(
            OutboxEvent.resource_id.in_([product["id"], variant_id]))
            .order_by(OutboxEvent.position)).all()
        seen = [(e.type, e.data.get("changes")) for e in events]
    assert seen == [
        ("product.created", None),
        ("variant.created", None),
        ("product.updated", {"title": {"from": "Card", "to": "Renamed"},
                             "status": {"from": "draft", "to": "active"}}),
        ("variant.updated", {"price": {"from": "1.00", "to": "9.99"}}),
        ("variant.deleted", None),
        ("product.deleted", None),
    ]


def test_a_failed_create_writes_nothing_not_even_events(
    client: TestClient, db: Database, org: Org
) -> None:
    _install(client, org)
    sku = f"ONCE-{new_id()}"
    client.post("/api/v1/products", headers=org.headers, json=_card(sku=sku))
    before = client.get("/api/v1/products?limit=250", headers=org.headers).json()["data"]
    with db.session(tenant=org.id) as session:
        events_before = len(session.scalars(select(OutboxEvent.id)).all())
    assert client.post("/api/v1/products", headers=org.headers,
                       json=_card(sku=sku)).status_code == 409
    assert client.get("/api/v1/products?limit=250", headers=org.headers).json()["data"] == before
    with db.session(tenant=org.id) as session:
        assert len(session.scalars(select(OutboxEvent.id)).all()) == events_before


def test_listing_filters_by_type_category_status_tag_attribute_and_text(
    client: TestClient, org: Org
) -> None:
    _install(client, org)
    parent = client.post("/api/v1/categories", headers=org.headers,
                         json={"name": "Magic", "slug": "magic"}).json()
    client.post("/api/v1/categories", headers=org.headers,
                json={"name": "Alpha", "slug": "alpha", "parent": "magic"})
    ids = {}
    for name, extra in (
        ("Shivan Dragon", {"category": "alpha", "tags": ["dragon"], "status": "active",
                           "attributes": {"rarity": "rare", "set_code": "LEA"}}),
        ("Grizzly Bears", {"category": "magic", "tags": ["bear"], "status": "active",
                           "attributes": {"rarity": "common", "set_code": "LEA"}}),
        ("Dragon Whelp", {"tags": ["dragon-ish"], "attributes": {"rarity": "uncommon"}}),
    ):
        created = client.post("/api/v1/products", headers=org.headers, json=_card(name, **extra))
        assert created.status_code == 201, created.text
        ids[name] = created.json()["id"]
    accessory = client.post("/api/v1/products", headers=org.headers, json={
        "title": "Sleeves", "product_type": "accessory",
        "variants": [{"sku": f"SLV-{new_id()}", "price": "9.99"}]}).json()

    def titles(**params: str) -> list[str]:
        response = client.get("/api/v1/products", headers=org.headers,
                              params={"sort": "title", **params})
        assert response.status_code == 200, response.text
        return [p["title"] for p in response.json()["data"]]

    assert titles(category=parent["id"]) == ["Grizzly Bears", "Shivan Dragon"]
    assert titles(category="alpha") == ["Shivan Dragon"]
    assert titles(status="active") == ["Grizzly Bears", "Shivan Dragon"]
    assert titles(tag="dragon") == ["Shivan Dragon"]
    assert titles(**{"attr.rarity": "common"}) == ["Grizzly Bears"]
    assert titles(**{"attr.set_code": "LEA", "attr.rarity": "rare"}) == ["Shivan Dragon"]
    assert titles(**{"attr.condition": "NM"}) == ["Dragon Whelp", "Grizzly Bears",
                                                  "Shivan Dragon"]
    assert titles(product_type="accessory") == ["Sleeves"]
    assert titles(q="dragon") == ["Dragon Whelp", "Shivan Dragon"]
    assert titles(q=accessory["variants"][0]["sku"]) == ["Sleeves"]
    assert titles(sort="-title") == ["Sleeves", "Shivan Dragon", "Grizzly Bears",
                                     "Dragon Whelp"]
    assert client.get("/api/v1/products", headers=org.headers,
                      params={"category": "nope"}).status_code == 404


def test_listing_pages_through_every_product_once_in_sort_order(
    client: TestClient, org: Org
) -> None:
    _install(client, org)
    for i in range(7):
        client.post("/api/v1/products", headers=org.headers, json=_card(f"Card {i % 3}"))
    for sort in SORTS:  # every sort's cursor: text, timestamps and decimal prices
        everything = client.get("/api/v1/products", headers=org.headers,
                                params={"sort": sort, "limit": 250}).json()["data"]
        walked = [p["id"] for p in walk_pages(client, "/api/v1/products", org.headers,
                                              limit=2, sort=sort)]
        assert walked == [p["id"] for p in everything]
        assert len(walked) == 7


def test_listings_of_one_shape_share_one_statement_whatever_their_values(
    client: TestClient, org: Org
) -> None:
    """A page's statement is built once per set of filters and sort, not per request."""
    _install(client, org)
    for i in range(3):
        client.post("/api/v1/products", headers=org.headers,
                    json=_card(f"Shape {i}", status="active" if i else "draft",
                               attributes={"rarity": ("rare", "common", "rare")[i]}))
    service._listing.cache_clear()

    def titles(**params: str) -> list[str]:
        response = client.get("/api/v1/products", headers=org.headers,
                              params={"sort": "title", **params})
        assert response.status_code == 200, response.text
        return [p["title"] for p in response.json()["data"]]

    assert titles(status="active", **{"attr.rarity": "rare"}) == ["Shape 2"]
    assert titles(status="draft", **{"attr.rarity": "rare"}) == ["Shape 0"]
    assert titles(status="active", **{"attr.rarity": "common"}) == ["Shape 1"]
    assert service._listing.cache_info().misses == 1
    assert titles(status="active") == ["Shape 1", "Shape 2"]  # another shape: its own
    assert service._listing.cache_info().misses == 2


def test_catalog_permissions(client: TestClient, org: Org) -> None:
    _install(client, org)
    cashier = {"Authorization": f"Bearer {staff_token(client, org, 'cashier')}"}
    inventory = {"Authorization": f"Bearer {staff_token(client, org, 'inventory')}"}
    assert client.get("/api/v1/products", headers=cashier).status_code == 200
    assert client.post("/api/v1/products", headers=cashier, json=_card()).status_code == 403
    assert client.post("/api/v1/products", headers=inventory, json=_card()).status_code == 201


# -- bounds on attr.<name> filters ------------------------------------------------------------

def _attr_filters(names: int, values: int = 1) -> str:
    return "&".join(f"attr.a{i}=v{j}" for i in range(names) for j in range(values))


def test_more_attribute_filters_than_allowed_are_a_422_naming_the_parameter_not_a_500(
    client: TestClient, org: Org
) -> None:
    """Each filter is a condition of the listing's statement: 1,000 of them were a 500 on
    SQLite ("Expression tree is too large") and minutes of planning on PostgreSQL."""
    store = f"/store/v1/{org.slug}/products"
    for path, headers in (("/api/v1/products", org.headers),
                          ("/api/v1/products/facets", org.headers),
                          ("/api/v1/exports/products.csv", org.headers), (store, {})):
        allowed = client.get(f"{path}?{_attr_filters(20)}", headers=headers)
        assert allowed.status_code == 200, (path, allowed.text)
        too_many = client.get(f"{path}?{_attr_filters(21)}", headers=headers)
        assert too_many.status_code == 422, (path, too_many.text)
        assert too_many.headers["content-type"] == "application/problem+json"
        assert too_many.json()["errors"] == [{
            "field": "attr.<name>",
            "message": "at most 20 attr.<name> filters (MERCATO_MAX_FILTERS)"}]
        values = client.get(f"{path}?{_attr_filters(1, 51)}", headers=headers)
        assert values.status_code == 422, (path, values.text)
        assert values.json()["errors"] == [{
            "field": "attr.a0", "message": "at most 50 values (MERCATO_MAX_FILTER_VALUES)"}]
        assert client.get(f"{path}?{_attr_filters(1, 50)}",
                          headers=headers).status_code == 200
        thousand = client.get(f"{path}?" + "&".join(f"attr.{i}=x" for i in range(1000)),
                              headers=headers)
        assert thousand.status_code == 422, (path, thousand.text)
