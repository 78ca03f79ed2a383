"""Carts: lines checked against what the store can sell, prices recomputed on every change,
codes, tax and shipping priced in, shopper carts private, guest carts merged at sign-in."""

from __future__ import annotations

from fastapi.testclient import TestClient

from mercato.checkout.cart.service import expire_carts
from mercato.core.db import SYSTEM, Database
from tests.checkout.helpers import ADDRESS, new_cart, shop, tax_rate
from tests.conftest import Org
from tests.storefront_helpers import sign_in, sign_up, store_url


def test_a_guest_cart_prices_its_lines_and_refuses_more_than_the_store_has(
        client: TestClient, org: Org) -> None:
    skus, _, _ = shop(client, org, [3, 5], price="10.00")
    cart = new_cart(client, org, [(skus[0], 2)])
    assert cart["status"] == "open"
    assert cart["customer_id"] is None
    line = cart["lines"][0]
    assert (line["unit_price"], line["subtotal"], line["available"]) == ("10.00", "20.00", 3)
    assert cart["total"] == "20.00"
    assert {"field": "shipping_method", "message": "choose a shipping method"} \
        in cart["problems"]
    url = store_url(org.slug, f"/carts/{cart['id']}/lines")
    too_many = client.post(url, json={"sku": skus[0], "quantity": 2})
    assert too_many.status_code == 422
    assert too_many.json()["errors"][0]["field"] == "quantity"
    unknown = client.post(url, json={"sku": "NO-SUCH-SKU", "quantity": 1})
    assert unknown.status_code == 422
    assert unknown.json()["errors"][0]["field"] == "sku"
    added = client.post(url, json={"sku": skus[1], "quantity": 4})
    assert added.status_code == 201
    assert added.json()["subtotal"] == "60.00"
    line_id = added.json()["lines"][1]["id"]
    changed = client.patch(f"{url}/{line_id}", json={"quantity": 1})
    assert changed.json()["subtotal"] == "30.00"
    removed = client.delete(f"{url}/{line_id}")
    assert [ln["sku"] for ln in removed.json()["lines"]] == [skus[0]]


def test_units_that_would_take_a_cart_past_the_largest_amount_are_422(
        client: TestClient, org: Org) -> None:
    """Two units at 99999999.99 made a cart its answer could not state: a 500 on creating it
    and on every change after (every amount is at most 99999999.99)."""
    skus, _, _ = shop(client, org, [5, 5], price="99999999.99")
    carts = store_url(org.slug, "/carts")
    made = client.post(carts, json={"lines": [{"sku": skus[0], "quantity": 2}]})
    assert made.status_code == 422, made.text
    assert made.json()["errors"] == [{"field": "lines.0.quantity", "message": (
        "the cart would come to more than the largest amount 99999999.99")}]
    cart = new_cart(client, org, [(skus[0], 1)])
    assert cart["total"] == "99999999.99"
    url = store_url(org.slug, f"/carts/{cart['id']}/lines")
    more = client.patch(f"{url}/{cart['lines'][0]['id']}", json={"quantity": 2})
    assert (more.status_code, more.json()["errors"][0]["field"]) == (422, "quantity")
    other = client.post(url, json={"sku": skus[1], "quantity": 1})
    assert (other.status_code, other.json()["errors"][0]["field"]) == (422, "quantity")
    again = client.get(store_url(org.slug, f"/carts/{cart['id']}")).json()
    assert ([ln["quantity"] for ln in again["lines"]], again["total"]) == ([1], "99999999.99")


def test_prices_are_recomputed_when_the_catalog_changes(client: TestClient, org: Org) -> None:
    skus, _, _ = shop(client, org, [5], price="10.00")
    cart = new_cart(client, org, [(skus[0], 2)])
    variant = client.get("/api/v1/variants", headers=org.headers,
                         params={"sku": skus[0]}).json()["data"][0]
    url = f"/api/v1/variants/{variant['id']}"
    etag = client.get(url, headers=org.headers).headers["ETag"]
    changed = client.patch(url, headers={**org.headers, "If-Match": etag},
                           json={"price": "7.50"})
    assert changed.status_code == 200, changed.text
    again = client.get(store_url(org.slug, f"/carts/{cart['id']}")).json()
    assert (again["lines"][0]["unit_price"], again["subtotal"]) == ("7.50", "15.00")


