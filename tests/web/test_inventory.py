"""The admin's inventory pages: a SKU's levels, adjust, set a count, the ledger, the list."""

from __future__ import annotations

import re
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.conftest import Org
from tests.inventory.helpers import level, make_location, make_variants, receive
from tests.web.conftest import Browser, add_staff


def _stocked(client: TestClient, org: Org, units: int = 5) -> tuple[str, dict[str, Any]]:
    sku = make_variants(client, org)[0]
    place = make_location(client, org)
    receive(client, org, sku, place["code"], units)
    return sku, place


def _ledger(client: TestClient, org: Org, sku: str) -> list[dict[str, Any]]:
    found = client.get("/api/v1/inventory/ledger", headers=org.headers, params={"sku": sku})
    assert found.status_code == 200, found.text
    return list(found.json()["data"])


def test_a_skus_page_shows_its_levels_and_the_adjust_form(client: TestClient,
                                                          browser: Browser, org: Org) -> None:
    sku, place = _stocked(client, org, 5)
    browser.sign_in(org.owner_email)
    page = browser.get("/admin/inventory", params={"sku": sku})
    assert page.status_code == 200, page.text
    assert f"Location {place['code']} ({place['code']})" in page.text
    assert '<label for="f-location">Location' in page.text
    assert '<label for="f-change">Change' in page.text
    assert '<label for="f-reason">Reason' in page.text
    assert ">Adjust</button>" in page.text
    assert f'<option value="{place["id"]}">' in page.text
    assert "Set count" in page.text
    assert 'id="ledger"' in page.text
    assert "restock" in page.text  # the ledger row of the receipt


def test_adjust_changes_the_level_the_api_shows_and_writes_the_ledger(
        client: TestClient, browser: Browser, org: Org) -> None:
    sku, place = _stocked(client, org, 5)
    browser.sign_in(org.owner_email)
    done = browser.submit("/admin/inventory/adjust", {
        "sku": sku, "location": place["id"], "change": "-2", "reason": "damage",
        "note": "dropped"})
    assert done.status_code == 303, done.text  # type: ignore[attr-defined]
    assert done.headers["location"] == f"/admin/inventory?sku={sku}"  # type: ignore[attr-defined]
    assert level(client, org, sku, place["code"])["on_hand"] == 3
    newest = _ledger(client, org, sku)[0]
    assert (newest["delta_on_hand"], newest["reason"], newest["note"]) == (-2, "damage",
                                                                           "dropped")
    page = browser.get("/admin/inventory", params={"sku": sku})
    assert "lowered by 2" in page.text  # the flash
    assert "dropped" in page.text  # the ledger, newest first


def test_a_bad_change_is_422_beside_the_field_and_changes_nothing(
        client: TestClient, browser: Browser, org: Org) -> None:
    sku, place = _stocked(client, org, 5)
    browser.sign_in(org.owner_email)
    for change, words in (("abc", "valid integer"), ("-9", "available"), ("0", "not be 0")):
        refused = browser.submit("/admin/inventory/adjust", {
            "sku": sku, "location": place["id"], "change": change, "reason": "damage"})
        assert refused.status_code == 422, (change, refused.text)  # type: ignore[attr-defined]
        text = refused.text  # type: ignore[attr-defined]
        error = re.search(r'<small class="field-error" id="e-change">([^<]*)</small>', text)
        assert error, (change, text)
        assert words in error.group(1), (change, error.group(1))
        assert f'value="{change}"' in text  # the value is kept
        assert 'aria-invalid="true"' in text
    missing = browser.submit("/admin/inventory/adjust", {
        "sku": sku, "location": "", "change": "2", "reason": "restock"})
    assert missing.status_code == 422  # type: ignore[attr-defined]
    assert 'id="e-location"' in missing.text  # type: ignore[attr-defined]
    assert level(client, org, sku, place["code"])["on_hand"] == 5
    assert len(_ledger(client, org, sku)) == 1


