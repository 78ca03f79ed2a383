"""Probe fixtures: see tests/probe.py."""

from __future__ import annotations

from fastapi.testclient import TestClient

from mercato.core.ids import new_id
from tests.conftest import Org
from tests.probe import probe_fixture


@probe_fixture("tax_rate_id")
def tax_rate(client: TestClient, org: Org) -> str:
    response = client.post("/api/v1/tax/rates", headers=org.headers, json={
        "country": "US", "region": "CA", "title": f"Tax {new_id()}", "rate": "0.0725"})
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


@probe_fixture("shipping_zone_id")
def shipping_zone(client: TestClient, org: Org) -> str:
    response = client.post("/api/v1/shipping/zones", headers=org.headers, json={
        "name": f"Zone {new_id()}", "countries": ["US"]})
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


@probe_fixture("shipping_method_id")
def shipping_method(client: TestClient, org: Org) -> str:
    response = client.post("/api/v1/shipping/methods", headers=org.headers, json={
        "zone_id": shipping_zone(client, org), "title": "Standard",
        "code": f"std-{new_id().lower()}", "kind": "flat", "currency": "USD", "price": "5.00"})
    assert response.status_code == 201, response.text
    return str(response.json()["id"])
