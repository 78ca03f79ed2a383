"""Organizations: settings with ETag, custom domains, and store resolution by slug or Host."""

from __future__ import annotations

from fastapi.testclient import TestClient

from mercato.core.ids import new_id
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


def test_custom_domains_are_unique_across_organizations(
    client: TestClient, org: Org, other_org: Org
) -> None:
    domain = f"shop-{new_id().lower()}.example.com"
    added = client.post("/api/v1/organization/domains", headers=org.headers,
                        json={"domain": domain.upper() + "."})
    assert added.status_code == 201
    assert added.json()["domain"] == domain
    taken = client.post("/api/v1/organization/domains", headers=other_org.headers,
                        json={"domain": domain})
    assert taken.status_code == 409
    bad = client.post("/api/v1/organization/domains", headers=org.headers,
                      json={"domain": "not a domain"})
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "domain"
    listed = client.get("/api/v1/organization/domains", headers=org.headers).json()
    assert [d["domain"] for d in listed] == [domain]
    assert client.delete(f"/api/v1/organization/domains/{added.json()['id']}",
                         headers=org.headers).status_code == 204
    assert client.get("/api/v1/organization/domains", headers=org.headers).json() == []


def test_a_store_is_reached_by_slug_and_by_its_custom_domain(
    client: TestClient, org: Org
) -> None:
    by_slug = client.get(f"/store/v1/{org.slug}")
    assert by_slug.status_code == 200
    assert by_slug.json()["slug"] == org.slug
    domain = f"cards-{new_id().lower()}.example.com"
    client.post("/api/v1/organization/domains", headers=org.headers, json={"domain": domain})
    by_host = client.get("/store/v1", headers={"Host": domain})
    assert by_host.status_code == 200
    assert by_host.json() == by_slug.json()
    with_port = client.get("/store/v1", headers={"Host": f"{domain}:8443"})
    assert with_port.json() == by_slug.json()
    assert client.get("/store/v1/no-such-store").status_code == 404
    assert client.get("/store/v1", headers={"Host": "unknown.example.com"}).status_code == 404
