"""The TCGplayer emulator keeps TCGplayer's protocol: client-credential tokens that expire,
single-use store authorization codes, the envelope, page and id limits, a rate limit, and
store endpoints guarded by the store's access token."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from mercato_emulators.tcgplayer import TcgplayerEmulator, create_app
from tests.channels.tcgplayer.helpers import PRIVATE_KEY, PUBLIC_KEY

STORE = "card-store"


@pytest.fixture
def emulator() -> TcgplayerEmulator:
    return TcgplayerEmulator(public_key=PUBLIC_KEY, private_key=PRIVATE_KEY, store_key=STORE,
                             authorization_code="AB12CD")


@pytest.fixture
def http(emulator: TcgplayerEmulator) -> TestClient:
    return TestClient(create_app(emulator))


def token(http: TestClient, secret: str = PRIVATE_KEY) -> Any:
    return http.post("/token", data={"grant_type": "client_credentials",
                                     "client_id": PUBLIC_KEY, "client_secret": secret})


def bearer(http: TestClient) -> dict[str, str]:
    return {"Authorization": f"bearer {token(http).json()['access_token']}"}


def store_headers(http: TestClient) -> dict[str, str]:
    headers = bearer(http)
    answer = http.post("/v1.39.0/app/authorize/AB12CD", headers=headers).json()
    return {**headers, "X-Tcg-Access-Token": answer["results"][0]["accessToken"]}


def test_client_credentials_give_a_bearer_token_and_wrong_keys_are_invalid_client(
        http: TestClient) -> None:
    answer = token(http)
    assert answer.status_code == 200
    body = answer.json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] > 0
    assert {"access_token", "userName", ".issued", ".expires"} <= set(body)
    refused = token(http, "not-the-private-key")
    assert (refused.status_code, refused.json()) == (400, {"error": "invalid_client"})


def test_calls_without_a_valid_bearer_token_are_denied_and_an_expired_one_too(
        http: TestClient, emulator: TcgplayerEmulator) -> None:
    assert http.get("/catalog/categories").status_code == 401
    headers = bearer(http)
    assert http.get("/v1.39.0/catalog/categories", headers=headers).status_code == 200
    emulator.expire_tokens()
    denied = http.get("/v1.39.0/catalog/categories", headers=headers)
    assert denied.status_code == 401
    assert denied.json() == {"message": "Authorization has been denied for this request."}


def test_an_authorization_code_is_exchanged_once(http: TestClient) -> None:
    headers = bearer(http)
    first = http.post("/app/authorize/AB12CD", headers=headers)
    assert first.status_code == 200
    assert first.json()["success"] is True
    assert first.json()["results"][0]["accessToken"]
    again = http.post("/app/authorize/AB12CD", headers=headers)
    assert again.status_code == 400
    assert again.json()["success"] is False


def test_more_than_250_ids_and_pages_over_100_are_refused(http: TestClient) -> None:
    headers = bearer(http)
    ids = ",".join(str(100_001 + i) for i in range(251))
    too_many = http.get(f"/pricing/sku/{ids}", headers=headers)
    assert too_many.status_code == 400
    assert "250" in too_many.json()["errors"][0]
    ids = ",".join(str(100_001 + i) for i in range(250))
    assert http.get(f"/pricing/sku/{ids}", headers=headers).status_code == 200
    big = http.get("/catalog/products", headers=headers, params={"limit": 101})
    assert big.status_code == 400
    assert big.json()["success"] is False
    page = http.get("/catalog/products", headers=headers, params={"limit": 100}).json()
    assert page["totalItems"] == 4
    assert len(page["results"]) == 4


def test_over_the_rate_the_answer_is_429_with_retry_after(
        http: TestClient, emulator: TcgplayerEmulator) -> None:
    headers = bearer(http)
    emulator.throttle(rate_per_second=2)
    statuses = [http.get("/catalog/categories", headers=headers).status_code
                for _ in range(6)]
    assert 429 in statuses
    assert statuses[0] == 200
    refused = http.get("/catalog/categories", headers=headers)
    assert refused.status_code == 429
    assert float(refused.headers["Retry-After"]) > 0


def test_store_endpoints_need_the_store_token_and_a_sale_takes_units_off_the_listing(
        http: TestClient, emulator: TcgplayerEmulator) -> None:
    sku = emulator.find_sku(500_001)
    path = f"/stores/{STORE}/inventory/skus/{sku}"
    assert http.put(path, headers=bearer(http), json={"quantity": 3}).status_code == 403
    headers = store_headers(http)
    assert http.put(f"/stores/other/inventory/skus/{sku}", headers=headers,
                    json={"quantity": 3}).status_code == 403
    put = http.put(path, headers=headers, json={"skuId": sku, "quantity": 3})
    assert put.json()["results"][0]["quantity"] == 3
    assert http.put(path, headers=headers, json={"quantity": -1}).status_code == 400
    assert http.put(f"/stores/{STORE}/inventory/skus/999", headers=headers,
                    json={"quantity": 1}).status_code == 404
    order = emulator.place_order([{"skuId": sku, "quantity": 2, "price": "1.50"}])
    assert emulator.listing(sku) == {"quantity": 1, "price": None}
    found = http.get(f"/stores/{STORE}/orders", headers=headers,
                     params={"limit": 100}).json()
    assert found["results"] == [order["orderNumber"]]
    items = http.get(f"/stores/{STORE}/orders/{order['orderNumber']}/items",
                     headers=headers).json()["results"]
    assert [(i["skuId"], i["quantity"]) for i in items] == [(sku, 2)]
