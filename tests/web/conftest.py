"""Fixtures of the page tests: a browser-like client (its own cookie jar) signed in as a role."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from mercato.core.ids import new_id
from tests.conftest import PASSWORD, Org

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(html: str) -> str:
    found = CSRF.search(html)
    assert found, "the page has no CSRF field"
    return found.group(1)


class Browser(TestClient):
    """A TestClient that signs in through the login form, as a person would."""

    csrf: str = ""

    def sign_in(self, email: str, password: str = PASSWORD, *, next_path: str = "/admin",
                expect: int = 303) -> None:
        form = self.get("/admin/login", params={"next": next_path})
        assert form.status_code == 200, form.text
        answer = self.post("/admin/login", data={
            "email": email, "password": password, "next": next_path,
            "csrf_token": csrf_of(form.text)}, follow_redirects=False)
        assert answer.status_code == expect, answer.text
        if expect == 303:
            page = self.get(answer.headers["location"])
            self.csrf = csrf_of(page.text)

    def submit(self, path: str, data: dict[str, object] | None = None,
               **kwargs: object) -> object:
        return self.post(path, data={"csrf_token": self.csrf, **(data or {})},
                         follow_redirects=False, **kwargs)  # type: ignore[arg-type]


@pytest.fixture
def browser(app: FastAPI) -> Iterator[Browser]:
    with Browser(app, raise_server_exceptions=False, base_url="http://testserver") as b:
        yield b


def add_staff(client: TestClient, org: Org, role: str) -> str:
    email = f"{role}-{new_id().lower()}@{org.slug}.test"
    created = client.post("/api/v1/staff", headers=org.headers,
                          json={"email": email, "password": PASSWORD, "role": role})
    assert created.status_code == 201, created.text
    return email
