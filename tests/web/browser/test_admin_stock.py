"""In a real browser: import a CSV and watch the bar reach 100%; adjust a SKU's stock."""

from __future__ import annotations

import re
from typing import Any

from fastapi.testclient import TestClient

from mercato.core.ids import new_id
from tests.catalog.test_imports import _card_row, _csv
from tests.catalog.test_products import _install
from tests.conftest import Org
from tests.inventory.helpers import make_location
from tests.web.browser.conftest import screenshot, sign_in


def test_import_a_csv_and_watch_the_bar_reach_100(page: Any, client: TestClient, org: Org,
                                                  import_worker: None, tmp_path: Any) -> None:
    _install(client, org)
    t = new_id()[-8:].lower()
    rows = [_card_row(f"card-{t}-{n}", f"C-{t}-{n}", title=f"Card {t} {n}") for n in range(40)]
    path = tmp_path / "cards.csv"
    path.write_bytes(_csv(*rows))
    sign_in(page, org.owner_email, start="/admin/imports/new")
    page.get_by_label("CSV file").set_input_files(str(path))
    page.get_by_role("button", name="Import").click()
    page.wait_for_url(re.compile(r"/admin/imports/[0-9A-Z]{26}$"))
    bar = page.get_by_role("progressbar")
    page.wait_for_function(
        "() => document.querySelector('[role=progressbar]')"
        "?.getAttribute('aria-valuenow') === '100'", timeout=30_000)
    assert bar.get_attribute("aria-valuenow") == "100"
    screenshot(page, "import-done")
    listed = client.get("/api/v1/products", headers=org.headers, params={"q": f"card {t}"})
    assert listed.status_code == 200


def test_adjust_the_stock_of_a_sku_by_its_labels(page: Any, client: TestClient,
                                                  org: Org) -> None:
    _install(client, org)
    sku = f"ADJ-{new_id()}"
    made = client.post("/api/v1/products", headers=org.headers, json={
        "title": "Adjusted card", "product_type": "tcg-single",
        "attributes": {"game": "magic", "set_code": "M21", "collector_number": "1",
                       "rarity": "rare"},
        "variants": [{"sku": sku, "price": "2.00",
                      "attributes": {"condition": "NM", "finish": "nonfoil",
                                     "language": "EN"}}]})
    assert made.status_code == 201, made.text
    place = make_location(client, org)
    sign_in(page, org.owner_email, start=f"/admin/inventory?sku={sku}")
    location = page.get_by_label("Location")
    location.select_option(label=next(
        text for text in location.locator("option").all_inner_texts() if place["name"] in text))
    page.get_by_label("Change").fill("4")
    reason = page.get_by_label("Reason")
    if reason.evaluate("e => e.tagName") == "SELECT":
        reason.select_option(index=1)
    else:
        reason.fill("received")
    page.get_by_role("button", name="Adjust").click()
    page.wait_for_load_state()
    levels = client.get("/api/v1/inventory/levels", headers=org.headers,
                        params={"sku": sku}).json()
    assert sum(level["on_hand"] for level in levels["data"]) == 4, levels
    screenshot(page, "inventory-sku")
