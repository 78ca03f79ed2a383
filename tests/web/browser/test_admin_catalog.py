"""In a real browser: a product type from a JSON Schema, a product of it, then its stock."""

from __future__ import annotations

import json
import re
from typing import Any

from fastapi.testclient import TestClient

from mercato.core.ids import new_id
from tests.conftest import Org
from tests.inventory.helpers import make_location
from tests.web.browser.conftest import screenshot, sign_in

SCHEMA = {"type": "object", "required": ["game"],
          "properties": {"game": {"type": "string", "enum": ["magic", "pokemon"]},
                         "sealed": {"type": "boolean"}}}


def test_create_a_product_type_and_a_product_with_stock(page: Any, client: TestClient,
                                                        org: Org) -> None:
    t = new_id()[-6:].lower()
    place = make_location(client, org)
    sign_in(page, org.owner_email, start="/admin/product-types/new")
    page.get_by_label("Name").fill(f"Booster box {t}")
    page.get_by_label("Slug").fill(f"booster-{t}")
    page.get_by_label("Product attributes (JSON Schema)").fill(json.dumps(SCHEMA))
    page.get_by_role("button", name="Save").click()
    page.wait_for_load_state()
    assert page.get_by_role("alert").count() == 0 or "problem" not in page.content()

    page.goto("/admin/products/new")
    page.get_by_role("button", name="Save").click()  # nothing entered: errors beside fields
    title = page.get_by_label("Title")
    assert title.get_attribute("aria-invalid") == "true"
    assert page.locator("#error-summary").is_visible()
    screenshot(page, "product-errors")

    page.get_by_label("Title").fill(f"Alpha booster box {t}")
    page.get_by_label("Product type").select_option(label=f"Booster box {t}")
    game = page.get_by_label(re.compile("^Game"))
    game.wait_for()
    assert game.evaluate("e => e.tagName") == "SELECT"  # an enum is a select
    game.select_option("magic")
    sealed = page.get_by_label("Sealed", exact=True)
    assert sealed.get_attribute("type") == "checkbox"  # a boolean is a checkbox
    sealed.check()
    sku = f"BOX-{t}".upper()
    page.get_by_label("SKU", exact=True).fill(sku)
    page.get_by_label("Price").fill("129.99")
    page.get_by_label("Status").select_option("active")
    page.get_by_role("button", name="Save").click()
    page.wait_for_url(re.compile(r"/admin/products/[0-9A-Z]{26}"))
    screenshot(page, "product")

    page.goto(f"/admin/inventory?sku={sku}")
    location = page.get_by_label("Location")
    location.select_option(label=next(
        text for text in location.locator("option").all_inner_texts() if place["name"] in text))
    page.get_by_label("Change").fill("3")
    page.get_by_role("button", name="Adjust").click()
    page.wait_for_load_state()

    found = client.get("/api/v1/products", headers=org.headers, params={"q": "alpha booster"})
    product = next(p for p in found.json()["data"] if p["title"] == f"Alpha booster box {t}")
    assert product["status"] == "active"
    assert product["attributes"] == {"game": "magic", "sealed": True}
    levels = client.get("/api/v1/inventory/levels", headers=org.headers,
                        params={"sku": sku}).json()["data"]
    assert [level["on_hand"] for level in levels] == [3]
    page.goto("/admin/products")
    screenshot(page, "products")
