"""The settings' index: the organization and its custom domains (/admin/settings)."""

from __future__ import annotations

import re

from fastapi import FastAPI
from fastapi.testclient import TestClient

from mercato.core.ids import new_id
from tests.conftest import Org
from tests.tenancy import verifiers
from tests.web.conftest import Browser, add_staff


def signed_in(app: FastAPI, client: TestClient, org: Org, role: str) -> Browser:
    member = Browser(app, raise_server_exceptions=False, base_url="http://testserver")
    member.sign_in(org.owner_email if role == "owner" else add_staff(client, org, role))
    return member


def test_a_manager_sees_settings_and_a_cashier_gets_403(app: FastAPI, client: TestClient,
                                                        org: Org) -> None:
    manager = signed_in(app, client, org, "manager")
    page = manager.get("/admin/settings")
    assert page.status_code == 200
    assert org.slug in page.text
    assert 'href="/admin/settings/staff"' in page.text
    assert "Save organization" not in page.text  # organization:write is the owner's
    cashier = signed_in(app, client, org, "cashier")
    refused = cashier.get("/admin/settings")
    assert refused.status_code == 403
    assert "organization:read" in refused.text


def test_the_owner_changes_the_organization(browser: Browser, client: TestClient,
                                           org: Org) -> None:
    browser.sign_in(org.owner_email)
    done = browser.submit("/admin/settings/organization", {
        "name": "Dragon Cards", "time_zone": "Europe/Paris", "locale": "fr-fr",
        "currency": "eur"})
    assert done.status_code == 303, done.text
    found = client.get("/api/v1/organization", headers=org.headers).json()
    assert (found["name"], found["time_zone"], found["locale"], found["currency"]) == \
        ("Dragon Cards", "Europe/Paris", "fr_FR", "EUR")
    page = browser.get("/admin/settings")
    assert "The organization&#39;s settings are saved." in page.text
    assert "Dragon Cards" in page.text


def test_an_empty_name_is_422_beside_the_field_and_changes_nothing(
        browser: Browser, client: TestClient, org: Org) -> None:
    before = client.get("/api/v1/organization", headers=org.headers).json()["name"]
    browser.sign_in(org.owner_email)
    refused = browser.submit("/admin/settings/organization", {
        "name": "   ", "time_zone": "Mars/Olympus", "locale": "en", "currency": "USD"})
    assert refused.status_code == 422
    assert 'id="e-name"' in refused.text
    assert 'id="e-time_zone"' in refused.text
    assert 'value="Mars/Olympus"' in refused.text
    assert 'aria-invalid="true"' in refused.text
    after = client.get("/api/v1/organization", headers=org.headers).json()
    assert (after["name"], after["time_zone"]) == (before, "UTC")


def test_a_manager_cannot_rename(app: FastAPI, client: TestClient, org: Org) -> None:
    manager = signed_in(app, client, org, "manager")
    refused = manager.submit("/admin/settings/organization", {"name": "Mine now"})
    assert refused.status_code == 403


def test_claim_verify_and_remove_a_domain(app: FastAPI, browser: Browser, client: TestClient,
                                          org: Org) -> None:
    before = app.state.domain_verifier
    app.state.domain_verifier = verifiers.offline
    try:
        browser.sign_in(org.owner_email)
        name = f"shop-{new_id().lower()}.example.com"
        claimed = browser.submit("/admin/settings/domains", {"domain": name})
        assert claimed.status_code == 303
        page = browser.get(claimed.headers["location"])
        assert f"_mercato-challenge.{name}" in page.text
        token = re.search(r"<dt>Value</dt><dd><code>([^<]+)</code>", page.text)
        assert token
        path = claimed.headers["location"]
        not_yet = browser.submit(path + "/verify")
        assert not_yet.status_code == 409
        assert "is not verified" in not_yet.text
        verifiers.publish(name, token.group(1))
        done = browser.submit(path + "/verify")
        assert done.status_code == 303, done.text
        domains = client.get("/api/v1/organization/domains", headers=org.headers).json()
        assert [d["verified"] for d in domains if d["domain"] == name] == [True]
        removed = browser.submit(path + "/remove")
        assert removed.status_code == 303
        domains = client.get("/api/v1/organization/domains", headers=org.headers).json()
        assert name not in [d["domain"] for d in domains]
    finally:
        app.state.domain_verifier = before


def test_a_bad_domain_is_422_beside_the_field(browser: Browser, client: TestClient,
                                              org: Org) -> None:
    browser.sign_in(org.owner_email)
    refused = browser.submit("/admin/settings/domains", {"domain": "localhost"})
    assert refused.status_code == 422
    assert 'id="e-domain"' in refused.text
    assert 'value="localhost"' in refused.text
    assert client.get("/api/v1/organization/domains", headers=org.headers).json() == []
