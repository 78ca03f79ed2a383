"""The dashboard: sales today and by channel in the organization's currency, orders needing
action, low stock; each panel only for a role that may see it."""

from __future__ import annotations

import datetime as dt

from fastapi.testclient import TestClient

from tests.conftest import Org
from tests.orders.helpers import place_order, stocked
from tests.web.conftest import Browser, add_staff


def test_the_dashboard_shows_todays_sales_by_channel_and_orders_to_fulfil(
        client: TestClient, browser: Browser, org: Org) -> None:
    assert client.patch("/api/v1/organization", headers=org.headers,
                        json={"currency": "EUR", "locale": "de_DE"}).status_code == 200
    skus, _ = stocked(client, org, [10])
    now = dt.datetime.now(dt.UTC).isoformat().replace("+00:00", "Z")
    placed = place_order(client, org, [(skus[0], 2)], channel="ebay", placed_at=now,
                         currency="EUR")
    browser.sign_in(org.owner_email)
    page = browser.get("/admin")
    assert page.status_code == 200, page.text
    assert "20,00\xa0€" in page.text  # German formatting of the organization's euros
    assert "Sales by channel, last 30 days" in page.text
    assert ">ebay<" in page.text
    assert f'href="/admin/orders/{placed["id"]}"' in page.text  # unfulfilled, open


def test_a_role_without_reports_starts_on_its_own_page(client: TestClient, app,
                                                       org: Org) -> None:
    member = Browser(app, raise_server_exceptions=False)
    member.sign_in(add_staff(client, org, "fulfillment"))
    answer = member.get("/admin", follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/admin/orders"


def test_the_sales_report_page_shows_the_api_report_and_downloads_it_as_csv(
        client: TestClient, browser: Browser, org: Org) -> None:
    skus, _ = stocked(client, org, [10])
    place_order(client, org, [(skus[0], 3)], channel="ebay", placed_at="2026-10-05T12:00:00Z")
    browser.sign_in(org.owner_email)
    window = {"from": "2026-10-01", "to": "2026-10-31", "group_by": "channel"}
    page = browser.get("/admin/reports/sales", params=window)
    assert page.status_code == 200, page.text
    assert "<td>ebay</td><td>1</td><td>3</td><td>$30.00</td>" in page.text
    download = browser.get("/admin/reports/sales", params={**window, "format": "csv"})
    api = client.get("/api/v1/reports/sales", headers=org.headers,
                     params={**window, "format": "csv"})
    assert download.text == api.text
    assert download.headers["content-disposition"].startswith("attachment;")


def test_a_bad_report_period_is_shown_beside_its_field(browser: Browser, org: Org) -> None:
    browser.sign_in(org.owner_email)
    page = browser.get("/admin/reports/sales", params={"from": "2026-13-01"})
    assert page.status_code == 422
    assert 'id="e-from"' in page.text
    assert "YYYY-MM-DD" in page.text
    later = browser.get("/admin/reports/sales", params={"from": "2026-10-05",
                                                        "to": "2026-10-01"})
    assert later.status_code == 422
    assert "error-summary" in later.text


def test_the_dashboard_lists_recent_imports_and_channel_health(
        client: TestClient, browser: Browser, org: Org) -> None:
    upload = client.post("/api/v1/imports", headers=org.headers, data={"dry_run": "true"},
                         files={"file": ("stock-take.csv", b"sku,price\nX-1,1.00\n", "text/csv")})
    assert upload.status_code == 202, upload.text
    browser.sign_in(org.owner_email)
    page = browser.get("/admin")
    assert f'href="/admin/imports/{upload.json()["id"]}">stock-take.csv</a> (dry run)' in page.text
    assert "No channel is connected." in page.text


def test_the_valuation_page_shows_the_api_report_and_its_csv(client: TestClient,
                                                              browser: Browser, org: Org) -> None:
    stocked(client, org, [4])
    browser.sign_in(org.owner_email)
    page = browser.get("/admin/reports/valuation")
    assert page.status_code == 200, page.text
    assert "Total (USD)" in page.text
    download = browser.get("/admin/reports/valuation", params={"format": "csv"})
    api = client.get("/api/v1/inventory/valuation", headers=org.headers,
                     params={"format": "csv"})
    assert download.text == api.text
    unknown = browser.get("/admin/reports/valuation", params={"location": "NOWHERE"})
    assert unknown.status_code == 422
    assert 'id="e-location"' in unknown.text
