"""The admin's product types, categories and collections pages."""

from __future__ import annotations

import json
import re
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.conftest import Org
from tests.web.conftest import Browser, add_staff

SCHEMA = {"type": "object", "properties": {
    "brand": {"type": "string", "enum": ["Ultra Pro", "Dragon Shield"]},
    "pockets": {"type": "integer"}, "sleeved": {"type": "boolean"}},
    "required": ["brand"]}


def _error_beside(html: str, field: str) -> str:
    found = re.search(rf'id="e-{re.escape(field.replace(".", "-"))}">([^<]*)<', html)
    assert found, f"no error beside {field}"
    return found.group(1)


def _types(client: TestClient, org: Org) -> dict[str, dict[str, Any]]:
    listed = client.get("/api/v1/product-types", headers=org.headers, params={"limit": 250})
    return {t["slug"]: t for t in listed.json()["data"]}


def test_install_and_list_product_types(client: TestClient, browser: Browser,
                                        org: Org) -> None:
    browser.sign_in(org.owner_email)
    empty = browser.get("/admin/product-types")
    assert empty.status_code == 200
    assert "Install card types" in empty.text
    installed = browser.submit("/admin/product-types/install")
    assert installed.status_code == 303
    assert "tcg-single" in _types(client, org)
    page = browser.get("/admin/product-types")
    assert "Trading card (single)" in page.text


def test_a_new_type_is_saved_and_its_schema_makes_the_product_fields(
        client: TestClient, browser: Browser, org: Org) -> None:
    browser.sign_in(org.owner_email)
    form = browser.get("/admin/product-types/new")
    assert form.status_code == 200
    assert 'for="f-attributes_schema">Product attributes (JSON Schema)' in form.text
    saved = browser.submit("/admin/product-types", {
        "name": "Binder", "slug": "binder", "attributes_schema": json.dumps(SCHEMA),
        "variant_attributes_schema": '{"type": "object"}'})
    assert saved.status_code == 303, saved.text
    made = _types(client, org)["binder"]
    assert made["attributes_schema"] == SCHEMA
    fields = browser.get("/admin/products/new", params={"product_type": made["id"]},
                         headers={"HX-Request": "true"})
    assert re.search(r'<select id="f-attributes-brand" name="attributes.brand" required',
                     fields.text)
    assert 'name="attributes.pockets" type="number"' in fields.text
    assert 'name="attributes.sleeved" type="checkbox"' in fields.text
    product = browser.submit("/admin/products", {
        "title": "Binder 9", "product_type": made["id"], "sku": "BIND-9", "price": "19.99",
        "attributes.brand": "Ultra Pro", "attributes.pockets": "9",
        "attributes.sleeved": "true"})
    assert product.status_code == 303, product.text
    body = client.get(f"/api/v1{product.headers['location'].removeprefix('/admin')}",
                      headers=org.headers).json()
    assert body["attributes"] == {"brand": "Ultra Pro", "pockets": 9, "sleeved": True}
    wrong = browser.submit("/admin/products", {
        "title": "Binder 12", "product_type": made["id"], "sku": "BIND-12", "price": "1",
        "attributes.brand": "Ultra Pro", "attributes.pockets": "twelve"})
    assert wrong.status_code == 422
    assert "integer" in _error_beside(wrong.text, "attributes.pockets")


def test_a_bad_schema_is_shown_beside_its_field_and_saves_nothing(
        client: TestClient, browser: Browser, org: Org) -> None:
    browser.sign_in(org.owner_email)
    not_json = browser.submit("/admin/product-types", {
        "name": "Bad", "slug": "bad", "attributes_schema": "{type: object",
        "variant_attributes_schema": "{}"})
    assert not_json.status_code == 422
    assert _error_beside(not_json.text, "attributes_schema").startswith("Not valid JSON")
    assert "{type: object" in not_json.text
    not_object = browser.submit("/admin/product-types", {
        "name": "Bad", "slug": "bad", "attributes_schema": '{"type": "array"}'})
    assert not_object.status_code == 422
    assert 'must be "object"' in _error_beside(not_object.text, "attributes_schema").replace(
        "&#34;", '"')
    bad_schema = browser.submit("/admin/product-types", {
        "name": "Bad", "slug": "bad",
        "attributes_schema": '{"type": "object", "properties": {"x": {"type": "wat"}}}'})
    assert bad_schema.status_code == 422
    assert _error_beside(bad_schema.text, "attributes_schema")
    bad_slug = browser.submit("/admin/product-types", {"name": "Bad", "slug": "Not A Slug"})
    assert bad_slug.status_code == 422
    assert _error_beside(bad_slug.text, "slug")
    assert "bad" not in _types(client, org)


