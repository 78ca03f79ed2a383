"""The admin's products pages: the list (filters, pages, bulk edits, export), the editor and
variants, over the same services as /api/v1/products."""

from __future__ import annotations

import csv
import io
import re
from typing import Any

from bench.statements import counting
from fastapi import FastAPI
from fastapi.testclient import TestClient

from mercato.core.db import Database
from mercato.core.ids import new_id
from tests.conftest import Org
from tests.web.conftest import Browser, add_staff


def _install(client: TestClient, org: Org) -> dict[str, str]:
    installed = client.post("/api/v1/product-types/install", headers=org.headers,
                            json={"set": "tcg"})
    assert installed.status_code == 200, installed.text
    return {t["slug"]: t["id"] for t in installed.json()}


def _card(client: TestClient, org: Org, title: str, *, game: str = "magic",
          rarity: str = "rare", condition: str = "NM", price: str = "1.00",
          status: str = "draft") -> dict[str, Any]:
    created = client.post("/api/v1/products", headers=org.headers, json={
        "title": title, "product_type": "tcg-single", "status": status,
        "attributes": {"game": game, "set_code": "M21", "collector_number": "1",
                       "rarity": rarity},
        "variants": [{"sku": f"{title[:3].upper()}-{new_id()}", "price": price,
                      "attributes": {"condition": condition, "finish": "nonfoil",
                                     "language": "EN"}}]})
    assert created.status_code == 201, created.text
    body: dict[str, Any] = created.json()
    return body


def _product(client: TestClient, org: Org, product_id: str) -> dict[str, Any]:
    found = client.get(f"/api/v1/products/{product_id}", headers=org.headers)
    assert found.status_code == 200, found.text
    body: dict[str, Any] = found.json()
    return body


def _error_beside(html: str, field: str) -> str:
    fid = field.replace(".", "-")
    found = re.search(rf'id="e-{re.escape(fid)}">([^<]*)<', html)
    assert found, f"no error beside {field}"
    return found.group(1)


# -- the list ---------------------------------------------------------------------------------

def test_the_list_searches_filters_and_pages_like_the_api(client: TestClient, browser: Browser,
                                                         org: Org) -> None:
    _install(client, org)
    bolt = _card(client, org, "Lightning Bolt", rarity="common", price="2.50")
    _card(client, org, "Pikachu", game="pokemon", condition="LP")
    for i in range(3):
        _card(client, org, f"Filler {i}")
    browser.sign_in(org.owner_email)
    page = browser.get("/admin/products")
    assert page.status_code == 200
    assert "Lightning Bolt" in page.text
    assert "Pikachu" in page.text
    assert bolt["variants"][0]["sku"] in page.text
    assert "$2.50" in page.text
    assert 'href="/admin/products/new"' in page.text
    assert "New product" in page.text
    for label in ("Search", "Product type", "Status", "Game", "Rarity", "Condition",
                  "Set code"):
        assert f">{label}</label>" in page.text or f">{label} <" in page.text, label
    searched = browser.get("/admin/products", params={"q": "light bol"})
    assert "Lightning Bolt" in searched.text
    assert "Pikachu" not in searched.text
    by_game = browser.get("/admin/products", params={"attr.game": "pokemon", "status": "",
                                                     "attr.rarity": ""})
    assert by_game.status_code == 200
    assert "Pikachu" in by_game.text
    assert "Lightning Bolt" not in by_game.text
    by_condition = browser.get("/admin/products", params={"attr.condition": "LP"})
    assert "Pikachu" in by_condition.text
    assert "Filler" not in by_condition.text
    # pages: the API's cursor, the same rows
    api = client.get("/api/v1/products", headers=org.headers, params={"limit": 2}).json()
    first = browser.get("/admin/products", params={"limit": 2})
    link = re.search(r'href="([^"]+)" rel="next">Next page', first.text)
    assert link, first.text
    url = link.group(1).replace("&amp;", "&")
    assert f"cursor={api['next_cursor']}" in url.replace("%3D", "=")
    second = browser.get(url)
    api2 = client.get("/api/v1/products", headers=org.headers,
                      params={"limit": 2, "cursor": api["next_cursor"]}).json()
    for item in api2["data"]:
        assert item["title"] in second.text
    for item in api["data"]:
        assert f'/admin/products/{item["id"]}"' not in second.text


