"""Shipping zones and methods: bracket and zone rules (hypothesis), the HTTP surface with its
validation, what a cart is offered (``quotes``) and what a chosen method costs (``quote``),
and unique codes under concurrent creation."""

from __future__ import annotations

from collections import Counter
from decimal import Decimal
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mercato.checkout.shipping import service as shipping
from mercato.checkout.shipping.service import ShippingQuote, subtotal_price, weight_price, zone_rank
from mercato.checkout.tax.service import TaxAddress, normalized
from mercato.core.db import Database
from mercato.core.errors import ValidationFailed
from mercato.core.ids import new_id
from tests.checkout import helpers as checkout_helpers
from tests.checkout.helpers import checkout, new_cart, pickup_method
from tests.conftest import Org
from tests.inventory import test_concurrency as stacks
from tests.inventory.helpers import make_location
from tests.inventory.test_concurrency import Load, Stack
from tests.storefront_helpers import store_url

ZONES, METHODS = "/api/v1/shipping/zones", "/api/v1/shipping/methods"
sqlite_stack, sqlite_org = stacks.sqlite_stack, stacks.sqlite_org
pg_stack, pg_org = stacks.pg_stack, stacks.pg_org
cents = st.integers(min_value=0, max_value=100_000).map(lambda c: Decimal(c) / 100)


def add_zone(client: TestClient, org: Org, **fields: Any) -> dict[str, Any]:
    response = client.post(ZONES, headers=org.headers, json={"name": f"Z {new_id()}", **fields})
    assert response.status_code == 201, response.text
    return dict(response.json())


def add_method(client: TestClient, org: Org, **fields: Any) -> dict[str, Any]:
    body = {"title": "Standard", "code": f"m-{new_id().lower()}", "currency": "USD", **fields}
    response = client.post(METHODS, headers=org.headers, json=body)
    assert response.status_code == 201, response.text
    return dict(response.json())


def field_errors(response: httpx.Response) -> set[str]:
    assert response.status_code == 422, response.text
    assert response.json()["code"] == "validation_error"
    return {e["field"] for e in response.json()["errors"]}


# -- brackets and zones (pure) ------------------------------------------------------------------

@given(st.lists(st.integers(min_value=0, max_value=50_000), min_size=1, max_size=8, unique=True),
       st.booleans(), st.integers(min_value=0, max_value=60_000))
def test_the_chosen_weight_bracket_is_the_first_whose_bound_covers_the_weight(
        bounds: list[int], open_ended: bool, grams: int) -> None:
    bounds.sort()
    brackets: list[dict[str, Any]] = [{"up_to_grams": b, "price": f"{i}.00"}
                                      for i, b in enumerate(bounds)]
    if open_ended:
        brackets.append({"up_to_grams": None, "price": "99.00"})
    covering = [i for i, b in enumerate(bounds) if grams <= b]
    if covering:
        assert weight_price(brackets, grams) == Decimal(covering[0])
    elif open_ended:
        assert weight_price(brackets, grams) == Decimal("99.00")
    else:
        assert weight_price(brackets, grams) is None


@given(st.lists(cents, min_size=1, max_size=8, unique=True), cents)
def test_the_chosen_price_bracket_is_the_last_that_starts_at_or_below_the_subtotal(
        starts: list[Decimal], subtotal: Decimal) -> None:
    starts.sort()
    brackets = [{"from_subtotal": f"{s:.2f}", "price": f"{i}.00"} for i, s in enumerate(starts)]
    started = [i for i, s in enumerate(starts) if s <= subtotal]
    expected = Decimal(started[-1]) if started else None
    assert subtotal_price(brackets, subtotal) == expected


