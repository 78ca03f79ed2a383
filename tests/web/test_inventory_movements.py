"""The admin's transfers, count sheets, purchase orders and channel buffers pages."""

from __future__ import annotations

import re
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient

from mercato.core.ids import new_id
from tests.conftest import Org
from tests.inventory.helpers import level, make_location, make_variants, receive
from tests.web.conftest import Browser, add_staff


def _made_id(answer: Any, prefix: str) -> str:
    assert answer.status_code == 303, answer.text
    found = re.fullmatch(rf"{prefix}/([0-9A-Z]{{26}})", answer.headers["location"])
    assert found, answer.headers["location"]
    return found.group(1)


def _error(text: str, field: str) -> str:
    found = re.search(rf'<small class="field-error" id="e-{field}">([^<]*)</small>', text)
    assert found, text
    return found.group(1)


def test_a_transfer_is_created_then_received(client: TestClient, browser: Browser,
                                             org: Org) -> None:
    a, b = make_variants(client, org, 2)
    here, there = make_location(client, org), make_location(client, org)
    receive(client, org, a, here["code"], 5)
    receive(client, org, b, here["code"], 5)
    browser.sign_in(org.owner_email)
    form = browser.get("/admin/inventory/transfers/new")
    assert form.status_code == 200
    assert ">Create transfer</button>" in form.text
    made = browser.submit("/admin/inventory/transfers", {
        "from_location": here["id"], "to_location": there["id"], "lines": f"{a}, 3\n{b} 2"})
    transfer_id = _made_id(made, "/admin/inventory/transfers")
    assert level(client, org, a, here["code"])["on_hand"] == 2
    api = client.get(f"/api/v1/inventory/transfers/{transfer_id}", headers=org.headers).json()
    assert api["status"] == "in_transit"
    page = browser.get(f"/admin/inventory/transfers/{transfer_id}")
    assert page.status_code == 200
    assert f"Receive {a}" in page.text
    # part of one line, then everything else
    part = browser.submit(f"/admin/inventory/transfers/{transfer_id}/receive",
                          {"quantity": ["1", ""]})
    assert part.status_code == 303, part.text  # type: ignore[attr-defined]
    assert level(client, org, a, there["code"])["on_hand"] == 1
    too_many = browser.submit(f"/admin/inventory/transfers/{transfer_id}/receive",
                              {"quantity": ["9", ""]})
    assert too_many.status_code == 422  # type: ignore[attr-defined]
    assert _error(too_many.text, "quantity_0")  # type: ignore[attr-defined]
    assert level(client, org, a, there["code"])["on_hand"] == 1
    rest = browser.submit(f"/admin/inventory/transfers/{transfer_id}/receive",
                          {"quantity": ["", ""]})
    assert rest.status_code == 303  # type: ignore[attr-defined]
    assert (level(client, org, a, there["code"])["on_hand"],
            level(client, org, b, there["code"])["on_hand"]) == (3, 2)
    api = client.get(f"/api/v1/inventory/transfers/{transfer_id}", headers=org.headers).json()
    assert api["status"] == "received"
    listed = browser.get("/admin/inventory/transfers", params={"status": "received"})
    assert f"/admin/inventory/transfers/{transfer_id}" in listed.text


def test_a_transfer_of_more_than_there_is_is_422_and_moves_nothing(
        client: TestClient, browser: Browser, org: Org) -> None:
    sku = make_variants(client, org)[0]
    here, there = make_location(client, org), make_location(client, org)
    receive(client, org, sku, here["code"], 2)
    browser.sign_in(org.owner_email)
    refused = browser.submit("/admin/inventory/transfers", {
        "from_location": here["id"], "to_location": there["id"], "lines": f"{sku}, 3"})
    assert refused.status_code == 422  # type: ignore[attr-defined]
    assert "Line 1" in _error(refused.text, "lines")  # type: ignore[attr-defined]
    assert f"{sku}, 3" in refused.text  # type: ignore[attr-defined]
    same = browser.submit("/admin/inventory/transfers", {
        "from_location": here["id"], "to_location": here["id"], "lines": f"{sku}, 1"})
    assert same.status_code == 422  # type: ignore[attr-defined]
    assert _error(same.text, "to_location")  # type: ignore[attr-defined]
    assert level(client, org, sku, here["code"])["on_hand"] == 2


def test_a_count_sheet_is_started_counted_and_applied(client: TestClient, browser: Browser,
                                                      org: Org) -> None:
    a, b = make_variants(client, org, 2)
    place = make_location(client, org)
    receive(client, org, a, place["code"], 7)
    receive(client, org, b, place["code"], 3)
    browser.sign_in(org.owner_email)
    made = browser.submit("/admin/inventory/counts", {"location": place["id"], "skus": ""})
    count_id = _made_id(made, "/admin/inventory/counts")
    page = browser.get(f"/admin/inventory/counts/{count_id}")
    lines = re.findall(r'>(INV-[^<]+)</a>', page.text)
    assert sorted(lines) == sorted([a, b])
    counted = {a: "6", b: "3"}
    bad = browser.submit(f"/admin/inventory/counts/{count_id}/lines",
                         {"counted": ["-1", ""]})
    assert bad.status_code == 422  # type: ignore[attr-defined]
    assert _error(bad.text, "counted_0")  # type: ignore[attr-defined]
    saved = browser.submit(f"/admin/inventory/counts/{count_id}/lines",
                           {"counted": [counted[sku] for sku in lines]})
    assert saved.status_code == 303, saved.text  # type: ignore[attr-defined]
    applied = browser.submit(f"/admin/inventory/counts/{count_id}/apply", {"reason": "count"})
    assert applied.status_code == 303, applied.text  # type: ignore[attr-defined]
    assert level(client, org, a, place["code"])["on_hand"] == 6
    api = client.get(f"/api/v1/inventory/counts/{count_id}", headers=org.headers).json()
    assert api["status"] == "applied"


