from __future__ import annotations

from fastapi.testclient import TestClient

from tests.conftest import Org
from tests.orders.helpers import place_order, stocked
from tests.probe import probe_body, probe_fixture


@probe_fixture("order_id")
def order(client: TestClient, org: Org) -> str:
    skus, _ = stocked(client, org, [1])
    return str(place_order(client, org, [(skus[0], 1)])["id"])


@probe_fixture("payment_id")
def payment(client: TestClient, org: Org) -> str:
    skus, _ = stocked(client, org, [1])
    placed = place_order(client, org, [(skus[0], 1)],
                         payments=[{"method": "card", "status": "authorized"}])
    return str(placed["payments"][0]["id"])


@probe_fixture("return_id")
def return_(client: TestClient, org: Org) -> str:
    skus, _ = stocked(client, org, [1])
    placed = place_order(client, org, [(skus[0], 1)])
    url = f"/api/v1/orders/{placed['id']}"
    assert client.post(f"{url}/fulfillments", headers=org.headers, json={}).status_code == 201
    returned = client.post(f"{url}/returns", headers=org.headers, json={
        "lines": [{"line_id": placed["lines"][0]["id"], "quantity": 1}], "received": False})
    assert returned.status_code == 201, returned.text
    return str(returned.json()["returns"][0]["id"])


probe_body("POST", "/api/v1/orders/{order_id}/payments", {"method": "card"})
probe_body("POST", "/api/v1/orders/{order_id}/refunds", {"amount": "1.00"})
probe_body("POST", "/api/v1/orders/{order_id}/returns",
           {"lines": [{"line_id": "X", "quantity": 1}]})
