from __future__ import annotations

from fastapi.testclient import TestClient

from mercato.core.ids import new_id
from tests.conftest import Org
from tests.probe import probe_fixture


@probe_fixture("domain_id")
def domain(client: TestClient, org: Org) -> str:
    response = client.post("/api/v1/organization/domains", headers=org.headers,
                           json={"domain": f"probe-{new_id().lower()}.example.com"})
    return str(response.json()["id"])