def test_filters_re_render_only_the_rows_for_htmx(client: TestClient, browser: Browser,
                                                  org: Org) -> None:
    _install(client, org)
    _card(client, org, "Lightning Bolt")
    browser.sign_in(org.owner_email)
    fragment = browser.get("/admin/products", params={"q": "lightning"},
                           headers={"HX-Request": "true"})
    assert fragment.status_code == 200
    assert "Lightning Bolt" in fragment.text
    assert "<html" not in fragment.text
    assert 'name="q"' not in fragment.text


def test_a_bad_filter_shows_its_error_beside_the_field(client: TestClient, browser: Browser,
                                                       org: Org) -> None:
    browser.sign_in(org.owner_email)
    page = browser.get("/admin/products", params={"price_min": "cheap"})
    assert page.status_code == 422
    assert _error_beside(page.text, "price_min")
    assert 'value="cheap"' in page.text


def test_every_role_reads_the_list_and_only_writers_see_bulk_edits(
        app: FastAPI, client: TestClient, org: Org) -> None:
    _install(client, org)
    _card(client, org, "Lightning Bolt")
    cashier = Browser(app, raise_server_exceptions=False)
    cashier.sign_in(add_staff(client, org, "cashier"))
    page = cashier.get("/admin/products")
    assert page.status_code == 200
    assert "Lightning Bolt" in page.text
    assert "Apply to selected" not in page.text
    assert "New product" not in page.text
    assert cashier.get("/admin/products/new").status_code == 403


def test_bulk_edit_sets_status_and_price_of_the_selection(client: TestClient,
                                                          browser: Browser, org: Org) -> None:
    _install(client, org)
    one, two, other = (_card(client, org, t) for t in ("Alpha", "Beta", "Gamma"))
    browser.sign_in(org.owner_email)
    done = browser.submit("/admin/products/bulk", {
        "ids": [one["id"], two["id"]], "set_status": "active", "set_price": "3.75",
        "back": "q=a"})
    assert done.status_code == 303, done.text
    assert done.headers["location"] == "/admin/products?q=a"
    for product in (one, two):
        body = _product(client, org, product["id"])
        assert body["status"] == "active"
        assert body["variants"][0]["price"] == "3.75"
    untouched = _product(client, org, other["id"])
    assert untouched["status"] == "draft"
    assert untouched["variants"][0]["price"] == "1.00"
    assert "2 products updated." in browser.get(done.headers["location"]).text


def test_a_bad_bulk_edit_changes_nothing(client: TestClient, browser: Browser,
                                         org: Org) -> None:
    _install(client, org)
    one = _card(client, org, "Alpha")
    browser.sign_in(org.owner_email)
    refused = browser.submit("/admin/products/bulk", {
        "ids": [one["id"]], "set_status": "active", "set_price": "1.234"})
    assert refused.status_code == 422
    assert _error_beside(refused.text, "set_price")
    nothing = browser.submit("/admin/products/bulk", {"set_status": "active"})
    assert nothing.status_code == 422
    assert "Select at least one product." in nothing.text
    body = _product(client, org, one["id"])
    assert body["status"] == "draft"
    assert body["variants"][0]["price"] == "1.00"
    cashier = Browser(browser.app, raise_server_exceptions=False)
    cashier.sign_in(add_staff(client, org, "cashier"))
    assert cashier.submit("/admin/products/bulk", {
        "ids": [one["id"]], "set_status": "active"}).status_code == 403


