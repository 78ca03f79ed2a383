"""The TikTok Shop emulator speaks TikTok's protocol: signed calls checked exactly (TikTok's
own codes and envelope), stale timestamps, unknown and expired tokens, page sizes, the rate
limit, token rotation on refresh, and signed webhooks. Signatures here are the test's own."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.channels.tiktok.helpers import (
    APP_KEY,
    APP_SECRET,
    SHOP_CIPHER,
    WAREHOUSE,
    request_sign,
    webhook_sign,
)

SEARCH = "/product/202309/products/search"


def emulator(**options: Any) -> tuple[Any, TestClient]:
    from mercato_emulators.tiktok import TiktokEmulator, create_app

    state = TiktokEmulator(app_key=APP_KEY, app_secret=APP_SECRET, access_token="TTP_access",
                           refresh_token="TTP_refresh", shop_cipher=SHOP_CIPHER, **options)
    return state, TestClient(create_app(state))


@pytest.fixture(scope="module")
def tts() -> Iterator[tuple[Any, TestClient]]:
    state, http = emulator()
    state.add_product("Pikachu", [{"seller_sku": "PIKA-NM", "quantity": 4, "price": "3.50"}])
    with http:
        yield state, http


def call(http: TestClient, method: str, path: str, params: dict[str, str] | None = None,
         body: Any = None, *, token: str = "TTP_access", skew: int = 0,
         tamper: bool = False) -> Any:
    query = {"app_key": APP_KEY, "timestamp": str(int(time.time()) + skew),
             "shop_cipher": SHOP_CIPHER, **(params or {})}
    content = json.dumps(body).encode() if body is not None else b""
    query["sign"] = request_sign(path, query, b"" if method == "GET" else content)
    if tamper:
        query["sign"] = query["sign"][:-1] + ("0" if query["sign"][-1] != "0" else "1")
    return http.request(method, path, params=query, content=content or None,
                        headers={"x-tts-access-token": token,
                                 "Content-Type": "application/json"})


def test_a_signed_call_answers_in_tiktoks_envelope(tts: tuple[Any, TestClient]) -> None:
    _, http = tts
    response = call(http, "POST", SEARCH, {"page_size": "10"}, {"status": "ALL"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["code"], body["message"]) == (0, "Success")
    assert body["request_id"]
    [product] = body["data"]["products"]
    [sku] = product["skus"]
    assert sku["seller_sku"] == "PIKA-NM"
    assert sku["inventory"] == [{"warehouse_id": "7068517275539719942", "quantity": 4}]
    assert body["data"]["total_count"] == 1
    assert body["data"]["next_page_token"] == ""


def test_a_bad_signature_is_refused_with_106001(tts: tuple[Any, TestClient]) -> None:
    _, http = tts
    response = call(http, "POST", SEARCH, {"page_size": "10"}, {"status": "ALL"}, tamper=True)
    assert response.status_code == 401
    body = response.json()
    assert body["code"] == 106001
    assert "`sign`" in body["message"]
    assert set(body) == {"code", "message", "request_id", "data"}
    # a body other than the one signed is refused too
    query = {"app_key": APP_KEY, "timestamp": str(int(time.time())), "shop_cipher": SHOP_CIPHER,
             "page_size": "10"}
    query["sign"] = request_sign(SEARCH, query, b'{"status":"ALL"}')
    other = http.post(SEARCH, params=query, content=b'{"status":"ACTIVATE"}',
                      headers={"x-tts-access-token": "TTP_access"})
    assert other.json()["code"] == 106001


def test_a_timestamp_more_than_five_minutes_off_is_refused(
        tts: tuple[Any, TestClient]) -> None:
    _, http = tts
    for skew in (-301, 400):
        body = call(http, "POST", SEARCH, {"page_size": "10"}, {}, skew=skew).json()
        assert body["code"] == 36009004
        assert "timestamp" in body["message"]
    assert call(http, "POST", SEARCH, {"page_size": "10"}, {}, skew=-200).json()["code"] == 0


def test_page_size_must_be_1_to_100(tts: tuple[Any, TestClient]) -> None:
    _, http = tts
    for size in ("0", "101", ""):
        response = call(http, "POST", "/order/202309/orders/search",
                        {"page_size": size} if size else {}, {})
        assert (response.status_code, response.json()["code"]) == (400, 36009004)
        assert "page_size" in response.json()["message"]
    assert call(http, "POST", "/order/202309/orders/search", {"page_size": "100"},
                {}).json()["code"] == 0


def test_unknown_and_expired_tokens_and_a_missing_shop_cipher(
        tts: tuple[Any, TestClient]) -> None:
    state, http = tts
    unknown = call(http, "POST", SEARCH, {"page_size": "5"}, {}, token="TTP_nope").json()
    assert unknown["code"] == 36009004
    assert "x-tts-access-token" in unknown["message"]
    state.access_tokens["TTP_old"] = state.now() - 1
    expired = call(http, "POST", SEARCH, {"page_size": "5"}, {}, token="TTP_old").json()
    assert expired["code"] == 105002
    query = {"app_key": APP_KEY, "timestamp": str(int(time.time())), "page_size": "5"}
    query["sign"] = request_sign(SEARCH, query, b"{}")
    missing = http.post(SEARCH, params=query, content=b"{}",
                        headers={"x-tts-access-token": "TTP_access"}).json()
    assert missing["code"] == 106013


def test_refresh_rotates_the_pair_and_spends_the_old_refresh_token() -> None:
    state, http = emulator(token_lifetime=60)
    params = {"app_key": APP_KEY, "app_secret": APP_SECRET, "refresh_token": "TTP_refresh",
              "grant_type": "refresh_token"}
    first = http.get("/api/v2/token/refresh", params=params).json()
    assert first["code"] == 0
    data = first["data"]
    assert data["access_token"] != "TTP_access"
    assert data["refresh_token"] != "TTP_refresh"
    assert abs(data["access_token_expire_in"] - (time.time() + 60)) < 5  # a unix time
    again = http.get("/api/v2/token/refresh", params=params).json()
    assert again["code"] != 0
    assert "refresh_token" in again["message"]
    assert call(http, "POST", SEARCH, {"page_size": "1"}, {},
                token=data["access_token"]).json()["code"] == 0
    state.advance(61)
    assert call(http, "POST", SEARCH, {"page_size": "1"}, {}, skew=61,
                token=data["access_token"]).json()["code"] == 105002


def test_calls_over_the_rate_are_refused_with_429() -> None:
    _, http = emulator(rate_per_second=1.0, burst=2)
    answers = [call(http, "POST", SEARCH, {"page_size": "1"}, {}) for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 429]
    assert answers[2].json()["code"] == 36009002


def test_an_order_takes_units_and_its_webhook_is_signed_as_documented(
        tts: tuple[Any, TestClient]) -> None:
    state, http = tts
    placed = http.post("/_emulator/orders", json={
        "lines": [{"seller_sku": "PIKA-NM", "quantity": 2}]})
    assert placed.status_code == 201, placed.text
    order = placed.json()
    assert len(order["line_items"]) == 2  # one line item per unit
    assert http.get("/_emulator/inventory").json()["PIKA-NM"] == {WAREHOUSE: 2}
    body = state.webhook(1, {"order_id": order["id"], "order_status": "AWAITING_SHIPMENT"})
    payload = json.loads(body)
    assert set(payload) == {"type", "tts_notification_id", "shop_id", "timestamp", "data"}
    from mercato_emulators.tiktok.server import webhook_signature

    assert webhook_signature(APP_KEY, APP_SECRET, body) == webhook_sign(body)
    cancelled = http.post(f"/_emulator/orders/{order['id']}/cancel").json()
    assert cancelled["status"] == "CANCELLED"
    assert http.get("/_emulator/inventory").json()["PIKA-NM"] == {WAREHOUSE: 4}


def test_an_inventory_update_must_name_every_warehouse_of_a_multi_warehouse_sku() -> None:
    state, http = emulator(warehouses=("W1", "W2"))
    product = state.add_product("Slab", [{"seller_sku": "SLAB", "quantity": 1,
                                          "warehouse_ids": ["W1", "W2"]}])
    path = f"/product/202309/products/{product['id']}/inventory/update"
    sku_id = product["skus"][0]["id"]
    one = call(http, "POST", path, body={"skus": [{"id": sku_id, "inventory": [
        {"warehouse_id": "W1", "quantity": 3}]}]}).json()
    assert one["code"] == 12019028
    both = call(http, "POST", path, body={"skus": [{"id": sku_id, "inventory": [
        {"warehouse_id": "W1", "quantity": 3}, {"warehouse_id": "W2", "quantity": 0}]}]})
    assert both.json()["code"] == 0
    assert state.quantities()["SLAB"] == {"W1": 3, "W2": 0}
