"""The admin's digital delivery pages: a digital product type, a variant's delivery settings
and key upload, and an order's deliveries with retry and mark-delivered."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from mercato.core.db import Database
from tests.checkout.helpers import checkout
from tests.conftest import Org
from tests.digital.helpers import (
    deliveries,
    digital_cart,
    digital_product,
    pay,
    pool_of,
    run_worker,
)
from tests.web.conftest import Browser


def test_a_product_type_is_made_digital_on_its_page(client: TestClient, browser: Browser,
                                                    org: Org) -> None:
    browser.sign_in(org.owner_email)
    form = browser.get("/admin/product-types/new")
    assert "Digital goods" in form.text
    made = browser.submit("/admin/product-types", {
        "name": "Software", "slug": "software", "digital": "true",
        "attributes_schema": '{"type": "object", "properties": {"url": {"type": "string", '
                             '"x-private": true}}}',
        "variant_attributes_schema": '{"type": "object"}'})
    assert made.status_code == 303, made.text  # type: ignore[attr-defined]
    kinds = client.get("/api/v1/product-types", headers=org.headers).json()["data"]
    software = next(k for k in kinds if k["slug"] == "software")
    assert (software["digital"], software["private_attributes"]) == (True, ["url"])
    listed = browser.get("/admin/product-types").text
    assert "<th scope=\"col\">Digital</th>" in listed


def test_keys_are_uploaded_and_delivery_set_on_the_variants_page(
        client: TestClient, browser: Browser, org: Org) -> None:
    product = digital_product(client, org)
    variant = product["variant_id"]
    browser.sign_in(org.owner_email)
    shown = browser.get(f"/admin/products/{product['id']}")
    assert f"/admin/digital/variants/{variant}" in shown.text
    page = browser.get(f"/admin/digital/variants/{variant}")
    assert page.status_code == 200, page.text
    assert "Upload licence keys" in page.text
    added = browser.submit(f"/admin/digital/variants/{variant}/keys",
                           {"keys": "PAGE-1\nPAGE-2\nPAGE-2\n"})
    assert added.status_code == 303, added.text  # type: ignore[attr-defined]
    assert pool_of(client, org, variant)["remaining"] == 2
    uploaded = browser.submit(f"/admin/digital/variants/{variant}/keys", {"keys": ""},
                              files={"file": ("keys.csv", b"key\nPAGE-3\n", "text/csv")})
    assert uploaded.status_code == 303, uploaded.text  # type: ignore[attr-defined]
    assert pool_of(client, org, variant)["remaining"] == 3
    page = browser.get(f"/admin/digital/variants/{variant}")
    assert "<dt>Remaining</dt><dd>3</dd>" in page.text
    refused = browser.submit(f"/admin/digital/variants/{variant}", {
        "method": "webhook", "webhook_url": "", "message": "", "alert_email": "",
        "low_pool_threshold": "5", "link_ttl_seconds": "3600"})
    assert refused.status_code == 422  # type: ignore[attr-defined]
    saved = browser.submit(f"/admin/digital/variants/{variant}", {
        "method": "email", "webhook_url": "", "message": "Thanks!", "alert_email": "",
        "low_pool_threshold": "2", "link_ttl_seconds": "3600"})
    assert saved.status_code == 303, saved.text  # type: ignore[attr-defined]
    good = client.get(f"/api/v1/digital/variants/{variant}", headers=org.headers).json()
    assert (good["method"], good["message"], good["low_pool_threshold"]) == \
        ("email", "Thanks!", 2)


def _manual_order(client: TestClient, org: Org, db: Database) -> dict[str, Any]:
    product = digital_product(client, org)
    client.put(f"/api/v1/digital/variants/{product['variant_id']}", headers=org.headers,
               json={"method": "manual"})
    cart = digital_cart(client, org, [(product["sku"], 1)])
    done = checkout(client, org, cart["id"], {"method": "manual"})
    assert done.status_code == 201, done.text
    pay(client, org, done.json()["id"])
    run_worker(db)
    return dict(done.json())


def test_the_order_page_shows_its_deliveries_and_staff_mark_one_delivered(
        client: TestClient, browser: Browser, org: Org, db: Database) -> None:
    order = _manual_order(client, org, db)
    [delivery] = deliveries(client, org, order["id"])
    browser.sign_in(org.owner_email)
    page = browser.get(f"/admin/orders/{order['id']}")
    assert "Digital deliveries" in page.text
    assert "Mark delivered" in page.text
    marked = browser.submit(f"/admin/digital/deliveries/{delivery['id']}/delivered")
    assert marked.status_code == 303  # type: ignore[attr-defined]
    assert deliveries(client, org, order["id"])[0]["status"] == "delivered"
    page = browser.get(f"/admin/orders/{order['id']}")
    assert "Mark delivered" not in page.text
