"""The SP-API emulator speaks Amazon's protocol: Login with Amazon's refresh-token grant,
403 ``Unauthorized`` for a missing, unknown or expired access token, per-operation token
buckets answering 429 ``QuotaExceeded`` with ``x-amzn-RateLimit-Limit`` on every answer,
``MaxResultsPerPage`` at most 100 with ``NextToken`` pages, feeds processed asynchronously
message by message, and the buyer's side under ``/_emulator``."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.channels.amazon.helpers import CLIENT_ID, CLIENT_SECRET, REFRESH_TOKEN, SELLER

LISTING = f"/listings/2021-08-01/items/{SELLER}"


@pytest.fixture(scope="module")
def amazon() -> Iterator[tuple[Any, TestClient]]:
    from mercato_emulators.amazon import AmazonEmulator, create_app

    state = AmazonEmulator(client_id=CLIENT_ID, client_secret=CLIENT_SECRET,
                           refresh_token=REFRESH_TOKEN, seller_id=SELLER, feed_delay=0.2,
                           rates={"getOrders": (50.0, 50.0), "createFeed": (5.0, 15.0)})
    with TestClient(create_app(state)) as http:
        yield state, http


def token(http: TestClient, **form: str) -> Any:
    return http.post("/auth/o2/token", data={
        "grant_type": "refresh_token", "refresh_token": REFRESH_TOKEN,
        "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, **form})


def headers(http: TestClient) -> dict[str, str]:
    return {"x-amz-access-token": token(http).json()["access_token"]}


def test_login_with_amazon_mints_an_hour_long_token_and_refuses_a_bad_client_or_grant(
        amazon: tuple[Any, TestClient]) -> None:
    _, http = amazon
    good = token(http)
    assert good.status_code == 200
    assert good.json()["access_token"].startswith("Atza|")
    assert (good.json()["token_type"], good.json()["expires_in"]) == ("bearer", 3600)
    bad_client = token(http, client_secret="wrong")
    assert (bad_client.status_code, bad_client.json()["error"]) == (401, "invalid_client")
    bad_grant = token(http, refresh_token="Atzr|someone-else")
    assert (bad_grant.status_code, bad_grant.json()["error"]) == (400, "invalid_grant")


def test_a_missing_unknown_or_expired_access_token_is_403_unauthorized(
        amazon: tuple[Any, TestClient]) -> None:
    state, http = amazon
    state.add_listing("EMU-AUTH", quantity=1)
    path = f"{LISTING}/EMU-AUTH?marketplaceIds=ATVPDKIKX0DER"
    missing = http.get(path)
    assert missing.status_code == 403
    assert missing.json()["errors"][0]["code"] == "Unauthorized"
    unknown = http.get(path, headers={"x-amz-access-token": "Atza|forged"})
    assert "revoked, malformed or invalid" in unknown.json()["errors"][0]["details"]
    fresh = headers(http)
    assert http.get(path, headers=fresh).status_code == 200
    state.expire_tokens()
    expired = http.get(path, headers=fresh)
    assert expired.status_code == 403
    assert expired.json()["errors"][0] == {
        "code": "Unauthorized", "message": "Access to requested resource is denied.",
        "details": "The access token you provided has expired."}


def test_tokens_expire_after_the_configured_lifetime(amazon: tuple[Any, TestClient]) -> None:
    state, http = amazon
    state.add_listing("EMU-LIFE", quantity=1)
    state.token_lifetime = 1
    try:
        fresh = headers(http)
    finally:
        state.token_lifetime = 3600
    path = f"{LISTING}/EMU-LIFE?marketplaceIds=ATVPDKIKX0DER"
    assert http.get(path, headers=fresh).status_code == 200
    time.sleep(1.05)
    assert http.get(path, headers=fresh).json()["errors"][0]["details"] \
        == "The access token you provided has expired."


def test_each_operation_has_its_bucket_and_every_answer_its_rate_header(
        amazon: tuple[Any, TestClient]) -> None:
    state, http = amazon
    state.add_listing("EMU-RATE", quantity=1)
    auth = headers(http)
    body = {"productType": "PRODUCT", "patches": [{
        "op": "merge", "path": "/attributes/fulfillment_availability",
        "value": [{"fulfillment_channel_code": "DEFAULT", "quantity": 3}]}]}
    answers = [http.patch(f"{LISTING}/EMU-RATE?marketplaceIds=ATVPDKIKX0DER", json=body,
                          headers=auth) for _ in range(7)]
    assert all(a.headers["x-amzn-RateLimit-Limit"] == "5" for a in answers)
    statuses = [a.status_code for a in answers]
    assert statuses[:5] == [200] * 5
    assert 429 in statuses[5:]
    throttled = next(a for a in answers if a.status_code == 429)
    assert throttled.json()["errors"][0]["code"] == "QuotaExceeded"
    # another operation's bucket is untouched
    assert http.get(f"{LISTING}/EMU-RATE?marketplaceIds=ATVPDKIKX0DER",
                    headers=auth).status_code == 200
    assert state.quantity("EMU-RATE") == 3
    state.buckets.clear()  # full buckets again for the module's other tests


def test_a_patch_answers_accepted_or_invalid_with_issues(
        amazon: tuple[Any, TestClient]) -> None:
    state, http = amazon
    state.add_listing("EMU-PATCH", quantity=1, price="5.00")
    auth = headers(http)
    good = http.patch(f"{LISTING}/EMU-PATCH?marketplaceIds=ATVPDKIKX0DER", headers=auth, json={
        "productType": "PRODUCT", "patches": [{
            "op": "merge", "path": "/attributes/purchasable_offer",
            "value": [{"marketplace_id": "ATVPDKIKX0DER", "currency": "USD",
                       "our_price": [{"schedule": [{"value_with_tax": 6.5}]}]}]}]}).json()
    assert (good["sku"], good["status"], good["issues"]) == ("EMU-PATCH", "ACCEPTED", [])
    assert good["submissionId"]
    assert state.listings["EMU-PATCH"]["price"] == "6.50"
    unknown = http.patch(f"{LISTING}/NOPE?marketplaceIds=ATVPDKIKX0DER", headers=auth, json={
        "productType": "PRODUCT", "patches": [{"op": "merge", "path":
                                               "/attributes/fulfillment_availability",
                                               "value": []}]}).json()
    assert unknown["status"] == "INVALID"
    assert unknown["issues"][0]["severity"] == "ERROR"
    other = http.get("/listings/2021-08-01/items/A9OTHERSELLER/EMU-PATCH?marketplaceIds="
                     "ATVPDKIKX0DER", headers=auth)
    assert other.status_code == 403


def test_orders_come_at_most_100_a_page_through_next_token(
        amazon: tuple[Any, TestClient]) -> None:
    state, http = amazon
    state.add_listing("EMU-ORDER", quantity=10, price="4.00")
    made = [state.place_order([{"sku": "EMU-ORDER", "quantity": 1}]) for _ in range(3)]
    assert all(len(o["AmazonOrderId"]) == 19 and o["AmazonOrderId"][3] == "-" for o in made)
    assert state.quantities()["EMU-ORDER"] == 7
    auth = headers(http)
    too_many = http.get("/orders/v0/orders", headers=auth, params={
        "MarketplaceIds": "ATVPDKIKX0DER", "LastUpdatedAfter": "2000-01-01T00:00:00Z",
        "MaxResultsPerPage": 101})
    assert too_many.status_code == 400
    assert too_many.json()["errors"][0]["code"] == "InvalidInput"
    seen: list[str] = []
    params: dict[str, Any] = {"MarketplaceIds": "ATVPDKIKX0DER",
                              "LastUpdatedAfter": "2000-01-01T00:00:00Z",
                              "MaxResultsPerPage": 2}
    while True:
        payload = http.get("/orders/v0/orders", headers=auth, params=params).json()["payload"]
        seen += [o["AmazonOrderId"] for o in payload["Orders"]]
        if not payload.get("NextToken"):
            break
        params = {"MarketplaceIds": "ATVPDKIKX0DER", "NextToken": payload["NextToken"]}
    assert {o["AmazonOrderId"] for o in made} <= set(seen)
    assert len(seen) == len(set(seen))
    items = http.get(f"/orders/v0/orders/{made[0]['AmazonOrderId']}/orderItems",
                     headers=auth).json()["payload"]["OrderItems"]
    assert (items[0]["SellerSKU"], items[0]["QuantityOrdered"]) == ("EMU-ORDER", 1)
    assert made[0]["BuyerInfo"]["BuyerEmail"].endswith("@marketplace.amazon.com")


def test_a_listings_feed_runs_asynchronously_and_reports_each_message(
        amazon: tuple[Any, TestClient]) -> None:
    state, http = amazon
    state.add_listing("EMU-FEED-1", quantity=0)
    auth = headers(http)
    doc = http.post("/feeds/2021-06-30/documents", headers=auth,
                    json={"contentType": "application/json; charset=UTF-8"})
    assert doc.status_code == 201
    content = {"header": {"sellerId": SELLER, "version": "2.0"}, "messages": [
        {"messageId": 1, "sku": "EMU-FEED-1", "operationType": "PATCH", "productType":
         "PRODUCT", "patches": [{"op": "merge", "path": "/attributes/fulfillment_availability",
                                 "value": [{"fulfillment_channel_code": "DEFAULT",
                                            "quantity": 8}]}]},
        {"messageId": 2, "sku": "EMU-FEED-MISSING", "operationType": "PATCH",
         "productType": "PRODUCT", "patches": []}]}
    url = doc.json()["url"].replace(str(http.base_url).rstrip("/"), "")
    assert http.put(url, content=json.dumps(content)).status_code == 200
    feed = http.post("/feeds/2021-06-30/feeds", headers=auth, json={
        "feedType": "JSON_LISTINGS_FEED", "marketplaceIds": ["ATVPDKIKX0DER"],
        "inputFeedDocumentId": doc.json()["feedDocumentId"]})
    assert feed.status_code == 202
    feed_id = feed.json()["feedId"]
    seen = [http.get(f"/feeds/2021-06-30/feeds/{feed_id}", headers=auth).json()
            ["processingStatus"]]
    assert seen == ["IN_QUEUE"]
    assert state.quantity("EMU-FEED-1") == 0  # nothing applied yet
    deadline = time.monotonic() + 5
    while seen[-1] != "DONE" and time.monotonic() < deadline:
        time.sleep(0.05)
        seen.append(http.get(f"/feeds/2021-06-30/feeds/{feed_id}", headers=auth).json()
                    ["processingStatus"])
    assert "IN_PROGRESS" in seen
    assert seen[-1] == "DONE"
    assert state.quantity("EMU-FEED-1") == 8
    done = http.get(f"/feeds/2021-06-30/feeds/{feed_id}", headers=auth).json()
    result = http.get(f"/feeds/2021-06-30/documents/{done['resultFeedDocumentId']}",
                      headers=auth).json()
    report = http.get(result["url"].replace(str(http.base_url).rstrip("/"), "")).json()
    assert report["summary"]["messagesAccepted"] == 1
    assert report["summary"]["messagesInvalid"] == 1
    assert {i["messageId"] for i in report["issues"]} == {2}


def test_the_buyer_side_orders_cancels_and_shows_quantities(
        amazon: tuple[Any, TestClient]) -> None:
    _state, http = amazon
    http.post("/_emulator/listings", json={"sku": "EMU-BUY", "quantity": 4})
    made = http.post("/_emulator/orders", json={"lines": [{"sku": "EMU-BUY", "quantity": 3}]})
    assert made.status_code == 201
    assert http.get("/_emulator/quantities").json()["EMU-BUY"] == 1
    cancelled = http.post(f"/_emulator/orders/{made.json()['AmazonOrderId']}/cancel").json()
    assert cancelled["OrderStatus"] == "Canceled"
    assert http.get("/_emulator/quantities").json()["EMU-BUY"] == 4