def test_export_streams_the_apis_csv_for_the_same_filters(client: TestClient,
                                                          browser: Browser, org: Org) -> None:
    _install(client, org)
    _card(client, org, "Lightning Bolt")
    _card(client, org, "Pikachu", game="pokemon")
    browser.sign_in(org.owner_email)
    page = browser.get("/admin/products", params={"attr.game": "pokemon"})
    link = re.search(r'href="(/admin/products/export\.csv[^"]*)"', page.text)
    assert link
    url = link.group(1).replace("&amp;", "&")
    exported = browser.get(url)
    assert exported.status_code == 200
    assert exported.headers["content-type"].startswith("text/csv")
    api = client.get("/api/v1/exports/products.csv", headers=org.headers,
                     params={"attr.game": "pokemon"})
    assert exported.text == api.text
    titles = [row.get("title") for row in csv.DictReader(io.StringIO(exported.text))]
    assert "Pikachu" in titles
    assert "Lightning Bolt" not in titles


# -- the editor -------------------------------------------------------------------------------

def test_new_product_form_has_the_contract_labels_and_the_types_fields(
        client: TestClient, browser: Browser, org: Org) -> None:
    types = _install(client, org)
    browser.sign_in(org.owner_email)
    page = browser.get("/admin/products/new")
    assert page.status_code == 200
    for label in ("Title", "Product type", "SKU", "Price", "Status"):
        assert re.search(rf'<label for="[^"]+">{label}( <span|</label>)', page.text), label
    assert '<button type="submit">Save</button>' in page.text
    assert 'hx-get="/admin/products/new"' in page.text
    fields = browser.get("/admin/products/new", params={"product_type": types["tcg-single"]},
                         headers={"HX-Request": "true"})
    assert fields.status_code == 200
    assert "<html" not in fields.text
    assert 'name="attributes.game"' in fields.text
    assert "<select" in fields.text
    assert 'name="variant.attributes.condition"' in fields.text
    assert re.search(r'for="f-attributes-game">Game</label><span class="required"', fields.text)
    sealed = browser.get("/admin/products/new", params={"product_type": types["tcg-sealed"]},
                         headers={"HX-Request": "true"})
    assert 'name="attributes.kind"' in sealed.text
    assert "collector_number" not in sealed.text


def test_without_javascript_show_fields_re_renders_the_form_with_the_values(
        client: TestClient, browser: Browser, org: Org) -> None:
    types = _install(client, org)
    browser.sign_in(org.owner_email)
    shown = browser.submit("/admin/products", {
        "title": "Booster box", "product_type": types["tcg-sealed"], "show_fields": "1"})
    assert shown.status_code == 200
    assert 'name="attributes.kind"' in shown.text
    assert 'value="Booster box"' in shown.text
    listed = client.get("/api/v1/products", headers=org.headers, params={"q": "booster"})
    assert listed.json()["data"] == []


def test_save_creates_the_product_with_its_first_variant(client: TestClient,
                                                         browser: Browser, org: Org) -> None:
    types = _install(client, org)
    browser.sign_in(org.owner_email)
    sku = f"BOLT-{new_id()}"
    saved = browser.submit("/admin/products", {
        "title": "Lightning Bolt", "product_type": types["tcg-single"], "status": "active",
        "sku": sku, "price": "2.50",
        "attributes.game": "magic", "attributes.set_code": "M21",
        "attributes.collector_number": "125", "attributes.rarity": "common",
        "variant.attributes.condition": "NM", "variant.attributes.finish": "foil",
        "variant.attributes.language": "EN", "tags": "red, burn"})
    assert saved.status_code == 303, saved.text
    product_id = saved.headers["location"].rsplit("/", 1)[1]
    body = _product(client, org, product_id)
    assert body["title"] == "Lightning Bolt"
    assert body["status"] == "active"
    assert body["attributes"] == {"game": "magic", "set_code": "M21",
                                  "collector_number": "125", "rarity": "common"}
    assert body["tags"] == ["burn", "red"]
    assert [(v["sku"], v["price"], v["attributes"]) for v in body["variants"]] == [
        (sku, "2.50", {"condition": "NM", "finish": "foil", "language": "EN"})]
    page = browser.get(saved.headers["location"])
    assert "Lightning Bolt saved." in page.text


