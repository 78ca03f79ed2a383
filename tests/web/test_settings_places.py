"""Settings: locations, tax rates, shipping zones and methods."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient

from mercato.core.ids import new_id
from tests.conftest import Org
from tests.web.conftest import Browser
from tests.web.test_settings import signed_in


def api_list(client: TestClient, org: Org, path: str) -> list[dict[str, Any]]:
    answer = client.get(path, headers=org.headers, params={"limit": 250})
    assert answer.status_code == 200, answer.text
    data: list[dict[str, Any]] = answer.json()["data"]
    return data


def test_locations_for_inventory_staff_and_403_for_a_cashier_who_cannot_write(
        app: FastAPI, client: TestClient, org: Org) -> None:
    clerk = signed_in(app, client, org, "fulfillment")
    assert clerk.get("/admin/settings/locations").status_code == 200
    assert "Add location" not in clerk.get("/admin/settings/locations").text
    refused = clerk.submit("/admin/settings/locations", {"name": "Nope"})
    assert refused.status_code == 403
    cashier = signed_in(app, client, org, "cashier")
    assert cashier.get("/admin/settings").status_code == 403


def test_add_edit_and_deactivate_a_location(browser: Browser, client: TestClient,
                                            org: Org) -> None:
    browser.sign_in(org.owner_email)
    code = f"L{new_id()[-6:]}"
    added = browser.submit("/admin/settings/locations", {
        "name": "Back room", "code": code, "kind": "warehouse", "address.city": "Lyon",
        "address.country": "FR", "fulfills_online": "true"})
    assert added.status_code == 303, added.text
    found = next(x for x in api_list(client, org, "/api/v1/locations") if x["code"] == code)
    assert (found["kind"], found["address"]["city"], found["pickup"]) == \
        ("warehouse", "Lyon", False)
    page = browser.get(f"/admin/settings/locations/{found['id']}")
    assert page.status_code == 200
    assert 'value="Lyon"' in page.text
    saved = browser.submit(f"/admin/settings/locations/{found['id']}", {
        "name": "Back room 2", "kind": "warehouse", "address.city": "Lyon",
        "fulfills_online": "true"})
    assert saved.status_code == 303, saved.text
    after = client.get(f"/api/v1/locations/{found['id']}", headers=org.headers).json()
    assert (after["name"], after["active"]) == ("Back room 2", False)


def test_a_bad_location_is_422_beside_the_field(browser: Browser, client: TestClient,
                                                org: Org) -> None:
    browser.sign_in(org.owner_email)
    before = api_list(client, org, "/api/v1/locations")
    refused = browser.submit("/admin/settings/locations", {
        "name": "Half", "latitude": "45.0", "address.city": "Keep me"})
    assert refused.status_code == 422
    assert "give latitude and longitude together" in refused.text
    assert 'value="Keep me"' in refused.text
    bad_code = browser.submit("/admin/settings/locations", {"name": "X", "code": "no spaces"})
    assert bad_code.status_code == 422
    assert 'id="e-code"' in bad_code.text
    assert api_list(client, org, "/api/v1/locations") == before


def test_tax_rates_add_filter_edit_delete(browser: Browser, client: TestClient,
                                          org: Org) -> None:
    browser.sign_in(org.owner_email)
    assert browser.get("/admin/settings/tax-rates").status_code == 200
    added = browser.submit("/admin/settings/tax-rates", {
        "title": "CA tax", "country": "US", "region": "CA", "rate_percent": "7.25"})
    assert added.status_code == 303, added.text
    rate = api_list(client, org, "/api/v1/tax/rates")[0]
    assert (rate["rate"], rate["region"]) == ("0.0725", "US-CA")
    fragment = browser.get("/admin/settings/tax-rates", params={"country": "DE"},
                           headers={"HX-Request": "true"})
    assert fragment.status_code == 200
    assert "No tax rates for DE" in fragment.text
    assert "<html" not in fragment.text
    assert "CA tax" not in fragment.text
    assert "CA tax" in browser.get("/admin/settings/tax-rates?country=US").text
    saved = browser.submit(f"/admin/settings/tax-rates/{rate['id']}", {
        "title": "CA tax", "country": "US", "region": "CA", "rate_percent": "8"})
    assert saved.status_code == 303, saved.text
    assert api_list(client, org, "/api/v1/tax/rates")[0]["rate"] == "0.08"
    deleted = browser.submit(f"/admin/settings/tax-rates/{rate['id']}/delete")
    assert deleted.status_code == 303
    assert api_list(client, org, "/api/v1/tax/rates") == []


def test_a_bad_tax_rate_is_422_beside_the_field(app: FastAPI, browser: Browser,
                                                client: TestClient, org: Org) -> None:
    browser.sign_in(org.owner_email)
    refused = browser.submit("/admin/settings/tax-rates", {
        "title": "Bad", "country": "ZZ", "rate_percent": "5"})
    assert refused.status_code == 422
    assert 'id="e-country"' in refused.text
    assert 'value="Bad"' in refused.text
    too_much = browser.submit("/admin/settings/tax-rates", {
        "title": "Bad", "country": "US", "rate_percent": "lots"})
    assert too_much.status_code == 422
    assert 'id="e-rate_percent"' in too_much.text
    assert api_list(client, org, "/api/v1/tax/rates") == []
    clerk = signed_in(app, client, org, "fulfillment")
    assert clerk.get("/admin/settings/tax-rates").status_code == 403


def test_shipping_zone_and_method(browser: Browser, client: TestClient, org: Org) -> None:
    browser.sign_in(org.owner_email)
    zone = browser.submit("/admin/settings/shipping/zones",
                          {"form": "zone", "name": "Domestic", "countries": "US, CA"})
    assert zone.status_code == 303, zone.text
    zone_id = api_list(client, org, "/api/v1/shipping/zones")[0]["id"]
    method = browser.submit("/admin/settings/shipping/methods", {
        "form": "method", "title": "By weight", "code": "weight", "kind": "weight",
        "zone_id": zone_id, "currency": "USD", "weight_brackets": "500 4.00\n* 9.50",
        "active": "true"})
    assert method.status_code == 303, method.text
    found = api_list(client, org, "/api/v1/shipping/methods")[0]
    assert found["weight_brackets"] == [{"up_to_grams": 500, "price": "4.00"},
                                        {"up_to_grams": None, "price": "9.50"}]
    page = browser.get(f"/admin/settings/shipping/methods/{found['id']}")
    assert "500 4.00" in page.text
    off = browser.submit(f"/admin/settings/shipping/methods/{found['id']}", {
        "title": "By weight", "code": "weight", "kind": "weight", "zone_id": zone_id,
        "currency": "USD", "weight_brackets": "500 4.00\n* 9.50"})
    assert off.status_code == 303, off.text
    assert api_list(client, org, "/api/v1/shipping/methods")[0]["active"] is False
    in_use = browser.submit(f"/admin/settings/shipping/zones/{zone_id}/delete")
    assert in_use.status_code == 409
    assert len(api_list(client, org, "/api/v1/shipping/zones")) == 1


def test_a_bad_shipping_method_is_422_and_adds_nothing(browser: Browser, client: TestClient,
                                                       org: Org) -> None:
    browser.sign_in(org.owner_email)
    refused = browser.submit("/admin/settings/shipping/methods", {
        "form": "method", "title": "Flat", "code": "flat", "kind": "flat",
        "currency": "usd", "price": "5"})
    assert refused.status_code == 422
    assert 'id="e-currency"' in refused.text
    assert 'value="Flat"' in refused.text
    bad_zone = browser.submit("/admin/settings/shipping/zones",
                              {"form": "zone", "name": "Nowhere", "countries": ""})
    assert bad_zone.status_code == 422
    assert 'id="e-countries"' in bad_zone.text
    assert api_list(client, org, "/api/v1/shipping/methods") == []
    assert api_list(client, org, "/api/v1/shipping/zones") == []


def test_a_bad_change_to_a_location_or_rate_is_422_and_changes_nothing(
        browser: Browser, client: TestClient, org: Org) -> None:
    browser.sign_in(org.owner_email)
    made = client.post("/api/v1/locations", headers=org.headers,
                       json={"name": "Shop", "code": f"S{new_id()[-6:]}"})
    assert made.status_code == 201, made.text
    location = made.json()
    refused = browser.submit(f"/admin/settings/locations/{location['id']}", {
        "name": "Renamed", "kind": "store", "latitude": "10", "active": "true"})
    assert refused.status_code == 422
    assert "give latitude and longitude together" in refused.text
    assert 'value="Renamed"' in refused.text
    after = client.get(f"/api/v1/locations/{location['id']}", headers=org.headers).json()
    assert (after["name"], after["latitude"]) == ("Shop", None)
    rate = client.post("/api/v1/tax/rates", headers=org.headers, json={
        "country": "US", "title": "Federal", "rate": "0.05"}).json()
    bad = browser.submit(f"/admin/settings/tax-rates/{rate['id']}", {
        "title": "Federal", "country": "US", "region": "ZZ-99", "rate_percent": "5"})
    assert bad.status_code == 422
    assert client.get(f"/api/v1/tax/rates/{rate['id']}", headers=org.headers).json()[
        "region"] is None
