"""The operator's organizations API: create one with its owner, list, read, set plan, limits
and branding; bad input is a 422 that changes nothing, an unknown id a 404."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from mercato.core.db import Database
from mercato.core.ids import new_id
from mercato.settings import Settings
from tests.conftest import Org
from tests.platform_helpers import operator_headers, walk

ORGS = "/api/platform/v1/organizations"


@pytest.fixture
def ops(client: TestClient, db: Database, settings: Settings) -> dict[str, str]:
    return operator_headers(client, db, settings)


def _new(slug: str | None = None, **fields: object) -> dict[str, object]:
    slug = slug or f"plat-{new_id().lower()}"
    return {"name": "Dragon's Hoard", "slug": slug, "owner_email": f"owner@{slug}.test",
            "owner_password": "owner horse battery", **fields}


def test_an_operator_creates_an_organization_whose_owner_signs_in(
    client: TestClient, ops: dict[str, str]
) -> None:
    body = _new(plan="starter", limits={"products": 10})
    made = client.post(ORGS, headers=ops, json=body)
    assert made.status_code == 201, made.text
    org = made.json()
    assert org["slug"] == body["slug"]
    assert org["status"] == "active"
    assert org["plan"] == "starter"
    assert org["limits"] == {"products": 10}
    assert org["owner"]["email"] == body["owner_email"]

    signed_in = client.post("/api/v1/auth/token", json={
        "email": body["owner_email"], "password": body["owner_password"]})
    assert signed_in.status_code == 200, signed_in.text
    mine = client.get("/api/v1/organization", headers={
        "Authorization": f"Bearer {signed_in.json()['access_token']}"})
    assert mine.json()["id"] == org["id"]

    assert client.get(f"{ORGS}/{org['id']}", headers=ops).json()["plan"] == "starter"
    listed = walk(client, ops, ORGS)
    assert org["id"] in {o["id"] for o in listed}


def test_a_new_organization_defaults_to_the_standard_plan_without_limits(
    client: TestClient, ops: dict[str, str]
) -> None:
    made = client.post(ORGS, headers=ops, json=_new())
    assert made.status_code == 201, made.text
    assert made.json()["plan"] == "standard"
    assert made.json()["limits"] == {}


@pytest.mark.parametrize(("change", "field"), [
    ({"slug": "Not A Slug"}, "slug"),
    ({"slug": "admin"}, "slug"),
    ({"owner_email": "not-an-email"}, "owner_email"),
    ({"owner_password": "short"}, "owner_password"),
    ({"limits": {"products": -1}}, "limits.products"),
    ({"limits": {"seats": 3}}, "limits.seats"),
    ({"name": ""}, "name"),
])
def test_bad_input_is_a_422_naming_the_field_and_creates_nothing(
    client: TestClient, ops: dict[str, str], change: dict[str, object], field: str
) -> None:
    body = _new(**change)
    answer = client.post(ORGS, headers=ops, json=body)
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert field in {e["field"] for e in answer.json()["errors"]}
    slugs = {o["slug"] for o in walk(client, ops, ORGS)}
    assert body["slug"] not in slugs
    assert client.post("/api/v1/auth/token", json={
        "email": body["owner_email"], "password": body["owner_password"]}).status_code == 401


def test_a_taken_slug_is_a_409(client: TestClient, ops: dict[str, str], org: Org) -> None:
    answer = client.post(ORGS, headers=ops, json=_new(slug=org.slug))
    assert answer.status_code == 409
    assert answer.json()["code"] == "conflict"


def test_the_operator_sets_plan_limits_and_branding(
    client: TestClient, ops: dict[str, str], org: Org
) -> None:
    answer = client.patch(f"{ORGS}/{org.id}", headers=ops, json={
        "plan": "pro", "limits": {"products": 500, "staff": 5, "api_calls_per_minute": 600},
        "brand_color": "#1A5FB4", "accent_color": "#e66100",
        "logo_url": "https://cdn.example.com/logo.svg"})
    assert answer.status_code == 200, answer.text
    out = answer.json()
    assert out["plan"] == "pro"
    assert out["limits"] == {"products": 500, "staff": 5, "api_calls_per_minute": 600}
    assert out["brand_color"] == "#1a5fb4"
    seen_by_owner = client.get("/api/v1/organization", headers=org.headers).json()
    assert seen_by_owner["brand_color"] == "#1a5fb4"
    assert seen_by_owner["logo_url"] == "https://cdn.example.com/logo.svg"

    cleared = client.patch(f"{ORGS}/{org.id}", headers=ops, json={"limits": {}})
    assert cleared.json()["limits"] == {}
    assert cleared.json()["plan"] == "pro"  # left out: unchanged

    audit = client.get("/api/v1/audit-log", headers=org.headers).json()["data"]
    assert any(e["actor"]["label"].startswith("operator:") for e in audit)


@pytest.mark.parametrize("body", [
    {"brand_color": "blue"}, {"limits": {"staff": "many"}}, {"plan": ""},
    {"logo_url": "javascript:alert(1)"}, {"unknown": 1},
])
def test_a_bad_change_is_a_422_and_changes_nothing(
    client: TestClient, ops: dict[str, str], org: Org, body: dict[str, object]
) -> None:
    before = client.get(f"{ORGS}/{org.id}", headers=ops).json()
    answer = client.patch(f"{ORGS}/{org.id}", headers=ops, json=body)
    assert answer.status_code == 422, answer.text
    assert client.get(f"{ORGS}/{org.id}", headers=ops).json() == before


def test_an_unknown_organization_is_a_404(client: TestClient, ops: dict[str, str]) -> None:
    missing = new_id()
    assert client.get(f"{ORGS}/{missing}", headers=ops).status_code == 404
    assert client.patch(f"{ORGS}/{missing}", headers=ops, json={"plan": "x"}).status_code == 404
    for action in ("suspend", "reactivate"):
        answer = client.post(f"{ORGS}/{missing}/{action}", headers=ops)
        assert answer.status_code == 404
        assert answer.json()["code"] == "not_found"


def test_the_list_filters_by_status_and_pages(
    client: TestClient, ops: dict[str, str], org: Org, other_org: Org
) -> None:
    client.post(f"{ORGS}/{org.id}/suspend", headers=ops, json={})
    suspended = {o["id"] for o in walk(client, ops, ORGS, status="suspended")}
    assert org.id in suspended
    assert other_org.id not in suspended
    first = client.get(ORGS, headers=ops, params={"limit": 1}).json()
    assert len(first["data"]) == 1
    assert first["next_cursor"]
    client.post(f"{ORGS}/{org.id}/reactivate", headers=ops)


def test_an_idempotency_key_replays_the_creation_and_makes_one_organization(
    client: TestClient, ops: dict[str, str]
) -> None:
    body = _new()
    headers = {**ops, "Idempotency-Key": f"create-{new_id()}"}
    first = client.post(ORGS, headers=headers, json=body)
    again = client.post(ORGS, headers=headers, json=body)
    assert first.status_code == 201, first.text
    assert again.status_code == 201
    assert again.json() == first.json()
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert sum(o["slug"] == body["slug"] for o in walk(client, ops, ORGS)) == 1
    other = client.post(ORGS, headers=headers, json=_new())
    assert other.status_code == 422
    assert other.json()["code"] == "idempotency_mismatch"
