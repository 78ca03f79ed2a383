"""In a real browser: a customer signs up, finds a card by search, adds it to the cart, checks
out paying in store, sees the confirmation with the order number, and then finds that order
in their account's history and opens it. Found by label, role and text (API.md, Pages)."""

from __future__ import annotations

import re
from typing import Any

from fastapi.testclient import TestClient

from mercato.core.ids import new_id
from tests.checkout.helpers import flat_shipping
from tests.conftest import Org
from tests.web.browser.conftest import screenshot
from tests.web.store.helpers import card, variant


def test_a_customer_signs_up_buys_a_card_and_sees_the_order_in_their_history(
        page: Any, client: TestClient, org: Org) -> None:
    tag = new_id()[-8:].lower()
    sku = f"B-{tag}"
    card(client, org, f"Brainstorm {tag}", tag=tag, variants=[variant(sku, "4.50")],
         stock={sku: 3})
    flat_shipping(client, org)
    email = f"buyer-{tag}@example.com"

    page.goto(f"/s/{org.slug}/account/register")
    page.get_by_label("Email", exact=True).fill(email)
    page.get_by_label("Password", exact=True).fill("a long enough password")
    page.get_by_label("First name", exact=True).fill("Ada")
    page.get_by_label("Last name", exact=True).fill("Byron")
    page.get_by_role("button", name="Create account").click()
    page.wait_for_url(re.compile(r"/account$"))
    assert page.get_by_role("link", name="Account").is_visible()

    page.get_by_label("Search", exact=True).fill(f"brainstorm {tag}")
    page.get_by_label("Search", exact=True).press("Enter")
    page.wait_for_url(re.compile(r"/products\?q="))
    page.get_by_role("link", name=re.compile(f"Brainstorm {tag}")).click()
    page.wait_for_url(re.compile(r"/products/brainstorm-"))
    page.get_by_role("button", name="Add to cart").click()
    page.wait_for_url(re.compile(r"/cart$"))
    page.get_by_role("button", name="Checkout").click()
    page.wait_for_url(re.compile(r"/checkout\??$"))

    assert page.get_by_label("Email", exact=True).input_value() == email
    page.get_by_label("Full name", exact=True).fill("Ada Byron")
    page.get_by_label("Address", exact=True).fill("1 Main St")
    page.get_by_label("City", exact=True).fill("Springfield")
    page.get_by_label("Postal code", exact=True).fill("97401")
    page.get_by_label("Country", exact=True).fill("United States")
    page.get_by_label(re.compile(r"^Standard")).check()
    page.get_by_label("Pay in store", exact=True).check()
    page.get_by_role("button", name="Place order").click()
    page.wait_for_url(re.compile(r"/checkout/done/"))

    order_id = page.url.rsplit("/", 1)[1]
    order = client.get(f"/api/v1/orders/{order_id}", headers=org.headers).json()
    assert order["email"] == email
    assert order["customer_id"]
    assert f"Order number {order['number']}" in page.locator("main").inner_text()
    screenshot(page, "storefront-customer-confirmation")

    page.get_by_role("link", name="Account").click()
    page.wait_for_url(re.compile(r"/account$"))
    page.get_by_role("link", name=f"Order #{order['number']}").click()
    page.wait_for_url(re.compile(f"/account/orders/{order_id}$"))
    assert f"Brainstorm {tag}" in page.locator("main").inner_text()
    assert page.console_errors == []
