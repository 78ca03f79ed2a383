"""Checkout: the cart's stock is held all or nothing, the order is made once, the payment is
taken once; a failed or abandoned payment gives the stock back."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
from fastapi.testclient import TestClient

from mercato.checkout.steps import reopen_abandoned
from mercato.core.db import Database
from mercato.core.outbox import Dispatcher
from tests.checkout.helpers import ADDRESS, checkout, new_cart, pickup_method, shop
from tests.conftest import LiveServer, Org
from tests.inventory.helpers import level
from tests.payments.helpers import (
    StripeServer,
    connect_stripe,
    grant_credit,
    issue_card,
    stripe_server,
)
from tests.storefront_helpers import sign_up, store_url

__all__ = ["stripe_server"]  # the session fixture, used by the Stripe tests below


def stock(client: TestClient, org: Org, sku: str, place: dict[str, Any]) -> tuple[int, int]:
    got = level(client, org, sku, place["code"])
    return int(got["on_hand"]), int(got["reserved"])


def orders_of_cart(client: TestClient, org: Org, cart_id: str) -> list[dict[str, Any]]:
    found = client.get("/api/v1/orders", headers=org.headers, params={"q": cart_id}).json()
    everything = client.get("/api/v1/orders", headers=org.headers,
                            params={"limit": 250}).json()["data"]
    return [o for o in everything if o["external_id"] == cart_id] or found["data"]


def test_a_manual_payment_checkout_makes_one_order_and_sells_the_stock(client: TestClient,
                                                                     org: Org) -> None:
    skus, place, method = shop(client, org, [3])
    cart = new_cart(client, org, [(skus[0], 2)], method_id=method, address=ADDRESS)
    done = checkout(client, org, cart["id"], {"method": "manual"})
    assert done.status_code == 201, done.text
    order = done.json()
    assert (order["total"], order["financial_status"], order["payment"]["status"]) == \
        ("25.00", "pending", "pending")
    assert [(ln["sku"], ln["quantity"]) for ln in order["lines"]] == [(skus[0], 2)]
    assert stock(client, org, skus[0], place) == (1, 0)
    again = checkout(client, org, cart["id"], {"method": "manual"})
    assert again.status_code == 200
    assert again.json()["id"] == order["id"]
    assert len(orders_of_cart(client, org, cart["id"])) == 1
    assert stock(client, org, skus[0], place) == (1, 0)
    closed = client.get(store_url(org.slug, f"/carts/{cart['id']}")).json()
    assert (closed["status"], closed["order_id"]) == ("completed", order["id"])
    staff = client.get(f"/api/v1/orders/{order['id']}", headers=org.headers).json()
    assert (staff["source"], staff["external_id"], staff["email"]) == \
        ("web", cart["id"], "buyer@example.com")


def test_checkout_refuses_a_cart_it_cannot_sell_and_changes_nothing(client: TestClient,
                                                                     org: Org) -> None:
    skus, place, method = shop(client, org, [2])
    no_method = new_cart(client, org, [(skus[0], 1)])
    refused = checkout(client, org, no_method["id"], {"method": "manual"})
    assert refused.status_code == 422
    assert "shipping_method" in {e["field"] for e in refused.json()["errors"]}
    no_email = new_cart(client, org, [(skus[0], 1)], email=None, method_id=method)
    assert checkout(client, org, no_email["id"], {"method": "manual"}).status_code == 422
    unknown = checkout(client, org, no_email["id"], {"method": "cheque"})
    assert unknown.status_code == 422
    assert stock(client, org, skus[0], place) == (2, 0)


def test_a_declined_gift_card_gives_the_stock_back(client: TestClient, org: Org) -> None:
    skus, place, method = shop(client, org, [2])
    card = issue_card(client, org, amount="5.00")
    cart = new_cart(client, org, [(skus[0], 1)], method_id=method, address=ADDRESS)
    declined = checkout(client, org, cart["id"], {"method": "gift_card", "code": card["code"]})
    assert declined.status_code == 402
    assert declined.json()["code"] == "payment_failed"
    assert stock(client, org, skus[0], place) == (2, 0)
    assert client.get(store_url(org.slug, f"/carts/{cart['id']}")).json()["status"] == "open"
    balance = client.get(f"/api/v1/gift-cards/{card['id']}", headers=org.headers).json()
    assert balance["balance"] == "5.00"
    enough = issue_card(client, org, amount="50.00")
    paid = checkout(client, org, cart["id"], {"method": "gift_card", "code": enough["code"]})
    assert paid.status_code == 201, paid.text
    assert paid.json()["financial_status"] == "paid"
    after = client.get(f"/api/v1/gift-cards/{enough['id']}", headers=org.headers).json()
    assert after["balance"] == "35.00"


def test_a_shopper_pays_with_store_credit_and_sees_the_order_before_verifying(
        client: TestClient, org: Org) -> None:
    skus, _place, method = shop(client, org, [2])
    shopper = sign_up(client, org.slug)
    grant_credit(client, org, shopper["customer_id"], "100.00")
    cart = new_cart(client, org, [(skus[0], 1)], headers=shopper["headers"], email=None,
                    method_id=method, address=ADDRESS)
    done = checkout(client, org, cart["id"], {"method": "store_credit"},
                    headers=shopper["headers"])
    assert done.status_code == 201, done.text
    assert done.json()["financial_status"] == "paid"
    credit = client.get(f"/api/v1/customers/{shopper['customer_id']}/store-credit",
                        headers=org.headers).json()
    assert credit["balances"][0]["balance"] == "85.00"
    history = client.get(store_url(org.slug, "/me/orders"), headers=shopper["headers"]).json()
    assert [o["id"] for o in history["data"]] == [done.json()["id"]]


def test_pickup_holds_stock_at_the_pickup_store(client: TestClient, org: Org) -> None:
    skus, place, _ = shop(client, org, [2])
    method = pickup_method(client, org, place)
    cart = new_cart(client, org, [(skus[0], 1)], method_id=method)
    done = checkout(client, org, cart["id"], {"method": "manual"})
    assert done.status_code == 201, done.text
    assert done.json()["pickup_location_id"] == place["id"]
    assert done.json()["shipping_address"] is None
    assert stock(client, org, skus[0], place) == (1, 0)


def test_a_promotion_used_at_checkout_counts_against_its_limit(client: TestClient,
                                                               org: Org) -> None:
    skus, _, method = shop(client, org, [5])
    made = client.post("/api/v1/promotions", headers=org.headers, json={
        "title": "Once", "kind": "fixed_amount", "value": "2.00", "currency": "USD",
        "codes": ["ONCE"], "usage_limit": 1})
    assert made.status_code == 201, made.text
    carts = [new_cart(client, org, [(skus[0], 1)], method_id=method, address=ADDRESS)
             for _ in range(2)]
    for cart in carts:
        applied = client.post(store_url(org.slug, f"/carts/{cart['id']}/discount-codes"),
                              json={"code": "ONCE"})
        assert applied.status_code == 201, applied.text
    first = checkout(client, org, carts[0]["id"], {"method": "manual"})
    assert first.status_code == 201
    assert first.json()["discount_total"] == "2.00"
    second = client.get(store_url(org.slug, f"/carts/{carts[1]['id']}")).json()
    assert second["discount_total"] == "0.00"
    assert "ONCE" in second["rejected_codes"]


# -- Stripe --------------------------------------------------------------------------------

def test_a_card_payment_through_stripe_makes_a_paid_order(
        client: TestClient, org: Org, stripe_server: StripeServer) -> None:
    connect_stripe(client, org, stripe_server.url)
    skus, _, method = shop(client, org, [2])
    cart = new_cart(client, org, [(skus[0], 1)], method_id=method, address=ADDRESS)
    done = checkout(client, org, cart["id"], {"method": "stripe",
                                              "payment_method": "pm_card_visa"})
    assert done.status_code == 201, done.text
    assert done.json()["financial_status"] == "paid"
    assert done.json()["payment"]["reference"].startswith("pi_")
    intents = [i for i in stripe_server.state.intents.values()
               if i["metadata"].get("reference", "").startswith(f"cart:{cart['id']}:")]
    assert len(intents) == 1
    assert intents[0]["amount"] == 1500


def test_a_declined_card_releases_the_hold_and_the_cart_can_be_paid_again(
        client: TestClient, org: Org, stripe_server: StripeServer) -> None:
    connect_stripe(client, org, stripe_server.url)
    skus, place, method = shop(client, org, [1])
    cart = new_cart(client, org, [(skus[0], 1)], method_id=method, address=ADDRESS)
    declined = checkout(client, org, cart["id"], {"method": "stripe",
                                                  "payment_method": "pm_card_chargeDeclined"})
    assert declined.status_code == 402, declined.text
    assert stock(client, org, skus[0], place) == (1, 0)
    cart_now = client.get(store_url(org.slug, f"/carts/{cart['id']}")).json()
    assert (cart_now["status"], cart_now["payment"]["status"]) == ("open", "failed")
    paid = checkout(client, org, cart["id"], {"method": "stripe",
                                              "payment_method": "pm_card_visa"})
    assert paid.status_code == 201, paid.text
    assert stock(client, org, skus[0], place) == (0, 0)


def test_a_3d_secure_payment_is_completed_by_the_webhook(
        client: TestClient, org: Org, stripe_server: StripeServer,
        live_server: LiveServer) -> None:
    connect_stripe(client, org, stripe_server.url)
    stripe_server.send_webhooks_to(f"{live_server.url}/webhooks/stripe/{org.slug}")
    try:
        skus, place, method = shop(client, org, [1])
        cart = new_cart(client, org, [(skus[0], 1)], method_id=method, address=ADDRESS)
        pending = checkout(client, org, cart["id"], {
            "method": "stripe", "payment_method": "pm_card_threeDSecure2Required"})
        assert pending.status_code == 202, pending.text
        payment = pending.json()["payment"]
        assert payment["status"] == "requires_action"
        assert payment["client_secret"]
        assert stock(client, org, skus[0], place) == (1, 1)  # held while the shopper confirms
        busy = checkout(client, org, cart["id"], {"method": "stripe",
                                                  "payment_method": "pm_card_visa"})
        assert busy.status_code == 409
        done = httpx.post(f"{stripe_server.url}/_emulator/payment_intents/"
                          f"{payment['reference']}/authenticate", data={"outcome": "succeed"})
        assert done.status_code == 200, done.text
        httpx.post(f"{stripe_server.url}/_emulator/idle", timeout=30)
        Dispatcher(client.app.state.db).drain()  # the worker completes the checkout
        completed = client.get(store_url(org.slug, f"/carts/{cart['id']}")).json()
        assert completed["status"] == "completed", completed
        order = client.get(f"/api/v1/orders/{completed['order_id']}", headers=org.headers)
        assert order.json()["financial_status"] == "paid"
        assert stock(client, org, skus[0], place) == (0, 0)
    finally:
        stripe_server.send_webhooks_to(None)


def test_an_abandoned_payment_gives_the_stock_back(
        client: TestClient, org: Org, db: Database, stripe_server: StripeServer) -> None:
    connect_stripe(client, org, stripe_server.url)
    skus, place, method = shop(client, org, [1])
    cart = new_cart(client, org, [(skus[0], 1)], method_id=method, address=ADDRESS)
    pending = checkout(client, org, cart["id"], {
        "method": "stripe", "payment_method": "pm_card_threeDSecure2Required"})
    assert pending.status_code == 202
    assert reopen_abandoned(db, hold_minutes=0) >= 1
    assert stock(client, org, skus[0], place) == (1, 0)
    assert client.get(store_url(org.slug, f"/carts/{cart['id']}")).json()["status"] == "open"


# -- under concurrency ------------------------------------------------------------------------

def _post_all(url: str, bodies: list[tuple[str, dict[str, Any]]]) -> list[httpx.Response]:
    """POST every (path, body) at once, each from its own connection."""
    def one(item: tuple[str, dict[str, Any]]) -> httpx.Response:
        with httpx.Client(base_url=url, timeout=60) as http:
            return http.post(item[0], json=item[1])

    with ThreadPoolExecutor(max_workers=len(bodies)) as pool:
        return list(pool.map(one, bodies))


def test_a_flash_sale_through_checkout_sells_exactly_the_units_there_are(
        client: TestClient, org: Org, live_server: LiveServer) -> None:
    units, shoppers = 5, 20
    skus, place, method = shop(client, org, [units])
    carts = [new_cart(client, org, [(skus[0], 1)], method_id=method, address=ADDRESS)
             for _ in range(shoppers)]
    answers = _post_all(live_server.url, [
        (store_url(org.slug, f"/carts/{c['id']}/checkout"), {"payment": {"method": "manual"}})
        for c in carts])
    codes = sorted(r.status_code for r in answers)
    assert codes.count(201) == units, [r.text for r in answers if r.status_code != 201][:3]
    refused = [(r.status_code, r.json()["code"]) for r in answers if r.status_code != 201]
    assert set(refused) == {(409, "insufficient_stock")}, refused
    assert stock(client, org, skus[0], place) == (0, 0)
    made = [r.json() for r in answers if r.status_code == 201]
    assert len({o["id"] for o in made}) == units
    oversold = client.get("/api/v1/orders", headers=org.headers,
                          params={"flag": "oversold"}).json()["data"]
    assert not [o for o in oversold if o["id"] in {m["id"] for m in made}]


def test_one_cart_checked_out_many_times_at_once_charges_once(
        client: TestClient, org: Org, live_server: LiveServer) -> None:
    skus, place, method = shop(client, org, [3])
    card = issue_card(client, org, amount="100.00")
    cart = new_cart(client, org, [(skus[0], 1)], method_id=method, address=ADDRESS)
    answers = _post_all(live_server.url, [
        (store_url(org.slug, f"/carts/{cart['id']}/checkout"),
         {"payment": {"method": "gift_card", "code": card["code"]}})] * 12)
    made = {r.json()["id"] for r in answers if r.status_code in (200, 201)}
    assert len(made) == 1, [r.text for r in answers]
    assert [r.status_code for r in answers].count(201) == 1
    assert all(r.status_code in (200, 201, 409) for r in answers)
    after = client.get(f"/api/v1/gift-cards/{card['id']}", headers=org.headers).json()
    assert after["balance"] == "85.00"
    assert stock(client, org, skus[0], place) == (2, 0)


def test_the_storefront_shows_a_sold_unit_gone_at_once_without_the_publisher(
        client: TestClient, org: Org) -> None:
    """The listing's availability is inventory's answer at the moment of the read (catalog
    asks it through ``catalog.ports.units_for_sale``), not a copy fed later by events: the
    shopper after the sale sees it, with no publication round in between."""
    skus, _place, method = shop(client, org, [2])
    variant = client.get("/api/v1/variants", headers=org.headers,
                         params={"sku": skus[0]}).json()["data"][0]
    slug = client.get(f"/api/v1/products/{variant['product_id']}",
                      headers=org.headers).json()["slug"]

    def shown() -> tuple[int, bool]:
        product = client.get(store_url(org.slug, f"/products/{slug}"))
        assert product.status_code == 200, product.text
        first = product.json()["variants"][0]
        return first["available"], first["purchasable"]

    assert shown() == (2, True)
    cart = new_cart(client, org, [(skus[0], 2)], method_id=method, address=ADDRESS)
    assert checkout(client, org, cart["id"], {"method": "manual"}).status_code == 201
    assert shown() == (0, False)
