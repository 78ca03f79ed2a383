"""Settings: staff and roles, API keys."""

from __future__ import annotations

import re
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient

from mercato.core.ids import new_id
from tests.conftest import PASSWORD, Org
from tests.web.conftest import Browser, add_staff, csrf_of
from tests.web.test_settings import signed_in


def staff_of(client: TestClient, org: Org, email: str) -> dict[str, Any]:
    listed = client.get("/api/v1/staff", headers=org.headers, params={"limit": 250}).json()
    return next(s for s in listed["data"] if s["email"] == email)


def test_staff_list_for_a_manager_and_403_for_fulfillment(app: FastAPI, client: TestClient,
                                                          org: Org) -> None:
    manager = signed_in(app, client, org, "manager")
    page = manager.get("/admin/settings/staff")
    assert page.status_code == 200
    assert org.owner_email in page.text
    assert 'for="f-email">Email' in page.text
    clerk = signed_in(app, client, org, "fulfillment")
    assert clerk.get("/admin/settings/staff").status_code == 403


def test_add_a_member_with_a_password_then_change_their_role(
        browser: Browser, client: TestClient, org: Org) -> None:
    browser.sign_in(org.owner_email)
    email = f"new-{new_id().lower()}@{org.slug}.test"
    added = browser.submit("/admin/settings/staff",
                           {"email": email, "role": "cashier", "password": PASSWORD})
    assert added.status_code == 303, added.text
    member = staff_of(client, org, email)
    assert member["role"] == "cashier"
    changed = browser.submit(f"/admin/settings/staff/{member['id']}/role", {"role": "manager"})
    assert changed.status_code == 303
    assert staff_of(client, org, email)["role"] == "manager"


def test_an_invitation_shows_its_token_once(browser: Browser, client: TestClient,
                                            org: Org) -> None:
    browser.sign_in(org.owner_email)
    email = f"inv-{new_id().lower()}@{org.slug}.test"
    invited = browser.submit("/admin/settings/staff",
                             {"email": email, "role": "inventory", "invite": "true"})
    assert invited.status_code == 200, invited.text
    token = re.search(r'id="invite-token" type="text" readonly value="([^"]+)"', invited.text)
    assert token
    accepted = client.post("/api/v1/auth/accept-invite",
                           json={"token": token.group(1), "password": PASSWORD})
    assert accepted.status_code == 200, accepted.text
    member = staff_of(client, org, email)
    assert token.group(1) not in browser.get(f"/admin/settings/staff/{member['id']}").text


def test_an_invited_member_sets_a_password_from_the_link_and_is_signed_in(
        app: FastAPI, browser: Browser, client: TestClient, org: Org) -> None:
    browser.sign_in(org.owner_email)
    email = f"inv-{new_id().lower()}@{org.slug}.test"
    invited = browser.submit("/admin/settings/staff",
                             {"email": email, "role": "inventory", "invite": "true"})
    link = re.search(r'id="invite-link" type="text" readonly value="([^"]+)"', invited.text)
    assert link
    public_url = app.state.settings.public_url.rstrip("/")
    # the configured address, whatever Host the owner's request came with
    assert link.group(1).startswith(f"{public_url}/admin/accept-invite?token=inv_")
    with Browser(app, raise_server_exceptions=False, base_url="http://testserver") as invitee:
        form = invitee.get(link.group(1).removeprefix(public_url))
        assert form.status_code == 200
        assert "Set password" in form.text
        token = re.search(r'name="token" value="([^"]+)"', form.text)
        assert token
        csrf = csrf_of(form.text)
        forged = invitee.post("/admin/accept-invite", follow_redirects=False, data={
            "token": token.group(1), "password": PASSWORD, "csrf_token": "forged"})
        assert forged.status_code == 403
        short = invitee.post("/admin/accept-invite", follow_redirects=False, data={
            "token": token.group(1), "password": "short", "csrf_token": csrf})
        assert short.status_code == 422
        assert 'id="e-password"' in short.text
        wrong = invitee.post("/admin/accept-invite", follow_redirects=False, data={
            "token": "inv_nope_nope", "password": PASSWORD, "csrf_token": csrf})
        assert wrong.status_code == 401
        assert "invalid or has expired" in wrong.text
        assert staff_of(client, org, email)["status"] == "invited"
        accepted = invitee.post("/admin/accept-invite", follow_redirects=False, data={
            "token": token.group(1), "password": PASSWORD, "csrf_token": csrf})
        assert accepted.status_code == 303, accepted.text
        assert accepted.headers["location"] == "/admin"
        home = invitee.get("/admin/inventory")
        assert home.status_code == 200
        assert email in home.text
        reopened = invitee.get("/admin/accept-invite", params={"token": token.group(1)})
        again = invitee.post("/admin/accept-invite", follow_redirects=False, data={
            "token": token.group(1), "password": PASSWORD,
            "csrf_token": csrf_of(reopened.text)})
        assert again.status_code == 401  # an invitation is used once
    assert staff_of(client, org, email)["status"] == "active"
    fresh = Browser(app, raise_server_exceptions=False, base_url="http://testserver")
    fresh.sign_in(email)