def test_bracket_bounds_are_inclusive() -> None:
    weights = [{"up_to_grams": 500, "price": "4.00"}, {"up_to_grams": 2000, "price": "9.00"}]
    assert [weight_price(weights, g) for g in (0, 500, 501, 2000, 2001)] == [
        Decimal("4.00"), Decimal("4.00"), Decimal("9.00"), Decimal("9.00"), None]
    prices = [{"from_subtotal": "0.00", "price": "5.00"}, {"from_subtotal": "50.00",
                                                         "price": "0.00"}]
    assert [subtotal_price(prices, Decimal(s)) for s in ("0.00", "49.99", "50.00")] == [
        Decimal("5.00"), Decimal("5.00"), Decimal("0.00")]


@given(st.text(st.sampled_from("0123456789 "), max_size=7),
       st.lists(st.text(st.sampled_from("0123456789"), min_size=1, max_size=4), min_size=1,
                max_size=3),
       st.sampled_from([None, "CA", "NY"]))
def test_a_more_specific_zone_always_outranks_a_broader_one(
        postal: str, prefixes: list[str], region: str | None) -> None:
    where = normalized(TaxAddress("US", region, postal))
    country = zone_rank(["US"], [], [], where)
    by_region = zone_rank(["US"], ["US-CA"], [], where)
    by_postal = zone_rank(["US"], [], prefixes, where)
    assert country == (1, 0)
    assert (by_region is not None) == (region == "CA")
    assert (by_postal is not None) == any(where.postal_code and where.postal_code.startswith(p)
                                          for p in prefixes)
    ranks = [r for r in (country, by_region, by_postal) if r is not None]
    assert max(ranks) == (by_postal or by_region or country)
    assert zone_rank(["CA", "MX"], [], [], where) is None


# -- zones over HTTP ----------------------------------------------------------------------------

def test_a_zone_is_created_read_listed_changed_and_deleted(client: TestClient, org: Org) -> None:
    zone = add_zone(client, org, countries=["us", "US", "ca"], regions=["US-CA", "CA-ON"],
                    postal_prefixes=["941 ", "k1a"])
    assert (zone["countries"], zone["regions"], zone["postal_prefixes"]) == (
        ["US", "CA"], ["US-CA", "CA-ON"], ["941", "K1A"])
    url = f"{ZONES}/{zone['id']}"
    got = client.get(url, headers=org.headers)
    assert got.json() == zone
    changed = client.patch(url, headers={**org.headers, "If-Match": got.headers["ETag"]},
                           json={"countries": ["US"], "regions": ["ny"], "postal_prefixes": None})
    assert changed.status_code == 200, changed.text
    assert (changed.json()["regions"], changed.json()["postal_prefixes"]) == (["US-NY"], [])
    assert client.patch(url, headers={**org.headers, "If-Match": got.headers["ETag"]},
                        json={"name": "x"}).status_code == 412
    assert [z["id"] for z in client.get(ZONES, headers=org.headers).json()["data"]] == [
        zone["id"]]
    assert client.delete(url, headers=org.headers).status_code == 204
    assert client.get(url, headers=org.headers).status_code == 404


def test_bad_zones_are_422_naming_the_field(client: TestClient, org: Org) -> None:
    assert field_errors(client.post(ZONES, headers=org.headers, json={
        "name": "A", "countries": ["US", "XX"]})) == {"countries.1"}
    assert field_errors(client.post(ZONES, headers=org.headers, json={
        "name": "A", "countries": []})) == {"countries"}
    assert field_errors(client.post(ZONES, headers=org.headers, json={
        "name": "A", "countries": ["US", "CA"], "regions": ["US-CA", "ON"]})) == {"regions.1"}
    assert field_errors(client.post(ZONES, headers=org.headers, json={
        "name": "A", "countries": ["US"], "regions": ["MX-JAL"]})) == {"regions.0"}
    assert field_errors(client.post(ZONES, headers=org.headers, json={
        "name": "A", "countries": ["US"], "postal_prefixes": ["9$"]})) == {"postal_prefixes.0"}
    assert client.get(ZONES, headers=org.headers).json()["data"] == []
    add_zone(client, org, name="Domestic", countries=["US"])
    clash = client.post(ZONES, headers=org.headers, json={"name": "Domestic",
                                                           "countries": ["CA"]})
    assert clash.status_code == 409
    assert clash.json()["errors"] == [{"field": "name", "message": "already in use"}]


