"""Staff sessions of the admin: sign in and out, CSRF, deactivation, permissions."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.conftest import PASSWORD, Org
from tests.web.conftest import Browser, add_staff, csrf_of


def test_sign_in_sets_an_httponly_samesite_cookie_and_returns_to_the_page_asked_for(
        browser: Browser, org: Org) -> None:
    asked = browser.get("/admin/settings?tab=staff", follow_redirects=False)
    assert asked.status_code == 303
    assert asked.headers["location"].startswith("/admin/login?next=/admin/settings")
    form = browser.get(asked.headers["location"])
    assert 'for="f-email">Email' in form.text
    assert 'for="f-password">Password' in form.text
    answer = browser.post("/admin/login", data={
        "email": org.owner_email, "password": PASSWORD,
        "next": "/admin/settings?tab=staff", "csrf_token": csrf_of(form.text)},
        follow_redirects=False)
    assert answer.status_code == 303, answer.text
    assert answer.headers["location"] == "/admin/settings?tab=staff"
    cookie = next(v for k, v in answer.headers.multi_items()
                  if k == "set-cookie" and v.startswith("mercato_session="))
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie.replace("Lax", "lax")
    assert browser.get("/admin").status_code == 200


def test_a_wrong_password_shows_the_form_again_with_the_error(browser: Browser,
                                                              org: Org) -> None:
    browser.sign_in(org.owner_email, "not the password", expect=401)
    page = browser.get("/admin", follow_redirects=False)
    assert page.status_code == 303


def test_next_never_leaves_the_admin(browser: Browser, org: Org) -> None:
    browser.sign_in(org.owner_email, next_path="//evil.example/admin")
    form = browser.get("/admin/login", params={"next": "https://evil.example"},
                       follow_redirects=False)
    assert form.headers["location"] == "/admin"


def test_a_post_without_the_csrf_token_is_refused_and_changes_nothing(browser: Browser,
                                                                      org: Org) -> None:
    browser.sign_in(org.owner_email)
    refused = browser.post("/admin/logout", data={}, follow_redirects=False)
    assert refused.status_code == 403
    assert browser.get("/admin").status_code == 200  # still signed in
    wrong = browser.post("/admin/logout", data={"csrf_token": "x" * 40},
                         follow_redirects=False)
    assert wrong.status_code == 403
    by_header = browser.post("/admin/logout", headers={"X-CSRF-Token": browser.csrf},
                             follow_redirects=False)
    assert by_header.status_code == 303
    assert browser.get("/admin", follow_redirects=False).status_code == 303


def test_signing_out_ends_the_session_even_for_a_copied_cookie(app, browser: Browser,
                                                              org: Org) -> None:
    browser.sign_in(org.owner_email)
    copy = TestClient(app, raise_server_exceptions=False)
    copy.cookies.set("mercato_session", browser.cookies["mercato_session"])
    assert copy.get("/admin").status_code == 200
    browser.submit("/admin/logout")
    assert copy.get("/admin", follow_redirects=False).status_code == 303


def test_deactivating_a_member_ends_their_sessions_at_once(client: TestClient, app,
                                                           org: Org) -> None:
    email = add_staff(client, org, "manager")
    member = Browser(app, raise_server_exceptions=False)
    member.sign_in(email)
    assert member.get("/admin").status_code == 200
    staff = client.get("/api/v1/staff", headers=org.headers, params={"limit": 100}).json()
    member_id = next(s["id"] for s in staff["data"] if s["email"] == email)
    done = client.patch(f"/api/v1/staff/{member_id}", headers=org.headers,
                        json={"is_active": False})
    assert done.status_code == 200, done.text
    assert member.get("/admin", follow_redirects=False).status_code == 303


def test_a_role_sees_only_what_it_may_do_and_gets_403_elsewhere(client: TestClient, app,
                                                                org: Org) -> None:
    cashier = Browser(app, raise_server_exceptions=False)
    cashier.sign_in(add_staff(client, org, "cashier"))
    orders = cashier.get("/admin/orders")
    assert 'href="/admin/settings"' not in orders.text
    refused = cashier.get("/admin/settings")
    assert refused.status_code == 403
    assert "text/html" in refused.headers["content-type"]
    assert "organization:read" in refused.text


def test_unknown_admin_pages_are_an_html_404(browser: Browser, org: Org) -> None:
    browser.sign_in(org.owner_email)
    missing = browser.get("/admin/nowhere")
    assert missing.status_code == 404
    assert "text/html" in missing.headers["content-type"]