def test_schema_errors_show_beside_their_fields_and_save_nothing(
        client: TestClient, browser: Browser, org: Org) -> None:
    types = _install(client, org)
    browser.sign_in(org.owner_email)
    sku = f"BAD-{new_id()}"
    refused = browser.submit("/admin/products", {
        "title": "Half a card", "product_type": types["tcg-single"],
        "sku": sku, "price": "2.50",
        "attributes.game": "magic", "attributes.set_code": "M21",
        "variant.attributes.condition": "NM", "variant.attributes.finish": "foil"})
    assert refused.status_code == 422
    assert _error_beside(refused.text, "attributes.collector_number")
    assert 'id="error-summary"' in refused.text
    assert 'value="Half a card"' in refused.text
    assert f'value="{sku}"' in refused.text
    bad_price = browser.submit("/admin/products", {
        "title": "X", "product_type": types["tcg-sealed"], "sku": sku,
        "price": "two", "attributes.game": "magic", "attributes.kind": "bundle"})
    assert bad_price.status_code == 422
    assert _error_beside(bad_price.text, "price")
    no_type = browser.submit("/admin/products", {"title": "X", "sku": sku})
    assert no_type.status_code == 422
    assert _error_beside(no_type.text, "product_type") == "Choose a product type."
    found = client.get("/api/v1/variants", headers=org.headers, params={"sku": sku})
    assert found.json()["data"] == []


def test_a_taken_sku_is_shown_beside_the_sku(client: TestClient, browser: Browser,
                                             org: Org) -> None:
    types = _install(client, org)
    existing = _card(client, org, "Alpha")
    browser.sign_in(org.owner_email)
    taken = existing["variants"][0]["sku"]
    refused = browser.submit("/admin/products", {
        "title": "Copy", "product_type": types["tcg-sealed"], "sku": taken,
        "price": "1.00", "attributes.game": "magic", "attributes.kind": "bundle"})
    assert refused.status_code == 422
    assert "is taken" in _error_beside(refused.text, "sku")


def test_the_product_page_edits_the_product(client: TestClient, browser: Browser,
                                            org: Org) -> None:
    _install(client, org)
    card = _card(client, org, "Alpha")
    extra = client.patch(f"/api/v1/products/{card['id']}", headers=org.headers, json={
        "attributes": {**card["attributes"], "oracle_text": "kept"}})
    assert extra.status_code == 200
    browser.sign_in(org.owner_email)
    page = browser.get(f"/admin/products/{card['id']}")
    assert page.status_code == 200
    version = re.search(r'name="version" value="(\d+)"', page.text)
    assert version
    saved = browser.submit(f"/admin/products/{card['id']}", {
        "version": version.group(1), "title": "Alpha (foil)", "status": "archived",
        "attributes.game": "magic", "attributes.set_code": "M21",
        "attributes.collector_number": "7", "attributes.rarity": "mythic",
        "media": "https://img.test/a.jpg"})
    assert saved.status_code == 303, saved.text
    body = _product(client, org, card["id"])
    assert body["title"] == "Alpha (foil)"
    assert body["status"] == "archived"
    assert body["attributes"]["rarity"] == "mythic"
    assert body["attributes"]["oracle_text"] == "kept"
    assert [m["url"] for m in body["media"]] == ["https://img.test/a.jpg"]
    stale = browser.submit(f"/admin/products/{card['id']}", {
        "version": version.group(1), "title": "Stale"})
    assert stale.status_code == 409
    bad = browser.submit(f"/admin/products/{card['id']}", {
        "version": str(int(version.group(1)) + 1), "title": "", "status": "active",
        "attributes.game": "chess", "attributes.set_code": "M21",
        "attributes.collector_number": "7"})
    assert bad.status_code == 422
    assert _error_beside(bad.text, "title")
    assert _product(client, org, card["id"])["title"] == "Alpha (foil)"


# -- variants ---------------------------------------------------------------------------------

