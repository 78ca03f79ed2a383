"""In a real browser: the plugins page lists the installed plugins, enables one (its settings
first, when they do not fit), edits its settings and disables it, for this store only."""

from __future__ import annotations

import json
import re
from typing import Any

from fastapi.testclient import TestClient

from tests.conftest import Org
from tests.web.browser.conftest import screenshot, sign_in
from tests.web.conftest import add_staff


def test_an_owner_enables_configures_and_disables_a_plugin(
        page: Any, client: TestClient, org: Org, other_org: Org) -> None:
    sign_in(page, org.owner_email)
    page.goto("/admin/settings")
    page.get_by_role("link", name="Plugins").click()
    page.wait_for_url(re.compile(r"/admin/plugins$"))
    row = page.locator("#plugin-chat-notifier")
    assert "Disabled" in row.inner_text()
    assert "min-order-value" in page.locator("table").inner_text()

    # its settings need a webhook URL: enabling shows them, with what to fix
    row.get_by_role("button", name="Enable chat-notifier").click()
    summary = page.get_by_role("alert")
    assert "webhook_url" in summary.inner_text()
    settings = page.get_by_label("Settings (JSON)")
    assert settings.get_attribute("aria-invalid") == "true"
    screenshot(page, "plugin-settings-errors")

    page.get_by_label("Enabled for this store").check()
    settings.fill(json.dumps({"webhook_url": "https://chat.example.com/hooks/1",
                              "events": ["order.paid"]}))
    page.get_by_label("Priority").fill("7")
    page.get_by_role("button", name="Save chat-notifier").click()
    page.wait_for_url(re.compile(r"/admin/plugins$"))
    assert "saved and enabled" in page.get_by_role("status").inner_text()
    assert "Enabled" in page.locator("#plugin-chat-notifier").inner_text()
    mine = client.get("/api/v1/plugins/chat-notifier", headers=org.headers).json()
    assert (mine["enabled"], mine["priority"], mine["config"]["events"]) == \
        (True, 7, ["order.paid"])
    theirs = client.get("/api/v1/plugins/chat-notifier", headers=other_org.headers).json()
    assert theirs["enabled"] is False
    screenshot(page, "plugins")

    page.locator("#plugin-chat-notifier").get_by_role(
        "button", name="Disable chat-notifier").click()
    page.wait_for_url(re.compile(r"/admin/plugins$"))
    assert "Disabled" in page.locator("#plugin-chat-notifier").inner_text()
    kept = client.get("/api/v1/plugins/chat-notifier", headers=org.headers).json()
    assert (kept["enabled"], kept["config"]["webhook_url"]) == \
        (False, "https://chat.example.com/hooks/1")
    # the one refusal (422) is the only failed load
    assert [e for e in page.console_errors if "422" not in e] == []


def test_settings_that_are_not_json_are_refused_beside_the_field(
        page: Any, org: Org) -> None:
    sign_in(page, org.owner_email)
    page.goto("/admin/plugins/settings?name=min-order-value")
    page.get_by_label("Settings (JSON)").fill("{minimums: 5")
    page.get_by_role("button", name="Save min-order-value").click()
    assert "not JSON" in page.get_by_role("alert").inner_text()
    page.get_by_label("Settings (JSON)").fill('{"minimums": {"USD": "ten"}}')
    page.get_by_role("button", name="Save min-order-value").click()
    assert "minimums.USD" in page.get_by_role("alert").inner_text()


def test_a_cashier_cannot_open_the_plugins(page: Any, client: TestClient, org: Org) -> None:
    sign_in(page, add_staff(client, org, "cashier"))
    assert page.goto("/admin/plugins").status == 403
    assert page.goto("/admin/plugins/settings?name=chat-notifier").status == 403
