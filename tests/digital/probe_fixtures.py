"""Probe fixtures of digital delivery: a delivery and a kept file per organization, and a
download token per store (the variant routes use catalog's ``variant_id``)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi.testclient import TestClient

from mercato.core.db import Database, utcnow
from mercato.core.outbox import Dispatcher
from mercato.digital.service import sign_link
from tests.conftest import Org
from tests.digital.helpers import digital_product
from tests.probe import probe_body, probe_fixture, store_probe_fixture

_DELIVERED: dict[str, dict[str, Any]] = {}


def _delivered(client: TestClient, org: Org) -> dict[str, Any]:
    """A paid order's download delivery, delivered, with its file (made once per org)."""
    if org.id not in _DELIVERED:
        product = digital_product(client, org)
        variant = product["variant_id"]
        stored = client.post(f"/api/v1/digital/variants/{variant}/files", headers=org.headers,
                             files={"file": ("probe.txt", b"probe", "text/plain")})
        assert stored.status_code == 201, stored.text
        put = client.put(f"/api/v1/digital/variants/{variant}", headers=org.headers,
                         json={"method": "download"})
        assert put.status_code == 200, put.text
        order = client.post("/api/v1/orders", headers=org.headers, json={
            "channel": "manual", "currency": "USD", "customer": {"email": "p@example.com"},
            "lines": [{"sku": product["sku"], "quantity": 1, "unit_price": "1.00"}],
            "payments": [{"method": "cash", "amount": "1.00", "status": "paid"}]})
        assert order.status_code == 201, order.text
        db: Database = client.app.state.db  # type: ignore[attr-defined]
        Dispatcher(db).drain()
        found = client.get("/api/v1/digital/deliveries", headers=org.headers,
                           params={"order_id": order.json()["id"]}).json()["data"]
        assert [d["status"] for d in found] == ["delivered"], found
        with db.session(tenant=org.id) as session:
            token = sign_link(session, org.id, found[0]["id"], stored.json()["id"],
                              utcnow() + dt.timedelta(days=1))
        _DELIVERED[org.id] = {"delivery": found[0], "file": stored.json(), "token": token}
    return _DELIVERED[org.id]


@probe_fixture("delivery_id")
def delivery_id(client: TestClient, org: Org) -> str:
    return str(_delivered(client, org)["delivery"]["id"])


@probe_fixture("file_id")
def file_id(client: TestClient, org: Org) -> str:
    return str(_delivered(client, org)["file"]["id"])


@store_probe_fixture("token")
def token(client: TestClient, org: Org, shopper: dict[str, Any]) -> str:
    return str(_delivered(client, org)["token"])


probe_body("PUT", "/api/v1/digital/variants/{variant_id}", {"method": "manual"})
probe_body("POST", "/api/v1/digital/variants/{variant_id}/keys", {"keys": ["PROBE-KEY"]})
probe_body("POST", "/api/v1/digital/deliveries/{delivery_id}/delivered", {})