def test_variants_are_added_edited_and_deleted(client: TestClient, browser: Browser,
                                               org: Org) -> None:
    _install(client, org)
    card = _card(client, org, "Alpha")
    browser.sign_in(org.owner_email)
    sku = f"ALPHA-LP-{new_id()}"
    added = browser.submit(f"/admin/products/{card['id']}/variants", {
        "variant.sku": sku, "variant.price": "0.80", "variant.attributes.condition": "LP",
        "variant.attributes.finish": "nonfoil", "variant.attributes.language": "EN"})
    assert added.status_code == 303, added.text
    variants = _product(client, org, card["id"])["variants"]
    assert [(v["sku"], v["attributes"]["condition"]) for v in variants][1] == (sku, "LP")
    new = variants[1]
    page = browser.get(f"/admin/products/{card['id']}/variants/{new['id']}")
    assert page.status_code == 200
    version = re.search(r'name="version" value="(\d+)"', page.text)
    assert version
    saved = browser.submit(f"/admin/products/{card['id']}/variants/{new['id']}", {
        "version": version.group(1), "sku": sku, "price": "0.95",
        "attributes.condition": "MP", "attributes.finish": "foil",
        "attributes.language": "EN"})
    assert saved.status_code == 303, saved.text
    got = client.get(f"/api/v1/variants/{new['id']}", headers=org.headers).json()
    assert got["price"] == "0.95"
    assert got["attributes"]["condition"] == "MP"
    bad = browser.submit(f"/admin/products/{card['id']}/variants/{new['id']}", {
        "version": str(got_version(client, org, new["id"])), "sku": sku, "price": "-1",
        "attributes.condition": "MINT", "attributes.finish": "foil",
        "attributes.language": "EN"})
    assert bad.status_code == 422
    assert _error_beside(bad.text, "price")
    assert client.get(f"/api/v1/variants/{new['id']}",
                      headers=org.headers).json()["price"] == "0.95"
    deleted = browser.submit(f"/admin/products/{card['id']}/variants/{new['id']}/delete")
    assert deleted.status_code == 303
    assert len(_product(client, org, card["id"])["variants"]) == 1
    last = card["variants"][0]["id"]
    refused = browser.submit(f"/admin/products/{card['id']}/variants/{last}/delete")
    assert refused.status_code == 409
    assert len(_product(client, org, card["id"])["variants"]) == 1


def got_version(client: TestClient, org: Org, variant_id: str) -> int:
    found = client.get(f"/api/v1/variants/{variant_id}", headers=org.headers)
    return int(found.headers["ETag"].strip('"').rsplit(".", 1)[1])


def test_a_bad_new_variant_shows_errors_beside_its_fields(client: TestClient,
                                                          browser: Browser, org: Org) -> None:
    _install(client, org)
    card = _card(client, org, "Alpha")
    browser.sign_in(org.owner_email)
    refused = browser.submit(f"/admin/products/{card['id']}/variants", {
        "variant.sku": card["variants"][0]["sku"], "variant.price": "1.00",
        "variant.attributes.condition": "NM", "variant.attributes.finish": "nonfoil",
        "variant.attributes.language": "EN"})
    assert refused.status_code == 422
    assert "is taken" in _error_beside(refused.text, "variant.sku")
    missing = browser.submit(f"/admin/products/{card['id']}/variants", {
        "variant.sku": f"NEW-{new_id()}", "variant.price": "1.00"})
    assert missing.status_code == 422
    assert _error_beside(missing.text, "variant.attributes.condition")
    assert len(_product(client, org, card["id"])["variants"]) == 1


def test_another_organizations_product_is_not_found(client: TestClient, browser: Browser,
                                                    org: Org, other_org: Org) -> None:
    _install(client, other_org)
    theirs = _card(client, other_org, "Theirs")
    browser.sign_in(org.owner_email)
    assert browser.get(f"/admin/products/{theirs['id']}").status_code == 404
    variant = theirs["variants"][0]["id"]
    assert browser.get(
        f"/admin/products/{theirs['id']}/variants/{variant}").status_code == 404


