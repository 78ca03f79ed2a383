"""API keys: shown once, stored hashed, scoped, revocable, with a last-used time."""

from __future__ import annotations

import hashlib

from fastapi.testclient import TestClient
from sqlalchemy import select

from mercato.core.db import SYSTEM, Database, system_scope
from mercato.core.idempotency_keys import IdempotencyKey
from mercato.core.ids import new_id
from mercato.identity.models import ApiKey
from tests.conftest import Org, staff_token


def _create(client: TestClient, org: Org, scopes: list[str], name: str = "sync") -> dict:
    response = client.post("/api/v1/api-keys", headers=org.headers,
                           json={"name": name, "scopes": scopes})
    assert response.status_code == 201, response.text
    return dict(response.json())


def test_the_secret_is_shown_once_and_stored_only_as_a_hash(
    client: TestClient, db: Database, org: Org
) -> None:
    created = _create(client, org, ["catalog:read"])
    assert created["key"].startswith(created["prefix"] + "_")
    listed = client.get("/api/v1/api-keys", headers=org.headers).json()["data"]
    fetched = client.get(f"/api/v1/api-keys/{created['id']}", headers=org.headers).json()
    for shown in (*listed, fetched):
        assert "key" not in shown
    with db.session() as session, system_scope(session):
        row = session.scalars(select(ApiKey).where(ApiKey.id == created["id"])).one()
        secret = created["key"][len(created["prefix"]) + 1:]
        assert row.secret_hash == hashlib.sha256(secret.encode()).hexdigest()
        assert secret not in row.secret_hash


def test_a_key_acts_with_its_scopes_only(client: TestClient, org: Org) -> None:
    created = _create(client, org, ["staff:read"])
    headers = {"Authorization": f"Bearer {created['key']}"}
    me = client.get("/api/v1/me", headers=headers)
    assert me.status_code == 200
    assert me.json()["type"] == "api_key"
    assert me.json()["permissions"] == ["staff:read"]
    assert me.json()["organization"]["id"] == org.id
    assert client.get("/api/v1/staff", headers=headers).status_code == 200
    assert client.get("/api/v1/api-keys", headers=headers).status_code == 403
    assert client.post("/api/v1/staff", headers=headers, json={
        "email": "x@y.test", "role": "cashier", "password": "password1"}).status_code == 403


def test_use_records_the_last_used_time(client: TestClient, org: Org) -> None:
    created = _create(client, org, ["staff:read"])
    assert created["last_used_at"] is None
    client.get("/api/v1/staff", headers={"Authorization": f"Bearer {created['key']}"})
    fetched = client.get(f"/api/v1/api-keys/{created['id']}", headers=org.headers).json()
    assert fetched["last_used_at"] is not None


def test_a_revoked_key_stops_working_at_once(client: TestClient, org: Org) -> None:
    created = _create(client, org, ["staff:read"])
    headers = {"Authorization": f"Bearer {created['key']}"}
    assert client.get("/api/v1/me", headers=headers).status_code == 200
    revoked = client.delete(f"/api/v1/api-keys/{created['id']}", headers=org.headers)
    assert revoked.status_code == 200
    assert revoked.json()["revoked_at"]
    assert client.get("/api/v1/me", headers=headers).status_code == 401


def test_a_tampered_key_is_refused(client: TestClient, org: Org) -> None:
    created = _create(client, org, ["staff:read"])
    tampered = created["key"][:-2] + ("AA" if not created["key"].endswith("AA") else "BB")
    for key in (tampered, created["prefix"], "mk_garbage"):
        assert client.get("/api/v1/me",
                          headers={"Authorization": f"Bearer {key}"}).status_code == 401


def test_unknown_scopes_are_422_and_scopes_you_lack_are_403(
    client: TestClient, org: Org
) -> None:
    unknown = client.post("/api/v1/api-keys", headers=org.headers,
                          json={"name": "x", "scopes": ["catalog:read", "root"]})
    assert unknown.status_code == 422
    assert unknown.json()["errors"] == [{"field": "scopes",
                                         "message": "unknown permission 'root'"}]
    manager = {"Authorization": f"Bearer {staff_token(client, org, 'manager')}"}
    lacking = client.post("/api/v1/api-keys", headers=manager,
                          json={"name": "x", "scopes": ["organization:write"]})
    assert lacking.status_code == 403
    assert lacking.json()["missing_permissions"] == ["organization:write"]


def test_a_new_key_or_invite_kept_for_replay_is_stored_sealed(
    client: TestClient, db: Database, org: Org
) -> None:
    requests = [("/api/v1/api-keys", {"name": "replayed", "scopes": ["catalog:read"]}, "key"),
                ("/api/v1/staff", {"email": f"i-{new_id().lower()}@x.test", "role": "cashier",
                                   "invite": True}, "invite_token")]
    for path, body, field in requests:
        key = f"sealed-{new_id()}"
        first = client.post(path, headers={**org.headers, "Idempotency-Key": key}, json=body)
        again = client.post(path, headers={**org.headers, "Idempotency-Key": key}, json=body)
        assert first.status_code == again.status_code == 201, again.text
        assert again.headers.get("Idempotent-Replayed") == "true"
        assert again.json() == first.json()
        secret = first.json()[field]
        with db.transaction(tenant=SYSTEM) as session:
            row = session.scalars(select(IdempotencyKey).where(IdempotencyKey.key == key)).one()
        assert row.sealed
        assert secret.encode() not in (row.response_body or b"")
        assert f'"{field}"'.encode() not in (row.response_body or b"")
