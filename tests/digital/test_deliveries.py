"""Deliveries of paid digital lines: webhook deliveries retried with backoff until the
merchant's endpoint takes them, manual ones marked by staff, signed download links that
expire and cannot be altered, and every pool and delivery kept to its organization."""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from mercato.app import create_app
from mercato.core.db import Database, utcnow
from mercato.digital.service import MAX_ATTEMPTS, deliver_due, sign_link
from mercato.settings import Settings
from tests.checkout.helpers import checkout
from tests.conftest import Org, create_org, make_settings
from tests.digital.helpers import (
    deliveries,
    digital_cart,
    digital_product,
    pay,
    pool_of,
    run_worker,
    upload_keys,
)
from tests.storefront_helpers import sign_up, store_url


class Receiver:
    """A merchant's endpoint on loopback: answers each POST with the next planned status."""

    def __init__(self) -> None:
        self.plan: list[int] = []
        self.bodies: list[dict[str, Any]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                receiver.bodies.append(json.loads(self.rfile.read(length)))
                code = receiver.plan.pop(0) if receiver.plan else 200
                self.send_response(code)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/deliver"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def loopback_settings(database_url: str) -> Settings:
    return make_settings(database_url, webhook_allow_hosts=["127.0.0.1"])


@pytest.fixture(scope="module")
def loopback_client(loopback_settings: Settings, db: Database) -> Iterator[TestClient]:
    app: FastAPI = create_app(loopback_settings, db)
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver()
    yield found
    found.close()


def _bought(client: TestClient, org: Org, db: Database, method: dict[str, Any],
            *, quantity: int = 1, keys: list[str] | None = None,
            headers: dict[str, str] | None = None,
            email: str = "gamer@example.com") -> tuple[dict[str, Any], dict[str, Any]]:
    """A digital product delivered by ``method``, bought and paid: (product, order)."""
    product = digital_product(client, org)
    if keys:
        upload_keys(client, org, product["variant_id"], keys)
    put = client.put(f"/api/v1/digital/variants/{product['variant_id']}", headers=org.headers,
                     json=method)
    assert put.status_code == 200, put.text
    cart = digital_cart(client, org, [(product["sku"], quantity)], headers=headers,
                        email=email)
    done = checkout(client, org, cart["id"], {"method": "manual"}, headers=headers)
    assert done.status_code == 201, done.text
    pay(client, org, done.json()["id"])
    run_worker(db)
    return product, done.json()


def test_a_webhook_delivery_is_retried_until_the_endpoint_takes_it(
        loopback_client: TestClient, loopback_settings: Settings, org: Org, db: Database,
        receiver: Receiver) -> None:
    client = loopback_client
    receiver.plan = [500, 503]
    _, order = _bought(client, org, db, {"method": "webhook", "webhook_url": receiver.url})
    [delivery] = deliveries(client, org, order["id"])
    assert (delivery["status"], delivery["attempts"]) == ("pending", 0)
    now = utcnow()
    assert deliver_due(db, loopback_settings, now=now) == 0
    [delivery] = deliveries(client, org, order["id"])
    assert (delivery["status"], delivery["attempts"]) == ("pending", 1)
    assert delivery["last_error"] == "the endpoint answered 500"
    retry_at = dt.datetime.fromisoformat(delivery["next_attempt_at"])
    assert retry_at > now  # backoff: not again at once
    assert deliver_due(db, loopback_settings, now=now) == 0  # not due yet: nothing sent
    assert len(receiver.bodies) == 1
    assert deliver_due(db, loopback_settings, now=retry_at) == 0
    [delivery] = deliveries(client, org, order["id"])
    assert (delivery["status"], delivery["attempts"]) == ("pending", 2)
    later = dt.datetime.fromisoformat(delivery["next_attempt_at"])
    assert deliver_due(db, loopback_settings, now=later) == 1
    [delivery] = deliveries(client, org, order["id"])
    assert (delivery["status"], delivery["attempts"], delivery["last_error"]) == \
        ("delivered", 3, None)
    assert [b["delivery"]["order_id"] for b in receiver.bodies] == [order["id"]] * 3
    assert deliver_due(db, loopback_settings, now=later + dt.timedelta(days=1)) == 0


def test_a_delivery_that_keeps_failing_stops_and_staff_can_retry_it(
        loopback_client: TestClient, loopback_settings: Settings, org: Org, db: Database,
        receiver: Receiver) -> None:
    client = loopback_client
    receiver.plan = [500] * MAX_ATTEMPTS
    _, order = _bought(client, org, db, {"method": "webhook", "webhook_url": receiver.url})
    moment = utcnow()
    for _ in range(MAX_ATTEMPTS):
        deliver_due(db, loopback_settings, now=moment)
        moment += dt.timedelta(days=1)
    [delivery] = deliveries(client, org, order["id"])
    assert (delivery["status"], delivery["attempts"]) == ("failed", MAX_ATTEMPTS)
    assert deliver_due(db, loopback_settings, now=moment) == 0  # failed: left alone
    retried = client.post(f"/api/v1/digital/deliveries/{delivery['id']}/retry",
                          headers=org.headers)
    assert retried.status_code == 200, retried.text
    assert (retried.json()["status"], retried.json()["attempts"]) == ("pending", 0)
    assert deliver_due(db, loopback_settings, now=moment) == 1
    assert deliveries(client, org, order["id"])[0]["status"] == "delivered"
    again = client.post(f"/api/v1/digital/deliveries/{delivery['id']}/retry",
                        headers=org.headers)
    assert again.status_code == 409


def test_a_webhook_to_an_internal_address_is_refused_without_the_operators_leave(
        client: TestClient, org: Org) -> None:
    product = digital_product(client, org)
    refused = client.put(f"/api/v1/digital/variants/{product['variant_id']}",
                         headers=org.headers,
                         json={"method": "webhook", "webhook_url": "http://127.0.0.1:9/x"})
    assert refused.status_code == 422, refused.text
    assert refused.json()["errors"][0]["field"] == "webhook_url"


def test_a_manual_delivery_waits_for_staff(client: TestClient, org: Org,
                                           db: Database) -> None:
    _, order = _bought(client, org, db, {"method": "manual"})
    [delivery] = deliveries(client, org, order["id"])
    assert delivery["status"] == "pending"
    assert delivery["next_attempt_at"] is None  # no worker picks it up
    marked = client.post(f"/api/v1/digital/deliveries/{delivery['id']}/delivered",
                         headers=org.headers, json={"note": "sent by post"})
    assert marked.status_code == 200, marked.text
    assert marked.json()["status"] == "delivered"
    assert marked.json()["delivered_at"] is not None


def test_a_key_pool_emptied_meanwhile_leaves_the_delivery_pending_until_keys_come(
        client: TestClient, org: Org, db: Database) -> None:
    """An order paid that checkout did not hold for (staff's order) finds no key: the
    delivery waits, and is delivered once keys are uploaded and it is retried."""
    product = digital_product(client, org)
    upload_keys(client, org, product["variant_id"], ["ONLY-1"])
    made = client.post("/api/v1/orders", headers=org.headers, json={
        "channel": "manual", "currency": "USD", "customer": {"email": "x@example.com"},
        "lines": [{"sku": product["sku"], "quantity": 2, "unit_price": "20.00"}]})
    assert made.status_code == 201, made.text
    pay(client, org, made.json()["id"])
    run_worker(db)
    [delivery] = deliveries(client, org, made.json()["id"])
    assert delivery["status"] == "pending"
    assert delivery["last_error"] == "the key pool is empty: 1 of 2 key(s) drawn"
    upload_keys(client, org, product["variant_id"], ["LATE-2"])
    retried = client.post(f"/api/v1/digital/deliveries/{delivery['id']}/retry",
                          headers=org.headers)
    assert retried.json()["status"] == "delivered"
    assert pool_of(client, org, product["variant_id"])["remaining"] == 0


def test_download_links_are_signed_and_expire(client: TestClient, org: Org,
                                              db: Database) -> None:
    shopper = sign_up(client, org.slug)
    product = digital_product(client, org)
    stored = client.post(f"/api/v1/digital/variants/{product['variant_id']}/files",
                         headers=org.headers,
                         files={"file": ("manual.pdf", b"%PDF-1.4 the book", "application/pdf")})
    assert stored.status_code == 201, stored.text
    put = client.put(f"/api/v1/digital/variants/{product['variant_id']}", headers=org.headers,
                     json={"method": "download", "link_ttl_seconds": 3600})
    assert put.status_code == 200, put.text
    cart = digital_cart(client, org, [(product["sku"], 1)], headers=shopper["headers"],
                        email=shopper["email"])
    done = checkout(client, org, cart["id"], {"method": "manual"}, headers=shopper["headers"])
    order_id = done.json()["id"]
    pay(client, org, order_id)
    run_worker(db)
    mine = client.get(store_url(org.slug, f"/me/orders/{order_id}/deliveries"),
                      headers=shopper["headers"]).json()
    [delivery] = mine["data"]
    [link] = delivery["downloads"]
    assert link["filename"] == "manual.pdf"
    got = client.get(link["url"])
    assert got.status_code == 200, got.text
    assert got.content == b"%PDF-1.4 the book"
    assert got.headers["content-type"] == "application/pdf"
    assert "attachment" in got.headers["content-disposition"]

    token = link["url"].rsplit("/", 1)[1]
    payload, signature = token.split(".")
    tampered = client.get(store_url(org.slug, f"/downloads/{payload}.{signature[:-2]}AA"))
    assert tampered.status_code == 403
    assert tampered.json()["code"] == "link_invalid"
    assert tampered.headers["content-type"] == "application/problem+json"
    assert client.get(store_url(org.slug, "/downloads/not-a-token")).status_code == 403
    with db.session(tenant=org.id) as session:
        expired = sign_link(session, org.id, delivery["id"], link["file_id"],
                            utcnow() - dt.timedelta(seconds=1))
        longer = sign_link(session, org.id, delivery["id"], link["file_id"],
                           utcnow() + dt.timedelta(days=365))
    gone = client.get(store_url(org.slug, f"/downloads/{expired}"))
    assert gone.status_code == 410
    assert gone.json()["code"] == "link_expired"
    # a longer expiry with the old signature is an altered link
    forged = f"{longer.split('.')[0]}.{signature}"
    assert client.get(store_url(org.slug, f"/downloads/{forged}")).status_code == 403


def test_pools_and_deliveries_are_their_organizations_own(
        client: TestClient, org: Org, db: Database, settings: Settings) -> None:
    other = create_org(db, settings)
    product, order = _bought(client, org, db, {"method": "key_pool"}, keys=["MINE-1"])
    variant = product["variant_id"]
    [delivery] = deliveries(client, org, order["id"])
    assert client.get(f"/api/v1/digital/variants/{variant}/keys",
                      headers=other.headers).status_code == 404
    assert client.post(f"/api/v1/digital/variants/{variant}/keys", headers=other.headers,
                       json={"keys": ["THEIRS-1"]}).status_code == 404
    assert client.get(f"/api/v1/digital/deliveries/{delivery['id']}",
                      headers=other.headers).status_code == 404
    assert client.post(f"/api/v1/digital/deliveries/{delivery['id']}/retry",
                       headers=other.headers).status_code == 404
    assert client.get("/api/v1/digital/deliveries", headers=other.headers,
                      params={"order_id": order["id"]}).json()["data"] == []
    # the same key may be in two organizations' pools: fingerprints are per variant
    theirs = digital_product(client, other)
    assert upload_keys(client, other, theirs["variant_id"], ["MINE-1"]).json()["added"] == 1
    # a link signed for one store is not valid at another
    with db.session(tenant=org.id) as session:
        token = sign_link(session, org.id, delivery["id"], "01FILE", utcnow()
                          + dt.timedelta(hours=1))
    assert client.get(store_url(other.slug, f"/downloads/{token}")).status_code == 404


def test_keys_upload_in_bulk_and_duplicates_are_reported(client: TestClient, org: Org) -> None:
    product = digital_product(client, org)
    variant = product["variant_id"]
    first = upload_keys(client, org, variant, ["K-1", "K-2", "K-2", " K-3 "])
    assert first.status_code == 201, first.text
    assert first.json()["added"] == 3
    assert first.json()["duplicates"] == [{"index": 2, "reason": "twice in this upload"}]
    text = "key\nK-3\nK-4\n\nK-5,extra column\n"
    second = client.post(f"/api/v1/digital/variants/{variant}/keys/file", headers=org.headers,
                         files={"file": ("keys.csv", text.encode(), "text/csv")})
    assert second.status_code == 201, second.text
    assert second.json()["added"] == 2
    assert second.json()["duplicates"] == [{"index": 0, "reason": "already in the pool"}]
    assert pool_of(client, org, variant)["remaining"] == 5
    shown = client.get(store_url(org.slug, f"/products/{product['slug']}")).json()
    assert shown["variants"][0]["available"] == 5  # the pool is the stock
    bad = upload_keys(client, org, variant, ["", "x" * 501])
    assert bad.status_code == 422
    assert pool_of(client, org, variant)["remaining"] == 5  # nothing changed
    plain = client.post("/api/v1/product-types", headers=org.headers,
                        json={"name": "Tee", "slug": "tee"})
    assert plain.status_code == 201
    made = client.post("/api/v1/products", headers=org.headers, json={
        "title": "Tee", "product_type": "tee", "variants": [{"sku": "TEE-1", "price": "5"}]})
    refused = upload_keys(client, org, made.json()["variants"][0]["id"], ["K-9"])
    assert refused.status_code == 422  # keys are for digital goods only