def test_a_zone_with_methods_cannot_be_deleted(client: TestClient, org: Org) -> None:
    zone = add_zone(client, org, countries=["US"])
    method = add_method(client, org, zone_id=zone["id"], kind="flat", price="5.00")
    refused = client.delete(f"{ZONES}/{zone['id']}", headers=org.headers)
    assert refused.status_code == 409
    assert client.delete(f"{METHODS}/{method['id']}", headers=org.headers).status_code == 204
    assert client.delete(f"{ZONES}/{zone['id']}", headers=org.headers).status_code == 204


# -- methods over HTTP --------------------------------------------------------------------------

def test_each_kind_of_method_stores_its_own_price_table(client: TestClient, org: Org) -> None:
    zone = add_zone(client, org, countries=["US"])["id"]
    flat = add_method(client, org, zone_id=zone, kind="flat", price="5.00",
                      min_subtotal="10.00", max_subtotal="500.00")
    assert (flat["price"], flat["weight_brackets"], flat["min_subtotal"]) == ("5.00", [], "10.00")
    weight = add_method(client, org, zone_id=zone, kind="weight", weight_brackets=[
        {"up_to_grams": 500, "price": "4"}, {"up_to_grams": None, "price": "12.50"}])
    assert weight["weight_brackets"] == [{"up_to_grams": 500, "price": "4.00"},
                                         {"up_to_grams": None, "price": "12.50"}]
    by_price = add_method(client, org, zone_id=zone, kind="price", price_brackets=[
        {"from_subtotal": "0", "price": "6.00"}, {"from_subtotal": "50.00", "price": "0"}])
    assert by_price["price_brackets"][1] == {"from_subtotal": "50.00", "price": "0.00"}
    store = make_location(client, org, pickup=True)
    pickup = add_method(client, org, kind="pickup", pickup_location=store["code"])
    assert (pickup["zone_id"], pickup["pickup_location_id"], pickup["price"]) == (
        None, store["id"], "0.00")
    got = client.get(f"{METHODS}/{weight['id']}", headers=org.headers)
    assert got.json() == weight
    listed = client.get(METHODS, headers=org.headers, params={"kind": "pickup"}).json()["data"]
    assert [m["id"] for m in listed] == [pickup["id"]]
    in_zone = client.get(METHODS, headers=org.headers, params={"zone_id": zone}).json()["data"]
    assert {m["id"] for m in in_zone} == {flat["id"], weight["id"], by_price["id"]}


