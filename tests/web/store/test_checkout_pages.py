"""The storefront's checkout page (``/s/{store}/checkout``), its confirmation and payments on
the page: a guest's browser (a TestClient with its own cookies) fills the form as a shopper
does; the shop's staff set things up and look at stock and orders through the API. Cards go
through the Stripe emulator over real HTTP, its webhooks to a live server. Runs on SQLite and
PostgreSQL."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from mercato.core.ids import new_id
from mercato.core.outbox import Dispatcher
from tests.checkout.helpers import shop
from tests.conftest import LiveServer, Org
from tests.inventory.helpers import level
from tests.payments.helpers import (
    StripeServer,
    connect_stripe,
    grant_credit,
    issue_card,
    stripe_server,
)
from tests.storefront_helpers import SHOPPER_PASSWORD
from tests.web.store.helpers import csrf_in

__all__ = ["stripe_server"]  # the session fixture, used by the card tests below

FORM = {"email": "ada@example.com", "full_name": "Ada Byron", "line1": "1 Main St",
        "city": "Springfield", "region": "OR", "postal_code": "97401", "country": "US"}


@pytest.fixture
def guest(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, raise_server_exceptions=False, base_url="http://testserver") as b:
        yield b


@pytest.fixture
def other(app: FastAPI) -> Iterator[TestClient]:
    """Another shopper's browser."""
    with TestClient(app, raise_server_exceptions=False, base_url="http://testserver") as b:
        yield b


def stock(client: TestClient, org: Org, sku: str, place: dict[str, Any]) -> tuple[int, int]:
    got = level(client, org, sku, place["code"])
    return int(got["on_hand"]), int(got["reserved"])


def fill_cart(guest: TestClient, org: Org, sku: str, quantity: int = 1) -> None:
    guest.get(f"/s/{org.slug}/")
    token = guest.cookies.get("mercato_store_csrf")
    added = guest.post(f"/s/{org.slug}/cart/lines", data={
        "sku": sku, "quantity": str(quantity), "csrf_token": token}, follow_redirects=False)
    assert added.status_code == 303, added.text


def open_checkout(guest: TestClient, org: Org) -> str:
    shown = guest.get(f"/s/{org.slug}/checkout")
    assert shown.status_code == 200, shown.text
    return shown.text


def place(guest: TestClient, org: Org, method_id: str, payment: dict[str, str],
          **fields: str) -> httpx.Response:
    html = open_checkout(guest, org)
    return guest.post(f"/s/{org.slug}/checkout", data={
        **FORM, "shipping_method": method_id, **payment, **fields, "action": "place",
        "csrf_token": csrf_in(html)}, follow_redirects=False)


def orders_of(client: TestClient, org: Org) -> list[dict[str, Any]]:
    return list(client.get("/api/v1/orders", headers=org.headers,
                           params={"limit": 250}).json()["data"])


def confirmed(guest: TestClient, answer: httpx.Response) -> tuple[str, str]:
    """Follow a placed order's redirect: (confirmation path, its page)."""
    assert answer.status_code == 303, answer.text
    where = answer.headers["location"]
    assert re.search(r"/checkout/done/[0-9A-Z]+$", where), where
    shown = guest.get(where)
    assert shown.status_code == 200, shown.text
    return where, shown.text


# -- the form ------------------------------------------------------------------------------------

def test_the_checkout_page_has_the_contract_fields_and_the_stores_choices(
        client: TestClient, guest: TestClient, org: Org) -> None:
    skus, _, method = shop(client, org, [2])
    fill_cart(guest, org, skus[0])
    html = open_checkout(guest, org)
    for label in ("Email", "Full name", "Address", "City", "Postal code", "Country"):
        assert re.search(rf'<label for="f-[a-z_0-9]+">{label}</label>', html), label
    assert f'value="{method}"' in html  # the shipping choice
    assert 'name="payment_method" value="manual"' in html
    assert "Gift card code" in html
    assert 'value="store_credit"' not in html  # a guest has no store credit
    assert 'value="stripe"' not in html  # no Stripe configured
    assert ">Place order</button>" in html
    assert "<script" not in html


