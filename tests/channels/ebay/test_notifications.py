"""eBay's notifications at ``/webhooks/ebay/{store}``: the endpoint challenge answered with
SHA-256 of code, verification token and endpoint URL; signed POSTs verified with eBay's
public key (ECDSA), a bad signature refused and counted, each notification taken once and
answered at once; the worker then applies it: a marketplace account deletion erases that
buyer's data from the orders."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from mercato.core.db import Database
from mercato.core.outbox import Dispatcher
from tests.channels.ebay.helpers import (
    VERIFICATION,
    EbayServer,
    card,
    connect,
    connection,
    mappings,
    stock,
)
from tests.channels.helpers import order_detail, orders_of, pull_orders, settle, start_job
from tests.conftest import PUBLIC_URL, LiveServer, Org

DELETION = "MARKETPLACE_ACCOUNT_DELETION"


@pytest.fixture
def ebay() -> Iterator[EbayServer]:
    with EbayServer(verification_token=VERIFICATION) as server:
        yield server


def test_the_endpoint_challenge_is_answered_for_the_endpoint_url(
        client: TestClient, org: Org, ebay: EbayServer, live_server: LiveServer) -> None:
    path = f"/webhooks/ebay/{org.slug}"
    assert client.get(path, params={"challenge_code": "abc"}).status_code == 404
    connect(client, org, ebay, verification_token=VERIFICATION,
            webhook_url=f"{live_server.url}{path}")
    answer = ebay.state.challenge(f"{live_server.url}{path}")
    assert answer["status"] == 200
    assert answer["ok"], answer


def test_without_a_webhook_url_the_challenge_hashes_the_public_url(
        client: TestClient, org: Org, ebay: EbayServer) -> None:
    connect(client, org, ebay, verification_token=VERIFICATION)
    path = f"/webhooks/ebay/{org.slug}"
    response = client.get(path, params={"challenge_code": "c0de"})
    assert response.status_code == 200, response.text
    expected = hashlib.sha256(f"c0de{VERIFICATION}{PUBLIC_URL}{path}".encode()).hexdigest()
    assert response.json() == {"challengeResponse": expected}


def post(client: TestClient, org: Org, body: bytes, headers: dict[str, str]) -> Any:
    return client.post(f"/webhooks/ebay/{org.slug}", content=body, headers=headers)


def test_signed_notifications_are_verified_and_applied_once(
        client: TestClient, org: Org, ebay: EbayServer, live_server: LiveServer) -> None:
    url = f"{live_server.url}/webhooks/ebay/{org.slug}"
    made = connect(client, org, ebay, verification_token=VERIFICATION, webhook_url=url)
    data = {"username": "nobody_here", "userId": "ma8vp1jySJC", "eiasToken": "nY+sHZ2PrBmd"}
    status, text = ebay.state.send_notification(url, DELETION, data, notification_id="n-1")
    assert status == 200, text
    body, headers = ebay.state.notification(DELETION, data, notification_id="n-1")
    duplicate = post(client, org, body, headers)
    assert duplicate.status_code == 200
    assert duplicate.json()["duplicate"] is True
    tampered, bad_headers = ebay.state.notification(DELETION, data, notification_id="n-2",
                                                    tamper=True)
    refused = post(client, org, tampered, bad_headers)
    assert refused.status_code == 401
    assert post(client, org, body, {"Content-Type": "application/json"}).status_code == 401
    health = connection(client, org, made["channel"]["id"])["health"]
    assert health["signature_failures"] == 2
    assert "X-EBAY-SIGNATURE" in health["last_error"]
    assert health["status"] == "failing"
    # the refused one was not recorded: sent again, correctly signed, it is applied
    again, good_headers = ebay.state.notification(DELETION, data, notification_id="n-2")
    applied = post(client, org, again, good_headers)
    assert applied.status_code == 200
    assert applied.json()["processed"] is True


def test_an_account_deletion_erases_that_buyers_data(
        client: TestClient, org: Org, db: Database, ebay: EbayServer) -> None:
    sku = card(client, org)
    made = connect(client, org, ebay, verification_token=VERIFICATION)
    channel_id = made["channel"]["id"]
    stock(client, org, made, sku, 5)
    start_job(client, org, channel_id, "product_export", skus=[sku])
    settle(db, org)
    gone = ebay.state.place_order([{"sku": sku, "quantity": 1}], buyer="Leaving_User",
                                  full_name="Grace Hopper")
    stays = ebay.state.place_order([{"sku": sku, "quantity": 1}], buyer="staying_user",
                                   full_name="Alan Turing")
    assert pull_orders(client, org, db, channel_id)["status"] == "succeeded"
    by_external = {o["external_id"]: o for o in orders_of(client, org, channel_id)}
    body, headers = ebay.state.notification(DELETION, {
        "username": "leaving_user", "userId": "ma8vp1jySJC", "eiasToken": "nY+sHZ2PrBmd"})
    answer = post(client, org, body, headers)
    assert answer.status_code == 200, answer.text
    assert (answer.json()["processed"], answer.json()["message"]) == (True, "queued")
    assert order_detail(client, org, by_external[gone["orderId"]]["id"])["email"] is not None
    Dispatcher(db).drain()  # the worker erases the buyer
    erased = order_detail(client, org, by_external[gone["orderId"]]["id"])
    assert (erased["email"], erased["customer_name"], erased["shipping_address"]) == (
        None, None, None)
    assert erased["total"] == "12.50"  # the sale stays in the books
    kept = order_detail(client, org, by_external[stays["orderId"]]["id"])
    assert kept["email"] == "staying_user@members.ebay.test"
    assert kept["shipping_address"]["last_name"] == "Turing"
    orders_mapped = {m["remote_id"]: m for m in mappings(client, org, channel_id, "order")}
    assert orders_mapped[gone["orderId"]]["remote_extra"] is None
    assert orders_mapped[stays["orderId"]]["remote_extra"] == "staying_user"
    audit = client.get("/api/v1/audit-log", headers=org.headers,
                       params={"resource_id": erased["id"], "action": "order.anonymised"})
    assert audit.status_code == 200, audit.text
    [entry] = audit.json()["data"]
    assert "Grace" not in str(entry)
    assert "shipping_address" in str(entry)
