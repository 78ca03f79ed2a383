"""The storefront's account pages (``/s/{store}/account/...``): sign-up and sign-in with a
session cookie, ``next``, sign-out, password reset and email verification by the mailed
token, the order history (this customer's only), addresses, the guest cart brought along at
sign-in, and the review form. A shopper's browser is a TestClient with its own cookies; the
shop's staff act through the API. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from mercato.core.db import Database
from mercato.core.ids import new_id
from tests.conftest import Org
from tests.identity.test_customer_accounts import mailed_token
from tests.orders.helpers import place_order, stocked
from tests.storefront_helpers import SHOPPER_PASSWORD, store_url
from tests.web.store.helpers import card, csrf_in, variant

SESSION = "mercato_customer"


def _browser(app: FastAPI) -> TestClient:
    return TestClient(app, raise_server_exceptions=False, base_url="http://testserver")


@pytest.fixture
def browser(app: FastAPI) -> Iterator[TestClient]:
    """A shopper's browser: its own cookie jar."""
    with _browser(app) as b:
        yield b


def _email() -> str:
    return f"page-{new_id().lower()}@example.com"


def _post(browser: TestClient, form_page: str, action: str, data: dict[str, str]) -> Any:
    """Open ``form_page`` (for its CSRF token), then post ``data`` to ``action``."""
    shown = browser.get(form_page)
    assert shown.status_code == 200, shown.text
    return browser.post(action, data={**data, "csrf_token": csrf_in(shown.text)},
                        follow_redirects=False)


def register(browser: TestClient, org: Org, email: str, password: str = SHOPPER_PASSWORD,
             **fields: str) -> Any:
    base = f"/s/{org.slug}/account/register"
    return _post(browser, base, base, {"email": email, "password": password,
                                       "first_name": "Ada", "last_name": "Lovelace", **fields})


def login(browser: TestClient, org: Org, email: str, password: str = SHOPPER_PASSWORD,
          next_path: str = "") -> Any:
    base = f"/s/{org.slug}/account/login"
    return _post(browser, base, base, {"email": email, "password": password, "next": next_path})


def signed_up(browser: TestClient, org: Org) -> str:
    email = _email()
    made = register(browser, org, email)
    assert made.status_code == 303, made.text
    return email


def _header(html: str) -> str:
    return html.split('<header class="store-header">')[1].split("</header>")[0]


# -- sign-up, sign-in, sign-out -------------------------------------------------------------

def test_sign_up_signs_the_browser_in_with_an_httponly_cookie_of_the_stores_path(
        browser: TestClient, org: Org) -> None:
    home = browser.get(f"/s/{org.slug}/")
    assert ">Sign in</a>" in _header(home.text)
    email = _email()
    made = register(browser, org, email)
    assert made.status_code == 303, made.text
    assert made.headers["location"] == f"/s/{org.slug}/account"
    cookie = next(c for c in made.headers.get_list("set-cookie") if c.startswith(SESSION))
    assert f"Path=/s/{org.slug}" in cookie
    assert "HttpOnly" in cookie
    assert "samesite=lax" in cookie.lower()
    account = browser.get(f"/s/{org.slug}/account")
    assert account.status_code == 200, account.text
    assert email in account.text
    assert "Ada Lovelace" in account.text
    assert "Not verified" in account.text
    assert "Resend verification" in account.text
    assert ">Account</a>" in _header(account.text)
    assert ">Sign in</a>" not in _header(account.text)


def test_sign_up_with_a_taken_email_or_a_short_password_is_refused_beside_the_field(
        browser: TestClient, app: FastAPI, org: Org) -> None:
    email = signed_up(browser, org)
    with _browser(app) as other:
        again = register(other, org, email.upper())
        assert again.status_code == 422
        assert 'id="e-email"' in again.text
        assert "already has an account" in again.text
        assert SESSION not in again.headers.get("set-cookie", "")
        short = register(other, org, _email(), password="short")
        assert short.status_code == 422
        assert 'id="e-password"' in short.text
        assert "8 to" in short.text
        assert other.get(f"/s/{org.slug}/account", follow_redirects=False).status_code == 303


