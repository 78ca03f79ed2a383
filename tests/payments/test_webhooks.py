"""``/webhooks/stripe/{store}`` on the inbound framework: signatures verified with the store's
secret, each event id recorded once (even delivered by many threads at once) and answered at
once, the listeners told by the worker."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from mercato.core.db import Database
from mercato.core.ids import new_id
from mercato.core.inbound import InboundReceipt
from mercato.core.outbox import Dispatcher, OutboxEvent
from mercato.payments import hooks
from mercato.payments.gateways import ChargeRequest, gateway_for
from mercato_emulators.stripe import sign
from tests.conftest import LiveServer, Org
from tests.payments.helpers import WEBHOOK_SECRET, StripeServer, connect_stripe


@pytest.fixture
def updates() -> Iterator[list[hooks.PaymentUpdate]]:
    seen: list[hooks.PaymentUpdate] = []
    lock = threading.Lock()

    def listener(session: Session, update: hooks.PaymentUpdate) -> None:
        with lock:
            seen.append(update)

    hooks.on_payment_update(listener)
    yield seen
    hooks.remove_listener(listener)


def event_body(kind: str = "payment_intent.succeeded", **obj: object) -> str:
    return json.dumps({"id": f"evt_{new_id()}", "object": "event", "type": kind,
                       "created": int(time.time()), "data": {"object": {
                           "id": f"pi_{new_id()}", "object": "payment_intent", "amount": 1999,
                           "amount_received": 1999, "currency": "eur",
                           "metadata": {"reference": "cart:1"}, **obj}}})


def post(client: TestClient, org: Org, body: str, signature: str | None) -> httpx.Response:
    headers = {"Content-Type": "application/json"}
    if signature is not None:
        headers["Stripe-Signature"] = signature
    return client.post(f"/webhooks/stripe/{org.slug}", content=body, headers=headers)


def test_a_signed_event_is_answered_at_once_and_reaches_the_listeners_once_from_the_worker(
        client: TestClient, db: Database, org: Org,
        updates: list[hooks.PaymentUpdate]) -> None:
    connect_stripe(client, org, "http://127.0.0.1:9")
    body = event_body()
    first = post(client, org, body, sign(body, WEBHOOK_SECRET))
    assert first.status_code == 200, first.text
    assert first.json() == {"received": True, "duplicate": False,
                            "type": "payment_intent.succeeded"}
    assert updates == []  # answered before the work: the worker does it
    assert post(client, org, body, sign(body, WEBHOOK_SECRET)).json()["duplicate"] is True
    Dispatcher(db).drain()
    assert len(updates) == 1
    update = updates[0]
    assert (update.kind, update.amount, update.currency, dict(update.metadata)) == (
        "succeeded", Decimal("19.99"), "EUR", {"reference": "cart:1"})


def test_bad_missing_expired_or_foreign_signatures_are_401_and_change_nothing(
        client: TestClient, db: Database, org: Org, other_org: Org,
        updates: list[hooks.PaymentUpdate]) -> None:
    connect_stripe(client, org, "http://127.0.0.1:9")
    connect_stripe(client, other_org, "http://127.0.0.1:9",
                   webhook_secret="whsec_" + "another0secret0entirely")
    body = event_body()
    answers = [
        post(client, org, body, None),
        post(client, org, body, sign(body, "whsec_wrongwrongwrong")),
        post(client, org, body, sign(body, WEBHOOK_SECRET, timestamp=int(time.time()) - 600)),
        post(client, org, body.replace("1999", "1"), sign(body, WEBHOOK_SECRET)),
        post(client, other_org, body, sign(body, WEBHOOK_SECRET)),
    ]
    assert [a.status_code for a in answers] == [401] * 5
    assert {a.headers["content-type"] for a in answers} == {"application/problem+json"}
    assert {a.json()["code"] for a in answers} == {"unauthorized"}
    assert updates == []
    with db.session(tenant=org.id) as session:
        assert session.scalar(select(func.count()).select_from(InboundReceipt)) == 0


def test_an_unknown_store_is_404_and_a_store_without_stripe_is_401(
        client: TestClient, org: Org) -> None:
    body = event_body()
    assert client.post("/webhooks/stripe/no-such-store", content=body,
                       headers={"Stripe-Signature": sign(body, WEBHOOK_SECRET)}
                       ).status_code == 404
    assert post(client, org, body, sign(body, WEBHOOK_SECRET)).status_code == 401


def test_events_we_do_not_use_are_accepted_and_recorded_without_listeners(
        client: TestClient, db: Database, org: Org, updates: list[hooks.PaymentUpdate]) -> None:
    connect_stripe(client, org, "http://127.0.0.1:9")
    body = event_body("customer.created", object="customer")
    answer = post(client, org, body, sign(body, WEBHOOK_SECRET))
    assert answer.status_code == 200
    assert answer.json()["type"] == "customer.created"
    assert updates == []
    with db.session(tenant=org.id) as session:
        assert session.scalars(select(InboundReceipt.event_type)).all() == ["customer.created"]


def test_one_event_delivered_by_30_threads_at_once_is_processed_once(
        client: TestClient, db: Database, org: Org, live_server: LiveServer,
        updates: list[hooks.PaymentUpdate]) -> None:
    connect_stripe(client, org, "http://127.0.0.1:9")
    body = event_body()
    url = f"{live_server.url}/webhooks/stripe/{org.slug}"

    def deliver(_: int) -> httpx.Response:
        return httpx.post(url, content=body, timeout=60, headers={
            "Stripe-Signature": sign(body, WEBHOOK_SECRET), "Content-Type": "application/json"})

    with ThreadPoolExecutor(30) as pool:
        answers = list(pool.map(deliver, range(30)))
    assert [a.status_code for a in answers] == [200] * 30
    assert sorted(a.json()["duplicate"] for a in answers) == [False] + [True] * 29
    Dispatcher(db).drain()
    assert len(updates) == 1
    with db.session(tenant=org.id) as session:
        assert session.scalar(select(func.count()).select_from(InboundReceipt)) == 1
        assert session.scalar(select(func.count()).select_from(OutboxEvent).where(
            OutboxEvent.type == "payment.provider_update")) == 1


def test_the_emulators_webhooks_for_a_real_charge_and_its_refund_reach_the_listeners(
        client: TestClient, db: Database, org: Org, live_server: LiveServer,
        stripe_server: StripeServer, updates: list[hooks.PaymentUpdate]) -> None:
    connect_stripe(client, org, stripe_server.url)
    stripe_server.send_webhooks_to(f"{live_server.url}/webhooks/stripe/{org.slug}")
    try:
        with db.transaction(tenant=org.id) as session:
            gateway = gateway_for(session, "stripe")
        declined = gateway.charge(None, ChargeRequest(
            method="stripe", amount=Decimal("3.00"), currency="USD", reference="cart:d",
            idempotency_key=new_id(), details={"payment_method": "pm_card_chargeDeclined"}))
        paid = gateway.charge(None, ChargeRequest(
            method="stripe", amount=Decimal("25.00"), currency="USD", reference="cart:p",
            idempotency_key=new_id(), details={"payment_method": "pm_card_visa"}))
        gateway.refund(None, reference=str(paid.reference), amount=Decimal("5.00"),
                       currency="USD", idempotency_key=new_id())
        deadline = time.monotonic() + 15
        while len(updates) < 3 and time.monotonic() < deadline:
            Dispatcher(db).drain()
            time.sleep(0.05)
        seen = {(u.kind, u.reference, u.amount, u.metadata.get("reference")) for u in updates}
        assert seen == {("failed", declined.reference, Decimal("3.00"), "cart:d"),
                        ("succeeded", paid.reference, Decimal("25.00"), "cart:p"),
                        ("refunded", paid.reference, Decimal("5.00"), "cart:p")}
        event_id = list(stripe_server.state.events)[-1]  # this test's refund
        again = httpx.post(f"{stripe_server.url}/_emulator/events/{event_id}/redeliver")
        assert again.json() == {"status": 200}
        Dispatcher(db).drain()
        assert len(updates) == 3  # a redelivery is recognized and ignored
    finally:
        stripe_server.send_webhooks_to(None)
