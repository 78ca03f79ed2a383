"""Checkout's steps called without HTTP, as a web page, the POS or a worker would: a session
and plain data in, a ``Prepared`` or an ``Outcome`` out."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from mercato.checkout import Outcome, Prepared, charge, compensate, complete, prepare
from mercato.core.db import Database
from mercato.core.errors import PaymentFailed
from mercato.settings import Settings
from tests.checkout.helpers import ADDRESS, new_cart, shop
from tests.checkout.test_checkout import stock
from tests.conftest import Org
from tests.payments.helpers import StripeServer, connect_stripe, issue_card, stripe_server
from tests.storefront_helpers import store_url

__all__ = ["stripe_server"]  # the session fixture, used below


def test_a_local_payment_runs_the_steps_in_one_transaction(
        client: TestClient, org: Org, db: Database, settings: Settings) -> None:
    skus, place, method = shop(client, org, [3])
    cart = new_cart(client, org, [(skus[0], 2)], method_id=method, address=ADDRESS)
    with db.transaction(tenant=org.id) as session:
        ready = prepare(session, org.id, cart["id"], None, method="manual", details={},
                        settings=settings)
        assert isinstance(ready, Prepared)
        assert (ready.reference, ready.attempt, ready.remote) == \
            (f"cart:{cart['id']}:1", 1, False)
        assert ready.request.idempotency_key == ready.reference
        with pytest.raises(ValueError, match="in the transaction that prepared it"):
            charge(ready)  # a local payment writes: it needs prepare's transaction
        outcome = complete(session, ready, charge(ready, session))
        assert outcome.created
        assert outcome.order is not None
        order_id = outcome.order.id
    assert stock(client, org, skus[0], place) == (1, 0)
    with db.transaction(tenant=org.id) as session:
        again = prepare(session, org.id, cart["id"], None, method="manual", details={},
                        settings=settings)
        assert isinstance(again, Outcome)
        assert (again.created, again.order.id if again.order else None) == (False, order_id)


def test_a_declined_local_payment_rolls_the_whole_transaction_back(
        client: TestClient, org: Org, db: Database, settings: Settings) -> None:
    skus, place, method = shop(client, org, [2])
    card = issue_card(client, org, amount="1.00")
    cart = new_cart(client, org, [(skus[0], 1)], method_id=method, address=ADDRESS)
    with db.transaction(tenant=org.id) as session:
        ready = prepare(session, org.id, cart["id"], None, method="gift_card",
                        details={"code": card["code"]}, settings=settings)
        assert isinstance(ready, Prepared)
        result = charge(ready, session)
        assert result.status == "failed"
        with pytest.raises(PaymentFailed):
            complete(session, ready, result)
        session.rollback()  # as the request's transaction does when PaymentFailed leaves it
    assert stock(client, org, skus[0], place) == (2, 0)
    after = client.get(store_url(org.slug, f"/carts/{cart['id']}")).json()
    assert (after["status"], after["payment"]) == ("open", None)


def test_an_abandoned_remote_attempt_is_compensated(
        client: TestClient, org: Org, db: Database, settings: Settings,
        stripe_server: StripeServer) -> None:
    connect_stripe(client, org, stripe_server.url)
    skus, place, method = shop(client, org, [1])
    cart = new_cart(client, org, [(skus[0], 1)], method_id=method, address=ADDRESS)
    with db.transaction(tenant=org.id) as session:
        ready = prepare(session, org.id, cart["id"], None, method="stripe",
                        details={"payment_method": "pm_card_visa"}, settings=settings)
        assert isinstance(ready, Prepared)
        assert ready.remote
        with pytest.raises(ValueError, match="outside any transaction"):
            charge(ready, session)  # never with a transaction open
    assert stock(client, org, skus[0], place) == (1, 1)  # held while the provider is asked
    waiting = client.get(store_url(org.slug, f"/carts/{cart['id']}")).json()
    assert waiting["status"] == "checking_out"
    with db.transaction(tenant=org.id) as session:  # nobody charged it: give the stock back
        assert compensate(session, ready, why="abandoned")
        assert not compensate(session, ready.reference, why="twice")
    assert stock(client, org, skus[0], place) == (1, 0)
    reopened = client.get(store_url(org.slug, f"/carts/{cart['id']}")).json()
    assert (reopened["status"], reopened["payment"]["status"],
            reopened["payment"]["failure"]) == ("open", "failed", "abandoned")
    assert not [i for i in stripe_server.state.intents.values()
                if i["metadata"].get("reference") == ready.reference]
