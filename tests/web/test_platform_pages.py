"""The operator's console: sign in at /platform/login, create, suspend, reactivate and limit
organizations at /platform, with the same checks as the API."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from mercato.core.db import Database
from mercato.core.ids import new_id
from mercato.settings import Settings
from tests.conftest import Org
from tests.platform_helpers import OPERATOR_PASSWORD, make_operator
from tests.web.conftest import csrf_of

ORGS = "/api/platform/v1/organizations"


class Console(TestClient):
    csrf: str = ""

    def sign_in(self, email: str, password: str = OPERATOR_PASSWORD) -> None:
        form = self.get("/platform/login")
        assert form.status_code == 200
        answer = self.post("/platform/login", data={
            "email": email, "password": password, "csrf_token": csrf_of(form.text)},
            follow_redirects=False)
        assert answer.status_code == 303, answer.text
        home = self.get("/platform")
        assert home.status_code == 200
        self.csrf = csrf_of(home.text)


@pytest.fixture
def console(app: FastAPI, db: Database, settings: Settings) -> Iterator[Console]:
    with Console(app, raise_server_exceptions=False, base_url="http://testserver") as c:
        c.sign_in(make_operator(db, settings))
        yield c


def test_the_console_asks_to_sign_in_and_refuses_a_wrong_password(
    app: FastAPI, db: Database, settings: Settings
) -> None:
    with Console(app, raise_server_exceptions=False, client=("198.51.100.7", 50000)) as c:
        first = c.get("/platform", follow_redirects=False)
        assert first.status_code == 303
        assert first.headers["location"] == "/platform/login"
        form = c.get("/platform/login")
        assert ">Email<" in form.text
        wrong = c.post("/platform/login", data={
            "email": make_operator(db, settings), "password": "wrong password",
            "csrf_token": csrf_of(form.text)})
        assert wrong.status_code == 401
        assert "Email or password is incorrect." in wrong.text


def test_a_staff_session_opens_no_console_page(app: FastAPI, org: Org) -> None:
    from tests.conftest import PASSWORD
    from tests.web.conftest import Browser

    with Browser(app, raise_server_exceptions=False, base_url="http://testserver") as staff:
        staff.sign_in(org.owner_email, PASSWORD)
        assert staff.get("/platform", follow_redirects=False).status_code == 303


def test_the_operator_creates_an_organization_from_the_form(console: Console) -> None:
    slug = f"page-{new_id().lower()}"
    made = console.post("/platform/organizations", data={
        "csrf_token": console.csrf, "name": "Page Shop", "slug": slug,
        "owner_email": f"owner@{slug}.test", "owner_password": "owner horse battery",
        "plan": "starter", "products": "100", "staff": "", "api_calls_per_minute": ""},
        follow_redirects=False)
    assert made.status_code == 303, made.text
    home = console.get("/platform")
    assert "Page Shop" in home.text
    assert "Products: 100" in home.text


def test_a_bad_form_is_a_422_with_the_values_kept_and_nothing_created(
    console: Console
) -> None:
    slug = f"page-{new_id().lower()}"
    answer = console.post("/platform/organizations", data={
        "csrf_token": console.csrf, "name": "Bad Shop", "slug": slug,
        "owner_email": "not-an-email", "owner_password": "owner horse battery",
        "products": "-3"})
    assert answer.status_code == 422
    assert 'value="Bad Shop"' in answer.text
    assert "There is a problem" in answer.text or "error" in answer.text.lower()
    assert slug not in console.get("/platform").text


def test_suspend_reactivate_and_limits_from_the_pages(console: Console, org: Org) -> None:
    suspended = console.post(f"/platform/organizations/{org.id}/suspend",
                             data={"csrf_token": console.csrf}, follow_redirects=False)
    assert suspended.status_code == 303
    assert console.get(f"/store/v1/{org.slug}").status_code == 423
    page = console.get(f"/platform/organizations/{org.id}")
    assert "Reactivate" in page.text
    back = console.post(f"/platform/organizations/{org.id}/reactivate",
                        data={"csrf_token": console.csrf}, follow_redirects=False)
    assert back.status_code == 303
    assert console.get(f"/store/v1/{org.slug}").status_code == 200

    saved = console.post(f"/platform/organizations/{org.id}", data={
        "csrf_token": console.csrf, "plan": "pro", "products": "5", "staff": "3",
        "api_calls_per_minute": ""}, follow_redirects=False)
    assert saved.status_code == 303, saved.text
    bad = console.post(f"/platform/organizations/{org.id}", data={
        "csrf_token": console.csrf, "plan": "pro", "products": "many"})
    assert bad.status_code == 422


def test_a_form_without_the_sessions_csrf_token_changes_nothing(
    console: Console, org: Org
) -> None:
    console.post(f"/platform/organizations/{org.id}/suspend", data={"csrf_token": "forged"})
    assert console.get(f"/store/v1/{org.slug}").status_code == 200


def test_signing_out_ends_the_console_session(console: Console) -> None:
    out = console.post("/platform/logout", data={"csrf_token": console.csrf},
                       follow_redirects=False)
    assert out.status_code == 303
    assert console.get("/platform", follow_redirects=False).status_code == 303
