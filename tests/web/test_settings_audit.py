"""Settings: the audit log with filters and cursor pages."""

from __future__ import annotations

import datetime as dt
import re

from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.conftest import Org
from tests.web.conftest import Browser
from tests.web.test_settings import signed_in


def test_the_audit_log_filters_and_pages(browser: Browser, client: TestClient,
                                         org: Org) -> None:
    for n in range(3):
        made = client.post("/api/v1/tax/rates", headers=org.headers, json={
            "country": "US", "title": f"Rate {n}", "rate": "0.01"})
        assert made.status_code == 201, made.text
    browser.sign_in(org.owner_email)
    page = browser.get("/admin/settings/audit-log", params={"resource_type": "tax_rate"})
    assert page.status_code == 200
    assert page.text.count("<code>tax_rate.created</code>") == 3
    mine = browser.get("/admin/settings/audit-log",
                       params={"actor": org.owner_id, "action": "tax_rate.created"})
    assert mine.text.count("<code>tax_rate.created</code>") == 3
    today = dt.datetime.now(dt.UTC).date()
    tomorrow = (today + dt.timedelta(days=1)).isoformat()
    none_yet = browser.get("/admin/settings/audit-log",
                           params={"resource_type": "tax_rate", "from": tomorrow},
                           headers={"HX-Request": "true"})
    assert none_yet.status_code == 200
    assert "<html" not in none_yet.text
    assert "No changes match these filters." in none_yet.text
    yesterday = (today - dt.timedelta(days=1)).isoformat()
    found = browser.get("/admin/settings/audit-log", params={
        "resource_type": "tax_rate", "from": yesterday, "to": tomorrow})
    assert found.text.count("<code>tax_rate.created</code>") == 3
    entry = re.search(r'href="/admin/settings/audit-log/([0-9A-Z]{26})"', page.text)
    assert entry
    detail = browser.get(f"/admin/settings/audit-log/{entry.group(1)}")
    assert detail.status_code == 200
    assert "Rate " in detail.text


def test_next_page_link_keeps_the_filters(browser: Browser, client: TestClient,
                                          org: Org) -> None:
    for n in range(51):
        client.post("/api/v1/tax/rates", headers=org.headers, json={
            "country": "US", "postal_prefix": f"{n:03d}", "title": f"R{n}", "rate": "0.01"})
    browser.sign_in(org.owner_email)
    first = browser.get("/admin/settings/audit-log", params={"resource_type": "tax_rate"})
    assert first.text.count("<code>tax_rate.created</code>") == 50
    link = re.search(r'href="([^"]+)" rel="next"', first.text)
    assert link
    url = link.group(1).replace("&amp;", "&")
    assert "resource_type=tax_rate" in url
    second = browser.get(url)
    assert second.text.count("<code>tax_rate.created</code>") == 1


def test_a_bad_date_is_422_beside_the_field(browser: Browser, org: Org) -> None:
    browser.sign_in(org.owner_email)
    refused = browser.get("/admin/settings/audit-log", params={"from": "yesterday"})
    assert refused.status_code == 422
    assert 'id="e-from"' in refused.text


def test_the_audit_log_needs_audit_read(app: FastAPI, client: TestClient, org: Org) -> None:
    cashier = signed_in(app, client, org, "cashier")
    assert cashier.get("/admin/settings/audit-log").status_code == 403
    manager = signed_in(app, client, org, "manager")
    assert manager.get("/admin/settings/audit-log").status_code == 200
