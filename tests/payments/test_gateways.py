"""Each gateway behind ``gateway_for``: manual, store credit, gift card, and Stripe through the
official SDK against the emulator (on SQLite and on PostgreSQL)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from fastapi.testclient import TestClient

from mercato.core.db import Database
from mercato.core.errors import Conflict, ServiceUnavailable, ValidationFailed
from mercato.core.ids import new_id
from mercato.payments.gateways import ChargeRequest, ChargeResult, gateway_for
from tests.conftest import Org, free_port
from tests.payments.helpers import (
    StripeServer,
    connect_stripe,
    grant_credit,
    issue_card,
    new_customer,
)


def charge(db: Database, org: Org, method: str, amount: str, *, key: str | None = None,
           **fields: object) -> ChargeResult:
    request = ChargeRequest(method=method, amount=Decimal(amount), currency="USD",
                            reference=f"cart:{new_id()}", idempotency_key=key or new_id(),
                            **fields)  # type: ignore[arg-type]
    with db.transaction(tenant=org.id) as session:  # a local gateway: one transaction
        return gateway_for(session, method).charge(session, request)


def balance_of(client: TestClient, org: Org, customer: str) -> dict[str, str]:
    body = client.get(f"/api/v1/customers/{customer}/store-credit", headers=org.headers).json()
    return {b["currency"]: b["balance"] for b in body["balances"]}


def test_manual_payments_are_pending_until_staff_mark_them_paid(
        client: TestClient, db: Database, org: Org) -> None:
    result = charge(db, org, "manual", "12.00")
    assert (result.status, result.reference, result.amount) == ("pending", None, Decimal("12"))


def test_unknown_and_disabled_methods_are_validation_errors_on_payment_method(
        client: TestClient, db: Database, org: Org) -> None:
    for method in ("bitcoin", "stripe"):  # stripe: no key configured yet
        with db.transaction(tenant=org.id) as session, pytest.raises(ValidationFailed) as caught:
            gateway_for(session, method)
        assert caught.value.errors[0]["field"] == "payment.method"
    put = client.put("/api/v1/payments/methods", headers=org.headers,
                     json={"enabled": ["manual"]})
    assert put.json() == {"enabled": ["manual"], "available": ["manual"]}
    with db.transaction(tenant=org.id) as session, pytest.raises(ValidationFailed):
        gateway_for(session, "gift_card")


def test_store_credit_pays_until_the_balance_runs_out_and_never_charges_a_key_twice(
        client: TestClient, db: Database, org: Org) -> None:
    customer = new_customer(client, org)
    grant_credit(client, org, customer, "30.00")
    first = charge(db, org, "store_credit", "20.00", key="k1", customer_id=customer)
    assert first.status == "paid"
    assert first.reference
    replay = charge(db, org, "store_credit", "20.00", key="k1", customer_id=customer)
    assert replay.reference == first.reference
    short = charge(db, org, "store_credit", "20.00", key="k2", customer_id=customer)
    assert (short.status, short.failure) == ("failed", "insufficient balance")
    assert balance_of(client, org, customer) == {"USD": "10.00"}
    with db.transaction(tenant=org.id) as session:
        gateway_for(session, "store_credit").cancel(session, first)
    assert balance_of(client, org, customer) == {"USD": "30.00"}
    with pytest.raises(ValidationFailed):
        charge(db, org, "store_credit", "1.00")


def test_gift_cards_pay_by_code_and_fail_softly_when_unknown_disabled_or_short(
        client: TestClient, db: Database, org: Org) -> None:
    card = issue_card(client, org, "25.00")
    paid = charge(db, org, "gift_card", "20.00", details={"code": card["code"].lower()})
    assert paid.status == "paid"
    short = charge(db, org, "gift_card", "5.01", details={"code": card["code"]})
    assert (short.status, short.failure) == ("failed", "insufficient balance")
    unknown = charge(db, org, "gift_card", "1.00", details={"code": "NOPE-NOPE-NOPE-NOPE"})
    assert unknown.failure == "gift card not found"
    url = f"/api/v1/gift-cards/{card['id']}"
    assert client.patch(url, headers=org.headers, json={"disabled": True}).status_code == 200
    disabled = charge(db, org, "gift_card", "1.00", details={"code": card["code"]})
    assert disabled.failure == "gift card disabled"
    assert client.get(url, headers=org.headers).json()["balance"] == "5.00"
    with db.transaction(tenant=org.id) as session:
        refund_id = gateway_for(session, "manual").refund(
            session, reference="x", amount=Decimal("1"), currency="USD", idempotency_key="r")
        assert refund_id.startswith("manual_")
    client.patch(url, headers=org.headers, json={"disabled": False})
    with db.transaction(tenant=org.id) as session:
        gateway = gateway_for(session, "gift_card")
        for _ in range(2):  # the same refund key twice credits once
            gateway.refund(session, reference=str(paid.reference), amount=Decimal("7.50"),
                           currency="USD", idempotency_key="refund-1")
    assert client.get(url, headers=org.headers).json()["balance"] == "12.50"
    kinds = [t["kind"] for t in client.get(f"{url}/transactions",
                                           headers=org.headers).json()["data"]]
    assert kinds == ["refund", "redeem", "issue"]


def stripe_charge(db: Database, org: Org, amount: str, method: str, *, key: str | None = None,
                  **details: object) -> ChargeResult:
    request = ChargeRequest(method="stripe", amount=Decimal(amount), currency="USD",
                            reference="cart:abc", idempotency_key=key or new_id(),
                            email="shopper@example.test",
                            details={"payment_method": method, **details})
    with db.transaction(tenant=org.id) as session:
        gateway = gateway_for(session, "stripe")
    assert gateway.remote
    return gateway.charge(None, request)


def test_stripe_charges_map_every_outcome_and_send_amounts_in_cents(
        client: TestClient, db: Database, org: Org, stripe_server: StripeServer) -> None:
    connect_stripe(client, org, stripe_server.url)
    paid = stripe_charge(db, org, "12.34", "pm_card_visa")
    assert paid.status == "paid"
    assert str(paid.reference).startswith("pi_")
    intent = stripe_server.state.intents[str(paid.reference)]
    assert (intent["amount"], intent["currency"], intent["metadata"]) == (
        1234, "usd", {"reference": "cart:abc"})
    declined = stripe_charge(db, org, "5.00", "pm_card_chargeDeclined")
    assert (declined.status, declined.failure) == ("failed", "card_declined")
    assert str(declined.reference).startswith("pi_")
    action = stripe_charge(db, org, "5.00", "pm_card_threeDSecure2Required")
    assert action.status == "requires_action"
    assert str(action.client_secret).startswith(str(action.reference))
    held = stripe_charge(db, org, "5.00", "pm_card_visa", capture_method="manual")
    assert held.status == "authorized"


def test_stripe_idempotency_key_never_charges_twice_and_cancel_gives_money_back(
        client: TestClient, db: Database, org: Org, stripe_server: StripeServer) -> None:
    connect_stripe(client, org, stripe_server.url)
    key = new_id()
    first = stripe_charge(db, org, "9.00", "pm_card_visa", key=key)
    again = stripe_charge(db, org, "9.00", "pm_card_visa", key=key)
    assert again.reference == first.reference
    with pytest.raises(Conflict):
        stripe_charge(db, org, "9.99", "pm_card_visa", key=key)
    with db.transaction(tenant=org.id) as session:
        gateway = gateway_for(session, "stripe")
    gateway.cancel(None, first)
    refunds = [r for r in stripe_server.state.refunds.values()
               if r["payment_intent"] == first.reference]
    assert [r["amount"] for r in refunds] == [900]
    held = stripe_charge(db, org, "3.00", "pm_card_visa", capture_method="manual")
    gateway.cancel(None, held)
    assert stripe_server.state.intents[str(held.reference)]["status"] == "canceled"
    paid = stripe_charge(db, org, "4.00", "pm_card_visa")
    refund_id = gateway.refund(None, reference=str(paid.reference), amount=Decimal("1.50"),
                               currency="USD", idempotency_key=new_id())
    assert stripe_server.state.refunds[refund_id]["amount"] == 150


def test_stripe_that_does_not_answer_is_service_unavailable(
        client: TestClient, db: Database, org: Org) -> None:
    connect_stripe(client, org, f"http://127.0.0.1:{free_port()}")
    with pytest.raises(ServiceUnavailable):
        stripe_charge(db, org, "1.00", "pm_card_visa")
