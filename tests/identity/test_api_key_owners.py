"""An API key acts with at most its owner's current permissions and dies with its owner's access,
unless an owner gives it to another member first; a key with no creator is the first owner's."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from mercato.core.db import SYSTEM, Database
from mercato.core.ids import new_id
from mercato.identity.models import ApiKey, AuditEntry, StaffUser
from mercato.identity.tokens import API_KEY_PREFIX, make_compound_secret
from tests.conftest import PASSWORD, Org

SCOPES = ["catalog:read", "catalog:write", "staff:read"]


def _member(client: TestClient, org: Org, role: str) -> dict[str, Any]:
    email = f"{role}-{new_id().lower()}@{org.slug}.test"
    created = client.post("/api/v1/staff", headers=org.headers,
                          json={"email": email, "password": PASSWORD, "role": role})
    assert created.status_code == 201, created.text
    token = client.post("/api/v1/auth/token", json={"email": email, "password": PASSWORD})
    assert token.status_code == 200, token.text
    return {"id": created.json()["id"],
            "headers": {"Authorization": f"Bearer {token.json()['access_token']}"}}


def _key(client: TestClient, headers: dict[str, str], scopes: list[str]) -> dict[str, Any]:
    made = client.post("/api/v1/api-keys", headers=headers, json={"name": "sync", "scopes": scopes})
    assert made.status_code == 201, made.text
    return {"id": made.json()["id"],
            "headers": {"Authorization": f"Bearer {made.json()['key']}"}}


def _patch_staff(client: TestClient, org: Org, staff_id: str, body: dict[str, Any]) -> None:
    etag = client.get(f"/api/v1/staff/{staff_id}", headers=org.headers).headers["ETag"]
    changed = client.patch(f"/api/v1/staff/{staff_id}", json=body,
                           headers={**org.headers, "If-Match": etag})
    assert changed.status_code == 200, changed.text


def _create_product(client: TestClient, headers: dict[str, str]) -> int:
    return client.post("/api/v1/product-types", headers=headers, json={
        "name": "Thing", "slug": f"thing-{new_id().lower()}"}).status_code


def test_a_key_loses_what_its_creator_loses_when_demoted_and_regains_it_when_promoted(
    client: TestClient, org: Org
) -> None:
    manager = _member(client, org, "manager")
    key = _key(client, manager["headers"], SCOPES)
    assert _create_product(client, key["headers"]) == 201
    assert client.get("/api/v1/staff", headers=key["headers"]).status_code == 200

    _patch_staff(client, org, manager["id"], {"role": "cashier"})
    refused = client.post("/api/v1/product-types", headers=key["headers"],
                          json={"name": "T", "slug": f"t-{new_id().lower()}"})
    assert refused.status_code == 403
    assert refused.json()["missing_permissions"] == ["catalog:write"]
    assert client.get("/api/v1/staff", headers=key["headers"]).status_code == 403
    me = client.get("/api/v1/me", headers=key["headers"]).json()
    assert me["permissions"] == ["catalog:read"]  # the scopes a cashier also holds

    _patch_staff(client, org, manager["id"], {"role": "manager"})
    assert _create_product(client, key["headers"]) == 201


def test_a_key_stops_working_when_its_creator_is_deactivated(client: TestClient,
                                                             org: Org) -> None:
    manager = _member(client, org, "manager")
    key = _key(client, manager["headers"], SCOPES)
    assert client.get("/api/v1/me", headers=key["headers"]).status_code == 200
    _patch_staff(client, org, manager["id"], {"is_active": False})
    assert client.get("/api/v1/me", headers=key["headers"]).status_code == 401


def test_a_key_made_by_a_key_belongs_to_the_same_owner_and_dies_with_them(
    client: TestClient, org: Org
) -> None:
    manager = _member(client, org, "manager")
    parent = _key(client, manager["headers"], ["api_keys:write", "catalog:read"])
    child = _key(client, parent["headers"], ["catalog:read"])
    fetched = client.get(f"/api/v1/api-keys/{child['id']}", headers=org.headers).json()
    assert fetched["created_by_id"] == manager["id"]
    assert client.get("/api/v1/me", headers=child["headers"]).status_code == 200
    _patch_staff(client, org, manager["id"], {"is_active": False})
    assert client.get("/api/v1/me", headers=child["headers"]).status_code == 401


def test_a_key_given_to_another_member_before_deactivation_keeps_working_with_their_permissions(
    client: TestClient, db: Database, org: Org
) -> None:
    manager = _member(client, org, "manager")
    inventory = _member(client, org, "inventory")
    key = _key(client, manager["headers"], SCOPES)

    moved = client.post(f"/api/v1/api-keys/{key['id']}/owner", headers=org.headers,
                        json={"staff_id": inventory["id"]})
    assert moved.status_code == 200, moved.text
    assert moved.json()["created_by_id"] == inventory["id"]
    _patch_staff(client, org, manager["id"], {"is_active": False})

    assert _create_product(client, key["headers"]) == 201  # inventory may write the catalog
    assert client.get("/api/v1/staff", headers=key["headers"]).status_code == 403  # it may not
    with db.transaction(tenant=SYSTEM) as session:
        entries = session.scalars(select(AuditEntry).where(
            AuditEntry.resource_id == key["id"], AuditEntry.action == "api_key.updated")).all()
        assert [(e.before or {}).get("created_by_id") for e in entries] == [manager["id"]]
        assert [(e.after or {}).get("created_by_id") for e in entries] == [inventory["id"]]

    _patch_staff(client, org, inventory["id"], {"is_active": False})
    assert client.get("/api/v1/me", headers=key["headers"]).status_code == 401


def test_only_owners_give_keys_away_and_only_to_active_members(client: TestClient,
                                                                org: Org) -> None:
    manager = _member(client, org, "manager")
    cashier = _member(client, org, "cashier")
    key = _key(client, manager["headers"], ["catalog:read"])
    path = f"/api/v1/api-keys/{key['id']}/owner"

    by_manager = client.post(path, headers=manager["headers"], json={"staff_id": cashier["id"]})
    assert by_manager.status_code == 403
    assert by_manager.json()["missing_permissions"] == ["api_keys:reassign"]

    _patch_staff(client, org, cashier["id"], {"is_active": False})
    for staff_id in (cashier["id"], new_id()):
        refused = client.post(path, headers=org.headers, json={"staff_id": staff_id})
        assert refused.status_code == 422, refused.text
        assert refused.json()["errors"][0]["field"] == "staff_id"

    client.delete(f"/api/v1/api-keys/{key['id']}", headers=org.headers)
    revoked = client.post(path, headers=org.headers, json={"staff_id": org.owner_id})
    assert revoked.status_code == 409


def test_a_key_with_no_recorded_creator_acts_as_the_first_owner(
    client: TestClient, db: Database, org: Org
) -> None:
    key_id = new_id()
    token, secret_hash = make_compound_secret(API_KEY_PREFIX, key_id)
    with db.transaction(tenant=org.id) as session:
        session.add(ApiKey(id=key_id, name="cli", scopes=["catalog:read", "organization:write"],
                           secret_hash=secret_hash, created_by_id=None,
                           organization_id=org.id))
    headers = {"Authorization": f"Bearer {token}"}
    me = client.get("/api/v1/me", headers=headers)
    assert me.status_code == 200, me.text
    assert me.json()["permissions"] == ["catalog:read", "organization:write"]

    # The first owner leaves: the key acts for the next owner, the earliest active one.
    second = _member(client, org, "owner")
    _patch_staff(client, org, org.owner_id, {"is_active": False})
    assert client.get("/api/v1/me", headers=headers).json()["permissions"] == [
        "catalog:read", "organization:write"]

    # With no active owner left to act for (demoted behind the API's back), the key stops.
    with db.transaction(tenant=org.id) as session:
        owner = session.scalars(select(StaffUser).where(StaffUser.id == second["id"])).one()
        owner.role = "manager"
    assert client.get("/api/v1/me", headers=headers).status_code == 401