def test_a_wrong_password_is_a_clear_error_and_signs_nobody_in(
        browser: TestClient, app: FastAPI, org: Org) -> None:
    email = signed_up(browser, org)
    with _browser(app) as other:
        wrong = login(other, org, email, "not the password")
        assert wrong.status_code == 422
        assert "The email or password is incorrect." in wrong.text
        assert f'value="{email}"' in wrong.text  # the email entered is kept
        assert SESSION not in wrong.headers.get("set-cookie", "")
        empty = login(other, org, "", "")
        assert empty.status_code == 422
        assert "Enter your email." in empty.text
        right = login(other, org, email)
        assert right.status_code == 303
        assert other.get(f"/s/{org.slug}/account").status_code == 200


def test_pages_that_need_sign_in_send_the_browser_to_sign_in_and_back_with_next(
        browser: TestClient, app: FastAPI, org: Org) -> None:
    email = signed_up(browser, org)
    with _browser(app) as other:
        asked = other.get(f"/s/{org.slug}/account?cursor=", follow_redirects=False)
        assert asked.status_code == 303
        assert asked.headers["location"] == \
            f"/s/{org.slug}/account/login?next=/s/{org.slug}/account%3Fcursor%3D"
        form = other.get(asked.headers["location"])
        assert f'name="next" value="/s/{org.slug}/account?cursor="' in form.text
        back = login(other, org, email, next_path=f"/s/{org.slug}/cart")
        assert back.headers["location"] == f"/s/{org.slug}/cart"
    for bad in ("https://evil.test/x", "//evil.test/x", f"/s/{org.slug}//evil.test",
                "/admin", "/s/another-store/cart"):
        with _browser(app) as other:
            went = login(other, org, email, next_path=bad)
            assert went.headers["location"] == f"/s/{org.slug}/account", bad


def test_sign_out_ends_the_session_even_for_a_copy_of_its_cookie(
        browser: TestClient, app: FastAPI, org: Org) -> None:
    signed_up(browser, org)
    cookie = browser.cookies.get(SESSION)
    assert cookie
    account = browser.get(f"/s/{org.slug}/account")
    out = browser.post(f"/s/{org.slug}/account/logout",
                       data={"csrf_token": csrf_in(account.text)}, follow_redirects=False)
    assert out.status_code == 303
    assert any(c.startswith(f'{SESSION}=""') or c.startswith(f"{SESSION}=;")
               for c in out.headers.get_list("set-cookie"))
    assert browser.get(f"/s/{org.slug}/account", follow_redirects=False).status_code == 303
    with _browser(app) as thief:
        thief.cookies.set(SESSION, cookie, path=f"/s/{org.slug}")
        assert thief.get(f"/s/{org.slug}/account", follow_redirects=False).status_code == 303


def test_sign_out_without_the_csrf_token_is_refused(browser: TestClient, org: Org) -> None:
    signed_up(browser, org)
    refused = browser.post(f"/s/{org.slug}/account/logout", data={}, follow_redirects=False)
    assert refused.status_code == 403
    assert browser.get(f"/s/{org.slug}/account").status_code == 200


def test_a_session_of_one_store_opens_nothing_in_another(
        browser: TestClient, org: Org, other_org: Org) -> None:
    signed_up(browser, org)
    cookie = browser.cookies.get(SESSION)
    browser.cookies.set(SESSION, cookie, path=f"/s/{other_org.slug}")
    elsewhere = browser.get(f"/s/{other_org.slug}/account", follow_redirects=False)
    assert elsewhere.status_code == 303
    assert "/account/login" in elsewhere.headers["location"]


# -- password reset -------------------------------------------------------------------------

def test_the_reset_form_says_the_same_whether_or_not_the_email_has_an_account(
        browser: TestClient, org: Org, db: Database) -> None:
    email = signed_up(browser, org)
    base = f"/s/{org.slug}/account/reset-password"
    answers = []
    for who in (email, _email()):
        sent = _post(browser, base, base, {"email": who})
        assert sent.status_code == 303
        shown = browser.get(sent.headers["location"])
        answers.append(shown.text.replace(who, "EMAIL"))
        assert "we have sent it a link" in shown.text
    assert re.sub(r'value="[^"]+"', "", answers[0]) == re.sub(r'value="[^"]+"', "", answers[1])
    assert mailed_token(db, org, "password_reset", email).startswith("cst_")


