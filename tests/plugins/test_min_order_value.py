"""The shipped minimum-order-value plugin, through a real storefront checkout."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.checkout.helpers import ADDRESS, checkout, new_cart, shop
from tests.conftest import Org
from tests.inventory.helpers import level
from tests.storefront_helpers import store_url

PLUGIN = "/api/v1/plugins/min-order-value"


def test_a_cart_below_the_minimum_is_refused_clearly_and_holds_nothing(
        client: TestClient, org: Org, other_org: Org) -> None:
    skus, place, method = shop(client, org, [5])  # 10.00 each
    on = client.put(PLUGIN, headers=org.headers, json={
        "enabled": True, "config": {"minimums": {"USD": "25.00", "EUR": "5.00"}}})
    assert on.status_code == 200, on.text
    cart = new_cart(client, org, [(skus[0], 2)], method_id=method, address=ADDRESS)
    assert cart["currency"] == "USD"
    refused = checkout(client, org, cart["id"], {"method": "manual"})
    assert refused.status_code == 422, refused.text
    problem = refused.json()
    assert problem["plugin"] == "min-order-value"
    assert problem["errors"] == [{"field": "subtotal", "message": (
        "min-order-value: The minimum order is 25.00 USD before shipping; add 5.00 USD more "
        "to check out.")}]
    level_now = level(client, org, skus[0], place["code"])
    assert (level_now["on_hand"], level_now["reserved"]) == (5, 0)  # nothing held
    assert client.get(store_url(org.slug, f"/carts/{cart['id']}")).json()["status"] == "open"

    line_id = client.get(store_url(org.slug, f"/carts/{cart['id']}")).json()["lines"][0]["id"]
    more = client.patch(store_url(org.slug, f"/carts/{cart['id']}/lines/{line_id}"),
                        json={"quantity": 3})
    assert more.status_code == 200, more.text
    done = checkout(client, org, cart["id"], {"method": "manual"})
    assert done.status_code == 201, done.text


def test_the_minimum_applies_only_where_enabled_and_to_its_currencies(
        client: TestClient, org: Org, other_org: Org) -> None:
    skus, _, method = shop(client, other_org, [5])
    client.put(PLUGIN, headers=org.headers, json={
        "enabled": True, "config": {"minimums": {"USD": "1000.00"}}})
    cart = new_cart(client, other_org, [(skus[0], 1)], method_id=method, address=ADDRESS)
    assert checkout(client, other_org, cart["id"], {"method": "manual"}).status_code == 201
    mine, _, my_method = shop(client, org, [5])
    client.put(PLUGIN, headers=org.headers, json={
        "enabled": True, "config": {"minimums": {"EUR": "1000.00"}}})  # not the cart's
    cart = new_cart(client, org, [(mine[0], 1)], method_id=my_method, address=ADDRESS)
    assert checkout(client, org, cart["id"], {"method": "manual"}).status_code == 201


def test_a_minimum_that_is_not_an_amount_is_refused(client: TestClient, org: Org) -> None:
    bad = client.put(PLUGIN, headers=org.headers, json={
        "enabled": True, "config": {"minimums": {"USD": "lots", "euro": "5"}}})
    assert bad.status_code == 422
    fields = {e["field"] for e in bad.json()["errors"]}
    assert "config.minimums.USD" in fields
    assert "config.minimums" in fields