def test_unsorted_or_overlapping_brackets_are_422_naming_the_bracket(
        client: TestClient, org: Org) -> None:
    zone = add_zone(client, org, countries=["US"])["id"]
    base = {"title": "T", "code": "t", "currency": "USD", "zone_id": zone}
    cases: list[tuple[dict[str, Any], set[str]]] = [
        ({"kind": "weight", "weight_brackets": [{"up_to_grams": 1000, "price": "5.00"},
                                                {"up_to_grams": 500, "price": "3.00"}]},
         {"weight_brackets.1.up_to_grams"}),
        ({"kind": "weight", "weight_brackets": [{"up_to_grams": 500, "price": "5.00"},
                                                {"up_to_grams": 500, "price": "3.00"}]},
         {"weight_brackets.1.up_to_grams"}),
        ({"kind": "weight", "weight_brackets": [{"up_to_grams": None, "price": "5.00"},
                                                {"up_to_grams": 500, "price": "3.00"}]},
         {"weight_brackets.0.up_to_grams"}),
        ({"kind": "weight", "weight_brackets": [{"up_to_grams": -1, "price": "5.00"}]},
         {"weight_brackets.0.up_to_grams"}),
        ({"kind": "weight", "weight_brackets": []}, {"weight_brackets"}),
        ({"kind": "price", "price_brackets": [{"from_subtotal": "50.00", "price": "0.00"},
                                              {"from_subtotal": "0.00", "price": "5.00"}]},
         {"price_brackets.1.from_subtotal"}),
        ({"kind": "price", "price_brackets": [{"from_subtotal": "10.00", "price": "-1"}]},
         {"price_brackets.0.price"}),
        ({"kind": "flat"}, {"price"}),
        ({"kind": "flat", "price": "5.00", "weight_brackets": [
            {"up_to_grams": 5, "price": "1.00"}]}, {"weight_brackets"}),
        ({"kind": "flat", "price": "5.00", "min_subtotal": "20.00", "max_subtotal": "10.00"},
         {"max_subtotal"}),
        ({"kind": "flat", "price": 5.0}, {"price"}),
        ({"kind": "flat", "price": "5.00", "currency": "usd"}, {"currency"}),
        ({"kind": "flat", "price": "5.00", "zone_id": None}, {"zone_id"}),
        ({"kind": "flat", "price": "5.00", "zone_id": new_id()}, {"zone_id"}),
        ({"kind": "pickup", "zone_id": zone, "pickup_location": "nowhere"},
         {"zone_id", "pickup_location"}),
        ({"kind": "drone", "price": "5.00"}, {"kind"}),
    ]
    for change, fields in cases:
        assert field_errors(client.post(METHODS, headers=org.headers,
                                        json={**base, **change})) == fields, change
    shelf = make_location(client, org, pickup=False)
    assert field_errors(client.post(METHODS, headers=org.headers, json={
        **base, "zone_id": None, "kind": "pickup", "pickup_location": shelf["id"]})) == {
        "pickup_location"}
    assert client.get(METHODS, headers=org.headers).json()["data"] == []


def test_another_organizations_zone_or_location_cannot_be_used(
        client: TestClient, org: Org, other_org: Org) -> None:
    theirs = add_zone(client, other_org, countries=["US"])
    their_store = make_location(client, other_org, pickup=True)
    base = {"title": "T", "code": "t", "currency": "USD"}
    assert field_errors(client.post(METHODS, headers=org.headers, json={
        **base, "kind": "flat", "price": "1.00", "zone_id": theirs["id"]})) == {"zone_id"}
    assert field_errors(client.post(METHODS, headers=org.headers, json={
        **base, "kind": "pickup", "pickup_location": their_store["id"]})) == {
        "pickup_location"}


def test_changing_a_methods_kind_drops_the_tables_the_new_kind_does_not_use(
        client: TestClient, org: Org) -> None:
    zone = add_zone(client, org, countries=["US"])["id"]
    method = add_method(client, org, zone_id=zone, kind="flat", price="5.00")
    url = f"{METHODS}/{method['id']}"
    changed = client.patch(url, headers=org.headers, json={
        "kind": "weight", "weight_brackets": [{"up_to_grams": 1000, "price": "7.00"}]})
    assert changed.status_code == 200, changed.text
    assert (changed.json()["price"], len(changed.json()["weight_brackets"])) == (None, 1)
    mixed = client.patch(url, headers=org.headers, json={"kind": "flat", "price": "5.00",
                                                         "weight_brackets": []})
    assert mixed.status_code == 200, mixed.text
    assert field_errors(client.patch(url, headers=org.headers, json={
        "kind": "price", "price": "3.00"})) == {"price", "price_brackets"}
    assert field_errors(client.patch(url, headers=org.headers, json={"kind": "pickup"})) == {
        "pickup_location"}
    assert client.get(url, headers=org.headers).json()["kind"] == "flat"


def test_a_methods_code_is_unique_in_the_organization(client: TestClient, org: Org,
                                                       other_org: Org) -> None:
    zone = add_zone(client, org, countries=["US"])["id"]
    add_method(client, org, zone_id=zone, kind="flat", price="5.00", code="standard")
    again = client.post(METHODS, headers=org.headers, json={
        "zone_id": zone, "kind": "flat", "price": "6.00", "code": "standard", "title": "S",
        "currency": "USD"})
    assert again.status_code == 409
    assert again.json()["errors"] == [{"field": "code", "message": "already in use"}]
    elsewhere = add_zone(client, other_org, countries=["US"])["id"]
    add_method(client, other_org, zone_id=elsewhere, kind="flat", price="5.00", code="standard")


