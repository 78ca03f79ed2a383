"""Shared setup for the payments tests: the Stripe emulator as a real HTTP server, a store
connected to it, customers, gift cards."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from mercato_emulators.stripe import StripeEmulator, create_app
from tests.conftest import LiveServer, Org

SECRET_KEY = "sk_test_" + "a1b2c3d4e5f6g7h8i9j0k1l2"
WEBHOOK_SECRET = "whsec_" + "s3cr3tS1gn1ngK3yForT3sts"


class StripeServer:
    """The emulator served by uvicorn on a thread, with its in-memory state at hand."""

    def __init__(self) -> None:
        self.app: FastAPI = create_app()
        self.server = LiveServer(self.app)
        self.url = self.server.url

    @property
    def state(self) -> StripeEmulator:
        emulator: StripeEmulator = self.app.state.emulator
        return emulator

    def send_webhooks_to(self, url: str | None, secret: str | None = WEBHOOK_SECRET) -> None:
        self.state.webhook_url, self.state.webhook_secret = url, secret


@pytest.fixture(scope="session")
def stripe_server() -> Iterator[StripeServer]:
    server = StripeServer()
    with server.server:
        yield server


def connect_stripe(client: TestClient, org: Org, api_base: str, **extra: Any) -> dict[str, Any]:
    response = client.put("/api/v1/payments/stripe", headers=org.headers, json={
        "secret_key": SECRET_KEY, "publishable_key": "pk_test_" + "z" * 24,
        "webhook_secret": WEBHOOK_SECRET, "api_base": api_base, **extra})
    assert response.status_code == 200, response.text
    return dict(response.json())


def new_customer(client: TestClient, org: Org) -> str:
    response = client.post("/api/v1/customers", headers=org.headers,
                           json={"email": f"c-{secrets.token_hex(6)}@example.test"})
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def issue_card(client: TestClient, org: Org, amount: str = "50.00", currency: str = "USD",
               **extra: Any) -> dict[str, Any]:
    response = client.post("/api/v1/gift-cards", headers=org.headers,
                           json={"initial_balance": amount, "currency": currency, **extra})
    assert response.status_code == 201, response.text
    return dict(response.json())


def grant_credit(client: TestClient, org: Org, customer_id: str, amount: str,
                 currency: str = "USD") -> dict[str, Any]:
    response = client.post(f"/api/v1/customers/{customer_id}/store-credit", headers=org.headers,
                           json={"action": "grant", "amount": amount, "currency": currency,
                                 "reason": "goodwill"})
    assert response.status_code == 201, response.text
    return dict(response.json())
