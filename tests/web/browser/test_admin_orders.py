"""In a real browser: fulfil an order with a carrier and tracking number, then refund it."""

from __future__ import annotations

import re
from typing import Any

from fastapi.testclient import TestClient

from tests.conftest import Org
from tests.orders.helpers import place_order, stocked
from tests.web.browser.conftest import screenshot, sign_in


def test_fulfil_and_refund_an_order(page: Any, client: TestClient, org: Org) -> None:
    skus, _ = stocked(client, org, [5])
    order = place_order(client, org, [(skus[0], 2)], payments=[{"method": "cash"}])
    sign_in(page, org.owner_email, start=f"/admin/orders/{order['id']}")
    screenshot(page, "order")
    page.get_by_role("button", name="Fulfil").click()
    # htmx swaps the form in, then moves focus to Carrier (autofocus): type once it has
    page.wait_for_function("() => document.activeElement?.id === 'f-carrier'")
    page.get_by_label("Carrier").fill("UPS")
    page.get_by_label("Tracking number").fill("1Z999AA10123456784")
    page.get_by_role("button", name="Fulfil").click()
    page.get_by_role("status").filter(has_text="ulfil").wait_for()  # the flash: done
    page.get_by_label("Amount").fill("5.00")
    page.get_by_label("Reason").fill("damaged sleeve")
    page.get_by_role("button", name="Refund").click()
    page.get_by_role("status").filter(has_text="efund").wait_for()
    assert re.search(rf"/admin/orders/{order['id']}$", page.url)
    shown = client.get(f"/api/v1/orders/{order['id']}", headers=org.headers).json()
    assert shown["fulfillment_status"] == "fulfilled"
    assert [f.get("tracking_number") for f in shown["fulfillments"]] == [
        "1Z999AA10123456784"], shown["fulfillments"]
    assert shown["refunded_total"] == "5.00"
    assert page.console_errors == []


def test_a_refund_too_large_is_shown_beside_the_amount(page: Any, client: TestClient,
                                                       org: Org) -> None:
    skus, _ = stocked(client, org, [5])
    order = place_order(client, org, [(skus[0], 1)], payments=[{"method": "cash"}])
    sign_in(page, org.owner_email, start=f"/admin/orders/{order['id']}")
    page.get_by_label("Amount").fill("500.00")
    page.get_by_role("button", name="Refund").click()
    amount = page.get_by_label("Amount")
    assert amount.get_attribute("aria-invalid") == "true"
    error = page.locator("#" + amount.get_attribute("aria-describedby").split()[-1])
    assert error.is_visible()
    assert page.get_by_role("alert").first.is_visible()
    assert client.get(f"/api/v1/orders/{order['id']}",
                      headers=org.headers).json()["refunded_total"] == "0.00"
