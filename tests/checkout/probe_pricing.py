"""Probe fixtures: see tests/probe.py."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.conftest import Org
from tests.inventory.helpers import make_variants
from tests.probe import probe_body, probe_fixture


def _price_list(client: TestClient, org: Org, entries: list[dict[str, str]]) -> dict[str, str]:
    response = client.post("/api/v1/price-lists", headers=org.headers, json={
        "name": "Probe", "currency": "USD", "entries": entries})
    assert response.status_code == 201, response.text
    return dict(response.json())


@probe_fixture("price_list_id")
def price_list(client: TestClient, org: Org) -> str:
    return _price_list(client, org, [])["id"]


@probe_fixture("price_list_entry_id")
def price_list_entry(client: TestClient, org: Org) -> str:
    [sku] = make_variants(client, org)
    made = _price_list(client, org, [{"sku": sku, "price": "1.00"}])
    entries = client.get(f"/api/v1/price-lists/{made['id']}/entries", headers=org.headers)
    assert entries.status_code == 200, entries.text
    return str(entries.json()["data"][0]["id"])


@probe_fixture("pricing_rule_id")
def pricing_rule(client: TestClient, org: Org) -> str:
    response = client.post("/api/v1/pricing-rules", headers=org.headers, json={
        "title": "Probe", "adjustment": "percentage", "value": "10"})
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


@probe_fixture("promotion_id")
def promotion(client: TestClient, org: Org) -> str:
    response = client.post("/api/v1/promotions", headers=org.headers, json={
        "title": "Probe", "kind": "percentage", "value": "10"})
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


probe_body("PUT", "/api/v1/price-lists/{price_list_id}/entries", {"entries": []})
