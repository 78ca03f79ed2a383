"""Tenant-probe factories for the webhook routes: one probe endpoint per organization, so a
delivery's route gets the endpoint it belongs to."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select

from mercato.core.db import utcnow
from mercato.core.ids import new_id
from mercato.webhooks import service
from mercato.webhooks.models import WebhookDelivery, WebhookEndpoint
from tests.conftest import Org
from tests.probe import probe_fixture

PROBE_URL = "https://93.184.215.14/probe"
"""A literal public address: accepted without a DNS lookup, never called (no worker runs)."""


@probe_fixture("webhook_endpoint_id")
def webhook_endpoint(client: TestClient, org: Org) -> str:
    db = client.app.state.db  # type: ignore[attr-defined]
    with db.transaction(tenant=org.id) as session:
        found = session.scalar(select(WebhookEndpoint.id).where(
            WebhookEndpoint.description == "probe"))
        if found is not None:
            return str(found)
        endpoint, _ = service.create_endpoint(session, url=PROBE_URL, events=["order.*"],
                                              description="probe")
        return str(endpoint.id)


@probe_fixture("webhook_delivery_id")
def webhook_delivery(client: TestClient, org: Org) -> str:
    endpoint_id = webhook_endpoint(client, org)
    db = client.app.state.db  # type: ignore[attr-defined]
    with db.transaction(tenant=org.id) as session:
        delivery = WebhookDelivery(
            endpoint_id=endpoint_id, event_id=new_id(), event_type="order.created",
            event_position=0, resource_key=f"order:{new_id()}", body="{}", status="dead",
            attempts=4, next_attempt_at=utcnow())
        session.add(delivery)
        session.flush()
        return str(delivery.id)
