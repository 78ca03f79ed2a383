"""Staff management: roles, invitations, ETag/If-Match, the last-owner rule."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx
from fastapi.testclient import TestClient

from mercato.core.ids import new_id
from tests.conftest import PASSWORD, LiveServer, Org, staff_token, walk_pages


def _email(org: Org) -> str:
    return f"member-{new_id().lower()}@{org.slug}.test"


def test_owner_adds_a_member_who_can_then_sign_in(client: TestClient, org: Org) -> None:
    email = _email(org)
    created = client.post("/api/v1/staff", headers=org.headers,
                          json={"email": email, "password": PASSWORD, "role": "inventory"})
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["status"] == "active"
    assert body["role"] == "inventory"
    assert body["invite_token"] is None
    assert "password" not in body
    assert "password_hash" not in body
    assert created.headers["ETag"]
    signin = client.post("/api/v1/auth/token", json={"email": email, "password": PASSWORD})
    assert signin.status_code == 200


def test_invited_member_sets_a_password_with_the_one_time_token(
    client: TestClient, org: Org
) -> None:
    email = _email(org)
    created = client.post("/api/v1/staff", headers=org.headers,
                          json={"email": email, "role": "fulfillment", "invite": True})
    assert created.status_code == 201, created.text
    invite = created.json()["invite_token"]
    assert created.json()["status"] == "invited"
    assert invite
    fetched = client.get(f"/api/v1/staff/{created.json()['id']}", headers=org.headers)
    assert "invite_token" not in fetched.json()
    assert client.post("/api/v1/auth/token",
                       json={"email": email, "password": PASSWORD}).status_code == 401
    accepted = client.post("/api/v1/auth/accept-invite",
                           json={"token": invite, "password": PASSWORD})
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["status"] == "active"
    assert client.post("/api/v1/auth/token",
                       json={"email": email, "password": PASSWORD}).status_code == 200
    again = client.post("/api/v1/auth/accept-invite",
                        json={"token": invite, "password": "another-password"})
    assert again.status_code == 401


def test_password_and_invite_are_mutually_exclusive(client: TestClient, org: Org) -> None:
    both = client.post("/api/v1/staff", headers=org.headers, json={
        "email": _email(org), "role": "cashier", "password": PASSWORD, "invite": True})
    neither = client.post("/api/v1/staff", headers=org.headers,
                          json={"email": _email(org), "role": "cashier"})
    assert both.status_code == neither.status_code == 422


def test_bad_staff_input_is_a_422_naming_the_field(client: TestClient, org: Org) -> None:
    cases = [
        ({"email": "not-an-email", "role": "cashier", "password": PASSWORD}, "email"),
        ({"email": _email(org), "role": "emperor", "password": PASSWORD}, "role"),
        ({"email": _email(org), "role": "cashier", "password": "short"}, "password"),
    ]
    for payload, field in cases:
        response = client.post("/api/v1/staff", headers=org.headers, json=payload)
        assert response.status_code == 422, payload
        assert response.json()["code"] == "validation_error"
        assert [e["field"] for e in response.json()["errors"]] == [field]
    listed = client.get("/api/v1/staff?limit=250", headers=org.headers).json()["data"]
    assert [m["email"] for m in listed] == [org.owner_email]


def test_duplicate_email_in_one_organization_is_a_409(client: TestClient, org: Org) -> None:
    payload = {"email": _email(org), "role": "cashier", "password": PASSWORD}
    assert client.post("/api/v1/staff", headers=org.headers, json=payload).status_code == 201
    again = client.post("/api/v1/staff", headers=org.headers, json=payload)
    assert again.status_code == 409
    assert again.json()["errors"][0]["field"] == "email"


def test_the_same_email_may_work_for_two_organizations(
    client: TestClient, org: Org, other_org: Org
) -> None:
    payload = {"email": f"shared-{new_id().lower()}@x.test", "role": "cashier",
               "password": PASSWORD}
    assert client.post("/api/v1/staff", headers=org.headers, json=payload).status_code == 201
    assert client.post("/api/v1/staff", headers=other_org.headers,
                       json=payload).status_code == 201


def test_roles_without_staff_permissions_are_forbidden(client: TestClient, org: Org) -> None:
    for role in ("cashier", "inventory", "fulfillment"):
        headers = {"Authorization": f"Bearer {staff_token(client, org, role)}"}
        listed = client.get("/api/v1/staff", headers=headers)
        assert listed.status_code == 403
        assert listed.json()["code"] == "forbidden"
        assert listed.json()["missing_permissions"] == ["staff:read"]


def test_a_manager_cannot_grant_the_owner_role_or_touch_an_owner(
    client: TestClient, org: Org
) -> None:
    headers = {"Authorization": f"Bearer {staff_token(client, org, 'manager')}"}
    grant = client.post("/api/v1/staff", headers=headers,
                        json={"email": _email(org), "role": "owner", "password": PASSWORD})
    assert grant.status_code == 403
    demote = client.patch(f"/api/v1/staff/{org.owner_id}", headers=headers,
                          json={"role": "cashier"})
    assert demote.status_code == 403
    ok = client.post("/api/v1/staff", headers=headers,
                     json={"email": _email(org), "role": "cashier", "password": PASSWORD})
    assert ok.status_code == 201


def test_the_last_active_owner_cannot_be_demoted_or_deactivated(
    client: TestClient, org: Org
) -> None:
    for change in ({"role": "manager"}, {"is_active": False}):
        response = client.patch(f"/api/v1/staff/{org.owner_id}", headers=org.headers,
                                json=change)
        assert response.status_code == 409, change
    second = client.post("/api/v1/staff", headers=org.headers,
                         json={"email": _email(org), "role": "owner", "password": PASSWORD})
    assert second.status_code == 201
    demoted = client.patch(f"/api/v1/staff/{org.owner_id}", headers=org.headers,
                           json={"role": "manager"})
    assert demoted.status_code == 200
    assert demoted.json()["role"] == "manager"


def test_patch_with_a_stale_if_match_is_412_and_changes_nothing(
    client: TestClient, org: Org
) -> None:
    created = client.post("/api/v1/staff", headers=org.headers,
                          json={"email": _email(org), "role": "cashier", "password": PASSWORD})
    member, first_etag = created.json()["id"], created.headers["ETag"]
    fetched = client.get(f"/api/v1/staff/{member}", headers=org.headers)
    assert fetched.headers["ETag"] == first_etag
    updated = client.patch(f"/api/v1/staff/{member}", json={"role": "inventory"},
                           headers={**org.headers, "If-Match": first_etag})
    assert updated.status_code == 200
    assert updated.headers["ETag"] != first_etag
    stale = client.patch(f"/api/v1/staff/{member}", json={"role": "fulfillment"},
                         headers={**org.headers, "If-Match": first_etag})
    assert stale.status_code == 412
    assert stale.json()["code"] == "precondition_failed"
    assert stale.headers["ETag"] == updated.headers["ETag"]
    assert client.get(f"/api/v1/staff/{member}",
                      headers=org.headers).json()["role"] == "inventory"


def test_concurrent_patches_with_the_same_etag_let_exactly_one_win(
    client: TestClient, live_server: LiveServer, org: Org
) -> None:
    created = client.post("/api/v1/staff", headers=org.headers,
                          json={"email": _email(org), "role": "cashier", "password": PASSWORD})
    member, etag = created.json()["id"], created.headers["ETag"]
    roles = ["inventory", "fulfillment", "manager"] * 5  # each one a real change

    def patch(role: str) -> int:
        response = httpx.patch(f"{live_server.url}/api/v1/staff/{member}", json={"role": role},
                               headers={**org.headers, "If-Match": etag}, timeout=30)
        return response.status_code

    with ThreadPoolExecutor(len(roles)) as pool:
        statuses = list(pool.map(patch, roles))
    assert statuses.count(200) == 1, statuses
    assert set(statuses) <= {200, 412}
    final = client.get(f"/api/v1/staff/{member}", headers=org.headers)
    assert final.json()["role"] == roles[statuses.index(200)]


def test_staff_list_pages_through_every_member_once(client: TestClient, org: Org) -> None:
    for _ in range(5):
        client.post("/api/v1/staff", headers=org.headers,
                    json={"email": _email(org), "role": "cashier", "password": PASSWORD})
    seen = [m["id"] for m in walk_pages(client, "/api/v1/staff", org.headers, limit=2)]
    assert len(seen) == len(set(seen)) == 6
    assert seen == sorted(seen)