def test_a_list_page_costs_the_same_statements_however_many_rows(
        client: TestClient, browser: Browser, org: Org, db: Database) -> None:
    """No query per row: a page is the JSON list's one listing read (plus the types the
    filters offer), for 2 rows as for 12."""
    _install(client, org)
    for i in range(12):
        _card(client, org, f"Card {i}")
    browser.sign_in(org.owner_email)
    browser.get("/admin/products", params={"limit": 2})  # warm: the shape's statement is built
    counts = []
    for limit in (2, 12):
        with counting(db.engine) as counted:
            page = browser.get("/admin/products", params={"limit": limit,
                                                          "attr.game": "magic"})
        assert page.status_code == 200
        assert page.text.count('name="ids"') == limit
        counts.append(counted.total)
        listing = [s for s in counted.statements if "product_listings" in s]
        assert len(listing) == 1, listing
    assert counts[0] == counts[1]


def test_the_product_page_puts_the_product_in_collections(client: TestClient,
                                                          browser: Browser, org: Org) -> None:
    _install(client, org)
    card = _card(client, org, "Alpha")
    for slug in ("staples", "new"):
        made = client.post("/api/v1/collections", headers=org.headers,
                           json={"name": slug.title(), "slug": slug})
        assert made.status_code == 201
    browser.sign_in(org.owner_email)
    page = browser.get(f"/admin/products/{card['id']}")
    version = re.search(r'name="version" value="(\d+)"', page.text)
    assert version
    assert 'name="collection.staples"' in page.text
    fields = {"title": "Alpha", "status": "draft", "attributes.game": "magic",
              "attributes.set_code": "M21", "attributes.collector_number": "1"}
    saved = browser.submit(f"/admin/products/{card['id']}", {
        **fields, "version": version.group(1), "collections_shown": "1",
        "collection.staples": "true"})
    assert saved.status_code == 303, saved.text
    assert _product(client, org, card["id"])["collections"] == ["staples"]
    listed = browser.get("/admin/products", params={"collection": "staples"})
    assert "Alpha" in listed.text
    again = browser.get(f"/admin/products/{card['id']}")
    version = re.search(r'name="version" value="(\d+)"', again.text)
    assert version
    cleared = browser.submit(f"/admin/products/{card['id']}", {
        **fields, "version": version.group(1), "collections_shown": "1"})
    assert cleared.status_code == 303
    assert _product(client, org, card["id"])["collections"] == []


def test_facet_counts_narrow_the_list(client: TestClient, browser: Browser, org: Org) -> None:
    _install(client, org)
    _card(client, org, "Lightning Bolt", rarity="common")
    _card(client, org, "Counterspell", rarity="common")
    _card(client, org, "Pikachu", game="pokemon", rarity="rare")
    browser.sign_in(org.owner_email)
    page = browser.get("/admin/products", params={"attr.rarity": "common"})
    link = re.search(r'href="(/admin/products/facets[^"]*)"', page.text)
    assert link
    url = link.group(1).replace("&amp;", "&")
    counts = browser.get(url, headers={"HX-Request": "true"})
    assert counts.status_code == 200
    assert "<html" not in counts.text
    assert re.search(r">magic</a> <small>2</small>", counts.text), counts.text
    assert "pokemon" not in counts.text
    narrowed = re.search(r'href="([^"]*attr\.game=magic[^"]*)"', counts.text)
    assert narrowed
    assert "attr.rarity=common" in narrowed.group(1)
    whole = browser.get(url)
    assert whole.status_code == 200
    assert "Back to products" in whole.text
    bad = browser.get("/admin/products/facets", params={"price_min": "x"})
    assert bad.status_code == 422


