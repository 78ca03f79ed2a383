"""Platform operators for tests: made as the CLI makes them, signed in through the API."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from mercato.core.db import Database
from mercato.core.ids import new_id
from mercato.identity.service import Identity
from mercato.settings import Settings

OPERATOR_PASSWORD = "operator horse battery"


def make_operator(db: Database, settings: Settings, *, email: str | None = None,
                  password: str = OPERATOR_PASSWORD) -> str:
    """A new operator's email."""
    email = email or f"ops-{new_id().lower()}@platform.test"
    with db.transaction() as session:
        Identity(settings, db).create_operator(session, email=email, password=password)
    return email


def operator_headers(client: TestClient, db: Database, settings: Settings) -> dict[str, str]:
    email = make_operator(db, settings)
    answer = client.post("/api/platform/v1/auth/token",
                         json={"email": email, "password": OPERATOR_PASSWORD})
    assert answer.status_code == 200, answer.text
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


def suspend(client: TestClient, headers: dict[str, str], organization_id: str,
            reason: str = "Payment overdue") -> dict[str, Any]:
    answer = client.post(f"/api/platform/v1/organizations/{organization_id}/suspend",
                         headers=headers, json={"reason": reason})
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def reactivate(client: TestClient, headers: dict[str, str],
               organization_id: str) -> dict[str, Any]:
    answer = client.post(f"/api/platform/v1/organizations/{organization_id}/reactivate",
                         headers=headers)
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def set_limits(client: TestClient, headers: dict[str, str], organization_id: str,
               **limits: int) -> dict[str, Any]:
    answer = client.patch(f"/api/platform/v1/organizations/{organization_id}",
                          headers=headers, json={"limits": limits})
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def walk(client: TestClient, headers: dict[str, str], path: str,
         **params: str) -> list[dict[str, Any]]:
    """Every item of a list, page by page."""
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        query: dict[str, str | int] = {**params, "limit": 250}
        if cursor:
            query["cursor"] = cursor
        page = client.get(path, headers=headers, params=query)
        assert page.status_code == 200, page.text
        items += page.json()["data"]
        cursor = page.json()["next_cursor"]
        if not cursor:
            return items
