"""Balances under concurrency, over real HTTP: many redemptions race for a gift card and many
deductions for a customer's store credit; exactly the ones the balance covers pass, and one
Stripe event delivered at once to several server processes is processed once.

SQLite: threads against one in-process server. PostgreSQL: threads against three server
processes sharing one database (the stacks of tests/inventory/test_concurrency.py).
"""

from __future__ import annotations

from collections import Counter

from sqlalchemy import func, select

from mercato.core.inbound import InboundReceipt
from mercato.payments.models import GiftCardTransaction
from mercato_emulators.stripe import sign
from tests.conftest import Org
from tests.inventory import test_concurrency as stacks
from tests.inventory.test_concurrency import Load, Stack
from tests.payments.helpers import (
    WEBHOOK_SECRET,
    connect_stripe,
    grant_credit,
    issue_card,
    new_customer,
)
from tests.payments.test_webhooks import event_body

sqlite_stack, sqlite_org = stacks.sqlite_stack, stacks.sqlite_org
pg_stack, pg_org = stacks.pg_stack, stacks.pg_org


def gift_card_race(stack_: Stack, org: Org) -> None:
    """10.00 on the card, 60 redemptions of 3.00 at once: exactly 3 pass, 1.00 is left."""
    card = issue_card(stack_.client, org, "10.00")
    url = f"/api/v1/gift-cards/{card['id']}/adjustments"
    load = Load(stack_.urls, org)
    answers = load.run([lambda: load.post(url, {"amount": "-3.00", "kind": "redeem",
                                               "reason": "race"}) for _ in range(60)])
    assert Counter(a.status_code for a in answers) == {201: 3, 409: 57}
    after = stack_.client.get(f"/api/v1/gift-cards/{card['id']}", headers=org.headers).json()
    assert after["balance"] == "1.00"
    assert sorted(a.json()["transaction"]["balance_after"] for a in answers
                  if a.status_code == 201) == ["1.00", "4.00", "7.00"]
    with stack_.db.session(tenant=org.id) as session:
        assert session.scalar(select(func.sum(GiftCardTransaction.delta_cents)).where(
            GiftCardTransaction.gift_card_id == card["id"])) == 100


def store_credit_race(stack_: Stack, org: Org) -> None:
    """10.00 of credit, 60 deductions of 2.50 at once: exactly 4 pass, nothing is left."""
    customer = new_customer(stack_.client, org)
    grant_credit(stack_.client, org, customer, "10.00")
    url = f"/api/v1/customers/{customer}/store-credit"
    load = Load(stack_.urls, org)
    answers = load.run([lambda: load.post(url, {"action": "deduct", "amount": "2.50",
                                               "currency": "USD", "reason": "race"})
                        for _ in range(60)])
    assert Counter(a.status_code for a in answers) == {201: 4, 409: 56}
    view = stack_.client.get(url, headers=org.headers).json()
    assert view["balances"] == [{"currency": "USD", "balance": "0.00"}]
    assert len(view["entries"]) == 5


def duplicate_webhooks(stack_: Stack, org: Org) -> None:
    """One signed event sent 40 times at once across the servers: processed exactly once."""
    connect_stripe(stack_.client, org, "http://127.0.0.1:9")
    body = event_body()
    load = Load(stack_.urls, org)
    import httpx

    def deliver(base: str) -> httpx.Response:
        return httpx.post(f"{base}/webhooks/stripe/{org.slug}", content=body, timeout=120,
                          headers={"Stripe-Signature": sign(body, WEBHOOK_SECRET),
                                   "Content-Type": "application/json"})

    answers = load.run([lambda n=n: deliver(stack_.urls[n % len(stack_.urls)])
                        for n in range(40)])
    assert [a.status_code for a in answers] == [200] * 40
    assert Counter(a.json()["duplicate"] for a in answers) == {False: 1, True: 39}
    with stack_.db.session(tenant=org.id) as session:
        assert session.scalar(select(func.count()).select_from(InboundReceipt)) == 1


def test_sqlite_60_redemptions_take_exactly_what_a_gift_card_holds(
        sqlite_stack: Stack, sqlite_org: Org) -> None:
    gift_card_race(sqlite_stack, sqlite_org)


def test_sqlite_60_deductions_take_exactly_the_store_credit_there_is(
        sqlite_stack: Stack, sqlite_org: Org) -> None:
    store_credit_race(sqlite_stack, sqlite_org)


def test_sqlite_one_stripe_event_delivered_40_times_at_once_is_processed_once(
        sqlite_stack: Stack, sqlite_org: Org) -> None:
    duplicate_webhooks(sqlite_stack, sqlite_org)


def test_postgresql_60_redemptions_over_3_processes_take_exactly_what_a_card_holds(
        pg_stack: Stack, pg_org: Org) -> None:
    gift_card_race(pg_stack, pg_org)


def test_postgresql_60_deductions_over_3_processes_take_exactly_the_credit_there_is(
        pg_stack: Stack, pg_org: Org) -> None:
    store_credit_race(pg_stack, pg_org)


def test_postgresql_one_stripe_event_sent_to_3_processes_at_once_is_processed_once(
        pg_stack: Stack, pg_org: Org) -> None:
    duplicate_webhooks(pg_stack, pg_org)
