"""The operator's console in a real browser: sign in, create an organization, suspend and
reactivate it, set its limits, finding everything by label, role and visible text."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from mercato.core.db import Database
from mercato.core.ids import new_id
from mercato.settings import Settings
from tests.platform_helpers import OPERATOR_PASSWORD, make_operator
from tests.web.browser.conftest import screenshot


def test_an_operator_runs_an_organization_from_the_console(
    page: Any, client: TestClient, db: Database, settings: Settings
) -> None:
    email = make_operator(db, settings)
    page.goto("/platform")  # not signed in: the sign-in form
    assert page.url.endswith("/platform/login")
    page.get_by_label("Email", exact=True).fill(email)
    page.get_by_label("Password", exact=True).fill(OPERATOR_PASSWORD)
    page.get_by_role("button", name="Sign in", exact=True).click()
    page.get_by_role("heading", name="Organizations").wait_for()

    slug = f"console-{new_id().lower()}"
    page.get_by_label("Name", exact=True).fill("Console Cards")
    page.get_by_label("Slug", exact=True).fill(slug)
    page.get_by_label("Owner email", exact=True).fill(f"owner@{slug}.test")
    page.get_by_label("Owner password", exact=True).fill("owner horse battery")
    page.get_by_label("Plan", exact=True).fill("starter")
    page.get_by_label("Products", exact=True).fill("25")
    page.get_by_role("button", name="Create organization").click()
    page.get_by_role("status").filter(has_text="Console Cards created").wait_for()
    row = page.get_by_role("row").filter(has_text=slug)
    assert "Products: 25" in row.inner_text()
    screenshot(page, "platform-organizations")

    row.get_by_role("button", name="Suspend", exact=True).click()
    page.get_by_role("status").filter(has_text="is suspended").wait_for()
    row = page.get_by_role("row").filter(has_text=slug)
    assert "Suspended" in row.inner_text()
    assert client.get(f"/store/v1/{slug}").status_code == 423

    row.get_by_role("button", name="Reactivate", exact=True).click()
    page.get_by_role("status").filter(has_text="active again").wait_for()
    assert client.get(f"/store/v1/{slug}").status_code == 200

    page.get_by_role("row").filter(has_text=slug).get_by_role(
        "link", name="Edit plan and limits of Console Cards").click()
    page.get_by_label("Staff members", exact=True).fill("3")
    page.get_by_label("Plan", exact=True).fill("pro")
    page.get_by_role("button", name="Save plan and limits").click()
    page.get_by_role("status").filter(has_text="Plan and limits saved").wait_for()
    assert page.get_by_label("Staff members", exact=True).input_value() == "3"
    assert page.console_errors == []