def test_editing_a_type_is_refused_when_products_would_break(
        client: TestClient, browser: Browser, org: Org) -> None:
    browser.sign_in(org.owner_email)
    browser.submit("/admin/product-types", {"name": "Binder", "slug": "binder",
                                            "attributes_schema": json.dumps(SCHEMA)})
    made = _types(client, org)["binder"]
    created = client.post("/api/v1/products", headers=org.headers, json={
        "title": "Binder", "product_type": "binder", "attributes": {"brand": "Ultra Pro"},
        "variants": [{"sku": f"B-{made['id']}", "price": "5.00"}]})
    assert created.status_code == 201, created.text
    page = browser.get(f"/admin/product-types/{made['id']}")
    assert page.status_code == 200
    version = re.search(r'name="version" value="(\d+)"', page.text)
    assert version
    narrower = {**SCHEMA, "properties": {**SCHEMA["properties"],
                                         "brand": {"type": "string", "enum": ["Dragon Shield"]}}}
    refused = browser.submit(f"/admin/product-types/{made['id']}", {
        "version": version.group(1), "name": "Binder",
        "attributes_schema": json.dumps(narrower)})
    assert refused.status_code == 422
    assert "brand" in _error_beside(refused.text, "attributes_schema")
    assert _types(client, org)["binder"]["attributes_schema"] == SCHEMA
    renamed = browser.submit(f"/admin/product-types/{made['id']}", {
        "version": version.group(1), "name": "Binders",
        "attributes_schema": json.dumps(SCHEMA)})
    assert renamed.status_code == 303, renamed.text
    assert _types(client, org)["binder"]["name"] == "Binders"


def test_only_catalog_writers_change_types_categories_and_collections(
        app: FastAPI, client: TestClient, org: Org) -> None:
    cashier = Browser(app, raise_server_exceptions=False)
    cashier.sign_in(add_staff(client, org, "cashier"))
    for path in ("/admin/product-types", "/admin/categories", "/admin/collections"):
        page = cashier.get(path)
        assert page.status_code == 200, path
        assert "New " not in page.text
    for path in ("/admin/product-types/new", "/admin/categories/new",
                 "/admin/collections/new", "/admin/categories/01ABCDEFGHJKMNPQRSTVWXYZ00"):
        assert cashier.get(path).status_code == 403, path
    for path in ("/admin/product-types", "/admin/product-types/install",
                 "/admin/categories", "/admin/collections"):
        assert cashier.submit(path, {"name": "X", "slug": "x"}).status_code == 403, path
    assert _types(client, org) == {}


def test_categories_are_created_under_a_parent(client: TestClient, browser: Browser,
                                               org: Org) -> None:
    browser.sign_in(org.owner_email)
    assert browser.get("/admin/categories/new").status_code == 200
    top = browser.submit("/admin/categories", {"name": "Magic", "slug": "magic"})
    assert top.status_code == 303, top.text
    listed = client.get("/api/v1/categories", headers=org.headers).json()["data"]
    magic = next(c for c in listed if c["slug"] == "magic")
    child = browser.submit("/admin/categories", {"name": "Singles", "slug": "magic-singles",
                                                 "parent": magic["id"]})
    assert child.status_code == 303
    listed = client.get("/api/v1/categories", headers=org.headers).json()["data"]
    assert next(c for c in listed if c["slug"] == "magic-singles")["parent_id"] == magic["id"]
    page = browser.get("/admin/categories")
    assert "Singles" in page.text
    taken = browser.submit("/admin/categories", {"name": "Again", "slug": "magic"})
    assert taken.status_code == 422
    assert _error_beside(taken.text, "slug") == "already in use"
    assert len(client.get("/api/v1/categories", headers=org.headers).json()["data"]) == 2


