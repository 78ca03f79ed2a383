"""In a real browser: a cashier scans the last copy of a card (types its SKU, Enter), takes
cash, sees the change due, and the storefront then shows the card sold out."""

from __future__ import annotations

import re
from typing import Any

from fastapi.testclient import TestClient

from mercato.core.ids import new_id
from tests.conftest import Org
from tests.web.browser.conftest import screenshot, sign_in
from tests.web.conftest import add_staff
from tests.web.store.helpers import card, variant


def test_a_cashier_sells_the_last_copy_for_cash_and_the_store_shows_it_sold_out(
        page: Any, client: TestClient, org: Org) -> None:
    tag = new_id()[-8:].lower()
    sku = f"BOLT-{tag}"
    made = card(client, org, f"Lightning Bolt {tag}", tag=tag,
                variants=[variant(sku, "4.25")], stock={sku: 1})
    sign_in(page, add_staff(client, org, "cashier"), start="/pos")
    page.wait_for_url(re.compile(r"/pos$"))

    scan = page.get_by_label("Scan or search")
    scan.fill(sku)
    scan.press("Enter")
    page.get_by_role("status").filter(has_text="Added").wait_for()
    sale = page.get_by_role("table", name="Sale")
    assert sale.get_by_text(f"Lightning Bolt {tag}", exact=True).is_visible()
    for name in ("Scan or search", "Location"):  # the contract's names, once each (API.md)
        assert page.get_by_label(name).count() == 1, name
    assert page.get_by_role("button", name="Pay").count() == 1
    screenshot(page, "pos-register")
    page.get_by_role("button", name="Pay").click()
    page.wait_for_url(re.compile(r"/pos/pay\b"))
    assert page.get_by_label("Cash").count() == 1
    assert page.get_by_label("Amount received").count() == 1
    assert page.get_by_role("button", name="Complete sale").count() == 1
    page.get_by_label("Cash", exact=True).check()
    page.get_by_label("Amount received").fill("10")
    page.get_by_role("button", name="Complete sale").click()
    page.wait_for_url(re.compile(r"/pos/receipts/"))
    assert page.get_by_text("Change due").count() == 1
    assert page.get_by_text("Change due").is_visible()
    assert "$5.75" in page.locator(".receipt").inner_text()
    screenshot(page, "pos-receipt")

    page.goto(f"/s/{org.slug}/products/{made['slug']}")
    assert page.get_by_text("Sold out").first.is_visible()
    add = page.get_by_role("button", name="Add to cart")
    assert add.count() == 0 or add.is_disabled()
    assert page.console_errors == []
