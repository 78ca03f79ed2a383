"""Webhook tests run against an app whose settings allow loopback targets (the receivers) and
retry on a short clock; the suite's shared app allows none."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import delete, update

from mercato.app import create_app
from mercato.core.db import SYSTEM, Database, utcnow
from mercato.core.outbox import Dispatcher, record_event
from mercato.settings import Settings
from mercato.webhooks.models import PENDING, WebhookDelivery, WebhookEndpoint
from mercato.webhooks.sender import Sender
from tests.conftest import Org, make_settings

HOOKS: dict[str, Any] = {
    "webhook_allow_hosts": ["127.0.0.1"],
    "webhook_timeout_seconds": 5.0,
    "webhook_lease_seconds": 30.0,
    "webhook_retry_base_seconds": 30.0,
    "webhook_max_attempts": 4,
    "webhook_breaker_threshold": 3,
    "webhook_breaker_cooldown_seconds": 3600.0,
}


@pytest.fixture(scope="session")
def hook_settings(database_url: str) -> Settings:
    return make_settings(database_url, **HOOKS)


@pytest.fixture(scope="session")
def hook_client(hook_settings: Settings, db: Database) -> Iterator[TestClient]:
    with TestClient(create_app(hook_settings, db), raise_server_exceptions=False) as client:
        yield client


@pytest.fixture(autouse=True)
def no_endpoints_left(db: Database) -> Iterator[None]:
    """Each test sees only its own endpoints' deliveries (the database is the session's)."""
    yield
    with db.transaction(tenant=SYSTEM) as session:
        session.execute(delete(WebhookEndpoint))


def sender(db: Database, settings: Settings, **changes: Any) -> Sender:
    return Sender(db, settings.model_copy(update=changes) if changes else settings)


def emit(db: Database, org: Org, count: int = 1, *, event_type: str = "test.pinged",
         resource: str = "r1", start: int = 0) -> list[str]:
    """Record ``count`` events of one resource (seq = start, start+1, ...), committed."""
    with db.transaction(tenant=org.id) as session:
        events = [record_event(session, event_type, resource_type="thing", resource_id=resource,
                               data={"seq": start + i, "resource": resource})
                  for i in range(count)]
        session.flush()
        return [event.id for event in events]


def fan_out(db: Database) -> int:
    """Run the outbox (the fan-out handler among the rest) until nothing is due."""
    return Dispatcher(db).drain()


def make_due(db: Database) -> None:
    """Skip the backoff wait (time travel on the rows, not a mock)."""
    with db.transaction(tenant=SYSTEM) as session:
        session.execute(update(WebhookDelivery).where(WebhookDelivery.status == PENDING)
                        .values(next_attempt_at=utcnow() - dt.timedelta(seconds=1)),
                        execution_options={"synchronize_session": False})


def create_endpoint(client: TestClient, org: Org, url: str, **body: Any) -> dict[str, Any]:
    answer = client.post("/api/v1/webhook-endpoints", headers=org.headers,
                         json={"url": url, "events": ["*"], **body})
    assert answer.status_code == 201, answer.text
    return dict(answer.json())
