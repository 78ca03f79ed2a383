"""Probe fixtures for inventory movements routes (imported by probe_fixtures)."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.conftest import Org
from tests.inventory.helpers import make_location, make_variants, receive
from tests.probe import probe_body, probe_fixture


@probe_fixture("transfer_id")
def transfer(client: TestClient, org: Org) -> str:
    sku, = make_variants(client, org)
    source, target = make_location(client, org), make_location(client, org)
    receive(client, org, sku, source["code"], 2)
    response = client.post("/api/v1/inventory/transfers", headers=org.headers, json={
        "from_location": source["code"], "to_location": target["code"],
        "lines": [{"sku": sku, "quantity": 2}]})
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


@probe_fixture("count_id")
def count(client: TestClient, org: Org) -> str:
    place = make_location(client, org)
    response = client.post("/api/v1/inventory/counts", headers=org.headers,
                           json={"location": place["code"]})
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


probe_body("PUT", "/api/v1/inventory/counts/{count_id}/lines",
           {"lines": [{"sku": "PROBE-NONE", "counted": 1}]})
probe_body("POST", "/api/v1/inventory/counts/{count_id}/apply", {"reason": "count"})
probe_body("POST", "/api/v1/inventory/transfers/{transfer_id}/receive", {})