def test_a_category_is_edited_moved_and_deleted_from_its_page(
        client: TestClient, browser: Browser, org: Org) -> None:
    browser.sign_in(org.owner_email)
    browser.submit("/admin/categories", {"name": "Magic", "slug": "magic"})
    browser.submit("/admin/categories", {"name": "Pokemon", "slug": "pokemon"})
    listed = {c["slug"]: c for c in client.get("/api/v1/categories",
                                                headers=org.headers).json()["data"]}
    magic, pokemon = listed["magic"], listed["pokemon"]
    browser.submit("/admin/categories", {"name": "Singles", "slug": "singles",
                                         "parent": magic["id"]})
    singles = next(c for c in client.get("/api/v1/categories", headers=org.headers)
                   .json()["data"] if c["slug"] == "singles")
    assert f'href="/admin/categories/{magic["id"]}"' in browser.get("/admin/categories").text
    form = browser.get(f"/admin/categories/{magic['id']}")
    assert form.status_code == 200
    assert f'value="{singles["id"]}"' not in form.text  # its own subtree is no parent
    saved = browser.submit(f"/admin/categories/{singles['id']}", {
        "name": "Pokemon singles", "slug": "pokemon-singles", "parent": pokemon["id"]})
    assert saved.status_code == 303, saved.text
    moved = client.get(f"/api/v1/categories/{singles['id']}", headers=org.headers).json()
    assert (moved["name"], moved["parent_id"]) == ("Pokemon singles", pokemon["id"])
    taken = browser.submit(f"/admin/categories/{singles['id']}", {
        "name": "X", "slug": "magic", "parent": ""})
    assert taken.status_code == 422
    assert _error_beside(taken.text, "slug") == "already in use"
    held = browser.submit(f"/admin/categories/{pokemon['id']}/delete")
    assert held.status_code == 409
    assert "subcategories" in held.text
    assert browser.submit(f"/admin/categories/{singles['id']}/delete").status_code == 303
    assert browser.submit(f"/admin/categories/{pokemon['id']}/delete").status_code == 303
    assert [c["slug"] for c in client.get("/api/v1/categories", headers=org.headers)
            .json()["data"]] == ["magic"]


def test_collections_are_created_edited_and_deleted(client: TestClient, browser: Browser,
                                                    org: Org) -> None:
    browser.sign_in(org.owner_email)
    made = browser.submit("/admin/collections", {"name": "New arrivals", "slug": "new",
                                                 "description": "This week"})
    assert made.status_code == 303, made.text
    path = made.headers["location"]
    collection_id = path.rsplit("/", 1)[1]
    assert browser.get("/admin/collections").status_code == 200
    assert browser.get(path).status_code == 200
    bad = browser.submit(path, {"name": "", "description": "x"})
    assert bad.status_code == 422
    assert _error_beside(bad.text, "name")
    saved = browser.submit(path, {"name": "Fresh", "description": "Today"})
    assert saved.status_code == 303
    got = client.get(f"/api/v1/collections/{collection_id}", headers=org.headers).json()
    assert (got["name"], got["description"]) == ("Fresh", "Today")
    gone = browser.submit(f"{path}/delete")
    assert gone.status_code == 303
    assert client.get(f"/api/v1/collections/{collection_id}",
                      headers=org.headers).status_code == 404


def test_another_organizations_types_and_collections_are_not_found(
        client: TestClient, browser: Browser, org: Org, other_org: Org) -> None:
    installed = client.post("/api/v1/product-types/install", headers=other_org.headers,
                            json={"set": "tcg"}).json()
    theirs = client.post("/api/v1/collections", headers=other_org.headers,
                         json={"name": "Theirs", "slug": "theirs"}).json()
    browser.sign_in(org.owner_email)
    assert browser.get(f"/admin/product-types/{installed[0]['id']}").status_code == 404
    assert browser.submit(f"/admin/product-types/{installed[0]['id']}",
                          {"name": "Mine", "version": "1"}).status_code == 404
    assert browser.get(f"/admin/collections/{theirs['id']}").status_code == 404
    assert browser.submit(f"/admin/collections/{theirs['id']}/delete").status_code == 404
    assert client.get(f"/api/v1/collections/{theirs['id']}",
                      headers=other_org.headers).status_code == 200
    assert "Trading card" not in browser.get("/admin/product-types").text