def test_a_line_whose_stock_went_is_flagged_not_silently_dropped(client: TestClient,
                                                                  org: Org) -> None:
    skus, place, _ = shop(client, org, [2])
    cart = new_cart(client, org, [(skus[0], 2)])
    sold = client.post("/api/v1/inventory/adjustments", headers=org.headers, json={
        "lines": [{"sku": skus[0], "location": place["code"], "delta": -1,
                   "reason": "damage"}]})
    assert sold.status_code == 201, sold.text
    again = client.get(store_url(org.slug, f"/carts/{cart['id']}")).json()
    assert again["lines"][0]["problems"] == ["only 1 available"]
    assert {"field": "lines.0", "message": "only 1 available"} in again["problems"]


def test_shipping_and_tax_are_priced_from_the_address(client: TestClient, org: Org) -> None:
    skus, _, method = shop(client, org, [5], price="10.00")
    tax_rate(client, org, "0.10")
    cart = new_cart(client, org, [(skus[0], 3)], method_id=method, address=ADDRESS)
    assert cart["shipping_method"]["price"] == "5.00"
    # 30.00 of goods and 5.00 of shipping, both taxed at 10 %
    assert (cart["subtotal"], cart["shipping_total"], cart["tax_total"], cart["total"]) == \
        ("30.00", "5.00", "3.50", "38.50")
    assert cart["problems"] == []
    options = client.get(store_url(org.slug, f"/carts/{cart['id']}/shipping-methods")).json()
    assert method in [o["method_id"] for o in options]


def test_a_discount_code_discounts_and_an_unknown_code_is_refused(client: TestClient,
                                                                  org: Org) -> None:
    skus, _, _ = shop(client, org, [5], price="20.00")
    made = client.post("/api/v1/promotions", headers=org.headers, json={
        "title": "Ten off", "kind": "percentage", "value": "10", "codes": ["SAVE10"]})
    assert made.status_code == 201, made.text
    cart = new_cart(client, org, [(skus[0], 2)])
    url = store_url(org.slug, f"/carts/{cart['id']}/discount-codes")
    applied = client.post(url, json={"code": "save10"})
    assert applied.status_code == 201, applied.text
    body = applied.json()
    assert (body["codes"], body["discount_total"], body["total"]) == \
        (["SAVE10"], "4.00", "36.00")
    unknown = client.post(url, json={"code": "NOPE"})
    assert unknown.status_code == 422
    assert unknown.json()["errors"][0]["field"] == "code"
    removed = client.delete(f"{url}/SAVE10")
    assert removed.json()["discount_total"] == "0.00"


def test_a_shoppers_cart_is_theirs_alone(client: TestClient, org: Org) -> None:
    skus, _, _ = shop(client, org, [5])
    shopper = sign_up(client, org.slug)
    cart = new_cart(client, org, [(skus[0], 1)], headers=shopper["headers"], email=None)
    assert cart["customer_id"] == shopper["customer_id"]
    assert cart["email"] == shopper["email"]
    url = store_url(org.slug, f"/carts/{cart['id']}")
    assert client.get(url).status_code == 404
    stranger = sign_up(client, org.slug)
    assert client.get(url, headers=stranger["headers"]).status_code == 404
    assert client.get(url, headers=shopper["headers"]).status_code == 200


def test_a_carts_id_means_nothing_in_another_store(client: TestClient, org: Org,
                                                   other_org: Org) -> None:
    skus, _, _ = shop(client, org, [5])
    cart = new_cart(client, org, [(skus[0], 1)])
    theirs = client.get(store_url(other_org.slug, f"/carts/{cart['id']}"))
    assert theirs.status_code == 404
    assert theirs.json()["code"] == "not_found"


