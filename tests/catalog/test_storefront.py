"""The published storefront catalog: what is visible, per store; prices and what the web
channel can sell now; filters, pages and facets; ETag / 304; custom domains."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mercato.catalog.schemas_store import StorePage, StoreProduct
from mercato.core.db import Database
from mercato.core.ids import new_id
from tests.catalog.test_products import _install
from tests.conftest import Org, walk_pages
from tests.inventory.helpers import make_location, receive
from tests.inventory.test_sales_channels import make_channel, publish
from tests.tenancy.verifiers import verified_domain

KINDS = ["web", "pos", "shopify", "tcgplayer", "ebay", "amazon", "shopee", "tiktok"]


def _variant(sku: str, price: str = "1.00", condition: str = "NM", **extra: Any
             ) -> dict[str, Any]:
    return {"sku": sku, "price": price, **extra,
            "attributes": {"condition": condition, "finish": "nonfoil", "language": "EN"}}


def _product(client: TestClient, org: Org, title: str, *, tag: str, status: str = "active",
             variants: list[dict[str, Any]] | None = None, **extra: Any) -> dict[str, Any]:
    """A card (``tcg-single``) tagged ``tag`` so each test lists only its own products."""
    _install(client, org)
    body = {"title": title, "product_type": "tcg-single", "status": status, "tags": [tag],
            "attributes": {"game": "magic", "set_code": "M21", "collector_number": "1",
                           "rarity": "rare", **extra.pop("attributes", {})},
            "variants": variants or [_variant(f"S-{new_id()}")], **extra}
    response = client.post("/api/v1/products", headers=org.headers, json=body)
    assert response.status_code == 201, response.text
    return dict(response.json())


def _store_titles(client: TestClient, org: Org, **params: Any) -> list[str]:
    response = client.get(f"/store/v1/{org.slug}/products", params={"sort": "title", **params})
    assert response.status_code == 200, response.text
    return [p["title"] for p in response.json()["data"]]


def _shown(client: TestClient, org: Org, slug: str) -> dict[str, Any]:
    response = client.get(f"/store/v1/{org.slug}/products/{slug}")
    assert response.status_code == 200, response.text
    return dict(response.json())


def _patch(client: TestClient, org: Org, product: dict[str, Any], **changes: Any) -> None:
    response = client.patch(f"/api/v1/products/{product['id']}", headers=org.headers,
                            json=changes)
    assert response.status_code == 200, response.text


# -- publication ---------------------------------------------------------------------------------

def test_only_active_products_published_on_web_are_listed_and_shown(
        client: TestClient, org: Org) -> None:
    tag = new_id()[-10:].lower()
    made = {name: _product(client, org, f"{name} {tag}", tag=tag, status=status,
                           channels=channels)
            for name, status, channels in [
                ("everywhere", "active", None), ("web-and-pos", "active", ["pos", "web"]),
                ("pos-only", "active", ["pos"]), ("nowhere", "active", []),
                ("draft", "draft", None), ("archived", "archived", ["web"])]}
    visible = [f"everywhere {tag}", f"web-and-pos {tag}"]
    assert _store_titles(client, org, tag=tag) == visible
    for name, product in made.items():
        status = client.get(f"/store/v1/{org.slug}/products/{product['slug']}").status_code
        assert status == (200 if f"{name} {tag}" in visible else 404), name

    _patch(client, org, made["pos-only"], channels=None)  # null: every channel
    _patch(client, org, made["draft"], status="active")
    _patch(client, org, made["everywhere"], status="archived")
    _patch(client, org, made["web-and-pos"], channels=["shopify"])
    assert _store_titles(client, org, tag=tag) == [f"draft {tag}", f"pos-only {tag}"]
    gone = client.get(f"/store/v1/{org.slug}/products/{made['everywhere']['slug']}")
    assert gone.status_code == 404
    assert gone.json()["code"] == "not_found"


@settings(max_examples=12, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(status=st.sampled_from(["draft", "active", "archived"]),
       channels=st.none() | st.lists(st.sampled_from(KINDS), max_size=4))
def test_a_product_is_published_exactly_when_active_and_its_channels_allow_web(
        client: TestClient, org: Org, status: str, channels: list[str] | None) -> None:
    tag = new_id()[-10:].lower()
    product = _product(client, org, f"P {tag}", tag=tag, status=status, channels=channels)
    assert product["channels"] == (None if channels is None else sorted(set(channels)))
    published = status == "active" and (channels is None or "web" in channels)
    shown = client.get(f"/store/v1/{org.slug}/products/{product['slug']}")
    assert shown.status_code == (200 if published else 404)
    assert _store_titles(client, org, tag=tag) == ([f"P {tag}"] if published else [])
    admin = client.get("/api/v1/products", headers=org.headers,
                       params={"tag": tag, "channel": "web"}).json()["data"]
    assert len(admin) == (1 if channels is None or "web" in channels else 0)


def test_channels_are_validated_on_create_and_update_and_nothing_changes_on_error(
        client: TestClient, org: Org) -> None:
    tag = new_id()[-10:].lower()
    _install(client, org)
    bad = client.post("/api/v1/products", headers=org.headers, json={
        "title": f"Bad {tag}", "product_type": "accessory", "tags": [tag],
        "channels": ["web", "myspace"], "variants": [{"sku": f"B-{tag}", "price": "1.00"}]})
    assert bad.status_code == 422, bad.text
    assert [e["field"] for e in bad.json()["errors"]] == ["channels.1"]
    assert client.get("/api/v1/products", headers=org.headers,
                      params={"tag": tag}).json()["data"] == []
    product = _product(client, org, f"Good {tag}", tag=tag, channels=["web", "ebay", "web"])
    assert product["channels"] == ["ebay", "web"]
    refused = client.patch(f"/api/v1/products/{product['id']}", headers=org.headers,
                           json={"channels": ["pos", 7]})
    assert refused.status_code == 422
    assert [e["field"] for e in refused.json()["errors"]] == ["channels.1"]
    fetched = client.get(f"/api/v1/products/{product['id']}", headers=org.headers).json()
    assert fetched["channels"] == ["ebay", "web"]
    _patch(client, org, product, title=f"Renamed {tag}")  # other edits keep the channels
    listed = client.get("/api/v1/products", headers=org.headers, params={"tag": tag}).json()
    assert listed["data"][0]["channels"] == ["ebay", "web"]
    _patch(client, org, product, channels=None)
    assert client.get(f"/api/v1/products/{product['id']}",
                      headers=org.headers).json()["channels"] is None


def test_the_store_shows_prices_and_never_cost_barcode_status_or_stock_per_location(
        client: TestClient, org: Org) -> None:
    tag = new_id()[-10:].lower()
    product = _product(client, org, f"Bolt {tag}", tag=tag, description="Deals 3.",
                       vendor="WotC", media=[{"url": "https://img.test/bolt.jpg"}], variants=[
                           _variant(f"NM-{tag}", "4.00", "NM", cost="1.00",
                                    compare_at_price="5.00", barcode=f"0{new_id()[-11:]}"),
                           _variant(f"LP-{tag}", "2.50", "LP", cost="0.50")])
    shown = _shown(client, org, product["slug"])
    assert StoreProduct.model_validate(shown).id == product["id"]
    assert set(shown) == {"id", "slug", "title", "description", "vendor", "product_type",
                          "category", "tags", "collections", "media", "attributes",
                          "price_range", "compare_at_price_range", "purchasable", "variants"}
    assert shown["product_type"] == "tcg-single"
    assert shown["description"] == "Deals 3."
    assert shown["media"][0]["url"] == "https://img.test/bolt.jpg"
    assert shown["price_range"] == {"min": "2.50", "max": "4.00", "currency": "USD"}
    assert shown["compare_at_price_range"] == {"min": "5.00", "max": "5.00", "currency": "USD"}
    assert [(v["sku"], v["price"], v["compare_at_price"], v["attributes"]["condition"])
            for v in shown["variants"]] == [(f"NM-{tag}", "4.00", "5.00", "NM"),
                                            (f"LP-{tag}", "2.50", None, "LP")]
    for variant in shown["variants"]:
        assert set(variant) == {"id", "sku", "title", "attributes", "price",
                                "compare_at_price", "currency", "available", "purchasable"}
    listed = client.get(f"/store/v1/{org.slug}/products", params={"tag": tag}).json()
    assert listed["data"] == [shown]
    assert "facets" not in listed


# -- stores ---------------------------------------------------------------------------------------

def test_each_store_shows_only_its_own_products_even_under_the_same_slug(
        client: TestClient, org: Org, other_org: Org) -> None:
    tag = new_id()[-10:].lower()
    slug = f"black-lotus-{tag}"
    mine = _product(client, org, f"Mine {tag}", tag=tag, slug=slug)
    theirs = _product(client, other_org, f"Theirs {tag}", tag=tag, slug=slug)
    only_mine = _product(client, org, f"Only mine {tag}", tag=tag)
    assert _shown(client, org, slug)["id"] == mine["id"]
    assert _shown(client, other_org, slug)["id"] == theirs["id"]
    assert client.get(f"/store/v1/{other_org.slug}/products/"
                      f"{only_mine['slug']}").status_code == 404
    assert _store_titles(client, org, tag=tag) == [f"Mine {tag}", f"Only mine {tag}"]
    assert _store_titles(client, other_org, tag=tag) == [f"Theirs {tag}"]
    assert client.get("/store/v1/no-such-store-x/products").status_code == 404
    assert client.get(f"/store/v1/no-such-store-x/products/{slug}").status_code == 404


def test_a_verified_custom_domain_reaches_the_same_catalog(client: TestClient, org: Org) -> None:
    tag = new_id()[-10:].lower()
    product = _product(client, org, f"Domain {tag}", tag=tag)
    domain = f"cards-{tag}.example.com"
    verified_domain(client, org, domain)
    by_slug = client.get(f"/store/v1/{org.slug}/products", params={"tag": tag})
    by_host = client.get("/store/v1/products", params={"tag": tag}, headers={"Host": domain})
    assert by_host.status_code == 200, by_host.text
    assert by_host.json() == by_slug.json()
    assert [p["id"] for p in by_host.json()["data"]] == [product["id"]]
    detail = client.get(f"/store/v1/products/{product['slug']}", headers={"Host": domain})
    assert detail.status_code == 200
    assert detail.json() == _shown(client, org, product["slug"])
    assert client.get(f"/store/v1/products/{product['slug']}",
                      headers={"Host": f"unknown-{tag}.example.com"}).status_code == 404


# -- availability ----------------------------------------------------------------------------------

def _units(client: TestClient, org: Org, slug: str) -> list[tuple[int, bool]]:
    return [(v["available"], v["purchasable"]) for v in _shown(client, org, slug)["variants"]]


def test_availability_and_purchasable_follow_web_channel_stock_and_buffers(
        client: TestClient, org: Org) -> None:
    tag = new_id()[-10:].lower()
    one, two = f"A-{tag}", f"B-{tag}"
    product = _product(client, org, f"Stocked {tag}", tag=tag,
                       variants=[_variant(one), _variant(two, condition="LP")])
    slug = product["slug"]
    shop, backroom = make_location(client, org), make_location(client, org)
    assert _units(client, org, slug) == [(0, False), (0, False)]
    assert _shown(client, org, slug)["purchasable"] is False

    receive(client, org, one, shop["code"], 5)
    receive(client, org, two, backroom["code"], 3)
    # no web channel yet: every active location that fulfills online sells
    assert _units(client, org, slug) == [(5, True), (3, True)]

    web = make_channel(client, org, [shop["code"]], default_buffer=1)
    assert _units(client, org, slug) == [(4, True), (0, False)]  # backroom is not on the web
    assert _shown(client, org, slug)["purchasable"] is True
    buffers = client.put(f"/api/v1/channels/{web['id']}/buffers", headers=org.headers,
                         json={"buffers": [{"sku": one, "buffer": 5}]})
    assert buffers.status_code == 200, buffers.text
    assert _units(client, org, slug) == [(0, False), (0, False)]
    assert _shown(client, org, slug)["purchasable"] is False
    held = client.post("/api/v1/inventory/reservations", headers=org.headers, json={
        "reference": f"r-{tag}", "lines": [{"sku": one, "quantity": 3}]})
    assert held.status_code == 201, held.text
    receive(client, org, one, shop["code"], 500)
    assert _units(client, org, slug) == [(100, True), (0, False)]  # 497 shown as at most 100
    listed = client.get(f"/store/v1/{org.slug}/products", params={"tag": tag}).json()
    assert [(v["available"], v["purchasable"]) for v in listed["data"][0]["variants"]] == [
        (100, True), (0, False)]


def test_in_stock_lists_products_with_units_once_inventory_has_published_them(
        client: TestClient, org: Org, db: Database) -> None:
    tag = new_id()[-10:].lower()
    stocked = _product(client, org, f"Stocked {tag}", tag=tag)
    _product(client, org, f"Empty {tag}", tag=tag)
    receive(client, org, stocked["variants"][0]["sku"], make_location(client, org)["code"], 2)
    publish(db)
    assert _store_titles(client, org, tag=tag, in_stock="true") == [f"Stocked {tag}"]
    assert _store_titles(client, org, tag=tag, in_stock="false") == [f"Empty {tag}"]


# -- filters, pages, facets ------------------------------------------------------------------------

def test_filters_sorts_and_cursor_pages_list_each_published_product_once(
        client: TestClient, org: Org) -> None:
    tag = new_id()[-10:].lower()
    prices = {"Alpha": "3.00", "Bravo": "1.00", "Charlie": "7.50", "Delta": "0.25",
              "Echo": "12.00"}
    for name, price in prices.items():
        _product(client, org, f"{name} {tag}", tag=tag,
                 attributes={"rarity": "mythic" if name in ("Alpha", "Echo") else "common"},
                 variants=[_variant(f"{name}-{tag}", price,
                                    "LP" if name == "Bravo" else "NM")])
    _product(client, org, f"Hidden {tag}", tag=tag, status="draft",
             attributes={"rarity": "mythic"}, variants=[_variant(f"H-{tag}", "2.00")])
    by_price = sorted(prices, key=lambda n: float(prices[n]))
    for sort, names in [("price", by_price), ("-price", by_price[::-1]),
                        ("title", sorted(prices)), ("-title", sorted(prices, reverse=True))]:
        walked = walk_pages(client, f"/store/v1/{org.slug}/products", {}, limit=2, tag=tag,
                            sort=sort)
        assert [p["title"] for p in walked] == [f"{n} {tag}" for n in names], sort
    assert _store_titles(client, org, tag=tag, **{"attr.rarity": "mythic"}) == [
        f"Alpha {tag}", f"Echo {tag}"]
    assert _store_titles(client, org, tag=tag, **{"attr.condition": "LP"}) == [f"Bravo {tag}"]
    assert _store_titles(client, org, tag=tag, price_min="1.00", price_max="7.50") == [
        f"Alpha {tag}", f"Bravo {tag}", f"Charlie {tag}"]
    assert _store_titles(client, org, q=f"charl {tag}") == [f"Charlie {tag}"]
    assert _store_titles(client, org, q=f"hidden {tag}") == []
    assert _store_titles(client, org, tag=tag, product_type="tcg-single", status="draft") == [
        f"{n} {tag}" for n in sorted(prices)]  # status is not the shopper's to choose
    assert client.get(f"/store/v1/{org.slug}/products",
                      params={"cursor": "garbage!"}).status_code == 400
    assert client.get(f"/store/v1/{org.slug}/products",
                      params={"limit": 251}).status_code == 422


def test_facet_counts_cover_only_published_products_when_asked(
        client: TestClient, org: Org) -> None:
    tag = new_id()[-10:].lower()
    for i, rarity in enumerate(["rare", "rare", "common"]):
        _product(client, org, f"Card {i} {tag}", tag=tag, attributes={"rarity": rarity})
    _product(client, org, f"Draft {tag}", tag=tag, status="draft",
             attributes={"rarity": "common"})
    _product(client, org, f"Pos {tag}", tag=tag, channels=["pos"],
             attributes={"rarity": "mythic"})
    response = client.get(f"/store/v1/{org.slug}/products",
                          params={"tag": tag, "facets": "attr.rarity,product_type"})
    assert response.status_code == 200, response.text
    page = StorePage.model_validate(response.json())
    assert len(page.data) == 3
    assert response.json()["facets"] == {
        "attr.rarity": [{"value": "rare", "count": 2}, {"value": "common", "count": 1}],
        "product_type": [{"value": "tcg-single", "count": 3}]}
    for bad in ("status", "cost", "attr."):
        refused = client.get(f"/store/v1/{org.slug}/products", params={"facets": bad})
        assert refused.status_code == 422, bad
        assert refused.json()["errors"][0]["field"] == "facets"


# -- caching ---------------------------------------------------------------------------------------

def test_etag_and_304_change_with_the_product_and_its_stock(client: TestClient,
                                                            org: Org) -> None:
    tag = new_id()[-10:].lower()
    product = _product(client, org, f"Cached {tag}", tag=tag)
    sku = product["variants"][0]["sku"]
    detail = f"/store/v1/{org.slug}/products/{product['slug']}"
    listing = f"/store/v1/{org.slug}/products?tag={tag}"
    first, first_list = client.get(detail), client.get(listing)
    etag, list_etag = first.headers["ETag"], first_list.headers["ETag"]
    assert etag.startswith('W/"')
    assert list_etag.startswith('W/"')
    assert first.headers["Cache-Control"] == "public, max-age=30"
    assert first_list.headers["Cache-Control"] == "public, max-age=30"
    assert client.get(detail).headers["ETag"] == etag  # same content, same tag

    unchanged = client.get(detail, headers={"If-None-Match": etag})
    assert unchanged.status_code == 304
    assert unchanged.content == b""
    assert unchanged.headers["ETag"] == etag
    assert client.get(detail, headers={"If-None-Match": f'"other", {etag}'}).status_code == 304
    assert client.get(detail, headers={"If-None-Match": '"other"'}).status_code == 200
    assert client.get(listing, headers={"If-None-Match": list_etag}).status_code == 304

    _patch(client, org, product, description="Now with a description.")
    edited = client.get(detail, headers={"If-None-Match": etag})
    assert edited.status_code == 200
    assert edited.json()["description"] == "Now with a description."
    assert edited.headers["ETag"] != etag
    edited_list = client.get(listing, headers={"If-None-Match": list_etag})
    assert edited_list.status_code == 200
    assert edited_list.headers["ETag"] != list_etag

    receive(client, org, sku, make_location(client, org)["code"], 2)
    restocked = client.get(detail, headers={"If-None-Match": edited.headers["ETag"]})
    assert restocked.status_code == 200
    assert restocked.json()["variants"][0]["available"] == 2
    assert restocked.headers["ETag"] not in (etag, edited.headers["ETag"])
    assert client.get(listing, headers={
        "If-None-Match": edited_list.headers["ETag"]}).status_code == 200


def test_store_routes_are_in_the_openapi_document_with_their_schemas(
        client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    listed = spec["paths"]["/store/v1/{store}/products"]["get"]
    assert listed["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/StorePage"}
    assert "304" in listed["responses"]
    assert {p["name"] for p in listed["parameters"]} >= {
        "store", "q", "category", "collection", "tag", "product_type", "price_min",
        "price_max", "in_stock", "sort", "limit", "cursor", "facets"}
    assert "status" not in {p["name"] for p in listed["parameters"]}
    assert "/store/v1/{store}/products/{slug}" in spec["paths"]
    assert "cost" not in spec["components"]["schemas"]["StoreVariant"]["properties"]