def test_a_password_reset_sets_the_new_password_and_ends_earlier_sessions(
        browser: TestClient, app: FastAPI, org: Org, db: Database) -> None:
    email = signed_up(browser, org)
    earlier = browser.cookies.get(SESSION)
    base = f"/s/{org.slug}/account/reset-password"
    with _browser(app) as other:
        assert _post(other, base, base, {"email": email}).status_code == 303
        token = mailed_token(db, org, "password_reset", email)
        form = other.get(f"{base}?token={token}")
        assert form.status_code == 200
        assert "New password" in form.text
        new_password = "a brand new secret"
        done = other.post(f"{base}/new", data={"token": token, "password": new_password,
                                               "csrf_token": csrf_in(form.text)},
                          follow_redirects=False)
        assert done.status_code == 303, done.text
        assert done.headers["location"] == f"/s/{org.slug}/account"
        assert other.get(f"/s/{org.slug}/account").status_code == 200  # signed in
        # the token is spent: a second use is refused beside the form, nothing changes (a
        # sign-in renews the CSRF token: the form is opened again)
        form = other.get(f"{base}?token={token}")
        again = other.post(f"{base}/new", data={"token": token, "password": "another one!",
                                                "csrf_token": csrf_in(form.text)})
        assert again.status_code == 422
        assert "invalid or expired" in again.text
    # the browser signed in before the reset is signed out, a copy of its cookie too
    assert browser.get(f"/s/{org.slug}/account", follow_redirects=False).status_code == 303
    with _browser(app) as copy:
        copy.cookies.set(SESSION, earlier, path=f"/s/{org.slug}")
        assert copy.get(f"/s/{org.slug}/account", follow_redirects=False).status_code == 303
    with _browser(app) as fresh:
        assert login(fresh, org, email, SHOPPER_PASSWORD).status_code == 422
        assert login(fresh, org, email, new_password).status_code == 303


def test_a_reset_link_with_a_bad_token_is_refused_and_changes_nothing(
        browser: TestClient, org: Org) -> None:
    email = signed_up(browser, org)
    base = f"/s/{org.slug}/account/reset-password"
    form = browser.get(f"{base}?token=cst_nonsense")
    refused = browser.post(f"{base}/new", data={
        "token": "cst_nonsense", "password": "whatever long", "csrf_token": csrf_in(form.text)})
    assert refused.status_code == 422
    assert "Ask for a new link" in refused.text
    assert browser.get(f"/s/{org.slug}/account").status_code == 200  # still signed in
    assert email in browser.get(f"/s/{org.slug}/account").text


# -- email verification ---------------------------------------------------------------------

def test_the_verification_link_verifies_once_and_a_bad_one_says_so(
        browser: TestClient, org: Org, db: Database) -> None:
    email = signed_up(browser, org)
    token = mailed_token(db, org, "verify_email", email)
    bad = browser.get(f"/s/{org.slug}/account/verify-email?token=cst_x.y")
    assert bad.status_code == 422
    assert "invalid, used or expired" in bad.text
    assert "Not verified" in browser.get(f"/s/{org.slug}/account").text
    good = browser.get(f"/s/{org.slug}/account/verify-email?token={token}")
    assert good.status_code == 200, good.text
    assert "Your email is verified." in good.text
    account = browser.get(f"/s/{org.slug}/account").text
    assert "Verified" in account
    assert "Resend verification" not in account
    used = browser.get(f"/s/{org.slug}/account/verify-email?token={token}")
    assert used.status_code == 422
    assert browser.get(f"/s/{org.slug}/account/verify-email").status_code == 422


def test_resend_verification_mails_a_new_link(browser: TestClient, org: Org,
                                              db: Database) -> None:
    email = signed_up(browser, org)
    first = mailed_token(db, org, "verify_email", email)
    account = browser.get(f"/s/{org.slug}/account")
    sent = browser.post(f"/s/{org.slug}/account/verify-email",
                        data={"csrf_token": csrf_in(account.text)}, follow_redirects=False)
    assert sent.status_code == 303
    assert mailed_token(db, org, "verify_email", email) != first


# -- orders ---------------------------------------------------------------------------------

def _verified(browser: TestClient, org: Org, db: Database) -> str:
    email = signed_up(browser, org)
    token = mailed_token(db, org, "verify_email", email)
    assert browser.get(f"/s/{org.slug}/account/verify-email?token={token}").status_code == 200
    return email


