"""In a real browser: a customer signs up, adds a card to the cart, asks for a password reset,
opens the link from the email the SMTP test server received, sets a new password and signs
in with it; their order history shows an order placed for them, with its tracking. Found by
label, role and text, as a person (and the pages' contract, API.md) finds them."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from fastapi.testclient import TestClient

from mercato.core.db import Database
from mercato.core.ids import new_id
from mercato.notifications.service import send_pending
from mercato.settings import Settings
from tests.conftest import Org
from tests.notifications.smtp import smtp_server
from tests.notifications.test_notifications import parts, smtp
from tests.orders.helpers import place_order
from tests.web.browser.conftest import screenshot
from tests.web.store.helpers import card, variant


def test_a_customer_signs_up_adds_a_card_resets_the_password_from_the_email_and_signs_in(
        page: Any, client: TestClient, org: Org, db: Database, settings: Settings) -> None:
    tag = new_id()[-8:].lower()
    sku = f"NM-{tag}"
    card(client, org, f"Counterspell {tag}", tag=tag, variants=[variant(sku, "3.00")],
         stock={sku: 4})
    email = f"reader-{tag}@example.com"
    old_password, new_password = "first password here", "second password here"
    page.set_viewport_size({"width": 360, "height": 740})

    page.goto(f"/s/{org.slug}/")
    page.get_by_role("link", name="Sign in").click()
    page.get_by_role("link", name="Create an account").click()
    page.get_by_label("Email", exact=True).fill(email)
    page.get_by_label("Password", exact=True).fill(old_password)
    page.get_by_label("First name", exact=True).fill("Ada")
    page.get_by_role("button", name="Create account").click()
    page.wait_for_url(re.compile(r"/account$"))
    assert "you are signed in" in page.get_by_role("status").inner_text()
    assert page.get_by_role("link", name="Account").is_visible()

    page.goto(f"/s/{org.slug}/products?q=counterspell+{tag}")
    page.get_by_role("link", name=re.compile(f"Counterspell {tag}")).click()
    page.get_by_role("button", name="Add to cart").click()
    page.wait_for_url(re.compile(r"/cart$"))
    assert page.get_by_role("link", name=re.compile(r"Cart \(1 item\)")).is_visible()

    page.goto(f"/s/{org.slug}/account")
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(re.compile(f"/s/{org.slug}/$"))
    assert page.get_by_role("link", name="Sign in").is_visible()

    page.get_by_role("link", name="Sign in").click()
    page.get_by_role("link", name="Forgot your password?").click()
    page.get_by_label("Email", exact=True).fill(email)
    with smtp_server() as inbox:
        page.get_by_role("button", name="Send the link").click()
        page.wait_for_url(re.compile(r"/account/reset-password$"))
        assert "we have sent it a link" in page.get_by_role("status").inner_text()
        assert send_pending(db, smtp(settings, inbox.port)) >= 1
        [received] = [r for r in inbox.to(email)
                      if "reset" in str(r.message["Subject"]).lower()]
    text, _ = parts(received.message)
    link = re.search(r"https?://\S+/account/reset-password\?token=\S+", text)
    assert link, text
    mailed = urlsplit(link.group(0))
    assert mailed.path == f"/s/{org.slug}/account/reset-password"
    # the email's link is on MERCATO_PUBLIC_URL; this test's server stands in for it
    page.goto(f"{mailed.path}?{mailed.query}")
    page.get_by_label("New password", exact=True).fill(new_password)
    page.get_by_role("button", name="Set password").click()
    page.wait_for_url(re.compile(r"/account$"))
    assert "new password is set" in page.get_by_role("status").inner_text()

    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(re.compile(f"/s/{org.slug}/$"))
    page.get_by_role("link", name="Sign in").click()
    page.get_by_label("Email", exact=True).fill(email)
    page.get_by_label("Password", exact=True).fill(old_password)
    page.get_by_role("button", name="Sign in").click()
    assert "incorrect" in page.get_by_role("alert").inner_text()
    page.get_by_label("Password", exact=True).fill(new_password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r"/account$"))
    # the card added before the reset is still in the customer's cart
    assert page.get_by_role("link", name=re.compile(r"Cart \(1 item\)")).is_visible()
    # the reset proved the email: the history shows an order placed for it, with tracking
    order = place_order(client, org, [(sku, 1)], price="3.00", customer={"email": email})
    shipped = client.post(f"/api/v1/orders/{order['id']}/fulfillments", headers=org.headers,
                          json={"carrier": "Royal Mail", "tracking_number": f"RM{tag}"})
    assert shipped.status_code == 201, shipped.text
    page.reload()
    assert page.get_by_role("link", name="Account").is_visible()
    page.get_by_role("link", name=f"Order #{order['number']}").click()
    page.wait_for_url(re.compile(f"/account/orders/{order['id']}$"))
    assert f"RM{tag}" in page.locator("main").inner_text()
    assert "Royal Mail" in page.locator("main").inner_text()
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    screenshot(page, "storefront-account-order-360")
    page.goto(f"/s/{org.slug}/account")
    screenshot(page, "storefront-account-360")
    # the one refused sign-in (422) is the only failed load
    assert [e for e in page.console_errors if "status of 422" not in e] == []
