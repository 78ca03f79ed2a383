"""The storefront's pages for digital goods: a checkout without address or shipping when the
cart holds digital goods only, and the keys in the account's order page."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from mercato.core.db import Database
from tests.conftest import Org
from tests.digital.helpers import SECRET_URL, digital_product, pay, run_worker, upload_keys
from tests.storefront_helpers import sign_up
from tests.web.store.helpers import csrf_in
from tests.web.store.test_account_pages import login


@pytest.fixture
def guest(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, raise_server_exceptions=False, base_url="http://testserver") as b:
        yield b


def _fill(guest: TestClient, org: Org, sku: str) -> None:
    guest.get(f"/s/{org.slug}/")
    added = guest.post(f"/s/{org.slug}/cart/lines", data={
        "sku": sku, "quantity": "1", "csrf_token": guest.cookies.get("mercato_store_csrf")},
        follow_redirects=False)
    assert added.status_code == 303, added.text


def test_a_digital_cart_checks_out_with_an_email_only_and_the_keys_show_in_the_account(
        client: TestClient, guest: TestClient, org: Org, db: Database) -> None:
    product = digital_product(client, org)
    upload_keys(client, org, product["variant_id"], ["PAGE-KEY-1"])
    shopper = sign_up(client, org.slug)
    assert login(guest, org, shopper["email"]).status_code == 303
    _fill(guest, org, product["sku"])
    html = guest.get(f"/s/{org.slug}/checkout").text
    assert "Shipping address" not in html
    assert 'name="line1"' not in html
    assert 'name="shipping_method"' not in html
    assert "nothing to ship" in html
    placed = guest.post(f"/s/{org.slug}/checkout", data={
        "email": shopper["email"], "payment_method": "manual", "action": "place",
        "csrf_token": csrf_in(html)}, follow_redirects=False)
    assert placed.status_code == 303, placed.text
    orders = client.get("/api/v1/orders", headers=org.headers).json()["data"]
    order = next(o for o in orders if o["email"] == shopper["email"])
    staff = client.get(f"/api/v1/orders/{order['id']}", headers=org.headers).json()
    assert staff["shipping_address"] is None
    assert staff["shipping_total"] == "0.00"
    pay(client, org, order["id"])
    run_worker(db)
    page = guest.get(f"/s/{org.slug}/account/orders/{order['id']}")
    assert page.status_code == 200, page.text
    assert "Your digital items" in page.text
    assert "<code>PAGE-KEY-1</code>" in page.text
    assert SECRET_URL not in guest.get(f"/s/{org.slug}/products/{product['slug']}").text