# -- what a cart is offered ---------------------------------------------------------------------

def storefront(client: TestClient, org: Org) -> dict[str, Any]:
    """US-wide, California and San Francisco zones with their methods, plus store pickup."""
    us = add_zone(client, org, name="US", countries=["US"])["id"]
    ca = add_zone(client, org, name="California", countries=["US"], regions=["CA"])["id"]
    sf = add_zone(client, org, name="SF", countries=["US"], regions=["CA"],
                  postal_prefixes=["941"])["id"]
    store = make_location(client, org, pickup=True)
    methods = {
        "us_ground": add_method(client, org, zone_id=us, kind="flat", price="8.00",
                                title="Ground"),
        "us_heavy": add_method(client, org, zone_id=us, kind="weight", title="Parcel",
                               weight_brackets=[{"up_to_grams": 500, "price": "4.00"},
                                                {"up_to_grams": 2000, "price": "9.00"}]),
        "ca_ground": add_method(client, org, zone_id=ca, kind="price", title="CA Ground",
                                price_brackets=[{"from_subtotal": "0.00", "price": "6.00"},
                                                {"from_subtotal": "50.00", "price": "0.00"}]),
        "ca_express": add_method(client, org, zone_id=ca, kind="flat", price="15.00",
                                 title="CA Express", min_subtotal="20.00"),
        "sf_courier": add_method(client, org, zone_id=sf, kind="flat", price="12.00",
                                 title="Courier", max_subtotal="100.00"),
        "sf_eur": add_method(client, org, zone_id=sf, kind="flat", price="1.00",
                             title="Euro", currency="EUR"),
        "pickup": add_method(client, org, kind="pickup", title="Pick up in store",
                             pickup_location=store["id"]),
        "off": add_method(client, org, zone_id=us, kind="flat", price="0.50",
                          title="Retired", active=False),
    }
    ids = {key: m["id"] for key, m in methods.items()}
    return {"zones": {"us": us, "ca": ca, "sf": sf}, "store": store, **ids}


def offered(db: Database, org: Org, address: TaxAddress | None, subtotal: str = "30.00",
            grams: int = 300, currency: str = "USD") -> list[tuple[str, str]]:
    with db.session(tenant=org.id) as session:
        found = shipping.quotes(session, address=address, currency=currency,
                                subtotal=Decimal(subtotal), weight_grams=grams)
    return [(q.title, f"{q.price:.2f}") for q in found]


def test_the_most_specific_zone_offers_its_methods_cheapest_first(
        client: TestClient, org: Org, db: Database) -> None:
    storefront(client, org)
    assert offered(db, org, TaxAddress("US", "CA", "94103")) == [
        ("Pick up in store", "0.00"), ("Courier", "12.00")]
    assert offered(db, org, TaxAddress("us", "US-CA", "90210")) == [
        ("Pick up in store", "0.00"), ("CA Ground", "6.00"), ("CA Express", "15.00")]
    assert offered(db, org, TaxAddress("US", "NY", "10001")) == [
        ("Pick up in store", "0.00"), ("Parcel", "4.00"), ("Ground", "8.00")]
    assert offered(db, org, TaxAddress("FR", None, "75001")) == [("Pick up in store", "0.00")]
    assert offered(db, org, None) == [("Pick up in store", "0.00")]