def test_a_guest_cart_merges_into_the_shoppers_cart_at_sign_in(client: TestClient,
                                                              org: Org) -> None:
    skus, _, _ = shop(client, org, [5, 5])
    shopper = sign_up(client, org.slug)
    own = new_cart(client, org, [(skus[0], 1)], headers=shopper["headers"])
    guest = new_cart(client, org, [(skus[0], 2), (skus[1], 1)])
    signed = client.post(store_url(org.slug, "/auth/token"), json={
        "email": shopper["email"], "password": "shopper horse battery",
        "cart_id": guest["id"]})
    assert signed.status_code == 200, signed.text
    assert signed.json()["cart_id"] == own["id"]
    headers = {"Authorization": f"Bearer {signed.json()['access_token']}"}
    merged = client.get(store_url(org.slug, f"/carts/{own['id']}"), headers=headers).json()
    assert {ln["sku"]: ln["quantity"] for ln in merged["lines"]} == {skus[0]: 3, skus[1]: 1}
    closed = client.get(store_url(org.slug, f"/carts/{guest['id']}")).json()
    assert closed["status"] == "merged"
    # with no cart of their own, the guest cart simply becomes theirs
    other = sign_up(client, org.slug)
    lone = new_cart(client, org, [(skus[1], 1)])
    token = client.post(store_url(org.slug, "/auth/token"), json={
        "email": other["email"], "password": "shopper horse battery", "cart_id": lone["id"]})
    assert token.json()["cart_id"] == lone["id"]
    sign_in(client, org.slug, other["email"])
    assert client.get(store_url(org.slug, f"/carts/{lone['id']}")).status_code == 404


def test_an_expired_cart_can_no_longer_change(client: TestClient, org: Org,
                                              db: Database) -> None:
    skus, _, _ = shop(client, org, [5])
    cart = new_cart(client, org, [(skus[0], 1)])
    from sqlalchemy import update

    from mercato.checkout.cart.models import Cart
    from mercato.core.db import utcnow

    with db.transaction(tenant=org.id) as session:
        session.execute(update(Cart).where(Cart.id == cart["id"]).values(expires_at=utcnow()))
    with db.transaction(tenant=SYSTEM) as session:
        assert expire_carts(session) >= 1
    got = client.get(store_url(org.slug, f"/carts/{cart['id']}")).json()
    assert got["status"] == "expired"
    refused = client.post(store_url(org.slug, f"/carts/{cart['id']}/lines"),
                          json={"sku": skus[0], "quantity": 1})
    assert refused.status_code == 409


def _archive(client: TestClient, org: Org, sku: str) -> None:
    variant = client.get("/api/v1/variants", headers=org.headers,
                         params={"sku": sku}).json()["data"][0]
    archived = client.post(f"/api/v1/variants/{variant['id']}/archive", headers=org.headers)
    assert archived.status_code == 200, archived.text


def test_an_archived_variant_is_refused_like_an_unpublished_one_and_flagged_in_a_cart(
        client: TestClient, org: Org) -> None:
    skus, _, method = shop(client, org, [5, 5])
    cart = new_cart(client, org, [(skus[1], 1)], method_id=method, address=ADDRESS)
    _archive(client, org, skus[1])
    made = client.post(store_url(org.slug, "/carts"),
                       json={"lines": [{"sku": skus[1], "quantity": 1}]})
    assert made.status_code == 422, made.text
    url = store_url(org.slug, f"/carts/{cart['id']}/lines")
    added = client.post(url, json={"sku": skus[1], "quantity": 1})
    assert added.status_code == 422
    assert added.json()["detail"] == "This product is not for sale here."
    assert added.json()["errors"] == [
        {"field": "sku", "message": f"no product for sale with SKU {skus[1]!r}"}]
    more = client.patch(f"{url}/{cart['lines'][0]['id']}", json={"quantity": 2})
    assert (more.status_code, more.json()["errors"][0]["field"]) == (422, "quantity")
    again = client.get(store_url(org.slug, f"/carts/{cart['id']}")).json()
    assert [ln["quantity"] for ln in again["lines"]] == [1]
    assert again["lines"][0]["problems"] == ["no longer for sale"]
    refused = client.post(store_url(org.slug, f"/carts/{cart['id']}/checkout"),
                          json={"payment": {"method": "manual"}})
    assert refused.status_code == 422, refused.text
    assert {"field": "lines.0", "message": "no longer for sale"} in refused.json()["errors"]
    assert client.post(url, json={"sku": skus[0], "quantity": 1}).status_code == 201
