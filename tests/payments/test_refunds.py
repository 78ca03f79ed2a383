"""Refunding an order in Mercato gives the money back where it came from: the ``order.refunded``
subscriber refunds Stripe payments at Stripe (once, whatever the redeliveries) and credits
gift cards and store credit back."""

from __future__ import annotations

from decimal import Decimal

from fastapi.testclient import TestClient

from mercato.core.db import Database
from mercato.core.ids import new_id
from mercato.core.outbox import Dispatcher, Event
from mercato.payments import events
from mercato.payments.gateways import ChargeRequest, gateway_for
from tests.conftest import Org
from tests.orders.helpers import place_order, stocked
from tests.payments.helpers import (
    StripeServer,
    connect_stripe,
    grant_credit,
    issue_card,
    new_customer,
)


def paid_with(db: Database, org: Org, method: str, amount: str, **fields: object) -> str:
    request = ChargeRequest(method=method, amount=Decimal(amount), currency="USD",
                            reference="cart:r", idempotency_key=new_id(),
                            **fields)  # type: ignore[arg-type]
    with db.transaction(tenant=org.id) as session:
        gateway = gateway_for(session, method)
        result = gateway.charge(None if gateway.remote else session, request)
    assert result.status == "paid", result
    return str(result.reference)


def test_an_order_refund_goes_back_to_stripe_the_gift_card_and_the_store_credit_once(
        client: TestClient, db: Database, org: Org, stripe_server: StripeServer) -> None:
    connect_stripe(client, org, stripe_server.url)
    card = issue_card(client, org, "10.00")
    customer = new_customer(client, org)
    grant_credit(client, org, customer, "10.00")
    pi = paid_with(db, org, "stripe", "10.00", details={"payment_method": "pm_card_visa"})
    redeemed = paid_with(db, org, "gift_card", "10.00", details={"code": card["code"]})
    charged = paid_with(db, org, "store_credit", "10.00", customer_id=customer)
    skus, _ = stocked(client, org, [3])
    order = place_order(client, org, [(skus[0], 3)], payments=[
        {"method": "stripe", "amount": "10.00", "reference": pi},
        {"method": "gift_card", "amount": "10.00", "reference": redeemed},
        {"method": "store_credit", "amount": "10.00", "reference": charged}])
    refunded = client.post(f"/api/v1/orders/{order['id']}/refunds", headers=org.headers,
                           json={"amount": "30.00", "reason": "damaged"})
    assert refunded.status_code == 201, refunded.text
    Dispatcher(db).drain()
    at_stripe = [r for r in stripe_server.state.refunds.values() if r["payment_intent"] == pi]
    assert [r["amount"] for r in at_stripe] == [1000]
    assert client.get(f"/api/v1/gift-cards/{card['id']}",
                      headers=org.headers).json()["balance"] == "10.00"
    credit = client.get(f"/api/v1/customers/{customer}/store-credit", headers=org.headers)
    assert credit.json()["balances"] == [{"currency": "USD", "balance": "10.00"}]
    # the same event again (a crash after the Stripe call) refunds nothing more
    refund = refunded.json()["refunds"][0]
    again = Event(id=new_id(), type="order.refunded", organization_id=org.id,
                  resource_type="order", resource_id=order["id"],
                  data={"order": {"currency": "USD"},
                        "refund": {"id": refund["id"], "payments": refund["payments"]}},
                  created_at=refunded.json()["created_at"], position=0)  # type: ignore[arg-type]
    with db.transaction(tenant=org.id) as session:
        events.send_refunds(session, again)
    assert len([r for r in stripe_server.state.refunds.values()
                if r["payment_intent"] == pi]) == 1
    assert client.get(f"/api/v1/gift-cards/{card['id']}",
                      headers=org.headers).json()["balance"] == "10.00"