def test_subtotal_limits_brackets_and_currency_decide_what_is_offered(
        client: TestClient, org: Org, db: Database) -> None:
    storefront(client, org)
    la = TaxAddress("US", "CA", "90001")
    assert offered(db, org, la, subtotal="50.00") == [
        ("CA Ground", "0.00"), ("Pick up in store", "0.00"), ("CA Express", "15.00")]
    assert offered(db, org, la, subtotal="19.99") == [
        ("Pick up in store", "0.00"), ("CA Ground", "6.00")]
    ny = TaxAddress("US", "NY", "10001")
    assert offered(db, org, ny, grams=2000) == [
        ("Pick up in store", "0.00"), ("Ground", "8.00"), ("Parcel", "9.00")]
    assert offered(db, org, ny, grams=2001) == [("Pick up in store", "0.00"), ("Ground", "8.00")]
    sf = TaxAddress("US", "CA", "94110")
    assert offered(db, org, sf, subtotal="100.01") == [("Pick up in store", "0.00")]
    assert offered(db, org, sf, currency="EUR") == [("Euro", "1.00")]


def test_a_chosen_method_is_quoted_or_refused_naming_the_shipping_method(
        client: TestClient, org: Org, other_org: Org, db: Database) -> None:
    shop = storefront(client, org)
    theirs = storefront(client, other_org)
    sf, ny = TaxAddress("US", "CA", "94103"), TaxAddress("US", "NY", "10001")

    def quote(method_id: str, address: TaxAddress | None, subtotal: str = "30.00",
              grams: int = 300, currency: str = "USD") -> ShippingQuote | str:
        with db.session(tenant=org.id) as session:
            try:
                return shipping.quote(session, method_id, address=address, currency=currency,
                                      subtotal=Decimal(subtotal), weight_grams=grams)
            except ValidationFailed as exc:
                refused = exc
        fields = [e["field"] for e in refused.errors]
        return str(refused.errors[0]["message"]) if fields == ["shipping_method"] else "?"

    assert quote(shop["sf_courier"], sf) == ShippingQuote(
        shop["sf_courier"], quote_code(client, org, shop["sf_courier"]), "Courier", "flat",
        Decimal("12.00"), "USD", None)
    assert quote(shop["pickup"], None) == ShippingQuote(
        shop["pickup"], quote_code(client, org, shop["pickup"]), "Pick up in store", "pickup",
        Decimal("0.00"), "USD", shop["store"]["id"])
    assert quote(shop["us_ground"], sf) == "the shipping method does not ship to this address"
    assert quote(shop["us_ground"], None) == "a shipping address is needed for this method"
    assert quote(shop["us_heavy"], ny, grams=5000) == "no weight bracket covers 5000 g"
    assert quote(shop["ca_express"], TaxAddress("US", "CA", "90001"), subtotal="5.00") == \
        "offered from a subtotal of 20.00"
    assert quote(shop["off"], ny) == "the shipping method is not active"
    assert quote(shop["sf_courier"], sf, currency="EUR") == \
        "the shipping method charges in USD, the cart is in EUR"
    assert quote(theirs["pickup"], None) == "no such shipping method"
    assert quote("nonsense", None) == "no such shipping method"
    stopped = client.patch(f"/api/v1/locations/{shop['store']['id']}", headers=org.headers,
                           json={"pickup": False})
    assert stopped.status_code == 200, stopped.text
    assert quote(shop["pickup"], None) == "the pickup location no longer offers pickup"
    assert offered(db, org, None) == []


def quote_code(client: TestClient, org: Org, method_id: str) -> str:
    return str(client.get(f"{METHODS}/{method_id}", headers=org.headers).json()["code"])


@pytest.fixture
def shop(client: TestClient, org: Org) -> dict[str, Any]:
    return storefront(client, org)


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.sampled_from([None, TaxAddress("US", "CA", "94103"), TaxAddress("US", "CA", "90001"),
                        TaxAddress("US", "NY", "10001"), TaxAddress("DE", None, "10115")]),
       cents, st.integers(min_value=0, max_value=3000), st.sampled_from(["USD", "EUR"]))
