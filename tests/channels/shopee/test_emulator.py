"""The Shopee emulator speaks the Open Platform's protocol: signed query, 5-minute timestamps,
Shopee's error bodies, token pairs that are spent on refresh, page and window limits, one item
per stock update, rate limiting, and signed pushes."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.channels.shopee.helpers import PARTNER_ID, PARTNER_KEY, SHOP_ID, push_auth, sign

ACCESS, REFRESH = "emulator-test-access", "emulator-test-refresh"


@pytest.fixture
def shopee() -> Any:
    from mercato_emulators.shopee import ShopeeEmulator

    return ShopeeEmulator(partner_id=PARTNER_ID, partner_key=PARTNER_KEY, shop_id=SHOP_ID,
                          access_token=ACCESS, refresh_token=REFRESH)


@pytest.fixture
def api(shopee: Any) -> TestClient:
    from mercato_emulators.shopee import create_app

    return TestClient(create_app(shopee))


def shop_query(path: str, *, token: str = ACCESS, stamp: int | None = None,
               key: str = PARTNER_KEY) -> dict[str, Any]:
    stamp = int(time.time()) if stamp is None else stamp
    return {"partner_id": PARTNER_ID, "timestamp": stamp, "access_token": token,
            "shop_id": SHOP_ID, "sign": sign(PARTNER_ID, path, stamp, token, SHOP_ID, key=key)}


def call(api: TestClient, method: str, path: str, *, params: dict[str, Any] | None = None,
         body: Any = None, **query: Any) -> Any:
    return api.request(method, path, params={**shop_query(path, **query), **(params or {})},
                       json=body)


ITEMS = "/api/v2/product/get_item_list"


def test_a_signed_call_answers_in_shopees_envelope(api: TestClient, shopee: Any) -> None:
    shopee.add_item("Bolt", models=[{"sku": "SKU-1", "stock": 3}])
    answer = call(api, "GET", ITEMS, params={"offset": 0, "page_size": 10,
                                             "item_status": "NORMAL"})
    assert answer.status_code == 200
    body = answer.json()
    assert body["error"] == ""
    assert body["message"] == ""
    assert body["request_id"]
    assert [i["item_status"] for i in body["response"]["item"]] == ["NORMAL"]


def test_a_wrong_sign_and_a_stale_timestamp_are_refused_with_shopees_errors(
        api: TestClient) -> None:
    params = {"offset": 0, "page_size": 10, "item_status": "NORMAL"}
    wrong = call(api, "GET", ITEMS, params=params, key="not-the-partner-key")
    assert wrong.status_code == 403
    assert (wrong.json()["error"], wrong.json()["message"]) == ("error_sign", "Wrong sign.")
    stale = call(api, "GET", ITEMS, params=params, stamp=int(time.time()) - 301)
    assert stale.status_code == 400
    assert (stale.json()["error"], stale.json()["message"]) == ("error_param",
                                                                "Invalid timestamp")
    assert call(api, "GET", ITEMS, params=params,
                stamp=int(time.time()) - 280).status_code == 200


def test_an_expired_access_token_is_refused_and_a_refresh_spends_the_refresh_token(
        api: TestClient, shopee: Any) -> None:
    shopee.expire_tokens()
    params = {"offset": 0, "page_size": 10, "item_status": "NORMAL"}
    refused = call(api, "GET", ITEMS, params=params)
    assert refused.status_code == 403
    assert refused.json()["error"] == "invalid_acceess_token"
    path, stamp = "/api/v2/auth/access_token/get", int(time.time())
    public = {"partner_id": PARTNER_ID, "timestamp": stamp,
              "sign": sign(PARTNER_ID, path, stamp)}
    body = {"refresh_token": REFRESH, "partner_id": int(PARTNER_ID), "shop_id": int(SHOP_ID)}
    renewed = api.post(path, params=public, json=body)
    assert renewed.status_code == 200, renewed.text
    pair = renewed.json()
    assert pair["expire_in"] == 14400
    assert pair["refresh_token"] != REFRESH
    assert call(api, "GET", ITEMS, params=params, token=pair["access_token"]).status_code == 200
    spent = api.post(path, params=public, json=body)
    assert spent.status_code == 403
    assert spent.json()["error"] == "error_auth"
    shopee.expire_refresh_tokens()
    expired = api.post(path, params=public, json={**body, "refresh_token": pair["refresh_token"]})
    assert expired.json()["error"] == "refresh_token_expired"


def test_page_sizes_windows_and_one_item_per_stock_update_are_enforced(
        api: TestClient, shopee: Any) -> None:
    too_big = call(api, "GET", ITEMS, params={"offset": 0, "page_size": 101,
                                              "item_status": "NORMAL"})
    assert too_big.status_code == 400
    assert too_big.json()["error"] == "error_param"
    now = int(time.time())
    window = call(api, "GET", "/api/v2/order/get_order_list", params={
        "time_range_field": "update_time", "time_from": now - 16 * 86400, "time_to": now,
        "page_size": 10})
    assert window.json()["error"] == "error_param"
    made = shopee.add_item("Two", item_sku="PARENT", models=[{"sku": "A"}, {"sku": "B"}])
    two = call(api, "POST", "/api/v2/product/update_stock", body={
        "item_id": [made["item_id"], made["item_id"]], "stock_list": [
            {"model_id": 0, "seller_stock": [{"stock": 1}]}]})
    assert two.json()["error"] == "error_param"
    models = [m["model_id"] for m in made["models"]]
    done = call(api, "POST", "/api/v2/product/update_stock", body={
        "item_id": made["item_id"], "stock_list": [
            {"model_id": models[0], "seller_stock": [{"stock": 4}]},
            {"model_id": models[1], "seller_stock": [{"stock": 2}]}]})
    assert done.json()["response"]["failure_list"] == []
    assert shopee.stock_by_sku() == {"A": 4, "B": 2}


def test_calls_past_the_rate_are_throttled(api: TestClient, shopee: Any) -> None:
    shopee.rate_per_second = 2.0
    shopee._allowance = 2.0
    params = {"offset": 0, "page_size": 10, "item_status": "NORMAL"}
    answers = [call(api, "GET", ITEMS, params=params) for _ in range(4)]
    assert [a.status_code for a in answers].count(429) >= 1
    throttled = next(a for a in answers if a.status_code == 429)
    assert throttled.json()["error"] == "error_too_many_request"


def test_an_order_is_pushed_signed_and_its_cancellation_too(shopee: Any) -> None:
    shopee.add_item("Bolt", models=[{"sku": "SKU-9", "stock": 3}])
    received: list[tuple[str, bytes]] = []
    shopee.callback_url = "https://shop.example/webhooks/shopee/s"

    def capture(url: str, body: bytes, *, tamper: bool = False) -> tuple[int, str]:
        received.append((shopee.signed_push(url, body)["Authorization"], body))
        return 200, ""

    shopee.send_push = capture
    order = shopee.place_order([{"sku": "SKU-9", "quantity": 2}])
    assert shopee.stock("SKU-9") == 1
    shopee.cancel_on_shopee(order["order_sn"])
    assert shopee.stock("SKU-9") == 3
    statuses = []
    for signature, body in received:
        assert signature == push_auth(shopee.callback_url, body)
        push = json.loads(body)
        assert push["code"] == 3
        assert str(push["shop_id"]) == SHOP_ID
        statuses.append(push["data"]["status"])
    assert statuses == ["READY_TO_SHIP", "CANCELLED"]


def test_the_control_routes_sell_cancel_and_show_stock(api: TestClient, shopee: Any) -> None:
    made = api.post("/_emulator/items", json={"name": "Slab", "models": [
        {"sku": "SLAB-1", "stock": 2, "price": "99.00"}]})
    assert made.status_code == 201
    order = api.post("/_emulator/orders", json={"lines": [{"sku": "SLAB-1", "quantity": 1}],
                                                "buyer": "collector"})
    assert order.status_code == 201, order.text
    assert order.json()["buyer_username"] == "collector"
    assert api.get("/_emulator/stock").json() == {"SLAB-1": 1}
    cancelled = api.post(f"/_emulator/orders/{order.json()['order_sn']}/cancel")
    assert cancelled.json()["order_status"] == "CANCELLED"
    assert api.get("/_emulator/stock").json() == {"SLAB-1": 2}
    too_many = api.post("/_emulator/orders", json={"lines": [{"sku": "SLAB-1", "quantity": 3}]})
    assert too_many.status_code == 400
