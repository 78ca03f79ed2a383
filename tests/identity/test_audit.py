"""Every write leaves an audit entry: actor, action, resource, before/after, time, request id."""

from __future__ import annotations

from fastapi.testclient import TestClient

from mercato.core.ids import new_id
from mercato.identity.permissions import ROLE_PERMISSIONS, Role
from tests.conftest import PASSWORD, Org, staff_token


def _entries(client: TestClient, org: Org, **params: str) -> list[dict]:
    response = client.get("/api/v1/audit-log", headers=org.headers,
                          params={"limit": 250, **params})
    assert response.status_code == 200, response.text
    return list(response.json()["data"])


def test_creating_a_member_records_who_did_it_and_what_was_created(
    client: TestClient, org: Org
) -> None:
    email = f"a-{new_id().lower()}@x.test"
    created = client.post("/api/v1/staff", headers=org.headers,
                          json={"email": email, "role": "cashier", "password": PASSWORD})
    member = created.json()["id"]
    [entry] = _entries(client, org, resource_id=member)
    assert entry["action"] == "staff_user.created"
    assert entry["actor"] == {"type": "staff", "id": org.owner_id, "label": org.owner_email}
    assert entry["before"] is None
    assert entry["after"]["email"] == email
    assert entry["after"]["role"] == "cashier"
    assert entry["after"]["password_hash"] == "[redacted]"
    assert entry["request_id"] == created.headers["X-Request-ID"]
    assert entry["created_at"].endswith("Z") or entry["created_at"].endswith("+00:00")
    single = client.get(f"/api/v1/audit-log/{entry['id']}", headers=org.headers)
    assert single.json() == entry


def test_an_update_records_the_row_before_and_after(client: TestClient, org: Org) -> None:
    created = client.post("/api/v1/staff", headers=org.headers, json={
        "email": f"b-{new_id().lower()}@x.test", "role": "cashier", "password": PASSWORD})
    member = created.json()["id"]
    client.patch(f"/api/v1/staff/{member}", headers=org.headers, json={"role": "inventory"})
    updated = _entries(client, org, resource_id=member, action="staff_user.updated")
    assert len(updated) == 1
    assert updated[0]["before"]["role"] == "cashier"
    assert updated[0]["after"]["role"] == "inventory"
    assert updated[0]["after"]["version"] == updated[0]["before"]["version"] + 1


def test_an_api_key_acting_is_recorded_as_the_key(client: TestClient, org: Org) -> None:
    scopes = sorted(ROLE_PERMISSIONS[Role.CASHIER] | {"staff:write"})
    key = client.post("/api/v1/api-keys", headers=org.headers,
                      json={"name": "robot", "scopes": scopes}).json()
    created = client.post("/api/v1/staff", headers={"Authorization": f"Bearer {key['key']}"},
                          json={"email": f"c-{new_id().lower()}@x.test", "role": "cashier",
                                "password": PASSWORD})
    [entry] = _entries(client, org, resource_id=created.json()["id"])
    assert entry["actor"] == {"type": "api_key", "id": key["id"], "label": "robot"}


def test_a_failed_write_leaves_no_entry(client: TestClient, org: Org) -> None:
    before = _entries(client, org)
    refused = client.post("/api/v1/staff", headers=org.headers,
                          json={"email": org.owner_email, "role": "cashier",
                                "password": PASSWORD})
    assert refused.status_code == 409
    assert _entries(client, org) == before


def test_the_log_is_newest_first_and_only_the_callers_organization(
    client: TestClient, org: Org, other_org: Org
) -> None:
    client.post("/api/v1/api-keys", headers=other_org.headers,
                json={"name": "theirs", "scopes": ["staff:read"]})
    client.post("/api/v1/api-keys", headers=org.headers,
                json={"name": "ours", "scopes": ["staff:read"]})
    entries = _entries(client, org)
    assert entries, "organization and owner creation are audited too"
    assert [e["id"] for e in entries] == sorted((e["id"] for e in entries), reverse=True)
    labels = {e["after"].get("name") for e in entries if e["after"]}
    assert "ours" in labels
    assert "theirs" not in labels


def test_reading_the_audit_log_needs_the_audit_permission(client: TestClient, org: Org) -> None:
    cashier = {"Authorization": f"Bearer {staff_token(client, org, 'cashier')}"}
    assert client.get("/api/v1/audit-log", headers=cashier).status_code == 403
