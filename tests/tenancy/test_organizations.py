"""Organizations: settings with ETag and who may change them (custom domains: test_domains.py)."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.conftest import Org, staff_token


def test_the_caller_sees_and_renames_its_organization_with_if_match(
    client: TestClient, org: Org
) -> None:
    current = client.get("/api/v1/organization", headers=org.headers)
    assert current.status_code == 200
    assert current.json()["slug"] == org.slug
    assert current.json()["id"] == org.id
    etag = current.headers["ETag"]
    renamed = client.patch("/api/v1/organization", json={"name": "Dragon's Hoard"},
                           headers={**org.headers, "If-Match": etag})
    assert renamed.status_code == 200
    assert renamed.json()["name"] == "Dragon's Hoard"
    stale = client.patch("/api/v1/organization", json={"name": "Other"},
                         headers={**org.headers, "If-Match": etag})
    assert stale.status_code == 412
    assert client.get("/api/v1/organization",
                      headers=org.headers).json()["name"] == "Dragon's Hoard"


def test_only_owners_change_organization_settings(client: TestClient, org: Org) -> None:
    manager = {"Authorization": f"Bearer {staff_token(client, org, 'manager')}"}
    assert client.get("/api/v1/organization", headers=manager).status_code == 200
    assert client.patch("/api/v1/organization", headers=manager,
                        json={"name": "x"}).status_code == 403
    assert client.post("/api/v1/organization/domains", headers=manager,
                       json={"domain": "x.example.com"}).status_code == 403
