"""Idempotency-Key on every POST: replay, mismatch, scoping, and concurrent duplicates."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
from fastapi.testclient import TestClient

from mercato.core.db import Database
from mercato.core.ids import new_id
from tests.conftest import LiveServer, Org, staff_token, stored_text
from tests.storefront_helpers import SHOPPER_PASSWORD, sign_up, store_url


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


# -- scoped per credential ---------------------------------------------------------------------

def _post(client: TestClient, path: str, key: str, body: dict[str, Any],
          headers: dict[str, str] | None = None) -> httpx.Response:
    return client.post(path, headers={**(headers or {}), "Idempotency-Key": key}, json=body)


def test_two_staff_members_with_the_same_key_each_get_their_own_answer(
    client: TestClient, org: Org
) -> None:
    other = {"Authorization": f"Bearer {staff_token(client, org, 'manager')}"}
    key, body = new_id(), {"name": f"k-{new_id()}", "scopes": ["staff:read"]}
    first = _post(client, "/api/v1/api-keys", key, body, org.headers)
    second = _post(client, "/api/v1/api-keys", key, body, other)
    assert first.status_code == second.status_code == 201, second.text
    assert "Idempotent-Replayed" not in second.headers
    assert first.json()["key"] != second.json()["key"]
    assert len(_keys_named(client, org, body["name"])) == 2


def test_two_shoppers_with_the_same_key_each_get_their_own_address(
    client: TestClient, org: Org
) -> None:
    path, key = store_url(org.slug, "/me/addresses"), new_id()
    body = {"address": {"line1": "1 Same St", "country": "US"}}
    a, b = sign_up(client, org.slug), sign_up(client, org.slug)
    made_a = _post(client, path, key, body, a["headers"])
    made_b = _post(client, path, key, body, b["headers"])
    assert made_a.status_code == made_b.status_code == 201, made_b.text
    assert "Idempotent-Replayed" not in made_b.headers
    assert made_a.json()["id"] != made_b.json()["id"]
    for shopper, made in ((a, made_a), (b, made_b)):
        book = client.get(path, headers=shopper["headers"]).json()
        items = book["data"] if isinstance(book, dict) else book
        assert [x["id"] for x in items] == [made.json()["id"]]


def test_a_shopper_repeating_a_key_gets_the_first_answer_replayed(
    client: TestClient, org: Org
) -> None:
    path, key = store_url(org.slug, "/me/addresses"), new_id()
    body = {"address": {"line1": "2 Retry St", "country": "US"}}
    shopper = sign_up(client, org.slug)
    first = _post(client, path, key, body, shopper["headers"])
    again = _post(client, path, key, body, shopper["headers"])
    assert first.status_code == again.status_code == 201, again.text
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert again.content == first.content


def test_two_guest_carts_with_the_same_key_each_get_their_own_result(
    client: TestClient, org: Org
) -> None:
    from tests.checkout.helpers import shop

    skus, _, _ = shop(client, org, [10])
    key, body = new_id(), {"lines": [{"sku": skus[0], "quantity": 1}]}
    # creating a guest cart carries no credential: never replayed to another client
    cart_a = _post(client, store_url(org.slug, "/carts"), key, body)
    cart_b = _post(client, store_url(org.slug, "/carts"), key, body)
    assert cart_a.status_code == cart_b.status_code == 201, cart_b.text
    assert "Idempotent-Replayed" not in cart_b.headers
    assert cart_a.json()["id"] != cart_b.json()["id"]
    # a guest cart's routes are scoped to the cart: the same key on two carts does both
    line = {"sku": skus[0], "quantity": 2}
    added = [_post(client, store_url(org.slug, f"/carts/{c.json()['id']}/lines"), key, line)
             for c in (cart_a, cart_b)]
    assert [a.status_code for a in added] == [201, 201], added[1].text
    assert [a.json()["id"] for a in added] == [cart_a.json()["id"], cart_b.json()["id"]]
    assert all("Idempotent-Replayed" not in a.headers for a in added)
    # and the same cart repeating its key is replayed, not added twice
    cart_a_lines = store_url(org.slug, f"/carts/{cart_a.json()['id']}/lines")
    again = _post(client, cart_a_lines, key, line)
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert again.content == added[0].content
    assert sum(x["quantity"] for x in again.json()["lines"]) == 3


def test_sign_ins_with_the_same_key_replay_only_to_the_same_credentials(
    client: TestClient, org: Org
) -> None:
    from tests.conftest import PASSWORD

    emails = []
    for _ in range(2):
        email = f"m-{new_id().lower()}@{org.slug}.test"
        made = client.post("/api/v1/staff", headers=org.headers,
                           json={"email": email, "role": "cashier", "password": PASSWORD})
        assert made.status_code == 201, made.text
        emails.append(email)
    key = new_id()
    a, b = (_post(client, "/api/v1/auth/token", key, {"email": e, "password": PASSWORD})
            for e in emails)
    assert a.status_code == b.status_code == 200, b.text
    assert "Idempotent-Replayed" not in b.headers
    assert a.json()["access_token"] != b.json()["access_token"]
    again = _post(client, "/api/v1/auth/token", key, {"email": emails[0], "password": PASSWORD})
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert again.json() == a.json()


# -- answers kept for replay are sealed --------------------------------------------------------

def _twice(client: TestClient, path: str, body: dict[str, Any],
           headers: dict[str, str] | None = None) -> httpx.Response:
    """POST with an Idempotency-Key, then again: the replay must be the identical answer."""
    key = f"sealed-{new_id()}"
    first = _post(client, path, key, body, headers)
    again = _post(client, path, key, body, headers)
    assert first.status_code < 300, first.text
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert (again.status_code, again.content) == (first.status_code, first.content)
    return first


def _assert_nowhere(db: Database, *secrets: str) -> None:
    dump = stored_text(db)
    for secret in secrets:
        assert len(secret) >= 8
        assert secret not in dump, f"{secret[:12]}... is stored in plain text"


def test_no_secret_in_a_replayable_answer_is_stored_in_plain_text(
    client: TestClient, db: Database, org: Org
) -> None:
    from tests.conftest import PASSWORD

    key = _twice(client, "/api/v1/api-keys", {"name": "sealed", "scopes": ["staff:read"]},
                 org.headers).json()["key"]
    email = f"m-{new_id().lower()}@{org.slug}.test"
    invite = _twice(client, "/api/v1/staff", {"email": email, "role": "cashier", "invite": True},
                    org.headers).json()["invite_token"]
    staff = _post(client, "/api/v1/staff", new_id(), {
        "email": f"s-{new_id().lower()}@{org.slug}.test", "role": "cashier",
        "password": PASSWORD}, org.headers).json()
    pair = _twice(client, "/api/v1/auth/token",
                  {"email": staff["email"], "password": PASSWORD}).json()
    refreshed = _twice(client, "/api/v1/auth/refresh",
                       {"refresh_token": pair["refresh_token"]}).json()
    card = _twice(client, "/api/v1/gift-cards", {"initial_balance": "25.00", "currency": "USD"},
                  org.headers).json()["code"]
    shopper = sign_up(client, org.slug)
    customer_token = _twice(client, store_url(org.slug, "/auth/token"), {
        "email": shopper["email"], "password": SHOPPER_PASSWORD}).json()["access_token"]
    _assert_nowhere(db, key.split("_", 2)[2], invite.split("_", 2)[2],
                    pair["access_token"], pair["refresh_token"].split("_", 2)[2],
                    refreshed["access_token"], refreshed["refresh_token"].split("_", 2)[2],
                    card, card.replace("-", ""), customer_token)
