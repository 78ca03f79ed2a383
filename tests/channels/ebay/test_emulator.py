"""The eBay emulator enforces eBay's protocol: Basic-auth OAuth and its grants, expiring
tokens with eBay's 401 body, Content-Language on inventory items, at most 25 parts in a bulk
update answered 207 when one fails, the daily revision limit, at most 200 orders a page."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.channels.ebay.helpers import CLIENT_ID, CLIENT_SECRET, REFRESH_TOKEN, EbayServer

BASIC = "Basic " + base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
SCOPES = ("https://api.ebay.com/oauth/api_scope/sell.inventory "
          "https://api.ebay.com/oauth/api_scope/sell.fulfillment")
ITEM = {"availability": {"shipToLocationAvailability": {"quantity": 5}},
        "condition": "USED_VERY_GOOD",
        "conditionDescriptors": [{"name": "40001", "values": ["400010"]}],
        "product": {"title": "Sheoldred, the Apocalypse", "aspects": {"Game": ["Magic"]}}}


@pytest.fixture
def ebay() -> Iterator[EbayServer]:
    with EbayServer(revision_limit=3) as server:
        yield server


def token(server: EbayServer) -> str:
    response = httpx.post(f"{server.url}/identity/v1/oauth2/token", headers={
        "Authorization": BASIC}, data={"grant_type": "refresh_token",
                                       "refresh_token": REFRESH_TOKEN, "scope": SCOPES})
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


def call(server: EbayServer, method: str, path: str, bearer: str, **kw: Any) -> httpx.Response:
    headers = {"Authorization": f"Bearer {bearer}", **kw.pop("headers", {})}
    return httpx.request(method, f"{server.url}{path}", headers=headers, **kw)


def listed(server: EbayServer, bearer: str, sku: str) -> tuple[str, str]:
    assert call(server, "PUT", f"/sell/inventory/v1/inventory_item/{sku}", bearer, json=ITEM,
                headers={"Content-Language": "en-US"}).status_code in (201, 204)
    offer = call(server, "POST", "/sell/inventory/v1/offer", bearer, json={
        "sku": sku, "marketplaceId": "EBAY_US", "format": "FIXED_PRICE",
        "categoryId": "183454", "pricingSummary": {"price": {"value": "10.00",
                                                             "currency": "USD"}}},
        headers={"Content-Language": "en-US"})
    assert offer.status_code == 201, offer.text
    offer_id = offer.json()["offerId"]
    published = call(server, "POST", f"/sell/inventory/v1/offer/{offer_id}/publish", bearer)
    assert published.status_code == 200, published.text
    return offer_id, published.json()["listingId"]


def test_the_token_endpoint_wants_basic_auth_and_a_live_refresh_token(ebay: EbayServer) -> None:
    bad = httpx.post(f"{ebay.url}/identity/v1/oauth2/token",
                     headers={"Authorization": "Basic " + base64.b64encode(b"x:y").decode()},
                     data={"grant_type": "refresh_token", "refresh_token": REFRESH_TOKEN})
    assert (bad.status_code, bad.json()["error"]) == (401, "invalid_client")
    answer = httpx.post(f"{ebay.url}/identity/v1/oauth2/token", headers={"Authorization": BASIC},
                        data={"grant_type": "refresh_token", "refresh_token": REFRESH_TOKEN,
                              "scope": SCOPES}).json()
    assert (answer["token_type"], answer["expires_in"]) == ("User Access Token", 7200)
    app = httpx.post(f"{ebay.url}/identity/v1/oauth2/token", headers={"Authorization": BASIC},
                     data={"grant_type": "client_credentials"}).json()
    assert app["token_type"] == "Application Access Token"
    ebay.state.revoke_refresh_token()
    revoked = httpx.post(f"{ebay.url}/identity/v1/oauth2/token",
                         headers={"Authorization": BASIC},
                         data={"grant_type": "refresh_token", "refresh_token": REFRESH_TOKEN})
    assert (revoked.status_code, revoked.json()["error"]) == (400, "invalid_grant")


def test_an_expired_or_missing_token_is_ebays_401(ebay: EbayServer) -> None:
    bearer = token(ebay)
    assert call(ebay, "GET", "/sell/fulfillment/v1/order", bearer).status_code == 200
    ebay.state.expire_tokens()
    refused = call(ebay, "GET", "/sell/fulfillment/v1/order", bearer)
    assert refused.status_code == 401
    assert refused.json()["errors"][0]["errorId"] == 1001
    assert refused.json()["errors"][0]["domain"] == "OAuth"
    assert httpx.get(f"{ebay.url}/sell/fulfillment/v1/order").status_code == 401


def test_an_inventory_item_needs_content_language(ebay: EbayServer) -> None:
    bearer = token(ebay)
    refused = call(ebay, "PUT", "/sell/inventory/v1/inventory_item/SKU-1", bearer, json=ITEM)
    assert refused.status_code == 400
    assert refused.json()["errors"][0]["errorId"] == 25709
    assert "SKU-1" not in ebay.state.items


def test_publishing_a_card_needs_its_condition_descriptors(ebay: EbayServer) -> None:
    bearer = token(ebay)
    item = {**ITEM, "conditionDescriptors": []}
    call(ebay, "PUT", "/sell/inventory/v1/inventory_item/SKU-2", bearer, json=item,
         headers={"Content-Language": "en-US"})
    offer = call(ebay, "POST", "/sell/inventory/v1/offer", bearer, json={
        "sku": "SKU-2", "marketplaceId": "EBAY_US", "format": "FIXED_PRICE",
        "categoryId": "183454", "pricingSummary": {"price": {"value": "1.00",
                                                             "currency": "USD"}}},
        headers={"Content-Language": "en-US"}).json()
    refused = call(ebay, "POST", f"/sell/inventory/v1/offer/{offer['offerId']}/publish", bearer)
    assert refused.status_code == 400
    assert "40001" in refused.json()["errors"][0]["message"]


def test_a_bulk_update_takes_25_and_answers_207_for_a_bad_part(ebay: EbayServer) -> None:
    bearer = token(ebay)
    offer_id, _ = listed(ebay, bearer, "SKU-3")
    too_many = call(ebay, "POST", "/sell/inventory/v1/bulk_update_price_quantity", bearer,
                    json={"requests": [{"sku": "SKU-3", "shipToLocationAvailability":
                                        {"quantity": 1}}] * 26})
    assert too_many.status_code == 400
    mixed = call(ebay, "POST", "/sell/inventory/v1/bulk_update_price_quantity", bearer,
                 json={"requests": [
                     {"sku": "SKU-3", "shipToLocationAvailability": {"quantity": 2},
                      "offers": [{"offerId": offer_id, "availableQuantity": 2}]},
                     {"sku": "NOPE", "shipToLocationAvailability": {"quantity": 2}}]})
    assert mixed.status_code == 207
    parts = {p["sku"]: p for p in mixed.json()["responses"]}
    assert parts["SKU-3"]["statusCode"] == 200
    assert parts["NOPE"]["statusCode"] == 404
    assert parts["NOPE"]["errors"]
    assert ebay.state.quantity("SKU-3") == 2


def test_a_listing_takes_at_most_its_daily_revisions(ebay: EbayServer) -> None:
    bearer = token(ebay)
    offer_id, listing = listed(ebay, bearer, "SKU-4")
    statuses = []
    for quantity in range(1, 6):
        answer = call(ebay, "POST", "/sell/inventory/v1/bulk_update_price_quantity", bearer,
                      json={"requests": [{"sku": "SKU-4", "offers": [
                          {"offerId": offer_id, "availableQuantity": quantity}]}]})
        statuses.append((answer.status_code, answer.json()["responses"][0]["statusCode"]))
    assert statuses == [(200, 200)] * 3 + [(207, 400)] * 2
    assert ebay.state.revisions_today(listing) == 3
    assert ebay.state.quantity("SKU-4") == 3
    ebay.state.advance(86_400)  # the next UTC day (the token has expired meanwhile)
    again = call(ebay, "POST", "/sell/inventory/v1/bulk_update_price_quantity", token(ebay),
                 json={"requests": [{"sku": "SKU-4", "offers": [
                     {"offerId": offer_id, "availableQuantity": 9}]}]})
    assert again.status_code == 200


def test_orders_come_at_most_200_a_page_with_a_next_link(ebay: EbayServer) -> None:
    bearer = token(ebay)
    for _ in range(3):
        ebay.state.place_order([{"sku": "ANY", "quantity": 1, "price": "2.00"}])
    assert call(ebay, "GET", "/sell/fulfillment/v1/order", bearer,
                params={"limit": 201}).status_code == 400
    window = "lastmodifieddate:[2000-01-01T00:00:00.000Z..2100-01-01T00:00:00.000Z]"
    first = call(ebay, "GET", "/sell/fulfillment/v1/order", bearer,
                 params={"limit": 2, "offset": 0, "filter": window}).json()
    assert (first["total"], len(first["orders"]), "next" in first) == (3, 2, True)
    rest = call(ebay, "GET", "/sell/fulfillment/v1/order", bearer,
                params={"limit": 2, "offset": 2, "filter": window}).json()
    assert (len(rest["orders"]), "next" in rest) == (1, False)
    empty = call(ebay, "GET", "/sell/fulfillment/v1/order", bearer, params={
        "filter": "lastmodifieddate:[2000-01-01T00:00:00.000Z..2000-01-02T00:00:00.000Z]"})
    assert empty.json()["orders"] == []


def test_throttling_is_a_429_in_ebays_shape(ebay: EbayServer) -> None:
    bearer = token(ebay)
    ebay.state.throttle(1)
    throttled = call(ebay, "GET", "/sell/fulfillment/v1/order", bearer)
    assert throttled.status_code == 429
    assert throttled.json()["errors"][0]["errorId"] == 2001
    assert call(ebay, "GET", "/sell/fulfillment/v1/order", bearer).status_code == 200


def test_the_post_order_api_wants_an_iaf_token(ebay: EbayServer) -> None:
    bearer = token(ebay)
    order = ebay.state.place_order([{"sku": "ANY", "quantity": 1}])
    body = {"legacyOrderId": order["orderId"], "cancelReason": "OUT_OF_STOCK_OR_CANNOT_FULFILL"}
    bearer_refused = call(ebay, "POST", "/post-order/v2/cancellation", bearer, json=body,
                          headers={"X-EBAY-C-MARKETPLACE-ID": "EBAY_US"})
    assert bearer_refused.status_code == 401
    done = httpx.post(f"{ebay.url}/post-order/v2/cancellation", json=body, headers={
        "Authorization": f"IAF {bearer}", "X-EBAY-C-MARKETPLACE-ID": "EBAY_US"})
    assert done.status_code == 201, done.text
    assert ebay.state.orders[order["orderId"]]["cancelStatus"]["cancelState"] == "CANCELED"
