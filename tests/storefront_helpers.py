"""Shoppers for storefront tests: sign up and sign in through the store routes."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from mercato.core.ids import new_id

SHOPPER_PASSWORD = "shopper horse battery"


def store_url(org_slug: str, path: str = "") -> str:
    return f"/store/v1/{org_slug}{path}"


def sign_up(client: TestClient, org_slug: str, *, email: str | None = None,
            password: str = SHOPPER_PASSWORD, **fields: Any) -> dict[str, Any]:
    """A new shopper account, signed in: the profile plus ``token``, ``customer_id``,
    ``email`` and ``headers``."""
    email = email or f"shopper-{new_id().lower()}@example.com"
    made = client.post(store_url(org_slug, "/customers"),
                       json={"email": email, "password": password, **fields})
    assert made.status_code == 201, made.text
    token = sign_in(client, org_slug, email, password)
    return {**made.json(), "customer_id": made.json()["id"], "email": email, "token": token,
            "headers": {"Authorization": f"Bearer {token}"}}


def sign_in(client: TestClient, org_slug: str, email: str,
            password: str = SHOPPER_PASSWORD) -> str:
    response = client.post(store_url(org_slug, "/auth/token"),
                           json={"email": email, "password": password})
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])
