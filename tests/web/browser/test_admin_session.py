"""In a real browser: signing in, roles, CSRF, errors beside fields, narrow screens."""

from __future__ import annotations

import re
from typing import Any

from fastapi.testclient import TestClient

from tests.conftest import Org
from tests.web.browser.conftest import screenshot, sign_in
from tests.web.conftest import add_staff


def test_an_owner_signs_in_and_returns_to_the_page_asked_for(page: Any, org: Org) -> None:
    page.goto("/admin/settings")
    assert "/admin/login" in page.url
    page.get_by_label("Email").fill(org.owner_email)
    page.get_by_label("Password").fill("correct horse battery")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r"/admin/settings$"))
    assert page.get_by_role("heading", name="Settings").is_visible()
    page.goto("/admin")
    screenshot(page, "dashboard")
    assert page.console_errors == []


def test_the_keyboard_alone_signs_in(page: Any, org: Org) -> None:
    page.goto("/admin/login")
    page.keyboard.press("Tab")  # the skip link
    page.keyboard.press("Tab")
    page.keyboard.type(org.owner_email)
    page.keyboard.press("Tab")
    page.keyboard.type("correct horse battery")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/admin$"))


def test_errors_are_shown_beside_the_field_and_at_the_top(page: Any, org: Org) -> None:
    page.goto("/admin/login")
    page.get_by_label("Email").fill(org.owner_email)
    page.get_by_role("button", name="Sign in").click()
    summary = page.get_by_role("alert")
    assert "Enter your password" in summary.inner_text()
    password = page.get_by_label("Password")
    assert password.get_attribute("aria-invalid") == "true"
    described = password.get_attribute("aria-describedby")
    assert "Enter your password" in page.locator(f"#{described}").inner_text()
    screenshot(page, "login-errors")


def test_a_cashier_cannot_open_settings(page: Any, client: TestClient, org: Org) -> None:
    sign_in(page, add_staff(client, org, "cashier"))
    assert page.get_by_role("link", name="Settings").count() == 0
    answer = page.goto("/admin/settings")
    assert answer.status == 403
    assert page.get_by_role("heading", name="You cannot open this page").is_visible()


def test_a_post_without_the_csrf_token_is_refused(page: Any, org: Org) -> None:
    sign_in(page, org.owner_email)
    refused = page.context.request.post("/admin/logout", form={"x": "1"},
                                        max_redirects=0)
    assert refused.status == 403
    page.goto("/admin")
    assert page.get_by_role("button", name="Sign out").is_visible()  # still signed in
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(re.compile(r"/admin/login"))


def test_pages_fit_a_360_pixel_screen(page: Any, client: TestClient, org: Org) -> None:
    from mercato.web.templating import NAV
    from tests.orders.helpers import place_order, stocked

    skus, _ = stocked(client, org, [3])
    order = place_order(client, org, [(skus[0], 1)], payments=[{"method": "cash"}])
    page.set_viewport_size({"width": 360, "height": 740})
    sign_in(page, org.owner_email)
    paths = ["/admin/login", *(href for _, href, _ in NAV), "/admin/products/new",
             "/admin/imports/new", f"/admin/inventory?sku={skus[0]}",
             f"/admin/orders/{order['id']}", "/admin/reports/sales"]
    for path in paths:
        page.goto(path)
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 360, f"{path} is {width}px wide at 360"
    assert page.console_errors == []  # no asset missing, nothing the CSP refused
