from __future__ import annotations

from fastapi.testclient import TestClient

from mercato.core.ids import new_id
from tests.conftest import PASSWORD, Org
from tests.probe import probe_body, probe_fixture


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
