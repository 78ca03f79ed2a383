"""The storefront on a 360 px phone, in a real browser: no page scrolls sideways, every field
has a label (its accessible name), the page names its language, and the keyboard reaches the
search box with a visible focus. Each page a shopper meets on the way to an order."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from mercato.core.ids import new_id
from tests.checkout.helpers import flat_shipping
from tests.conftest import Org
from tests.web.store.helpers import card, variant

UNLABELLED = """() => Array.from(document.querySelectorAll(
    'input:not([type=hidden]):not([type=submit]), select, textarea'))
  .filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label')
               && !e.getAttribute('aria-labelledby'))
  .map(e => e.name || e.id)"""


def test_every_shopper_page_fits_a_360px_phone_and_labels_its_fields(
        chromium: Any, live_server: Any, client: TestClient, org: Org) -> None:
    tag = new_id()[-8:].lower()
    sku = f"M-{tag}"
    made = card(client, org, f"Pocket Dragon {tag} with a rather long name for a phone",
                tag=tag, variants=[variant(sku, "3.00"), variant(f"{sku}-F", "9.00",
                                                                 finish="foil")],
                stock={sku: 2, f"{sku}-F": 1})
    flat_shipping(client, org)
    context = chromium.new_context(base_url=live_server.url,
                                   viewport={"width": 360, "height": 740})
    page = context.new_page()
    try:
        base = f"/s/{org.slug}"
        page.goto(f"{base}/products/{made['slug']}")
        page.get_by_role("button", name="Add to cart").click()
        page.wait_for_url(f"**{base}/cart")
        for path in ("/", "/products", f"/products/{made['slug']}", "/cart", "/checkout",
                     "/account/login", "/account/register", "/account/reset-password",
                     "/locations"):
            answer = page.goto(f"{base}{path}")
            assert answer is not None
            assert answer.status == 200, path
            width = page.evaluate("() => document.documentElement.scrollWidth")
            assert width <= 360, f"{path} is {width}px wide on a 360px screen"
            assert page.evaluate(UNLABELLED) == [], path
            assert page.evaluate("() => document.documentElement.lang"), path
        page.goto(f"{base}/")
        search = page.get_by_label("Search", exact=True)
        for _ in range(8):
            page.keyboard.press("Tab")
            if page.evaluate("() => document.activeElement.name") == search.get_attribute(
                    "name"):
                break
        else:
            raise AssertionError("the keyboard does not reach the search box in 8 steps")
        outline = page.evaluate(
            "() => getComputedStyle(document.activeElement).outlineStyle")
        assert outline not in ("", "none"), "the focused field shows no focus ring"
    finally:
        context.close()