def test_a_purchase_order_is_created_and_received(client: TestClient, browser: Browser,
                                                  org: Org) -> None:
    a, b = make_variants(client, org, 2)
    place = make_location(client, org)
    browser.sign_in(org.owner_email)
    prefilled = browser.get("/admin/inventory/purchase-orders/new",
                            params={"lines": f"{a}, 4, 0.50"})
    assert f"{a}, 4, 0.50" in prefilled.text
    bad = browser.submit("/admin/inventory/purchase-orders", {
        "supplier": "Acme", "currency": "USD", "lines": f"{a}, 4, lots"})
    assert bad.status_code == 422  # type: ignore[attr-defined]
    assert "Line 1 (unit cost)" in _error(bad.text, "lines")  # type: ignore[attr-defined]
    made = browser.submit("/admin/inventory/purchase-orders", {
        "supplier": f"Acme {new_id()}", "currency": "USD",
        "lines": f"{a}, 4, 0.50\n{b}, 2, 1.25"})
    order_id = _made_id(made, "/admin/inventory/purchase-orders")
    too_many = browser.submit(f"/admin/inventory/purchase-orders/{order_id}/receive",
                              {"location": place["id"], "quantity": ["5", ""]})
    assert too_many.status_code == 422  # type: ignore[attr-defined]
    assert "outstanding" in _error(too_many.text, "quantity_0")  # type: ignore[attr-defined]
    nowhere = browser.submit(f"/admin/inventory/purchase-orders/{order_id}/receive",
                             {"location": "", "quantity": ["1", ""]})
    assert nowhere.status_code == 422  # type: ignore[attr-defined]
    assert _error(nowhere.text, "location")  # type: ignore[attr-defined]
    done = browser.submit(f"/admin/inventory/purchase-orders/{order_id}/receive",
                          {"location": place["id"], "quantity": ["4", "1"]})
    assert done.status_code == 303, done.text  # type: ignore[attr-defined]
    assert level(client, org, a, place["code"])["on_hand"] == 4
    api = client.get(f"/api/v1/purchase-orders/{order_id}", headers=org.headers).json()
    assert api["status"] == "partially_received"
    listed = browser.get("/admin/inventory/purchase-orders")
    assert f"/admin/inventory/purchase-orders/{order_id}" in listed.text


def test_channel_buffers_and_available_to_sell(client: TestClient, browser: Browser,
                                               app: FastAPI, org: Org) -> None:
    sku = make_variants(client, org)[0]
    place = make_location(client, org)
    receive(client, org, sku, place["code"], 10)
    channel = client.post("/api/v1/channels", headers=org.headers, json={
        "name": f"Web {new_id()}", "kind": "web", "locations": [place["code"]]}).json()
    browser.sign_in(org.owner_email)
    page = browser.get("/admin/inventory", params={"sku": sku})
    assert "Available to sell by channel" in page.text
    done = browser.submit("/admin/inventory/buffers", {"sku": sku, "channel": channel["id"],
                                                        "buffer": "3"})
    assert done.status_code == 303, done.text  # type: ignore[attr-defined]
    atp = client.get(f"/api/v1/channels/{channel['id']}/availability", headers=org.headers,
                     params={"sku": sku}).json()
    assert (atp["available_to_sell"], atp["buffer"]) == (7, 3)
    bad = browser.submit("/admin/inventory/buffers", {"sku": sku, "channel": channel["id"],
                                                       "buffer": "-2"})
    assert bad.status_code == 422  # type: ignore[attr-defined]
    assert _error(bad.text, "buffer")  # type: ignore[attr-defined]
    stock = Browser(app, raise_server_exceptions=False)
    stock.sign_in(add_staff(client, org, "inventory"))  # channels:read, not channels:write
    assert stock.get("/admin/inventory/buffers", params={"sku": sku}).status_code == 200
    refused = stock.submit("/admin/inventory/buffers", {"sku": sku, "channel": channel["id"],
                                                        "buffer": "0"})
    assert refused.status_code == 403  # type: ignore[attr-defined]
    assert client.get(f"/api/v1/channels/{channel['id']}/availability", headers=org.headers,
                      params={"sku": sku}).json()["buffer"] == 3


def test_read_only_roles_see_the_lists_but_cannot_act(client: TestClient, app: FastAPI,
                                                      org: Org) -> None:
    clerk = Browser(app, raise_server_exceptions=False)
    clerk.sign_in(add_staff(client, org, "fulfillment"))
    for path in ("/admin/inventory/transfers", "/admin/inventory/counts",
                 "/admin/inventory/purchase-orders", "/admin/inventory/low-stock"):
        assert clerk.get(path).status_code == 200, path
    for path in ("/admin/inventory/transfers/new", "/admin/inventory/counts/new",
                 "/admin/inventory/purchase-orders/new"):
        assert clerk.get(path).status_code == 403, path
    refused = clerk.submit("/admin/inventory/purchase-orders", {
        "supplier": "X", "lines": "A, 1, 1.00"})
    assert refused.status_code == 403  # type: ignore[attr-defined]
