"""Pricing rules priced from the market price feed (``adjustment: market``): the latest pull's
figure times ``value`` percent, only for variants the feed has priced, read once per
resolution; their validation; and rules for TCGplayer channels, which the TCGplayer file
carries and the storefront does not."""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import event

from mercato.catalog import MarketQuote, record_market_prices
from mercato.checkout.pricing.service import ResolvedPrice
from mercato.core.db import Database
from mercato.core.ids import new_id
from tests.channels.tcgplayer.helpers import make_card
from tests.checkout.helpers import activate, new_cart
from tests.checkout.pricing.test_pricing import RULES, errors_of, product, resolve, rule
from tests.conftest import Org
from tests.inventory.helpers import make_location, receive

NOW = dt.datetime.now(dt.UTC)


def pull(db: Database, org: Org, variant_id: str, *, market: str | None = None,
         low: str | None = None, direct_low: str | None = None, currency: str = "USD",
         at: dt.datetime = NOW) -> None:
    """One price pull's quote for a variant, as the TCGplayer connector records it."""
    def amount(value: str | None) -> Decimal | None:
        return None if value is None else Decimal(value)

    with db.transaction(tenant=org.id) as session:
        record_market_prices(session, [MarketQuote(
            variant_id, "tcgplayer", "123", currency, amount(low), None, amount(market),
            amount(direct_low), at)])


