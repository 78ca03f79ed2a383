"""Promotions: the admin API over HTTP; ``evaluate``, ``check_code`` and ``redeem`` with a
session; usage limits under concurrent redemptions, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mercato.checkout.promotions.service import (
    AppliedPromotion,
    PromoInput,
    PromoLine,
    PromoResult,
    check_code,
    evaluate,
    redeem,
)
from mercato.core.db import Database
from mercato.core.errors import Conflict, ValidationFailed
from mercato.core.ids import new_id
from tests.checkout.pricing.test_pricing import errors_of, post, product
from tests.conftest import Org

PROMOS = "/api/v1/promotions"
NOW = dt.datetime.now(dt.UTC)
D = Decimal


def promo(client: TestClient, org: Org, kind: str = "percentage", **fields: Any
          ) -> dict[str, Any]:
    return post(client, org, PROMOS, {"title": fields.pop("title", f"Promo {new_id()}"),
                                      "kind": kind, **fields})


def code() -> str:
    return f"C{new_id()[-10:]}"


def lines(*specs: tuple[str, int, str]) -> list[PromoLine]:
    """(variant id, quantity, unit price) -> lines keyed L0, L1, ..."""
    return [PromoLine(f"L{i}", v, q, D(p)) for i, (v, q, p) in enumerate(specs)]


def run(db: Database, org: Org, cart: list[PromoLine], *, codes: tuple[str, ...] = (),
        shipping: str | None = None, customer_id: str | None = None,
        email: str | None = None, at: dt.datetime | None = None,
        currency: str = "USD") -> PromoResult:
    with db.transaction(tenant=org.id) as session:
        return evaluate(session, PromoInput(
            currency=currency, lines=cart, codes=codes,
            shipping_price=None if shipping is None else D(shipping),
            customer_id=customer_id, email=email, at=at))


def redeem_now(db: Database, org: Org, result: PromoResult, *, customer_id: str | None = None,
               email: str | None = None) -> None:
    with db.transaction(tenant=org.id) as session:
        redeem(session, result, customer_id=customer_id, email=email, order_id=new_id())


def used(client: TestClient, org: Org, promotion_id: str) -> int:
    return int(client.get(f"{PROMOS}/{promotion_id}", headers=org.headers).json()["used"])


def discounts(result: PromoResult) -> dict[str, Decimal]:
    return {key: sum((a for _, a in items), D(0)) for key, items in result.line_discounts.items()}


@pytest.fixture
def variant(client: TestClient, org: Org) -> str:
    return product(client, org)[0][1]


# -- admin API --------------------------------------------------------------------------------

def test_a_promotion_is_created_found_by_code_changed_and_deleted(
        client: TestClient, org: Org) -> None:
    first, second = code(), code()
    made = promo(client, org, value="15", codes=[first, second], usage_limit=100,
                 per_customer_limit=1, stacking="exclusive", priority=3,
                 starts_at="2020-01-01T00:00:00Z", scope={"kind": "tag", "values": ["x"]})
    assert (made["value"], made["automatic"], made["used"], made["stacking"]) == (
        "15.00", False, 0, "exclusive")
    assert sorted(made["codes"]) == sorted([first, second])
    found = client.get(PROMOS, headers=org.headers, params={"code": first.lower()})
    assert [p["id"] for p in found.json()["data"]] == [made["id"]]
    url = f"{PROMOS}/{made['id']}"
    etag = client.get(url, headers=org.headers).headers["ETag"]
    changed = client.patch(url, headers={**org.headers, "If-Match": etag},
                           json={"codes": [first.lower()], "value": "20"})
    assert changed.status_code == 200, changed.text
    assert (changed.json()["codes"], changed.json()["value"]) == ([first.lower()], "20.00")
    assert client.patch(url, headers={**org.headers, "If-Match": etag},
                        json={"value": "5"}).status_code == 412
    automatic = client.patch(url, headers=org.headers, json={"codes": []}).json()
    assert automatic["automatic"] is True
    assert client.delete(url, headers=org.headers).status_code == 204
    assert client.get(url, headers=org.headers).status_code == 404


def test_a_code_belongs_to_one_promotion_whatever_its_case(
        client: TestClient, org: Org, other_org: Org) -> None:
    shared = code()
    promo(client, org, value="10", codes=[shared])
    clash = client.post(PROMOS, headers=org.headers, json={
        "title": "Again", "kind": "percentage", "value": "5", "codes": [shared.lower()]})
    assert clash.status_code == 409
    assert clash.json()["errors"][0]["field"] == "codes.0"
    # another store may use the same code
    assert promo(client, other_org, value="10", codes=[shared])["codes"] == [shared]
    assert errors_of(client.post(PROMOS, headers=org.headers, json={
        "title": "Twice", "kind": "percentage", "value": "5", "codes": ["AB", "ab"]})) \
        == {"codes.1"}


def test_bad_promotions_are_a_422_naming_the_field(client: TestClient, org: Org) -> None:
    def bad(**body: Any) -> set[str]:
        return errors_of(client.post(PROMOS, headers=org.headers,
                                     json={"title": "x", **body}))

    assert bad(kind="percentage", value="101") == {"value"}
    assert bad(kind="percentage") == {"value"}
    assert bad(kind="fixed_amount", value="5.00") == {"currency"}
    assert bad(kind="free_shipping", value="5.00") == {"value"}
    assert bad(kind="buy_x_get_y", buy_quantity=2) == {"get_quantity"}
    assert bad(kind="percentage", value="5", buy_quantity=2) == {"buy_quantity"}
    assert bad(kind="percentage", value="5", min_subtotal="50.00") == {"currency"}
    assert bad(kind="percentage", value="5", codes=["has space"]) == {"codes.0"}
    assert bad(kind="percentage", value="5", usage_limit=0) == {"usage_limit"}
    assert bad(kind="percentage", value="5", starts_at="2030-01-02T00:00:00Z",
               ends_at="2030-01-01T00:00:00Z") == {"ends_at"}
    assert bad(kind="bogus", value="5") == {"kind"}
    made = promo(client, org, "buy_x_get_y", buy_quantity=2, get_quantity=1)
    assert made["value"] == "100.00"  # buy-x-get-y defaults to free
    assert errors_of(client.patch(f"{PROMOS}/{made['id']}", headers=org.headers,
                                  json={"kind": "percentage"})) \
        == {"buy_quantity", "get_quantity"}


def test_use_limits_past_a_32_bit_integer_are_422_not_a_server_error(
        client: TestClient, org: Org) -> None:
    """The limits are 32-bit integer columns: a larger one made the database refuse the
    insert, a 500 (PostgreSQL: integer out of range; SQLite past 2**63: OverflowError)."""
    for field in ("usage_limit", "per_customer_limit"):
        for too_many in (2**31, 2**63):
            response = client.post(PROMOS, headers=org.headers, json={
                "title": "x", "kind": "percentage", "value": "5", field: too_many})
            assert errors_of(response) == {field}, (field, too_many)
    assert client.get(PROMOS, headers=org.headers).json()["data"] == []
    made = promo(client, org, value="5", usage_limit=2**31 - 1, per_customer_limit=2**31 - 1)
    assert (made["usage_limit"], made["per_customer_limit"]) == (2**31 - 1, 2**31 - 1)
    assert errors_of(client.patch(f"{PROMOS}/{made['id']}", headers=org.headers,
                                  json={"usage_limit": 2**31})) == {"usage_limit"}


def test_a_redeemed_promotion_cannot_be_deleted_and_lists_its_redemptions(
        client: TestClient, org: Org, db: Database, variant: str) -> None:
    entered = code()
    made = promo(client, org, value="10", codes=[entered], usage_limit=5)
    result = run(db, org, lines((variant, 1, "10.00")), codes=(entered,))
    redeem_now(db, org, result, email="A@Example.com")
    url = f"{PROMOS}/{made['id']}"
    refused = client.delete(url, headers=org.headers)
    assert (refused.status_code, refused.json()["code"]) == (409, "conflict")
    assert errors_of(client.patch(url, headers=org.headers, json={"usage_limit": None,
                                                                  "title": None})) \
        == {"title"}
    redemptions = client.get(f"{url}/redemptions", headers=org.headers).json()["data"]
    assert [(r["code"], r["amount"], r["customer_key"]) for r in redemptions] == [
        (entered, "1.00", "email:a@example.com")]
    assert used(client, org, made["id"]) == 1


# -- evaluation -------------------------------------------------------------------------------

def test_a_percentage_code_applies_in_any_case_and_unknown_codes_are_named(
        client: TestClient, org: Org, db: Database, variant: str) -> None:
    entered = code()
    made = promo(client, org, value="12.5", codes=[entered])
    result = run(db, org, lines((variant, 3, "3.33")), codes=(entered.lower(), "NOPE"))
    assert result.applied == [AppliedPromotion(made["id"], entered.lower(), made["title"],
                                               "percentage", D("1.25"))]
    assert result.line_discounts == {"L0": [(made["title"], D("1.25"))]}  # 9.99 x 12.5 %
    assert result.rejected == {"NOPE": "unknown code"}
    assert result.shipping_discount == 0


def test_a_fixed_amount_is_spread_over_the_lines_to_the_cent_and_capped(
        client: TestClient, org: Org, db: Database) -> None:
    [(_, a), (_, b), (_, c)] = product(client, org, prices=("1.00", "1.00", "1.00"))
    entered = code()
    promo(client, org, "fixed_amount", value="10.00", currency="USD", codes=[entered])
    result = run(db, org, lines((a, 1, "3.33"), (b, 1, "3.33"), (c, 1, "3.34")),
                 codes=(entered,))
    assert sum(discounts(result).values()) == D("10.00")
    small = run(db, org, lines((a, 1, "2.00"), (b, 2, "1.50")), codes=(entered,))
    assert discounts(small) == {"L0": D("2.00"), "L1": D("3.00")}  # never past the lines
    assert small.applied[0].amount == D("5.00")


def test_buy_x_get_y_discounts_the_cheapest_units(
        client: TestClient, org: Org, db: Database) -> None:
    [(_, a), (_, b)] = product(client, org, prices=("1.00", "1.00"))
    promo(client, org, "buy_x_get_y", buy_quantity=2, get_quantity=1)
    four = run(db, org, lines((a, 3, "10.00"), (b, 1, "4.00")))
    assert discounts(four) == {"L1": D("4.00")}  # one group of 3: the 4.00 unit is free
    six = run(db, org, lines((a, 4, "10.00"), (b, 2, "4.00")))
    assert discounts(six) == {"L1": D("8.00")}
    two = run(db, org, lines((a, 2, "10.00")))
    assert two.applied == []
    assert two.line_discounts == {}


def test_buy_x_get_y_at_a_percentage_off_and_only_inside_its_scope(
        client: TestClient, org: Org, db: Database) -> None:
    [(_, sale)] = product(client, org, tags=("bogo",))
    [(_, other)] = product(client, org)
    promo(client, org, "buy_x_get_y", value="50", buy_quantity=1, get_quantity=1,
          scope={"kind": "tag", "values": ["bogo"]})
    result = run(db, org, lines((sale, 2, "7.00"), (other, 5, "1.00")))
    assert discounts(result) == {"L0": D("3.50")}


def test_free_shipping_waits_for_a_shipping_price_then_takes_it_off(
        client: TestClient, org: Org, db: Database, variant: str) -> None:
    entered = code()
    made = promo(client, org, "free_shipping", codes=[entered], min_subtotal="20.00",
                 currency="USD")
    cart = lines((variant, 2, "10.00"))
    pending = run(db, org, cart, codes=(entered,))
    assert [(a.promotion_id, a.amount) for a in pending.applied] == [(made["id"], D(0))]
    shipped = run(db, org, cart, codes=(entered,), shipping="7.50")
    assert (shipped.shipping_discount, shipped.applied[0].amount) == (D("7.50"), D("7.50"))
    short = run(db, org, lines((variant, 1, "19.99")), codes=(entered,), shipping="7.50")
    assert short.applied == []
    assert short.rejected == {entered: "minimum subtotal of 20.00 USD not met"}


def test_codes_outside_their_dates_inactive_or_in_another_currency_say_why(
        client: TestClient, org: Org, db: Database, variant: str) -> None:
    later, ended, off, euro = code(), code(), code(), code()
    promo(client, org, value="10", codes=[later],
          starts_at=(NOW + dt.timedelta(days=1)).isoformat())
    promo(client, org, value="10", codes=[ended],
          ends_at=(NOW - dt.timedelta(seconds=1)).isoformat())
    promo(client, org, value="10", codes=[off], active=False)
    promo(client, org, "fixed_amount", value="1.00", currency="EUR", codes=[euro])
    result = run(db, org, lines((variant, 1, "10.00")), codes=(later, ended, off, euro))
    assert result.applied == []
    assert result.rejected == {later: "not started yet", ended: "expired", off: "inactive",
                               euro: "only for carts in EUR"}
    tomorrow = run(db, org, lines((variant, 1, "10.00")), codes=(later,),
                   at=NOW + dt.timedelta(days=2))
    assert tomorrow.applied[0].amount == D("1.00")


def test_check_code_refuses_unknown_expired_and_inactive_codes(
        client: TestClient, org: Org, db: Database) -> None:
    good, ended, off = code(), code(), code()
    promo(client, org, value="10", codes=[good])
    promo(client, org, value="10", codes=[ended], ends_at="2021-01-01T00:00:00Z")
    promo(client, org, value="10", codes=[off], active=False)
    with db.transaction(tenant=org.id) as session:
        check_code(session, good.lower())
        for bad, reason in [("nope", "unknown code"), (ended, "this code has expired"),
                            (off, "this code is not active")]:
            with pytest.raises(ValidationFailed) as caught:
                check_code(session, bad)
            assert caught.value.errors == [{"field": "code", "message": reason}]


def test_the_best_exclusive_promotion_beats_a_smaller_sum_of_combinable_ones(
        client: TestClient, org: Org, db: Database, variant: str) -> None:
    ten, five, twenty = code(), code(), code()
    promo(client, org, value="10", codes=[ten])
    promo(client, org, "fixed_amount", value="5.00", currency="USD", codes=[five])
    big = promo(client, org, value="20", codes=[twenty], stacking="exclusive",
                title="Twenty")
    cart = lines((variant, 1, "100.00"))
    result = run(db, org, cart, codes=(ten, five, twenty))
    assert [a.promotion_id for a in result.applied] == [big["id"]]
    assert discounts(result) == {"L0": D("20.00")}
    assert result.rejected == {ten: "cannot be combined with 'Twenty'",
                               five: "cannot be combined with 'Twenty'"}
    # 10 % + 5.00 + another 5 % (15 + 5 = 20.00) ties the exclusive 20 %: the exclusive wins
    more = code()
    promo(client, org, value="5", codes=[more])
    tie = run(db, org, cart, codes=(ten, five, twenty, more))
    assert [a.promotion_id for a in tie.applied] == [big["id"]]


def test_combinable_promotions_win_when_together_they_take_more_off(
        client: TestClient, org: Org, db: Database, variant: str) -> None:
    ten, five, small = code(), code(), code()
    a = promo(client, org, value="10", codes=[ten], priority=1)
    b = promo(client, org, "fixed_amount", value="5.00", currency="USD", codes=[five])
    promo(client, org, value="12", codes=[small], stacking="exclusive")
    result = run(db, org, lines((variant, 1, "100.00")), codes=(five, ten, small))
    assert [x.promotion_id for x in result.applied] == [a["id"], b["id"]]  # priority order
    assert sum(discounts(result).values()) == D("15.00")
    assert result.rejected == {small: "not combinable with other promotions, which take "
                                      "more off"}


def test_stacked_discounts_stop_at_the_line_amount(
        client: TestClient, org: Org, db: Database, variant: str) -> None:
    first, second, third = code(), code(), code()
    promo(client, org, value="60", codes=[first], priority=2)
    capped = promo(client, org, value="60", codes=[second], priority=1)
    promo(client, org, value="10", codes=[third])
    result = run(db, org, lines((variant, 2, "5.00")), codes=(first, second, third))
    assert discounts(result) == {"L0": D("10.00")}
    assert [a.amount for a in result.applied] == [D("6.00"), D("4.00")]
    assert result.applied[1].promotion_id == capped["id"]
    assert result.rejected == {third: "other promotions already take the whole amount off"}


def test_automatic_promotions_apply_without_a_code_and_codes_of_a_scope_need_its_items(
        client: TestClient, org: Org, db: Database, variant: str) -> None:
    [(_, tagged)] = product(client, org, tags=("foil",))
    auto = promo(client, org, value="10")
    entered = code()
    promo(client, org, value="50", codes=[entered], scope={"kind": "tag", "values": ["foil"]})
    plain = run(db, org, lines((variant, 1, "10.00")), codes=(entered,))
    assert [a.promotion_id for a in plain.applied] == [auto["id"]]
    assert plain.rejected == {entered: "no items in the cart qualify"}
    both = run(db, org, lines((variant, 1, "10.00"), (tagged, 1, "10.00")), codes=(entered,))
    assert discounts(both) == {"L0": D("1.00"), "L1": D("6.00")}


# -- redemption and limits ---------------------------------------------------------------------

def test_redeeming_counts_every_applied_promotion_or_none(
        client: TestClient, org: Org, db: Database, variant: str) -> None:
    open_code, once = code(), code()
    unlimited = promo(client, org, value="10", codes=[open_code])
    limited = promo(client, org, "fixed_amount", value="1.00", currency="USD",
                    codes=[once], usage_limit=1, title="Once")
    cart = lines((variant, 1, "50.00"))
    result = run(db, org, cart, codes=(open_code, once))
    assert len(result.applied) == 2
    redeem_now(db, org, result)
    assert (used(client, org, unlimited["id"]), used(client, org, limited["id"])) == (1, 1)
    with db.transaction(tenant=org.id) as session:
        with pytest.raises(Conflict) as refused:
            redeem(session, result, customer_id=None, email=None, order_id=new_id())
        assert "Once" in refused.value.detail
        session.flush()  # the transaction is still usable; the refused counts were undone
    assert (used(client, org, unlimited["id"]), used(client, org, limited["id"])) == (1, 1)
    again = run(db, org, cart, codes=(open_code, once))
    assert again.rejected == {once: "usage limit reached"}


def test_per_customer_limits_count_by_customer_id_else_by_lowercased_email(
        client: TestClient, org: Org, db: Database, variant: str) -> None:
    entered = code()
    made = promo(client, org, value="10", codes=[entered], per_customer_limit=1)
    cart = lines((variant, 1, "10.00"))
    anonymous = run(db, org, cart, codes=(entered,))
    assert anonymous.rejected == {
        entered: "needs a signed-in customer or an email (one use per customer)"}
    first = run(db, org, cart, codes=(entered,), email="Kim@Example.com")
    redeem_now(db, org, first, email="Kim@Example.com")
    assert run(db, org, cart, codes=(entered,), email="kim@example.COM").rejected == {
        entered: "usage limit reached for this customer"}
    with db.transaction(tenant=org.id) as session, pytest.raises(Conflict):
        redeem(session, first, customer_id=None, email=" KIM@example.com ",
               order_id=new_id())
    with db.transaction(tenant=org.id) as session, pytest.raises(Conflict) as nobody:
        redeem(session, first, customer_id=None, email=None, order_id=new_id())
    assert nobody.value.errors == [{"field": "email", "message": "required for this promotion"}]
    customer = new_id()
    redeem_now(db, org, run(db, org, cart, codes=(entered,), customer_id=customer),
               customer_id=customer, email="kim@example.com")
    assert used(client, org, made["id"]) == 2


def _race(db: Database, org: Org, result: PromoResult, threads: int,
          who: list[tuple[str | None, str | None]]) -> Counter[str]:
    """``threads`` redemptions of ``result`` at once, each in its own transaction, over a pool
    of its own that holds at most 18 connections: the threads still race (they queue for a
    connection), and a busy PostgreSQL server is not asked for 40 more connections at once."""
    barrier = threading.Barrier(threads)
    racing = Database(db.url, pool_size=6)

    def one(n: int) -> str:
        customer_id, email = who[n % len(who)]
        barrier.wait()
        try:
            with racing.transaction(tenant=org.id) as session:
                redeem(session, result, customer_id=customer_id, email=email,
                       order_id=new_id())
            return "redeemed"
        except Conflict:
            return "conflict"

    try:
        with ThreadPoolExecutor(threads) as pool:
            return Counter(pool.map(one, range(threads)))
    finally:
        racing.dispose()


def test_concurrent_redemptions_of_a_code_stop_exactly_at_its_total_limit(
        client: TestClient, org: Org, db: Database, variant: str) -> None:
    entered = code()
    made = promo(client, org, value="10", codes=[entered], usage_limit=7)
    result = run(db, org, lines((variant, 1, "10.00")), codes=(entered,))
    outcome = _race(db, org, result, 40, [(None, None)])
    assert outcome == {"redeemed": 7, "conflict": 33}, outcome
    assert used(client, org, made["id"]) == 7
    redemptions = client.get(f"{PROMOS}/{made['id']}/redemptions", headers=org.headers,
                             params={"limit": 250}).json()["data"]
    assert len(redemptions) == 7


def test_concurrent_redemptions_by_one_customer_stop_exactly_at_the_per_customer_limit(
        client: TestClient, org: Org, db: Database, variant: str) -> None:
    entered = code()
    made = promo(client, org, value="10", codes=[entered], per_customer_limit=2,
                 usage_limit=50)
    result = run(db, org, lines((variant, 1, "10.00")), codes=(entered,), email="x@y.test")
    # 33 checkouts by one shopper (under two spellings of the email) and 3 by another
    outcome = _race(db, org, result, 36, [
        *[(None, "Pat@Shop.test"), (None, "pat@shop.TEST")] * 5, (None, "sam@shop.test")])
    redemptions = client.get(f"{PROMOS}/{made['id']}/redemptions", headers=org.headers,
                             params={"limit": 250}).json()["data"]
    per_key = Counter(r["customer_key"] for r in redemptions)
    assert per_key == {"email:pat@shop.test": 2, "email:sam@shop.test": 2}, per_key
    assert outcome == {"redeemed": 4, "conflict": 32}, outcome
    assert used(client, org, made["id"]) == 4


# -- invariants --------------------------------------------------------------------------------

_CARTS: dict[str, list[str]] = {}


def _promotions_for_properties(client: TestClient, org: Org) -> list[str]:
    """Once per organization: overlapping promotions of every kind, and three variants."""
    if org.id not in _CARTS:
        variants = [v for _, v in product(client, org, prices=("1.00", "1.00", "1.00"),
                                          tags=("deal",))]
        promo(client, org, value="15")
        promo(client, org, "fixed_amount", value="7.77", currency="USD", priority=2)
        promo(client, org, "buy_x_get_y", value="50", buy_quantity=2, get_quantity=1)
        promo(client, org, value="33.33", stacking="exclusive", min_subtotal="30.00",
              currency="USD")
        promo(client, org, "fixed_amount", value="12.34", currency="USD",
              stacking="exclusive", scope={"kind": "tag", "values": ["deal"]})
        promo(client, org, "free_shipping", priority=5)
        _CARTS[org.id] = variants
    return _CARTS[org.id]


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cart=st.lists(st.tuples(st.integers(0, 2), st.integers(1, 7),
                               st.decimals(min_value=D("0.00"), max_value=D("250.00"),
                                           places=2)),
                     min_size=1, max_size=5),
       shipping=st.none() | st.decimals(min_value=D("0.00"), max_value=D("30.00"), places=2))
def test_discounts_are_never_negative_never_exceed_a_line_and_add_up(
        client: TestClient, org: Org, db: Database,
        cart: list[tuple[int, int, Decimal]], shipping: Decimal | None) -> None:
    variants = _promotions_for_properties(client, org)
    priced = [PromoLine(f"L{i}", variants[v], q, p) for i, (v, q, p) in enumerate(cart)]
    result = run(db, org, priced, shipping=None if shipping is None else str(shipping))
    again = run(db, org, list(priced), shipping=None if shipping is None else str(shipping))
    assert result == again  # deterministic
    amounts = {line.key: line.unit_price * line.quantity for line in priced}
    for key, items in result.line_discounts.items():
        assert all(a > 0 and a == a.quantize(D("0.01")) for _, a in items)
        assert sum(a for _, a in items) <= amounts[key]
    assert 0 <= result.shipping_discount <= (shipping or 0)
    assert all(a.amount >= 0 for a in result.applied)
    total = sum((a for items in result.line_discounts.values() for _, a in items), D(0))
    assert sum((a.amount for a in result.applied), D(0)) == total + result.shipping_discount
