"""In a real browser, at a phone's width, without signing in: a guest searches the store for a
card, opens it, adds it to the cart and sees it there; found by label, role and text, as a
person (and the pages' contract, API.md) finds them."""

from __future__ import annotations

import re
from typing import Any

from fastapi.testclient import TestClient

from mercato.core.ids import new_id
from tests.conftest import Org
from tests.web.browser.conftest import screenshot
from tests.web.store.helpers import card, variant


def test_a_guest_searches_opens_a_card_adds_it_and_sees_it_in_the_cart(
        page: Any, client: TestClient, org: Org) -> None:
    tag = new_id()[-8:].lower()
    nm, lp = f"NM-{tag}", f"LP-{tag}"
    card(client, org, f"Tarmogoyf {tag}", tag=tag,
         variants=[variant(nm, "40.00"), variant(lp, "32.00", condition="LP", finish="foil")],
         stock={nm: 2, lp: 1})
    card(client, org, f"Sold out goyf {tag}", tag=tag)
    page.set_viewport_size({"width": 360, "height": 740})

    page.goto(f"/s/{org.slug}/")
    page.get_by_label("Search", exact=True).fill(f"tarmogoyf {tag}")
    page.get_by_label("Search", exact=True).press("Enter")
    page.wait_for_url(re.compile(r"/products\?q="))
    results = page.get_by_role("region", name="Products")
    assert results.get_by_text(f"Sold out goyf {tag}").count() == 0
    results.get_by_role("link", name=re.compile(f"Tarmogoyf {tag}")).click()
    page.wait_for_url(re.compile(r"/products/tarmogoyf-"))
    assert page.get_by_role("heading", level=1).inner_text() == f"Tarmogoyf {tag}"

    page.get_by_label(re.compile(r"Lightly Played \(LP\), Foil")).check()
    page.get_by_label("Quantity", exact=True).fill("1")
    screenshot(page, "storefront-product-360")
    page.get_by_role("button", name="Add to cart").click()
    page.wait_for_url(re.compile(r"/cart$"))

    assert page.get_by_role("status").inner_text() == "Added to your cart."
    assert page.locator("main strong").get_by_text(f"Tarmogoyf {tag}", exact=True).is_visible()
    assert page.get_by_label(re.compile(f"^Quantity of Tarmogoyf {tag}")).input_value() == "1"
    assert page.get_by_role("link", name=re.compile(r"Cart \(1 item\)")).is_visible()
    assert page.get_by_role("button", name="Checkout").is_visible()
    assert "$32.00" in page.locator("main").inner_text()
    # no horizontal scrolling at 360 px
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    screenshot(page, "storefront-cart-360")
    assert not [e for e in page.console_errors if "Content Security Policy" in e]
    assert page.console_errors == []