@contextmanager
def feed_reads(db: Database) -> Iterator[list[str]]:
    """The statements that read the market price feed while the block runs."""
    seen: list[str] = []

    def capture(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if "market_prices" in statement:
            seen.append(statement)

    event.listen(db.engine, "before_cursor_execute", capture)
    try:
        yield seen
    finally:
        event.remove(db.engine, "before_cursor_execute", capture)


def test_a_market_rule_prices_at_the_market_price_times_value_rounded_half_even(
        client: TestClient, org: Org, db: Database) -> None:
    [(_, over), (_, under)] = product(client, org, prices=("10.00", "10.00"))
    made = rule(client, org, adjustment="market", value="105", currency="USD",
                scope={"kind": "all"})
    assert (made["adjustment"], made["value"], made["market_field"]) == (
        "market", "105.00", "market")
    pull(db, org, over, market="2.50")     # 2.625 -> 2.62 (half-even, not 2.63)
    pull(db, org, under, market="20.00")   # 21.00: above the catalog price, no "was"
    got = resolve(db, org, [(over, 1, "10.00"), (under, 1, "10.00")])
    assert got == {
        over: ResolvedPrice(Decimal("2.62"), Decimal("10.00"), f"rule:{made['id']}"),
        under: ResolvedPrice(Decimal("21.00"), None, f"rule:{made['id']}")}


def test_a_market_rule_can_price_from_the_low_or_direct_low_figure(
        client: TestClient, org: Org, db: Database) -> None:
    [(_, variant)] = product(client, org)
    made = rule(client, org, adjustment="market", value="90", currency="USD",
                market_field="low")
    pull(db, org, variant, market="5.00", low="4.00", direct_low="4.50")
    assert resolve(db, org, [(variant, 1, "10.00")])[variant].unit_price == Decimal("3.60")
    changed = client.patch(f"{RULES}/{made['id']}", headers=org.headers,
                           json={"market_field": "direct_low"})
    assert changed.status_code == 200, changed.text
    assert resolve(db, org, [(variant, 1, "10.00")])[variant].unit_price == Decimal("4.05")
    # back to the default figure when the field is cleared
    cleared = client.patch(f"{RULES}/{made['id']}", headers=org.headers,
                           json={"market_field": None})
    assert cleared.json()["market_field"] == "market"
    assert resolve(db, org, [(variant, 1, "10.00")])[variant].unit_price == Decimal("4.50")


def test_a_variant_the_feed_has_not_priced_falls_back_to_the_next_rule_or_its_base_price(
        client: TestClient, org: Org, db: Database) -> None:
    [(_, priced), (_, unpriced), (_, no_mid)] = product(
        client, org, prices=("10.00", "10.00", "10.00"), tags=("sale",))
    market = rule(client, org, adjustment="market", value="100", currency="USD", priority=5)
    mid = rule(client, org, adjustment="market", value="100", currency="USD", priority=9,
               market_field="mid", scope={"kind": "tag", "values": ["sale"]})
    pull(db, org, priced, market="3.00")
    pull(db, org, no_mid, market="4.00")  # TCGplayer has no mid: the mid rule skips it
    items = [(priced, 1, "10.00"), (unpriced, 1, "10.00"), (no_mid, 1, "10.00")]
    got = resolve(db, org, items)
    assert (got[priced].source, got[priced].unit_price) == (f"rule:{market['id']}",
                                                           Decimal("3.00"))
    assert got[unpriced] == ResolvedPrice(Decimal("10.00"), None, "catalog")
    assert (got[no_mid].source, got[no_mid].unit_price) == (f"rule:{market['id']}",
                                                           Decimal("4.00"))
    below = rule(client, org, adjustment="percentage", value="10", priority=1)
    assert resolve(db, org, items)[unpriced] == ResolvedPrice(
        Decimal("9.00"), Decimal("10.00"), f"rule:{below['id']}")
    assert mid["id"]


def test_a_newer_pull_changes_the_price(client: TestClient, org: Org, db: Database) -> None:
    [(_, variant)] = product(client, org)
    rule(client, org, adjustment="market", value="100", currency="USD")
    pull(db, org, variant, market="5.00", at=NOW - dt.timedelta(days=1))
    assert resolve(db, org, [(variant, 1, "10.00")])[variant].unit_price == Decimal("5.00")
    pull(db, org, variant, market="6.40")
    assert resolve(db, org, [(variant, 1, "10.00")])[variant].unit_price == Decimal("6.40")


def test_a_market_rule_applies_only_in_its_currency_and_to_quotes_in_that_currency(
        client: TestClient, org: Org, db: Database) -> None:
    [(_, variant)] = product(client, org, prices=("10.00",), currency="EUR")
    rule(client, org, adjustment="market", value="100", currency="EUR")
    pull(db, org, variant, market="5.00")  # a USD quote cannot price in EUR
    got = resolve(db, org, [(variant, 1, "10.00")], currency="EUR", catalog_currency="EUR")
    assert got[variant] == ResolvedPrice(Decimal("10.00"), None, "catalog")
    usd = rule(client, org, adjustment="market", value="100", currency="USD")
    assert resolve(db, org, [(variant, 1, "10.00")], currency="EUR",
                   catalog_currency="EUR")[variant].source == "catalog"
    pull(db, org, variant, market="7.00", currency="EUR")
    assert resolve(db, org, [(variant, 1, "10.00")], currency="EUR",
                   catalog_currency="EUR")[variant].unit_price == Decimal("7.00")
    assert usd["id"]


def test_the_feed_is_read_once_per_resolution_and_only_when_a_market_rule_could_apply(
        client: TestClient, org: Org, db: Database) -> None:
    variants = [v for _, v in product(client, org, prices=("10.00",) * 4)]
    for i, variant in enumerate(variants):
        pull(db, org, variant, market=f"{i + 1}.00")
    items = [(v, 1, "10.00") for v in variants]
    pos_only = rule(client, org, adjustment="market", value="100", currency="USD",
                    channel_kinds=["pos"])
    with feed_reads(db) as seen:
        assert {p.source for p in resolve(db, org, items).values()} == {"catalog"}
    assert seen == []  # the only market rule is for the POS
    with feed_reads(db) as seen:
        got = resolve(db, org, items, channel="pos")
    assert len(seen) == 1
    assert [got[v].unit_price for v in variants] == [Decimal(f"{i}.00") for i in (1, 2, 3, 4)]
    assert {p.source for p in got.values()} == {f"rule:{pos_only['id']}"}


def test_bad_market_rules_are_a_422_naming_the_field_and_change_nothing(
        client: TestClient, org: Org) -> None:
    def refused(body: dict[str, Any]) -> set[str]:
        return errors_of(client.post(RULES, headers=org.headers, json={"title": "x", **body}))

    before = client.get(RULES, headers=org.headers, params={"limit": 200}).json()["data"]
    assert refused({"adjustment": "market", "value": "100"}) == {"currency"}
    assert refused({"adjustment": "market", "value": "0", "currency": "USD"}) == {"value"}
    assert refused({"adjustment": "market", "value": "2000", "currency": "USD"}) == {"value"}
    assert refused({"adjustment": "market", "value": "100", "currency": "USD",
                    "market_field": "high"}) == {"market_field"}
    assert refused({"adjustment": "percentage", "value": "10",
                    "market_field": "low"}) == {"market_field"}
    assert refused({"adjustment": "percentage", "value": "10",
                    "channel_kinds": ["ebay"]}) == {"channel_kinds.0"}
    after = client.get(RULES, headers=org.headers, params={"limit": 200}).json()["data"]
    assert after == before

    made = rule(client, org, adjustment="percentage", value="10")
    url = f"{RULES}/{made['id']}"
    # a PATCH is checked as a whole: a percentage turned into market needs a currency
    assert errors_of(client.patch(url, headers=org.headers,
                                  json={"adjustment": "market"})) == {"currency"}
    market = client.patch(url, headers=org.headers, json={
        "adjustment": "market", "currency": "USD", "value": "250"})
    assert market.status_code == 200, market.text
    assert market.json()["market_field"] == "market"
    assert errors_of(client.patch(url, headers=org.headers, json={"value": "1000.01"})) \
        == {"value"}
    # 250 is fine for market, not for a percentage off
    assert errors_of(client.patch(url, headers=org.headers,
                                  json={"adjustment": "percentage"})) == {"value"}
    assert errors_of(client.patch(url, headers=org.headers, json={
        "adjustment": "percentage", "value": "10", "market_field": "low"})) == {"market_field"}
    assert client.get(url, headers=org.headers).json() == market.json()
    # turned into another adjustment, a rule keeps no market figure
    fixed = client.patch(url, headers=org.headers, json={"adjustment": "fixed_price",
                                                         "value": "3.00"})
    assert fixed.status_code == 200, fixed.text
    assert (fixed.json()["adjustment"], fixed.json()["market_field"]) == ("fixed_price", None)


def test_a_rule_for_tcgplayer_channels_prices_the_tcgplayer_file_but_not_the_storefront(
        client: TestClient, org: Org, db: Database) -> None:
    digits = str(int(new_id()[-7:], 36))
    sku = make_card(client, org, sku=f"TCG-{digits}", price="80.00")
    activate(client, org, [sku])
    location = make_location(client, org)["id"]
    receive(client, org, sku, location, 3)
    variant = client.get("/api/v1/variants", headers=org.headers,
                         params={"sku": sku}).json()["data"][0]["id"]
    channel = client.post("/api/v1/channels", headers=org.headers, json={
        "name": f"TCGplayer {digits}", "kind": "tcgplayer", "locations": [location]})
    assert channel.status_code == 201, channel.text
    made = rule(client, org, title="TCGplayer at market", adjustment="market", value="98",
                currency="USD", channel_kinds=["tcgplayer"])
    assert made["channel_kinds"] == ["tcgplayer"]

    def exported() -> str:
        answer = client.get("/api/v1/exports/products.csv", headers=org.headers, params={
            "format": "tcgplayer", "channel": channel.json()["id"], "q": digits})
        assert answer.status_code == 200, answer.text
        [row] = [r for r in csv.DictReader(io.StringIO(answer.text))
                 if r["TCGplayer Id"] == digits]
        return row["TCG Marketplace Price"]

    assert exported() == "80.00"  # never pulled: the rule does not apply
    pull(db, org, variant, market="95.50")
    assert exported() == "93.59"  # 95.50 x 0.98 = 93.59
    cart = new_cart(client, org, [(sku, 1)])
    assert cart["lines"][0]["unit_price"] == "80.00"
