"""Settings: price lists and promotions."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient

from mercato.core.ids import new_id
from tests.conftest import Org
from tests.web.conftest import Browser
from tests.web.test_settings import signed_in


def a_sku(client: TestClient, org: Org) -> str:
    client.post("/api/v1/product-types/install", headers=org.headers, json={"set": "tcg"})
    sku = f"PL-{new_id()}"
    made = client.post("/api/v1/products", headers=org.headers, json={
        "title": "Sleeves", "product_type": "accessory",
        "variants": [{"sku": sku, "price": "5.00"}]})
    assert made.status_code == 201, made.text
    return sku


def api_list(client: TestClient, org: Org, path: str) -> list[dict[str, Any]]:
    answer = client.get(path, headers=org.headers)
    assert answer.status_code == 200, answer.text
    data: list[dict[str, Any]] = answer.json()["data"]
    return data


def test_pricing_page_permissions(app: FastAPI, client: TestClient, org: Org) -> None:
    cashier = signed_in(app, client, org, "cashier")  # pricing:read, not write
    page = cashier.get("/admin/settings/pricing")
    assert page.status_code == 200
    assert "Add price list" not in page.text
    assert cashier.submit("/admin/settings/price-lists",
                          {"name": "X", "currency": "USD"}).status_code == 403
    clerk = signed_in(app, client, org, "inventory")
    assert clerk.get("/admin/settings/pricing").status_code == 403


def test_a_price_list_with_prices(browser: Browser, client: TestClient, org: Org) -> None:
    sku = a_sku(client, org)
    browser.sign_in(org.owner_email)
    made = browser.submit("/admin/settings/price-lists", {
        "form": "price_list", "name": "Wholesale", "currency": "USD",
        "customer_group": "wholesale", "starts_at": "2026-01-01T09:00", "priority": "5",
        "active": "true"})
    assert made.status_code == 303, made.text
    found = api_list(client, org, "/api/v1/price-lists")[0]
    assert (found["name"], found["customer_group"], found["priority"]) == \
        ("Wholesale", "wholesale", 5)
    assert found["starts_at"].startswith("2026-01-01T09:00")
    path = made.headers["location"]
    prices = browser.submit(path + "/entries", {"entries": f"{sku} 4.50\n{sku} 4.00 10"})
    assert prices.status_code == 303, prices.text
    entries = client.get(f"/api/v1/price-lists/{found['id']}/entries",
                         headers=org.headers).json()["data"]
    assert sorted((e["min_quantity"], e["price"]) for e in entries) == \
        [(1, "4.50"), (10, "4.00")]
    unknown = browser.submit(path + "/entries", {"entries": "NOPE-1 1.00"})
    assert unknown.status_code == 422
    assert 'id="e-entries"' in unknown.text
    assert "NOPE-1 1.00" in unknown.text
    off = browser.submit(path, {"name": "Wholesale", "currency": "USD", "priority": "5"})
    assert off.status_code == 303, off.text
    assert api_list(client, org, "/api/v1/price-lists")[0]["active"] is False
    bad = browser.submit(path, {"name": "", "currency": "USD", "priority": "5000"})
    assert bad.status_code == 422
    assert 'id="e-priority"' in bad.text
    assert api_list(client, org, "/api/v1/price-lists")[0]["name"] == "Wholesale"


def test_a_promotion_add_edit_and_delete(browser: Browser, client: TestClient,
                                         org: Org) -> None:
    browser.sign_in(org.owner_email)
    made = browser.submit("/admin/settings/promotions", {
        "form": "promotion", "title": "Spring", "kind": "percentage", "value": "10",
        "codes": "SPRING10 spring-b", "scope_kind": "all", "stacking": "combinable",
        "priority": "0", "active": "true"})
    assert made.status_code == 303, made.text
    promo = api_list(client, org, "/api/v1/promotions")[0]
    assert sorted(promo["codes"]) == ["SPRING10", "spring-b"]
    assert promo["value"] == "10.00"
    page = browser.get(f"/admin/settings/promotions/{promo['id']}")
    assert page.status_code == 200
    assert 'value="Spring"' in page.text
    saved = browser.submit(f"/admin/settings/promotions/{promo['id']}", {
        "title": "Spring", "kind": "fixed_amount", "value": "5", "currency": "USD",
        "codes": "SPRING10", "scope_kind": "all", "stacking": "exclusive", "priority": "1"})
    assert saved.status_code == 303, saved.text
    after = client.get(f"/api/v1/promotions/{promo['id']}", headers=org.headers).json()
    assert (after["kind"], after["codes"], after["active"], after["stacking"]) == \
        ("fixed_amount", ["SPRING10"], False, "exclusive")
    deleted = browser.submit(f"/admin/settings/promotions/{promo['id']}/delete")
    assert deleted.status_code == 303
    assert api_list(client, org, "/api/v1/promotions") == []


def test_a_bad_promotion_is_422_beside_the_field(browser: Browser, client: TestClient,
                                                 org: Org) -> None:
    browser.sign_in(org.owner_email)
    refused = browser.submit("/admin/settings/promotions", {
        "form": "promotion", "title": "Broken", "kind": "fixed_amount", "value": "5",
        "scope_kind": "all", "active": "true"})
    assert refused.status_code == 422
    assert 'id="e-currency"' in refused.text
    assert 'value="Broken"' in refused.text
    no_values = browser.submit("/admin/settings/promotions", {
        "form": "promotion", "title": "Tags", "kind": "percentage", "value": "5",
        "scope_kind": "tag"})
    assert no_values.status_code == 422
    assert 'id="e-scope_values"' in no_values.text
    assert api_list(client, org, "/api/v1/promotions") == []
