"""In a real browser, as a guest: find a card by search and by a facet, add it to the cart, check
out with the Stripe emulator's test card and see the confirmation with the order number; a
declined card leaves the stock as it was. Fields, choices and buttons are found by their labels
and names (the pages' contract, API.md)."""

from __future__ import annotations

import re
from typing import Any

from fastapi.testclient import TestClient

from mercato.core.ids import new_id
from tests.checkout.helpers import flat_shipping
from tests.conftest import Org
from tests.payments.helpers import StripeServer, connect_stripe, stripe_server
from tests.web.browser.conftest import screenshot
from tests.web.store.helpers import card, variant

__all__ = ["stripe_server"]


def _stock(client: TestClient, org: Org, sku: str) -> tuple[int, int]:
    rows = client.get("/api/v1/inventory/levels", headers=org.headers,
                      params={"sku": sku}).json()["data"]
    return sum(r["on_hand"] for r in rows), sum(r["reserved"] for r in rows)


def _fill_checkout(page: Any) -> None:
    page.get_by_label("Email", exact=True).fill("guest@example.com")
    page.get_by_label("Full name", exact=True).fill("Ada Byron")
    page.get_by_label("Address", exact=True).fill("1 Main St")
    page.get_by_label("City", exact=True).fill("Springfield")
    page.get_by_label("Postal code", exact=True).fill("97401")
    page.get_by_label("Country", exact=True).fill("US")
    page.get_by_label(re.compile(r"^Standard")).check()
    page.get_by_label("Card", exact=True).check()


def test_a_guest_finds_a_card_by_search_and_facet_and_buys_it_with_the_emulators_card(
        page: Any, client: TestClient, org: Org, stripe_server: StripeServer) -> None:
    tag = new_id()[-8:].lower()
    foil, plain = f"F-{tag}", f"N-{tag}"
    card(client, org, f"Lightning Helix {tag}", tag=tag,
         variants=[variant(foil, "12.00", finish="foil")], stock={foil: 2})
    card(client, org, f"Plain Helix {tag}", tag=tag, variants=[variant(plain, "2.00")],
         stock={plain: 2})
    flat_shipping(client, org)
    connect_stripe(client, org, stripe_server.url)

    page.goto(f"/s/{org.slug}/")
    page.get_by_label("Search", exact=True).fill(f"helix {tag}")
    page.get_by_label("Search", exact=True).press("Enter")
    page.wait_for_url(re.compile(r"/products\?q="))
    results = page.get_by_role("region", name="Products")
    assert results.get_by_text(f"Plain Helix {tag}").count() == 1
    page.get_by_role("complementary", name="Filters").get_by_role(
        "link", name=re.compile(r"^Foil")).click()
    page.wait_for_url(re.compile(r"attr.finish=foil"))
    assert results.get_by_text(f"Plain Helix {tag}").count() == 0
    results.get_by_role("link", name=re.compile(f"Lightning Helix {tag}")).click()
    page.wait_for_url(re.compile(r"/products/lightning-helix-"))
    page.get_by_role("button", name="Add to cart").click()
    page.wait_for_url(re.compile(r"/cart$"))
    page.get_by_role("button", name="Checkout").click()
    page.wait_for_url(re.compile(r"/checkout\??$"))

    _fill_checkout(page)
    page.get_by_label(re.compile(r"\(succeeds\)")).check()
    screenshot(page, "storefront-checkout")
    page.get_by_role("button", name="Place order").click()
    page.wait_for_url(re.compile(r"/checkout/done/"))

    order_id = page.url.rsplit("/", 1)[1]
    order = client.get(f"/api/v1/orders/{order_id}", headers=org.headers).json()
    assert order["financial_status"] == "paid"
    assert page.get_by_role("heading", level=1).inner_text() == "Thank you for your order"
    assert f"Order number {order['number']}" in page.locator("main").inner_text()
    assert _stock(client, org, foil) == (1, 0)
    assert page.get_by_role("link", name=re.compile(r"Cart \(0 items\)")).is_visible()
    screenshot(page, "storefront-confirmation")
    assert page.console_errors == []


def test_a_declined_card_leaves_the_stock_as_it_was(
        page: Any, client: TestClient, org: Org, stripe_server: StripeServer) -> None:
    tag = new_id()[-8:].lower()
    sku = f"D-{tag}"
    product = card(client, org, f"Declined Helix {tag}", tag=tag,
                   variants=[variant(sku, "12.00")], stock={sku: 1})
    flat_shipping(client, org)
    connect_stripe(client, org, stripe_server.url)

    page.goto(f"/s/{org.slug}/products/{product['slug']}")
    page.get_by_role("button", name="Add to cart").click()
    page.wait_for_url(re.compile(r"/cart$"))
    page.get_by_role("button", name="Checkout").click()
    _fill_checkout(page)
    page.get_by_label(re.compile(r"\(declined\)")).check()
    page.get_by_role("button", name="Place order").click()
    page.wait_for_load_state()

    alert = page.get_by_role("alert")
    assert "Your payment was declined" in alert.inner_text()
    assert page.get_by_label("Email", exact=True).input_value() == "guest@example.com"
    assert _stock(client, org, sku) == (1, 0)
    page.goto(f"/s/{org.slug}/products/{product['slug']}")
    assert page.get_by_role("button", name="Add to cart").is_enabled()
    assert [e for e in page.console_errors if "402" not in e] == []
