"""Digital goods through the storefront's real checkout: no address or shipping for a cart of
digital goods only, the key pool as the product's stock, delivery once paid."""

from __future__ import annotations

from fastapi.testclient import TestClient

from mercato.core.db import Database
from tests.checkout.helpers import ADDRESS, activate, checkout, flat_shipping
from tests.conftest import Org
from tests.digital.helpers import (
    deliveries,
    digital_cart,
    digital_product,
    pay,
    pool_of,
    run_worker,
    upload_keys,
)
from tests.inventory.helpers import make_location
from tests.orders.helpers import stocked
from tests.storefront_helpers import sign_up, store_url


def test_a_cart_of_digital_goods_checks_out_without_address_or_shipping(
        client: TestClient, org: Org, db: Database) -> None:
    product = digital_product(client, org)
    assert upload_keys(client, org, product["variant_id"], ["AAAA-1", "BBBB-2"]).status_code \
        == 201
    cart = digital_cart(client, org, [(product["sku"], 1)])
    seen = client.get(store_url(org.slug, f"/carts/{cart['id']}")).json()
    assert not [p for p in seen.get("problems", []) if p["field"] == "shipping_method"], seen
    done = checkout(client, org, cart["id"], {"method": "manual"})
    assert done.status_code == 201, done.text
    order = done.json()
    assert order["shipping_address"] is None
    assert order["shipping_total"] == "0.00"
    assert pool_of(client, org, product["variant_id"])["remaining"] == 2  # held, not drawn
    run_worker(db)
    assert deliveries(client, org, order["id"]) == []  # not paid yet: nothing delivered
    pay(client, org, order["id"])
    run_worker(db)
    [delivery] = deliveries(client, org, order["id"])
    assert (delivery["status"], delivery["method"], delivery["attempts"]) == \
        ("delivered", "key_pool", 1)
    assert pool_of(client, org, product["variant_id"]) == {
        "variant_id": product["variant_id"], "total": 2, "drawn": 1, "remaining": 1}


def test_a_mixed_cart_still_needs_an_address_and_a_shipping_method(
        client: TestClient, org: Org) -> None:
    product = digital_product(client, org)
    upload_keys(client, org, product["variant_id"], ["MIX-1"])
    place = make_location(client, org)
    skus, _ = stocked(client, org, [3], location=place)
    activate(client, org, skus)
    cart = digital_cart(client, org, [(product["sku"], 1), (skus[0], 1)])
    refused = checkout(client, org, cart["id"], {"method": "manual"})
    assert refused.status_code == 422, refused.text
    assert {"field": "shipping_method", "message": "choose a shipping method"} in \
        refused.json()["errors"]
    method = flat_shipping(client, org)
    assert client.put(store_url(org.slug, f"/carts/{cart['id']}/shipping-address"),
                      json=ADDRESS).status_code == 200
    assert client.put(store_url(org.slug, f"/carts/{cart['id']}/shipping-method"),
                      json={"method_id": method}).status_code == 200
    done = checkout(client, org, cart["id"], {"method": "manual"})
    assert done.status_code == 201, done.text
    assert done.json()["shipping_total"] == "5.00"


def test_an_empty_pool_refuses_the_checkout_clearly(client: TestClient, org: Org) -> None:
    product = digital_product(client, org)
    refused = client.post(store_url(org.slug, "/carts"), json={
        "lines": [{"sku": product["sku"], "quantity": 1}]})
    assert refused.status_code == 422  # no key, nothing in stock: not even in a cart
    upload_keys(client, org, product["variant_id"], ["ONE-KEY"])
    first = digital_cart(client, org, [(product["sku"], 1)])
    second = digital_cart(client, org, [(product["sku"], 1)])
    assert checkout(client, org, first["id"], {"method": "manual"}).status_code == 201
    late = checkout(client, org, second["id"], {"method": "manual"})
    assert late.status_code == 409, late.text
    assert late.json()["code"] == "insufficient_stock"


def test_the_buyer_sees_the_keys_in_their_account(
        client: TestClient, org: Org, db: Database) -> None:
    product = digital_product(client, org)
    upload_keys(client, org, product["variant_id"], ["REVEAL-1", "REVEAL-2", "REVEAL-3"])
    shopper = sign_up(client, org.slug)
    cart = digital_cart(client, org, [(product["sku"], 2)], headers=shopper["headers"],
                        email=shopper["email"])
    done = checkout(client, org, cart["id"], {"method": "manual"}, headers=shopper["headers"])
    assert done.status_code == 201, done.text
    order_id = done.json()["id"]
    mine = client.get(store_url(org.slug, f"/me/orders/{order_id}/deliveries"),
                      headers=shopper["headers"])
    assert mine.status_code == 200
    assert mine.json() == {"data": []}
    pay(client, org, order_id)
    run_worker(db)
    mine = client.get(store_url(org.slug, f"/me/orders/{order_id}/deliveries"),
                      headers=shopper["headers"])
    [delivery] = mine.json()["data"]
    assert delivery["status"] == "delivered"
    assert sorted(delivery["keys"]) == ["REVEAL-1", "REVEAL-2"]  # the oldest keys first
    other = sign_up(client, org.slug)
    assert client.get(store_url(org.slug, f"/me/orders/{order_id}/deliveries"),
                      headers=other["headers"]).status_code == 404
