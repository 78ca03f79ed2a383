from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from mercato.core.ids import new_id
from tests.conftest import PASSWORD, Org
from tests.probe import probe_body, probe_fixture, store_probe_body, store_probe_fixture


@probe_fixture("staff_id")
def staff(client: TestClient, org: Org) -> str:
    response = client.post("/api/v1/staff", headers=org.headers, json={
        "email": f"probe-{new_id().lower()}@{org.slug}.test", "role": "cashier",
        "password": PASSWORD})
    return str(response.json()["id"])


@probe_fixture("api_key_id")
def api_key(client: TestClient, org: Org) -> str:
    response = client.post("/api/v1/api-keys", headers=org.headers,
                           json={"name": "probe", "scopes": ["staff:read"]})
    return str(response.json()["id"])


@probe_fixture("entry_id")
def audit_entry(client: TestClient, org: Org) -> str:
    staff(client, org)
    return str(client.get("/api/v1/audit-log?limit=1", headers=org.headers).json()["data"][0]["id"])


probe_body("PATCH", "/api/v1/staff/{staff_id}", {"role": "inventory"})
probe_body("POST", "/api/v1/api-keys/{api_key_id}/owner", {"staff_id": new_id()})


# -- storefront accounts --------------------------------------------------------------------------

@store_probe_fixture("address_id")
def shopper_address(client: TestClient, org: Org, shopper: dict[str, Any]) -> str:
    made = client.post(f"/store/v1/{org.slug}/me/addresses", headers=shopper["headers"],
                       json={"address": {"line1": "1 Probe St", "country": "US"}})
    assert made.status_code == 201, made.text
    return str(made.json()["id"])


_ORDERS: dict[tuple[str, str], str] = {}


@store_probe_fixture("order_id")
def shopper_order(client: TestClient, org: Org, shopper: dict[str, Any]) -> str:
    """One order of the shopper's per store (made once: a second store's US zone would not
    be the one a second shipping method is in)."""
    key = (org.id, shopper["customer_id"])
    if key not in _ORDERS:
        _ORDERS[key] = _new_shopper_order(client, org, shopper)
    return _ORDERS[key]


def _new_shopper_order(client: TestClient, org: Org, shopper: dict[str, Any]) -> str:
    from tests.checkout.helpers import checkout, new_cart, shop

    skus, _, method = shop(client, org, [2])
    cart = new_cart(client, org, [(skus[0], 1)], headers=shopper["headers"], method_id=method,
                    email="receipts@example.com")  # another address: the order is still theirs
    done = checkout(client, org, cart["id"], {"method": "manual"}, headers=shopper["headers"])
    assert done.status_code == 201, done.text
    return str(done.json()["id"])


store_probe_body("PATCH", "/store/v1/{store}/me/addresses/{address_id}", {})


@probe_fixture("customer_id")
def customer(client: TestClient, org: Org) -> str:
    response = client.post("/api/v1/customers", headers=org.headers, json={"first_name": "P"})
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


probe_body("POST", "/api/v1/customers/{customer_id}/merge", {"duplicates": ["X"]})
