"""The pages' contract (API.md, Pages): each path's fields and buttons by their exact names,
as outside checks find them."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tests.catalog.test_products import _install
from tests.conftest import Org
from tests.orders.helpers import place_order, stocked
from tests.web.browser.conftest import sign_in


def _one_field(page: Any, *labels: str) -> None:
    for label in labels:
        page.get_by_label(label, exact=True).first.wait_for()
        assert page.get_by_label(label, exact=True).count() == 1, label


def _one_button(page: Any, *names: str) -> None:
    for name in names:
        assert page.get_by_role("button", name=name, exact=True).count() == 1, name


def test_every_contract_name_is_exact_and_unique(page: Any, client: TestClient,
                                                 org: Org) -> None:
    page.goto("/admin/login")
    _one_field(page, "Email", "Password")
    _one_button(page, "Sign in")

    _install(client, org)
    skus, _ = stocked(client, org, [5])
    order = place_order(client, org, [(skus[0], 1)], payments=[{"method": "cash"}])
    sign_in(page, org.owner_email)

    page.goto("/admin/products/new")
    _one_field(page, "Title", "Product type", "SKU", "Price", "Status")
    _one_button(page, "Save")

    page.goto("/admin/imports/new")
    _one_field(page, "CSV file")
    _one_button(page, "Import")

    page.goto(f"/admin/inventory?sku={skus[0]}")
    _one_field(page, "Location", "Change", "Reason")
    _one_button(page, "Adjust")

    page.goto(f"/admin/orders/{order['id']}")
    _one_button(page, "Fulfil")
    page.get_by_role("button", name="Fulfil", exact=True).click()
    page.wait_for_load_state("networkidle")  # htmx swaps the form in (or, without it, a page)
    _one_field(page, "Carrier", "Tracking number")
    _one_button(page, "Fulfil")