def test_a_method_is_quoted_exactly_when_it_is_offered(
        db: Database, org: Org, shop: dict[str, Any], address: TaxAddress | None,
        subtotal: Decimal, grams: int, currency: str) -> None:
    with db.session(tenant=org.id) as session:
        found = {q.method_id: q for q in shipping.quotes(
            session, address=address, currency=currency, subtotal=subtotal,
            weight_grams=grams)}
        prices = [q.price for q in found.values()]
        assert prices == sorted(prices)
        for key, method_id in shop.items():
            if key in ("zones", "store"):
                continue
            try:
                chosen = shipping.quote(session, method_id, address=address, currency=currency,
                                        subtotal=subtotal, weight_grams=grams)
            except ValidationFailed:
                assert method_id not in found
            else:
                assert found[method_id] == chosen


def test_the_quotes_route_previews_what_the_checkout_offers(client: TestClient, org: Org) -> None:
    shop = storefront(client, org)
    answer = client.get("/api/v1/shipping/quotes", headers=org.headers, params={
        "country": "US", "region": "CA", "postal_code": "941 03", "currency": "USD",
        "subtotal": "30.00", "weight_grams": 300})
    assert answer.status_code == 200, answer.text
    assert answer.json()["zone_id"] == shop["zones"]["sf"]
    assert [(q["title"], q["price"], q["kind"]) for q in answer.json()["data"]] == [
        ("Pick up in store", "0.00", "pickup"), ("Courier", "12.00", "flat")]
    bad = client.get("/api/v1/shipping/quotes", headers=org.headers, params={
        "currency": "USD", "subtotal": "-1", "weight_grams": -5})
    assert field_errors(bad) == {"subtotal", "weight_grams"}


# -- concurrency --------------------------------------------------------------------------------

def same_code_at_once(stack_: Stack, org: Org) -> None:
    """40 creations of one method code at once: exactly one 201, the rest 409."""
    zone = stack_.client.post(ZONES, headers=org.headers, json={
        "name": "Domestic", "countries": ["US"]}).json()["id"]
    load = Load(stack_.urls, org)
    body = {"zone_id": zone, "kind": "flat", "price": "5.00", "code": "standard",
            "title": "Standard", "currency": "USD"}
    answers = load.run([lambda: load.post(METHODS, body) for _ in range(40)])
    assert Counter(r.status_code for r in answers) == {201: 1, 409: 39}
    listed = stack_.client.get(METHODS, headers=org.headers).json()["data"]
    assert [m["code"] for m in listed] == ["standard"]


def test_sqlite_concurrent_creations_of_one_code_make_one_method(
        sqlite_stack: Stack, sqlite_org: Org) -> None:
    same_code_at_once(sqlite_stack, sqlite_org)


def test_postgresql_concurrent_creations_of_one_code_over_three_processes_make_one_method(
        pg_stack: Stack, pg_org: Org) -> None:
    same_code_at_once(pg_stack, pg_org)


def test_pickup_is_offered_only_where_the_location_has_every_line_in_stock(
        client: TestClient, org: Org) -> None:
    """Two pickup stores, the cart's units at one only: only that store's pickup is offered,
    the other is refused when chosen, and checkout with the offered one succeeds (it used to
    offer both, and checkout at the empty store then failed for want of stock)."""
    skus, stocked_store, _ = checkout_helpers.shop(client, org, [3, 3])
    empty_store = make_location(client, org, pickup=True)
    here = pickup_method(client, org, stocked_store)
    there = pickup_method(client, org, empty_store)
    cart = new_cart(client, org, [(skus[0], 2), (skus[1], 1)])
    url = store_url(org.slug, f"/carts/{cart['id']}")
    offered = client.get(f"{url}/shipping-methods")
    assert offered.status_code == 200, offered.text
    assert [o["method_id"] for o in offered.json()] == [here]
    refused = client.put(f"{url}/shipping-method", json={"method_id": there})
    assert refused.status_code == 422, refused.text
    assert refused.json()["errors"][0]["field"] == "shipping_method"
    chosen = client.put(f"{url}/shipping-method", json={"method_id": here})
    assert chosen.status_code == 200, chosen.text
    done = checkout(client, org, cart["id"], {"method": "manual"})
    assert done.status_code == 201, done.text
    assert done.json()["pickup_location_id"] == stocked_store["id"]