def test_the_checkout_page_without_a_cart_goes_back_to_the_cart(
        guest: TestClient, org: Org) -> None:
    answer = guest.get(f"/s/{org.slug}/checkout", follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"] == f"/s/{org.slug}/cart"


def test_a_guest_pays_in_store_and_sees_the_order_number(
        client: TestClient, guest: TestClient, org: Org) -> None:
    skus, where, method = shop(client, org, [3])
    fill_cart(guest, org, skus[0], 2)
    answer = place(guest, org, method, {"payment_method": "manual"})
    path, html = confirmed(guest, answer)
    order_id = path.rsplit("/", 1)[1]
    staff = client.get(f"/api/v1/orders/{order_id}", headers=org.headers).json()
    assert f"Order number <strong>{staff['number']}</strong>" in html
    assert (staff["email"], staff["source"], staff["total"]) == \
        ("ada@example.com", "web", "25.00")
    assert staff["shipping_address"]["first_name"] == "Ada"
    assert staff["shipping_address"]["last_name"] == "Byron"
    assert stock(client, org, skus[0], where) == (1, 0)
    # the cart is completed and forgotten: the cookie is cleared, the cart page is empty
    assert "mercato_cart" not in guest.cookies
    assert "Your cart is empty" in guest.get(f"/s/{org.slug}/cart").text


def test_missing_fields_are_a_422_beside_each_field_and_no_order(
        client: TestClient, guest: TestClient, org: Org) -> None:
    skus, where, method = shop(client, org, [2])
    fill_cart(guest, org, skus[0])
    before = len(orders_of(client, org))
    answer = place(guest, org, method, {"payment_method": "manual"}, full_name="", city="",
                   email="not-an-email")
    assert answer.status_code == 422
    html = answer.text
    assert 'class="error-summary"' in html
    for field in ("full_name", "city", "email"):
        assert f'id="e-{field}"' in html, field
    assert 'value="1 Main St"' in html  # what was entered is kept
    assert len(orders_of(client, org)) == before
    assert stock(client, org, skus[0], where) == (2, 0)


def test_a_method_that_cannot_ship_to_the_address_is_refused_beside_the_shipping_choice(
        client: TestClient, guest: TestClient, org: Org) -> None:
    skus, where, method = shop(client, org, [2])
    fill_cart(guest, org, skus[0])
    answer = place(guest, org, method, {"payment_method": "manual"}, country="France")
    assert answer.status_code == 422, answer.text
    assert 'id="e-shipping_method"' in answer.text
    assert stock(client, org, skus[0], where) == (2, 0)


def test_update_shipping_options_saves_the_address_and_offers_what_ships_there(
        client: TestClient, guest: TestClient, org: Org) -> None:
    skus, _, method = shop(client, org, [2])
    fill_cart(guest, org, skus[0])
    html = open_checkout(guest, org)
    answer = guest.post(f"/s/{org.slug}/checkout", data={
        **FORM, "action": "shipping", "csrf_token": csrf_in(html)}, follow_redirects=False)
    assert answer.status_code == 303
    again = open_checkout(guest, org)
    assert 'value="Springfield"' in again
    assert f'value="{method}"' in again
    assert "$5.00" in again  # the flat rate, priced for the address


def test_sold_out_between_cart_and_checkout_is_a_clear_409_and_stock_is_unchanged(
        client: TestClient, guest: TestClient, other: TestClient, org: Org) -> None:
    skus, where, method = shop(client, org, [1])
    fill_cart(guest, org, skus[0])
    fill_cart(other, org, skus[0])
    assert confirmed(other, place(other, org, method, {"payment_method": "manual"}))
    before = len(orders_of(client, org))
    answer = place(guest, org, method, {"payment_method": "manual"})
    assert answer.status_code == 409
    assert "sold out before your order was placed" in answer.text
    assert len(orders_of(client, org)) == before
    assert stock(client, org, skus[0], where) == (0, 0)


def test_a_gift_card_pays_and_a_short_one_is_declined_with_nothing_changed(
        client: TestClient, guest: TestClient, org: Org) -> None:
    skus, where, method = shop(client, org, [2])
    fill_cart(guest, org, skus[0])
    short = issue_card(client, org, amount="5.00")
    declined = place(guest, org, method, {"payment_method": "gift_card",
                                          "gift_card_code": short["code"]})
    assert declined.status_code == 402
    assert "Your payment was declined" in declined.text
    assert stock(client, org, skus[0], where) == (2, 0)
    missing = place(guest, org, method, {"payment_method": "gift_card"})
    assert missing.status_code == 422
    assert 'id="e-gift_card_code"' in missing.text
    enough = issue_card(client, org, amount="50.00")
    _path, html = confirmed(guest, place(guest, org, method, {
        "payment_method": "gift_card", "gift_card_code": enough["code"]}))
    assert "Your payment is received." in html
    card = client.get(f"/api/v1/gift-cards/{enough['id']}", headers=org.headers).json()
    assert card["balance"] == "35.00"
    assert stock(client, org, skus[0], where) == (1, 0)


def test_the_confirmation_is_not_shown_to_another_browser(
        client: TestClient, guest: TestClient, other: TestClient, org: Org) -> None:
    skus, _, method = shop(client, org, [2])
    fill_cart(guest, org, skus[0])
    path, _ = confirmed(guest, place(guest, org, method, {"payment_method": "manual"}))
    assert other.get(path).status_code == 404
    assert guest.get(path).status_code == 200
    assert guest.get(path[:-4] + "0000").status_code == 404


def test_a_post_without_the_csrf_token_is_refused(
        client: TestClient, guest: TestClient, org: Org) -> None:
    skus, _, method = shop(client, org, [2])
    fill_cart(guest, org, skus[0])
    answer = guest.post(f"/s/{org.slug}/checkout", data={
        **FORM, "shipping_method": method, "payment_method": "manual"})
    assert answer.status_code == 403


# -- cards through the Stripe emulator ---------------------------------------------------------

@pytest.fixture
def webhooks(stripe_server: StripeServer, live_server: LiveServer, org: Org,
             client: TestClient) -> Iterator[StripeServer]:
    """Stripe connected to the emulator, whose webhooks reach a live server of the app."""
    connect_stripe(client, org, stripe_server.url)
    stripe_server.send_webhooks_to(f"{live_server.url}/webhooks/stripe/{org.slug}")
    try:
        yield stripe_server
    finally:
        stripe_server.send_webhooks_to(None)


def test_with_the_emulator_the_page_offers_its_test_cards_and_no_stripe_js(
        client: TestClient, guest: TestClient, org: Org, webhooks: StripeServer) -> None:
    skus, _, _ = shop(client, org, [1])
    fill_cart(guest, org, skus[0])
    html = open_checkout(guest, org)
    assert 'name="payment_method" value="stripe"' in html
    for pm in ("pm_card_visa", "pm_card_threeDSecure2Required", "pm_card_chargeDeclined"):
        assert f'value="{pm}"' in html
    assert "js.stripe.com" not in html


def test_an_emulator_card_pays_and_a_declined_one_leaves_the_stock_as_it_was(
        client: TestClient, guest: TestClient, org: Org, webhooks: StripeServer) -> None:
    skus, where, method = shop(client, org, [1])
    fill_cart(guest, org, skus[0])
    declined = place(guest, org, method, {"payment_method": "stripe",
                                          "test_card": "pm_card_chargeDeclined"})
    assert declined.status_code == 402
    assert "Your payment was declined (card declined)" in declined.text
    assert stock(client, org, skus[0], where) == (1, 0)
    _path, html = confirmed(guest, place(guest, org, method, {
        "payment_method": "stripe", "test_card": "pm_card_visa"}))
    assert "Your payment is received." in html
    assert stock(client, org, skus[0], where) == (0, 0)


def _three_d_secure(guest: TestClient, org: Org, method: str, emulator: StripeServer,
                    outcome: str) -> httpx.Response:
    """Place an order with the 3-D Secure card, press the bank page's button, come back."""
    asked = place(guest, org, method, {"payment_method": "stripe",
                                       "test_card": "pm_card_threeDSecure2Required"})
    assert asked.status_code == 200, asked.text
    assert "Confirm your payment" in asked.text
    bank = re.search(r'href="([^"]+/_emulator/3ds/[^"]+)"', asked.text)
    assert bank, asked.text
    url = bank.group(1).replace("&amp;", "&")
    challenge = httpx.get(url)
    assert challenge.status_code == 200
    label = "Complete authentication" if outcome == "succeed" else "Fail authentication"
    assert label in challenge.text
    back = httpx.post(url.split("?")[0], data={
        "outcome": outcome, "return_url": f"http://testserver/s/{org.slug}/checkout/return"})
    assert back.status_code == 303, back.text
    assert back.headers["location"].startswith(f"http://testserver/s/{org.slug}/checkout/return?")
    httpx.post(f"{emulator.url}/_emulator/idle", timeout=30)  # the webhook has arrived
    Dispatcher(guest.app.state.db).drain()  # and the worker has handled it
    return guest.get(back.headers["location"], follow_redirects=False)


def test_a_3d_secure_card_confirmed_at_the_bank_makes_the_order(
        client: TestClient, guest: TestClient, org: Org, webhooks: StripeServer) -> None:
    skus, where, method = shop(client, org, [1])
    fill_cart(guest, org, skus[0])
    returned = _three_d_secure(guest, org, method, webhooks, "succeed")
    _path, html = confirmed(guest, returned)
    assert "Order number" in html
    assert "Your payment is received." in html
    assert stock(client, org, skus[0], where) == (0, 0)


def test_a_3d_secure_card_failed_at_the_bank_reopens_the_cart_and_gives_the_stock_back(
        client: TestClient, guest: TestClient, org: Org, webhooks: StripeServer) -> None:
    skus, where, method = shop(client, org, [1])
    fill_cart(guest, org, skus[0])
    before = len(orders_of(client, org))
    returned = _three_d_secure(guest, org, method, webhooks, "fail")
    assert returned.status_code == 402, returned.text
    assert "Your card was not confirmed" in returned.text
    assert stock(client, org, skus[0], where) == (1, 0)
    assert len(orders_of(client, org)) == before
    # the cart is this browser's again, and can be paid another way
    _path, _ = confirmed(guest, place(guest, org, method, {"payment_method": "manual"}))
    assert stock(client, org, skus[0], where) == (0, 0)


def test_with_a_real_publishable_key_the_page_loads_stripe_js_and_its_policy_allows_it(
        client: TestClient, guest: TestClient, org: Org) -> None:
    connect_stripe(client, org, "https://api.stripe.com")
    skus, _, _ = shop(client, org, [1])
    fill_cart(guest, org, skus[0])
    shown = guest.get(f"/s/{org.slug}/checkout")
    assert shown.status_code == 200
    assert '<script src="https://js.stripe.com/v3/"></script>' in shown.text
    assert 'id="payment-element" data-key="pk_test_' in shown.text
    assert "pm_card_visa" not in shown.text  # test cards only with the emulator
    policy = shown.headers["content-security-policy"]
    assert "script-src 'self' https://js.stripe.com" in policy
    assert "frame-src https://js.stripe.com" in policy
    elsewhere = guest.get(f"/s/{org.slug}/cart")
    assert "js.stripe.com" not in elsewhere.headers["content-security-policy"]


# -- a signed-in customer ----------------------------------------------------------------------

def _signed_up(browser: TestClient, org: Org) -> str:
    """Sign up on the register page (which signs the browser in); the customer's email."""
    email = f"buyer-{new_id().lower()}@example.com"
    form = browser.get(f"/s/{org.slug}/account/register")
    made = browser.post(f"/s/{org.slug}/account/register", data={
        "email": email, "password": SHOPPER_PASSWORD, "first_name": "Ada",
        "last_name": "Byron", "csrf_token": csrf_in(form.text)}, follow_redirects=False)
    assert made.status_code == 303, made.text
    return email


def _customer_id(client: TestClient, org: Org, email: str) -> str:
    found = client.get("/api/v1/customers", headers=org.headers, params={"q": email})
    assert found.status_code == 200, found.text
    ids = [c["id"] for c in found.json()["data"] if c["email"] == email]
    assert len(ids) == 1, found.text
    return str(ids[0])


def test_a_signed_in_customers_order_is_theirs_in_the_account_history_and_detail(
        client: TestClient, guest: TestClient, other: TestClient, org: Org) -> None:
    skus, where, method = shop(client, org, [2])
    email = _signed_up(guest, org)
    fill_cart(guest, org, skus[0])
    html = open_checkout(guest, org)
    assert f'value="{email}"' in html  # the account's email, ready
    path, confirmation = confirmed(guest, place(guest, org, method, {"payment_method": "manual"},
                                                email=email))
    order_id = path.rsplit("/", 1)[1]
    staff = client.get(f"/api/v1/orders/{order_id}", headers=org.headers).json()
    assert staff["customer_id"] == _customer_id(client, org, email)
    assert f"Order number <strong>{staff['number']}</strong>" in confirmation
    history = guest.get(f"/s/{org.slug}/account")
    assert history.status_code == 200
    assert f"Order #{staff['number']}" in history.text
    assert f'href="/s/{org.slug}/account/orders/{order_id}"' in history.text
    detail = guest.get(f"/s/{org.slug}/account/orders/{order_id}")
    assert detail.status_code == 200, detail.text
    assert f"Order #{staff['number']}" in detail.text
    assert stock(client, org, skus[0], where) == (1, 0)
    # another customer cannot open it
    _signed_up(other, org)
    assert other.get(f"/s/{org.slug}/account/orders/{order_id}").status_code == 404
    assert other.get(path).status_code == 404


def test_store_credit_is_offered_only_when_signed_in_and_pays_from_the_balance(
        client: TestClient, guest: TestClient, other: TestClient, org: Org) -> None:
    skus, where, method = shop(client, org, [2])
    fill_cart(other, org, skus[0])  # a guest: no store credit on offer
    assert 'value="store_credit"' not in open_checkout(other, org)
    email = _signed_up(guest, org)
    customer = _customer_id(client, org, email)
    grant_credit(client, org, customer, "40.00")
    fill_cart(guest, org, skus[0])
    html = open_checkout(guest, org)
    assert 'name="payment_method" value="store_credit"' in html
    assert ">Store credit<" in html
    path, confirmation = confirmed(guest, place(guest, org, method, {
        "payment_method": "store_credit"}, email=email))
    assert "Your payment is received." in confirmation
    order_id = path.rsplit("/", 1)[1]
    staff = client.get(f"/api/v1/orders/{order_id}", headers=org.headers).json()
    assert (staff["financial_status"], staff["total"]) == ("paid", "15.00")
    credit = client.get(f"/api/v1/customers/{customer}/store-credit",
                        headers=org.headers).json()
    assert credit["balances"][0]["balance"] == "25.00"
    assert stock(client, org, skus[0], where) == (1, 0)


def test_store_credit_too_small_is_a_402_and_changes_nothing(
        client: TestClient, guest: TestClient, org: Org) -> None:
    skus, where, method = shop(client, org, [2])
    email = _signed_up(guest, org)
    customer = _customer_id(client, org, email)
    grant_credit(client, org, customer, "5.00")
    fill_cart(guest, org, skus[0])
    before = len(orders_of(client, org))
    refused = place(guest, org, method, {"payment_method": "store_credit"}, email=email)
    assert refused.status_code == 402, refused.text
    assert "Your payment was declined" in refused.text
    assert 'id="e-payment_method"' in refused.text
    assert len(orders_of(client, org)) == before
    assert stock(client, org, skus[0], where) == (2, 0)
    credit = client.get(f"/api/v1/customers/{customer}/store-credit",
                        headers=org.headers).json()
    assert credit["balances"][0]["balance"] == "5.00"
    # the cart is still theirs and can be paid another way
    assert confirmed(guest, place(guest, org, method, {"payment_method": "manual"},
                                  email=email))
    assert stock(client, org, skus[0], where) == (1, 0)


def test_the_cart_estimates_shipping_to_a_country_and_postal_code_and_saves_nothing(
        client: TestClient, guest: TestClient, org: Org) -> None:
    skus, _, _ = shop(client, org, [2])
    fill_cart(guest, org, skus[0])
    cart_id = guest.cookies["mercato_cart"]
    there = guest.get(f"/s/{org.slug}/cart",
                      params={"country": "United States", "postal_code": "78701"})
    assert there.status_code == 200, there.text
    assert "Standard: $5.00" in there.text
    nowhere = guest.get(f"/s/{org.slug}/cart", params={"country": "FR"})
    assert nowhere.status_code == 200
    assert "Standard: $5.00" not in nowhere.text
    assert "No shipping method reaches that address" in nowhere.text
    bad = guest.get(f"/s/{org.slug}/cart", params={"country": "Atlantis"})
    assert bad.status_code == 422
    assert "Enter a country" in bad.text
    saved = client.get(f"/store/v1/{org.slug}/carts/{cart_id}").json()
    assert saved["shipping_address"] is None  # an estimate changes nothing
