"""A pool falling to its threshold raises ``digital.key_pool_low`` once, and staff are told
by email."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select

from mercato.core.db import Database
from mercato.core.outbox import OutboxEvent
from tests.checkout.helpers import checkout
from tests.conftest import Org
from tests.digital.helpers import digital_cart, digital_product, pay, run_worker, upload_keys


def _buy(client: TestClient, org: Org, db: Database, sku: str, quantity: int) -> None:
    cart = digital_cart(client, org, [(sku, quantity)])
    done = checkout(client, org, cart["id"], {"method": "manual"})
    assert done.status_code == 201, done.text
    pay(client, org, done.json()["id"])
    run_worker(db)


def test_a_low_pool_raises_an_event_once_and_emails_staff(client: TestClient, org: Org,
                                                          db: Database) -> None:
    product = digital_product(client, org)
    variant = product["variant_id"]
    upload_keys(client, org, variant, [f"LOW-{n}" for n in range(5)])
    put = client.put(f"/api/v1/digital/variants/{variant}", headers=org.headers, json={
        "method": "key_pool", "low_pool_threshold": 2, "alert_email": "stock@shop.test"})
    assert put.status_code == 200, put.text
    _buy(client, org, db, product["sku"], 2)  # 3 left: above the threshold
    _buy(client, org, db, product["sku"], 1)  # 2 left: the alert
    _buy(client, org, db, product["sku"], 1)  # 1 left: already alerted for this fall
    with db.session(tenant=org.id) as session:
        alerts = [e.data for e in session.scalars(select(OutboxEvent).where(
            OutboxEvent.type == "digital.key_pool_low",
            OutboxEvent.resource_id == variant))]
    assert alerts == [{"variant_id": variant, "sku": product["sku"], "remaining": 2,
                       "threshold": 2}]
    mails = client.get("/api/v1/notifications", headers=org.headers,
                       params={"kind": "key_pool_low"}).json()["data"]
    assert [m["recipient"] for m in mails] == ["stock@shop.test"]