def test_set_count_sets_on_hand_and_reorder_settings(client: TestClient, browser: Browser,
                                                     org: Org) -> None:
    sku, place = _stocked(client, org, 5)
    browser.sign_in(org.owner_email)
    form = browser.get("/admin/inventory/set-count", params={"sku": sku})
    assert form.status_code == 200
    assert ">Set count</button>" in form.text
    done = browser.submit("/admin/inventory/set-count", {
        "sku": sku, "location": place["id"], "on_hand": "12", "reason": "count",
        "reorder_point": "15", "reorder_quantity": "10"})
    assert done.status_code == 303, done.text  # type: ignore[attr-defined]
    now = level(client, org, sku, place["code"])
    assert (now["on_hand"], now["reorder_point"], now["reorder_quantity"]) == (12, 15, 10)
    assert _ledger(client, org, sku)[0]["delta_on_hand"] == 7

    refused = browser.submit("/admin/inventory/set-count", {
        "sku": sku, "location": place["id"], "on_hand": "-1", "reason": "count"})
    assert refused.status_code == 422  # type: ignore[attr-defined]
    assert 'id="e-on_hand"' in refused.text  # type: ignore[attr-defined]
    assert level(client, org, sku, place["code"])["on_hand"] == 12

    low = browser.get("/admin/inventory/low-stock")
    assert low.status_code == 200
    row = re.search(rf">{re.escape(sku)}</a>.*?</tr>", low.text, re.S)
    assert row, low.text
    assert "<td>10</td>" in row.group(0)  # the suggestion: the reorder quantity
    assert "Order the suggested units" in low.text


def test_the_list_filters_by_search_and_location_and_pages(client: TestClient,
                                                           browser: Browser, org: Org) -> None:
    skus = make_variants(client, org, 3)
    here, there = make_location(client, org), make_location(client, org)
    for sku in skus:
        receive(client, org, sku, here["code"], 2)
    receive(client, org, skus[0], there["code"], 1)
    browser.sign_in(org.owner_email)
    listed = browser.get("/admin/inventory", params={"q": skus[1]})
    assert listed.status_code == 200
    assert f">{skus[1]}</a>" in listed.text
    assert f">{skus[2]}</a>" not in listed.text
    at_there = browser.get("/admin/inventory", params={"location": there["id"]})
    assert at_there.text.count(f">{skus[0]}</a>") == 1
    assert f">{skus[1]}</a>" not in at_there.text
    fragment = browser.get("/admin/inventory", params={"location": here["id"]},
                           headers={"HX-Request": "true"})
    assert "<html" not in fragment.text
    assert all(f">{sku}</a>" in fragment.text for sku in skus)


def test_roles(client: TestClient, app: FastAPI, org: Org) -> None:
    sku, place = _stocked(client, org, 5)
    clerk = Browser(app, raise_server_exceptions=False)
    clerk.sign_in(add_staff(client, org, "fulfillment"))  # inventory:read only
    page = clerk.get("/admin/inventory", params={"sku": sku})
    assert page.status_code == 200
    assert ">Adjust</button>" not in page.text
    refused = clerk.submit("/admin/inventory/adjust", {
        "sku": sku, "location": place["id"], "change": "1", "reason": "restock"})
    assert refused.status_code == 403  # type: ignore[attr-defined]
    assert clerk.get("/admin/inventory/set-count", params={"sku": sku}).status_code == 403
    assert level(client, org, sku, place["code"])["on_hand"] == 5
    nobody = Browser(app, raise_server_exceptions=False)
    nobody.sign_in(add_staff(client, org, "cashier"))
    assert nobody.get("/admin/inventory/transfers/new").status_code == 403


def test_an_unknown_sku_is_a_404_page(browser: Browser, org: Org) -> None:
    browser.sign_in(org.owner_email)
    missing = browser.get("/admin/inventory", params={"sku": "NO-SUCH-SKU"})
    assert missing.status_code == 404
    assert "text/html" in missing.headers["content-type"]


def test_the_list_pages_with_a_cursor_and_finds_by_title(client: TestClient,
                                                         browser: Browser, org: Org) -> None:
    skus = make_variants(client, org, 51)
    place = make_location(client, org)
    done = client.post("/api/v1/inventory/adjustments", headers=org.headers, json={
        "lines": [{"sku": sku, "location": place["code"], "delta": 1, "reason": "restock"}
                  for sku in skus]})
    assert done.status_code == 201, done.text
    browser.sign_in(org.owner_email)
    first = browser.get("/admin/inventory", params={"location": place["id"]})
    shown = re.findall(r">(INV-[^<]+)</a>", first.text)
    assert len(shown) == 50
    next_link = re.search(r'<a href="([^"]+)" rel="next">Next page</a>', first.text)
    assert next_link, first.text
    second = browser.get(next_link.group(1).replace("&amp;", "&"))
    rest = re.findall(r">(INV-[^<]+)</a>", second.text)
    assert sorted(shown + rest) == sorted(skus)
    assert 'rel="next"' not in second.text
    title = client.get("/api/v1/products", headers=org.headers,
                       params={"q": skus[0]}).json()["data"][0]["title"]
    by_title = browser.get("/admin/inventory", params={"q": title, "location": place["id"]})
    assert len(re.findall(r">(INV-[^<]+)</a>", by_title.text)) == 50  # the product's variants