def test_the_order_history_shows_this_customers_orders_with_status_total_and_tracking(
        browser: TestClient, app: FastAPI, client: TestClient, org: Org, other_org: Org,
        db: Database) -> None:
    email = _verified(browser, org, db)
    skus, _ = stocked(client, org, [5, 5])
    mine = place_order(client, org, [(skus[0], 2)], price="12.50",
                       customer={"email": email, "first_name": "Ada"})
    shipped = client.post(f"/api/v1/orders/{mine['id']}/fulfillments", headers=org.headers,
                          json={"carrier": "UPS", "tracking_number": "1Z999AA"})
    assert shipped.status_code == 201, shipped.text
    theirs = place_order(client, org, [(skus[1], 1)],
                         customer={"email": _email(), "first_name": "Bob"})
    other_skus, _ = stocked(client, other_org, [5])
    elsewhere = place_order(client, other_org, [(other_skus[0], 1)],
                            customer={"email": email})

    history = browser.get(f"/s/{org.slug}/account")
    assert history.status_code == 200
    assert f"Order #{mine['number']}" in history.text
    assert f'href="/s/{org.slug}/account/orders/{mine["id"]}"' in history.text
    assert "$25.00" in history.text
    assert "Shipped" in history.text
    assert f"/account/orders/{theirs['id']}" not in history.text
    assert f"/account/orders/{elsewhere['id']}" not in history.text

    detail = browser.get(f"/s/{org.slug}/account/orders/{mine['id']}")
    assert detail.status_code == 200, detail.text
    assert f"Order #{mine['number']}" in detail.text
    assert "UPS" in detail.text
    assert "1Z999AA" in detail.text
    assert "$12.50" in detail.text
    # another customer's order, and this customer's order in another store: 404 pages
    other = browser.get(f"/s/{org.slug}/account/orders/{theirs['id']}")
    assert other.status_code == 404
    assert "Page not found" in other.text
    assert browser.get(f"/s/{org.slug}/account/orders/{elsewhere['id']}").status_code == 404
    with _browser(app) as stranger:
        asked = stranger.get(f"/s/{org.slug}/account/orders/{mine['id']}",
                             follow_redirects=False)
        assert asked.status_code == 303
        assert "/account/login?next=" in asked.headers["location"]


def test_an_unverified_account_sees_no_orders_placed_for_its_email_by_others(
        browser: TestClient, client: TestClient, org: Org) -> None:
    email = signed_up(browser, org)
    skus, _ = stocked(client, org, [5])
    placed = place_order(client, org, [(skus[0], 1)], customer={"email": email})
    history = browser.get(f"/s/{org.slug}/account")
    assert f"/account/orders/{placed['id']}" not in history.text
    assert "No orders yet." in history.text
    assert browser.get(f"/s/{org.slug}/account/orders/{placed['id']}").status_code == 404


# -- addresses ------------------------------------------------------------------------------

def test_an_address_is_added_to_the_book_and_a_bad_one_is_refused_beside_the_field(
        browser: TestClient, client: TestClient, org: Org) -> None:
    signed_up(browser, org)
    account = f"/s/{org.slug}/account"
    address = {"first_name": "Ada", "last_name": "Lovelace", "line1": "12 St James's Sq",
               "city": "London", "postal_code": "SW1Y 4JH", "country": "gb"}
    bad = _post(browser, account, f"{account}/addresses", {**address, "country": "Britain"})
    assert bad.status_code == 422
    assert 'id="e-country"' in bad.text
    assert 'value="12 St James&#39;s Sq"' in bad.text  # what was entered is kept
    assert "No addresses yet." in bad.text
    added = _post(browser, account, f"{account}/addresses", address)
    assert added.status_code == 303, added.text
    page = browser.get(account).text
    assert "12 St James&#39;s Sq" in page
    assert "SW1Y 4JH London" in page
    assert "GB" in page


# -- the cart -------------------------------------------------------------------------------

def _add(browser: TestClient, org: Org, product: dict[str, Any], sku: str,
         quantity: int = 1) -> None:
    shown = browser.get(f"/s/{org.slug}/products/{product['slug']}")
    added = browser.post(f"/s/{org.slug}/cart/lines", data={
        "sku": sku, "quantity": str(quantity), "slug": product["slug"],
        "csrf_token": csrf_in(shown.text)}, follow_redirects=False)
    assert added.status_code == 303, added.text