def test_bulk_edit_of_the_whole_page_and_a_refusal_keeps_the_selection(
        client: TestClient, browser: Browser, org: Org) -> None:
    _install(client, org)
    cards = [_card(client, org, f"Card {i}") for i in range(3)]
    browser.sign_in(org.owner_email)
    page = browser.get("/admin/products", params={"limit": 2})
    on_page = re.findall(r'name="page_ids" value="([^"]+)"', page.text)
    assert len(on_page) == 2
    done = browser.submit("/admin/products/bulk", {
        "page_ids": on_page, "ids": [], "scope": "page", "set_status": "archived",
        "back": "limit=2"})
    assert done.status_code == 303, done.text
    statuses = {c["id"]: _product(client, org, c["id"])["status"] for c in cards}
    assert sorted(statuses.values()) == ["archived", "archived", "draft"]
    assert {i for i, s in statuses.items() if s == "archived"} == set(on_page)
    refused = browser.submit("/admin/products/bulk", {
        "ids": [on_page[0]], "page_ids": on_page, "set_price": "abc", "back": "limit=2"})
    assert refused.status_code == 422
    assert f'value="{on_page[0]}" aria-label="Select Card' in refused.text
    checked = re.search(rf'value="{on_page[0]}" aria-label="[^"]+" checked', refused.text)
    assert checked


def test_a_variant_is_archived_and_restored_from_the_product_page(
        client: TestClient, browser: Browser, org: Org) -> None:
    _install(client, org)
    card = _card(client, org, "Alpha")
    sku = f"ALPHA-DMG-{new_id()}"
    added = client.post(f"/api/v1/products/{card['id']}/variants", headers=org.headers, json={
        "sku": sku, "price": "0.50", "attributes": {
            "condition": "DMG", "finish": "nonfoil", "language": "EN"}})
    assert added.status_code == 201, added.text
    variant_id, first = added.json()["id"], card["variants"][0]["id"]
    browser.sign_in(org.owner_email)
    page = browser.get(f"/admin/products/{card['id']}")
    action = f"/admin/products/{card['id']}/variants/{variant_id}/archive"
    assert f'action="{action}"' in page.text
    assert f"Archive {sku}" in page.text
    no_csrf = browser.post(action, data={}, follow_redirects=False)
    assert no_csrf.status_code == 403
    assert client.get(f"/api/v1/variants/{variant_id}",
                      headers=org.headers).json()["archived_at"] is None
    archived = browser.submit(action)
    assert archived.status_code == 303, archived.text
    assert archived.headers["location"] == f"/admin/products/{card['id']}#variants"
    assert client.get(f"/api/v1/variants/{variant_id}",
                      headers=org.headers).json()["archived_at"] is not None
    shown = browser.get(archived.headers["location"]).text
    assert f"Variant {sku} archived." in shown
    assert ">Archived</span>" in shown
    assert f"Restore {sku}" in shown
    assert f"/variants/{first}/archive" not in shown  # the last live one: no button
    refused = browser.submit(f"/admin/products/{card['id']}/variants/{first}/archive")
    assert refused.status_code == 409
    assert "at least one live variant" in refused.text
    assert client.get(f"/api/v1/variants/{first}",
                      headers=org.headers).json()["archived_at"] is None
    restored = browser.submit(f"/admin/products/{card['id']}/variants/{variant_id}/unarchive")
    assert restored.status_code == 303, restored.text
    assert f"Variant {sku} restored." in browser.get(restored.headers["location"]).text
    assert client.get(f"/api/v1/variants/{variant_id}",
                      headers=org.headers).json()["archived_at"] is None


def test_a_reader_cannot_archive_a_variant_from_the_page(client: TestClient, browser: Browser,
                                                         org: Org) -> None:
    _install(client, org)
    card = _card(client, org, "Alpha")
    added = client.post(f"/api/v1/products/{card['id']}/variants", headers=org.headers, json={
        "sku": f"ALPHA-LP-{new_id()}", "price": "0.50", "attributes": {
            "condition": "LP", "finish": "nonfoil", "language": "EN"}})
    variant_id = added.json()["id"]
    browser.sign_in(add_staff(client, org, "fulfillment"))
    refused = browser.submit(f"/admin/products/{card['id']}/variants/{variant_id}/archive")
    assert refused.status_code == 403
    assert client.get(f"/api/v1/variants/{variant_id}",
                      headers=org.headers).json()["archived_at"] is None
