"""Idempotency-Key on every POST: replay, mismatch, scoping, and concurrent duplicates."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx
from fastapi.testclient import TestClient

from mercato.core.ids import new_id
from tests.conftest import LiveServer, Org


def _keys_named(client: TestClient, org: Org, name: str) -> list[dict]:
    data = client.get("/api/v1/api-keys?limit=250", headers=org.headers).json()["data"]
    return [k for k in data if k["name"] == name]


def test_the_same_key_and_body_replays_the_first_response_and_does_the_work_once(
    client: TestClient, org: Org
) -> None:
    name, key = f"k-{new_id()}", new_id()
    headers = {**org.headers, "Idempotency-Key": key}
    first = client.post("/api/v1/api-keys", headers=headers,
                        json={"name": name, "scopes": ["staff:read"]})
    second = client.post("/api/v1/api-keys", headers=headers,
                         json={"name": name, "scopes": ["staff:read"]})
    assert first.status_code == second.status_code == 201
    assert second.content == first.content
    assert second.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert len(_keys_named(client, org, name)) == 1


def test_the_same_key_with_another_body_is_an_idempotency_mismatch(
    client: TestClient, org: Org
) -> None:
    headers = {**org.headers, "Idempotency-Key": new_id()}
    name = f"k-{new_id()}"
    assert client.post("/api/v1/api-keys", headers=headers,
                       json={"name": name, "scopes": ["staff:read"]}).status_code == 201
    other = client.post("/api/v1/api-keys", headers=headers,
                        json={"name": name, "scopes": ["staff:write"]})
    assert other.status_code == 422
    assert other.json()["code"] == "idempotency_mismatch"
    elsewhere = client.post("/api/v1/staff", headers=headers,
                            json={"email": "x@y.test", "role": "cashier", "invite": True})
    assert elsewhere.json()["code"] == "idempotency_mismatch"
    assert len(_keys_named(client, org, name)) == 1


def test_keys_are_per_organization(client: TestClient, org: Org, other_org: Org) -> None:
    key = new_id()
    for who in (org, other_org):
        response = client.post("/api/v1/api-keys", headers={**who.headers, "Idempotency-Key": key},
                               json={"name": "same", "scopes": ["staff:read"]})
        assert response.status_code == 201
        assert "Idempotent-Replayed" not in response.headers
    assert len(_keys_named(client, org, "same")) == len(_keys_named(client, other_org, "same"))


def test_a_failed_request_is_not_remembered_so_a_corrected_retry_runs(
    client: TestClient, org: Org
) -> None:
    headers = {**org.headers, "Idempotency-Key": new_id()}
    email = f"m-{new_id().lower()}@x.test"
    refused = client.post("/api/v1/staff", headers=headers,
                          json={"email": email, "role": "cashier", "password": "short"})
    assert refused.status_code == 422
    accepted = client.post("/api/v1/staff", headers=headers,
                           json={"email": email, "role": "cashier", "password": "long enough"})
    assert accepted.status_code == 201


def test_an_unusable_key_is_a_400(client: TestClient, org: Org) -> None:
    response = client.post("/api/v1/api-keys", headers={**org.headers,
                                                        "Idempotency-Key": "x" * 256},
                           json={"name": "n", "scopes": ["staff:read"]})
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "Idempotency-Key"


def test_concurrent_duplicates_do_the_work_once_and_all_get_the_same_answer(
    client: TestClient, live_server: LiveServer, org: Org
) -> None:
    name, key = f"race-{new_id()}", new_id()

    def post(_: int) -> httpx.Response:
        return httpx.post(f"{live_server.url}/api/v1/api-keys",
                          headers={**org.headers, "Idempotency-Key": key},
                          json={"name": name, "scopes": ["staff:read"]}, timeout=60)

    with ThreadPoolExecutor(20) as pool:
        responses = list(pool.map(post, range(20)))
    assert {r.status_code for r in responses} == {201}, [r.text for r in responses]
    assert len({r.content for r in responses}) == 1
    assert len(_keys_named(client, org, name)) == 1
    replayed = [r for r in responses if r.headers.get("Idempotent-Replayed") == "true"]
    assert len(replayed) == 19