def test_a_guest_cart_merges_into_the_customers_cart_at_sign_in(
        browser: TestClient, app: FastAPI, client: TestClient, org: Org) -> None:
    tag = new_id()[-8:].lower()
    one, two = f"A-{tag}", f"B-{tag}"
    first = card(client, org, f"Bolt {tag}", tag=tag, variants=[variant(one, "2.00")],
                 stock={one: 10})
    second = card(client, org, f"Growth {tag}", tag=tag, variants=[variant(two, "3.00")],
                  stock={two: 10})
    email = signed_up(browser, org)
    _add(browser, org, first, one, 2)  # the customer's own cart
    customer_cart = browser.cookies.get("mercato_cart")
    assert "Cart <span class=\"count\">(2 items)" in browser.get(f"/s/{org.slug}/cart").text

    with _browser(app) as guest:
        _add(guest, org, first, one, 1)
        _add(guest, org, second, two, 1)
        guest_cart = guest.cookies.get("mercato_cart")
        signed_in = login(guest, org, email)
        assert signed_in.status_code == 303
        assert guest.cookies.get("mercato_cart") == customer_cart != guest_cart
        cart = guest.get(f"/s/{org.slug}/cart")
        assert "(4 items)" in cart.text
        assert f"Growth {tag}" in cart.text
        # the signed-in customer changes the cart as a guest would
        line = re.findall(r'action="/s/[^/]+/cart/lines/([0-9A-Z]+)/remove"', cart.text)[0]
        removed = guest.post(f"/s/{org.slug}/cart/lines/{line}/remove",
                             data={"csrf_token": csrf_in(cart.text)}, follow_redirects=False)
        assert removed.status_code == 303
        # the guest cart is merged: its id no longer opens anything
        old = client.get(store_url(org.slug, f"/carts/{guest_cart}"))
        assert old.json()["status"] == "merged"
        # signing out forgets the customer's cart in this browser
        account = guest.get(f"/s/{org.slug}/account")
        guest.post(f"/s/{org.slug}/account/logout", data={"csrf_token": csrf_in(account.text)})
        assert "(0 items)" in guest.get(f"/s/{org.slug}/cart").text


def test_a_signed_in_customer_carries_on_with_their_cart_in_a_new_browser(
        browser: TestClient, app: FastAPI, client: TestClient, org: Org) -> None:
    tag = new_id()[-8:].lower()
    sku = f"C-{tag}"
    product = card(client, org, f"Opt {tag}", tag=tag, variants=[variant(sku, "1.00")],
                   stock={sku: 5})
    email = signed_up(browser, org)
    _add(browser, org, product, sku, 3)
    with _browser(app) as elsewhere:
        assert login(elsewhere, org, email).status_code == 303
        assert "(3 items)" in elsewhere.get(f"/s/{org.slug}/cart").text


# -- reviews --------------------------------------------------------------------------------

def test_a_signed_in_customer_writes_a_review_that_awaits_approval(
        browser: TestClient, client: TestClient, org: Org) -> None:
    tag = new_id()[-8:].lower()
    product = card(client, org, f"Mat {tag}", tag=tag)
    path = f"/s/{org.slug}/products/{product['slug']}"
    guest_view = browser.get(path).text
    assert "Sign in to write a review" in guest_view
    assert 'name="rating"' not in guest_view
    signed_up(browser, org)
    shown = browser.get(path)
    assert '<label for="f-rating">Rating</label>' in shown.text
    bad = browser.post(f"{path}/reviews", data={"rating": "9", "body": "",
                                                "csrf_token": csrf_in(shown.text)})
    assert bad.status_code == 422
    assert 'id="e-rating"' in bad.text
    assert "Choose a rating from 1 to 5 stars." in bad.text
    written = browser.post(f"{path}/reviews", data={
        "rating": "4", "title": "Solid", "body": "Grippy and thick.",
        "csrf_token": csrf_in(shown.text)}, follow_redirects=False)
    assert written.status_code == 303, written.text
    after = browser.get(written.headers["location"])
    assert "your review awaits approval" in after.text
    assert "Grippy and thick." not in after.text  # pending: not shown yet
    queue = client.get("/api/v1/reviews", headers=org.headers,
                       params={"product_id": product["id"]}).json()["data"]
    assert [(r["rating"], r["title"], r["status"]) for r in queue] == [(4, "Solid", "pending")]
    twice = browser.post(f"{path}/reviews", data={
        "rating": "5", "body": "Again.", "csrf_token": csrf_in(shown.text)})
    assert twice.status_code == 422
    assert "already" in twice.text