def test_a_bad_member_is_422_beside_the_field_and_adds_no_one(
        browser: Browser, client: TestClient, org: Org) -> None:
    browser.sign_in(org.owner_email)
    before = client.get("/api/v1/staff", headers=org.headers).json()["data"]
    refused = browser.submit("/admin/settings/staff",
                             {"email": "x@y.test", "role": "wizard", "password": PASSWORD})
    assert refused.status_code == 422
    assert 'id="e-role"' in refused.text
    assert 'value="x@y.test"' in refused.text
    neither = browser.submit("/admin/settings/staff", {"email": "x@y.test", "role": "cashier"})
    assert neither.status_code == 422
    assert 'id="e-password"' in neither.text
    assert client.get("/api/v1/staff", headers=org.headers).json()["data"] == before


def test_deactivating_a_member_from_the_page_ends_their_browser_session(
        app: FastAPI, browser: Browser, client: TestClient, org: Org) -> None:
    email = add_staff(client, org, "manager")
    member = Browser(app, raise_server_exceptions=False, base_url="http://testserver")
    member.sign_in(email)
    assert member.get("/admin/settings").status_code == 200
    browser.sign_in(org.owner_email)
    member_id = staff_of(client, org, email)["id"]
    done = browser.submit(f"/admin/settings/staff/{member_id}/deactivate")
    assert done.status_code == 303
    assert member.get("/admin/settings", follow_redirects=False).status_code == 303
    assert staff_of(client, org, email)["status"] == "deactivated"
    back = browser.submit(f"/admin/settings/staff/{member_id}/reactivate")
    assert back.status_code == 303
    assert staff_of(client, org, email)["is_active"] is True


def test_the_last_owner_cannot_be_deactivated(browser: Browser, client: TestClient,
                                              org: Org) -> None:
    browser.sign_in(org.owner_email)
    refused = browser.submit(f"/admin/settings/staff/{org.owner_id}/deactivate")
    assert refused.status_code == 409
    assert "at least one active owner" in refused.text
    assert staff_of(client, org, org.owner_email)["is_active"] is True


def test_an_api_key_secret_is_shown_once_and_works(browser: Browser, client: TestClient,
                                                   org: Org) -> None:
    browser.sign_in(org.owner_email)
    assert browser.get("/admin/settings/api-keys").status_code == 200
    created = browser.submit("/admin/settings/api-keys",
                             {"name": "Sync", "scopes": ["catalog:read", "orders:read"]})
    assert created.status_code == 200, created.text
    secret = re.search(r'id="api-key-secret" type="text" readonly value="([^"]+)"',
                       created.text)
    assert secret
    key = secret.group(1)
    auth = {"Authorization": f"Bearer {key}"}
    assert client.get("/api/v1/products", headers=auth).status_code == 200
    listed = browser.get("/admin/settings/api-keys")
    assert "Sync" in listed.text
    assert key not in listed.text
    keys = client.get("/api/v1/api-keys", headers=org.headers).json()["data"]
    key_id = next(k["id"] for k in keys if k["name"] == "Sync")
    revoked = browser.submit(f"/admin/settings/api-keys/{key_id}/revoke")
    assert revoked.status_code == 303
    assert client.get("/api/v1/products", headers=auth).status_code == 401


def test_an_api_key_without_scopes_is_422_and_none_is_made(browser: Browser,
                                                          client: TestClient,
                                                          org: Org) -> None:
    browser.sign_in(org.owner_email)
    refused = browser.submit("/admin/settings/api-keys", {"name": "Nothing"})
    assert refused.status_code == 422
    assert 'id="e-scopes"' in refused.text
    assert 'value="Nothing"' in refused.text
    assert client.get("/api/v1/api-keys", headers=org.headers).json()["data"] == []


def test_api_keys_need_api_keys_read(app: FastAPI, client: TestClient, org: Org) -> None:
    cashier = signed_in(app, client, org, "cashier")
    assert cashier.get("/admin/settings/api-keys").status_code == 403


def test_the_owner_gives_a_key_to_another_member(browser: Browser, client: TestClient,
                                                 org: Org) -> None:
    email = add_staff(client, org, "manager")
    manager_id = staff_of(client, org, email)["id"]
    browser.sign_in(org.owner_email)
    created = browser.submit("/admin/settings/api-keys",
                             {"name": "Feed", "scopes": ["catalog:read"]})
    assert created.status_code == 200
    key_id = client.get("/api/v1/api-keys", headers=org.headers).json()["data"][0]["id"]
    given = browser.submit(f"/admin/settings/api-keys/{key_id}/owner", {"staff_id": manager_id})
    assert given.status_code == 303, given.text
    assert client.get(f"/api/v1/api-keys/{key_id}", headers=org.headers).json()[
        "created_by_id"] == manager_id
    nobody = browser.submit(f"/admin/settings/api-keys/{key_id}/owner", {"staff_id": "X" * 26})
    assert nobody.status_code == 422
    assert "no active staff member with this id" in nobody.text
