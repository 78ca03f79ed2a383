from __future__ import annotations

from fastapi.testclient import TestClient

from mercato.core.ids import new_id
from tests.conftest import Org
from tests.inventory.helpers import make_location, make_variants, receive
from tests.probe import probe_body, probe_fixture, probe_query

PROBE_SKU = "PROBE-AVAILABILITY"


@probe_fixture("location_id")
def location(client: TestClient, org: Org) -> str:
    return str(make_location(client, org)["id"])


@probe_fixture("channel_id")
def channel(client: TestClient, org: Org) -> str:
    client.post("/api/v1/product-types/install", headers=org.headers, json={"set": "tcg"})
    client.post("/api/v1/products", headers=org.headers, json={  # 409 once it exists
        "title": "Probe", "product_type": "accessory",
        "variants": [{"sku": PROBE_SKU, "price": "1.00"}]})
    response = client.post("/api/v1/channels", headers=org.headers,
                           json={"name": "Probe", "kind": "web"})
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


@probe_fixture("reservation_id")
def reservation(client: TestClient, org: Org) -> str:
    sku, = make_variants(client, org)
    place = make_location(client, org)
    receive(client, org, sku, place["code"], 1)
    response = client.post("/api/v1/inventory/reservations", headers=org.headers, json={
        "reference": f"probe-{new_id()}", "lines": [{"sku": sku, "quantity": 1}]})
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


probe_body("PATCH", "/api/v1/locations/{location_id}", {"name": "Renamed"})
probe_body("PATCH", "/api/v1/channels/{channel_id}", {"name": "Renamed"})
probe_body("PUT", "/api/v1/channels/{channel_id}/buffers",
           {"buffers": [{"sku": "PROBE", "buffer": 1}]})
probe_query("GET", "/api/v1/channels/{channel_id}/availability", {"sku": PROBE_SKU})

from tests.inventory import probe_movements, probe_purchasing  # noqa: E402, F401 - register theirs
