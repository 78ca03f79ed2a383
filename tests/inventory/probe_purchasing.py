"""Probe fixtures for inventory purchasing routes (imported by probe_fixtures)."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.conftest import Org
from tests.inventory.helpers import make_variants
from tests.probe import probe_body, probe_fixture

PROBE_PO_SKU = "PROBE-PURCHASE"


@probe_fixture("purchase_order_id")
def purchase_order(client: TestClient, org: Org) -> str:
    sku, = make_variants(client, org)
    response = client.post("/api/v1/purchase-orders", headers=org.headers, json={
        "supplier": "Probe Supply", "lines": [{"sku": sku, "quantity": 2, "unit_cost": "1.00"}]})
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


probe_body("POST", "/api/v1/purchase-orders/{purchase_order_id}/receive",
           {"location": "PROBE", "lines": [{"sku": PROBE_PO_SKU, "quantity": 1}]})
