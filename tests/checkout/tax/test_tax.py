"""Tax settings and rates: which rates apply where (hypothesis on the matching rules), the
HTTP surface with its validation, and tax lines fed through the orders module's arithmetic
giving the right amounts for exclusive and inclusive prices."""

from __future__ import annotations

from collections import Counter
from decimal import Decimal
from typing import Any

import httpx
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st

from mercato.checkout.tax import service as tax
from mercato.checkout.tax.service import TaxAddress, applies, normalized
from mercato.core.db import Database
from mercato.orders.totals import LineIn, ShippingIn, order_totals
from tests.conftest import Org, staff_token
from tests.inventory import test_concurrency as stacks
from tests.inventory.test_concurrency import Load, Stack

RATES = "/api/v1/tax/rates"
SETTINGS = "/api/v1/tax/settings"
sqlite_stack, sqlite_org = stacks.sqlite_stack, stacks.sqlite_org
pg_stack, pg_org = stacks.pg_stack, stacks.pg_org

postal_chars = st.sampled_from("0123456789ABCXYZabcxyz -")
postal_codes = st.text(postal_chars, max_size=10)
prefixes = st.text(st.sampled_from("0123456789ABCXYZ"), min_size=1, max_size=4)


def add_rate(client: TestClient, org: Org, **fields: Any) -> dict[str, Any]:
    response = client.post(RATES, headers=org.headers, json=fields)
    assert response.status_code == 201, response.text
    return dict(response.json())


def field_errors(response: httpx.Response) -> set[str]:
    assert response.status_code == 422, response.text
    assert response.json()["code"] == "validation_error"
    return {e["field"] for e in response.json()["errors"]}


# -- the matching rules (pure) ------------------------------------------------------------------

@given(postal_codes, prefixes)
def test_a_postal_code_matches_a_prefix_rate_iff_it_starts_with_the_prefix(
        postal: str, prefix: str) -> None:
    where = normalized(TaxAddress("US", None, postal))
    expected = "".join(postal.split()).upper().startswith(prefix)
    assert applies("US", "", prefix, where) is expected


@given(postal_codes, st.sampled_from(["", "US-CA"]), st.sampled_from(["", "9"]),
       st.sampled_from(["CA", "MX", "us"]))
def test_a_rate_never_applies_in_another_country(postal: str, region: str, prefix: str,
                                                 country: str) -> None:
    where = normalized(TaxAddress(country, "CA", postal))
    if where.country != "US":
        assert not applies("US", region, prefix, where)


@given(st.sampled_from(["CA", "ca", "US-CA", " us-ca ", "Us-Ca"]), postal_codes)
def test_every_spelling_of_a_region_matches_the_same_region_rate(region: str,
                                                                 postal: str) -> None:
    where = normalized(TaxAddress("us", region, postal))
    assert where.region == "US-CA"
    assert applies("US", "US-CA", "", where)
    assert not applies("US", "US-NY", "", where)


def test_a_region_rate_does_not_apply_without_a_region_but_a_country_rate_does() -> None:
    where = normalized(TaxAddress("US", None, "94103"))
    assert applies("US", "", "", where)
    assert not applies("US", "US-CA", "", where)
    assert not applies("US", "", "941", normalized(TaxAddress("US")))


def test_postal_codes_are_matched_uppercased_without_spaces() -> None:
    where = normalized(TaxAddress("CA", "on", "k1a 0b1"))
    assert (where.region, where.postal_code) == ("CA-ON", "K1A0B1")
    assert applies("CA", "CA-ON", "K1A0", where)


# -- settings -----------------------------------------------------------------------------------

def test_settings_default_to_exclusive_prices_with_taxed_shipping_until_set(
        client: TestClient, org: Org) -> None:
    got = client.get(SETTINGS, headers=org.headers)
    assert got.status_code == 200
    assert got.json() == {"prices_include_tax": False, "tax_shipping": True, "updated_at": None}
    put = client.put(SETTINGS, headers=org.headers,
                     json={"prices_include_tax": True, "tax_shipping": False})
    assert put.status_code == 200, put.text
    again = client.get(SETTINGS, headers=org.headers).json()
    assert (again["prices_include_tax"], again["tax_shipping"]) == (True, False)
    assert again["updated_at"] is not None


def test_a_stale_if_match_on_the_settings_is_412_and_changes_nothing(
        client: TestClient, org: Org) -> None:
    first = client.get(SETTINGS, headers=org.headers).headers["ETag"]
    body = {"prices_include_tax": True, "tax_shipping": True}
    assert client.put(SETTINGS, headers={**org.headers, "If-Match": first},
                      json=body).status_code == 200
    stale = client.put(SETTINGS, headers={**org.headers, "If-Match": first},
                       json={"prices_include_tax": False, "tax_shipping": False})
    assert stale.status_code == 412
    assert client.get(SETTINGS, headers=org.headers).json()["prices_include_tax"] is True


def test_settings_put_needs_both_fields_and_booleans(client: TestClient, org: Org) -> None:
    assert field_errors(client.put(SETTINGS, headers=org.headers,
                                   json={"prices_include_tax": True})) == {"tax_shipping"}
    assert field_errors(client.put(SETTINGS, headers=org.headers, json={
        "prices_include_tax": "maybe", "tax_shipping": True})) == {"prices_include_tax"}


def test_a_cashier_reads_tax_but_cannot_change_it(client: TestClient, org: Org) -> None:
    cashier = {"Authorization": f"Bearer {staff_token(client, org, 'cashier')}"}
    assert client.get(SETTINGS, headers=cashier).status_code == 200
    refused = client.post(RATES, headers=cashier, json={
        "country": "US", "title": "Sales tax", "rate": "0.05"})
    assert refused.status_code == 403
    assert refused.json()["missing_permissions"] == ["checkout:write"]
    fulfillment = {"Authorization": f"Bearer {staff_token(client, org, 'fulfillment')}"}
    assert client.get(RATES, headers=fulfillment).status_code == 403


# -- rates over HTTP ----------------------------------------------------------------------------

def test_a_rate_is_created_read_listed_changed_and_deleted(client: TestClient, org: Org) -> None:
    rate = add_rate(client, org, country="us", region="ca", postal_prefix="941 ",
                    title="SF County", rate="0.0125")
    assert (rate["country"], rate["region"], rate["postal_prefix"], rate["rate"]) == \
        ("US", "US-CA", "941", "0.0125")
    other = add_rate(client, org, country="DE", title="MwSt", rate="0.19")
    assert (other["region"], other["postal_prefix"]) == (None, None)
    url = f"{RATES}/{rate['id']}"
    got = client.get(url, headers=org.headers)
    assert (got.status_code, got.json()) == (200, rate)
    listed = client.get(RATES, headers=org.headers, params={"country": "US"}).json()
    assert [r["id"] for r in listed["data"]] == [rate["id"]]
    changed = client.patch(url, headers={**org.headers, "If-Match": got.headers["ETag"]},
                           json={"rate": "0.015", "postal_prefix": None})
    assert changed.status_code == 200, changed.text
    assert (changed.json()["rate"], changed.json()["postal_prefix"]) == ("0.015", None)
    stale = client.patch(url, headers={**org.headers, "If-Match": got.headers["ETag"]},
                         json={"rate": "0.02"})
    assert stale.status_code == 412
    assert client.delete(url, headers=org.headers).status_code == 204
    assert client.get(url, headers=org.headers).status_code == 404
    assert client.delete(url, headers=org.headers).status_code == 404


def test_bad_rates_are_422_naming_the_field_and_store_nothing(
        client: TestClient, org: Org) -> None:
    good = {"country": "US", "title": "Sales tax", "rate": "0.05"}
    cases = [({"country": "XX"}, "country"), ({"country": "USA"}, "country"),
             ({"rate": "-0.01"}, "rate"), ({"rate": "1.5"}, "rate"), ({"rate": 0.05}, "rate"),
             ({"rate": "0.1234567"}, "rate"), ({"region": "MX-JAL"}, "region"),
             ({"region": "CALIFORNIA"}, "region"), ({"postal_prefix": "94/1"}, "postal_prefix"),
             ({"title": ""}, "title"), ({"surprise": 1}, "surprise")]
    for change, field in cases:
        assert field in field_errors(client.post(RATES, headers=org.headers,
                                                 json={**good, **change})), change
    assert client.get(RATES, headers=org.headers).json()["data"] == []
    rate = add_rate(client, org, **good, region="CA")
    moved = client.patch(f"{RATES}/{rate['id']}", headers=org.headers,
                         json={"country": "CA"})  # its US-CA region is not in Canada
    assert field_errors(moved) == {"region"}
    assert field_errors(client.patch(f"{RATES}/{rate['id']}", headers=org.headers,
                                     json={"title": None})) == {"title"}
    assert client.get(f"{RATES}/{rate['id']}", headers=org.headers).json() == rate


def test_a_rate_that_is_not_a_number_is_422_not_a_server_error(
        client: TestClient, org: Org) -> None:
    good = {"country": "US", "title": "Sales tax", "rate": "0.05"}
    for bad in ({}, [], "abc", "", "0.05%", True, None):
        response = client.post(RATES, headers=org.headers, json={**good, "rate": bad})
        assert field_errors(response) == {"rate"}, bad
        assert response.headers["content-type"] == "application/problem+json"
    assert client.get(RATES, headers=org.headers).json()["data"] == []
    rate = add_rate(client, org, **good)
    for bad in ({}, "abc"):
        changed = client.patch(f"{RATES}/{rate['id']}", headers=org.headers, json={"rate": bad})
        assert field_errors(changed) == {"rate"}, bad
    assert client.get(f"{RATES}/{rate['id']}", headers=org.headers).json() == rate
    # integers and strings in any decimal spelling are fractions too
    assert add_rate(client, org, country="US", title="None", rate=0)["rate"] == "0"
    assert add_rate(client, org, country="US", title="Tiny", rate="5E-3")["rate"] == "0.005"


def test_the_openapi_document_says_a_rate_is_a_decimal_string(client: TestClient) -> None:
    schemas = client.get("/openapi.json").json()["components"]["schemas"]
    for name in ("TaxRateIn", "TaxLineIn"):
        rate = schemas[name]["properties"]["rate"]
        spelled = rate.get("anyOf", [rate])[0]
        assert (spelled["type"], spelled["pattern"]) == (
            "string", r"^(0(\.[0-9]{1,6})?|1(\.0{1,6})?)$"), name


def test_the_same_title_twice_at_one_place_is_a_conflict(client: TestClient, org: Org) -> None:
    add_rate(client, org, country="US", region="US-CA", title="State", rate="0.0725")
    again = client.post(RATES, headers=org.headers, json={
        "country": "US", "region": "CA", "title": "State", "rate": "0.05"})
    assert again.status_code == 409
    assert again.json()["errors"] == [{"field": "title", "message": (
        "already used at this country, region and postal prefix")}]
    # the same title elsewhere is fine
    add_rate(client, org, country="US", region="US-NV", title="State", rate="0.0685")


# -- which rates apply --------------------------------------------------------------------------

def california(client: TestClient, org: Org) -> None:
    add_rate(client, org, country="US", region="CA", title="CA State Tax", rate="0.0725")
    add_rate(client, org, country="US", region="US-CA", postal_prefix="941",
             title="SF County Tax", rate="0.0125")
    add_rate(client, org, country="US", region="CA", postal_prefix="94103",
             title="SoMa District Tax", rate="0.005")
    add_rate(client, org, country="US", title="Federal Fee", rate="0.001")
    add_rate(client, org, country="US", region="NY", title="NY State Tax", rate="0.04")


def test_every_matching_rate_applies_broadest_first(
        client: TestClient, org: Org, other_org: Org, db: Database) -> None:
    california(client, org)
    add_rate(client, other_org, country="US", title="Not mine", rate="0.5")
    with db.session(tenant=org.id) as session:
        assert tax.rates_for(session, TaxAddress("US", "CA", "94103-1234")) == [
            ("Federal Fee", Decimal("0.001")), ("CA State Tax", Decimal("0.0725")),
            ("SF County Tax", Decimal("0.0125")), ("SoMa District Tax", Decimal("0.005"))]
        assert tax.rates_for(session, TaxAddress("us", "us-ca", "90210")) == [
            ("Federal Fee", Decimal("0.001")), ("CA State Tax", Decimal("0.0725"))]
        assert tax.rates_for(session, TaxAddress("US", None, "94103")) == [
            ("Federal Fee", Decimal("0.001"))]
        assert tax.rates_for(session, TaxAddress("FR", None, "75001")) == []
        assert tax.rates_for(session, TaxAddress("ZZ")) == []
        assert tax.rates_for(session, None) == []


def test_the_lookup_shows_the_normalized_address_and_its_rates(
        client: TestClient, org: Org) -> None:
    california(client, org)
    found = client.get("/api/v1/tax/lookup", headers=org.headers,
                       params={"country": "us", "region": "ca", "postal_code": "941 05"})
    assert found.status_code == 200, found.text
    assert found.json() == {
        "country": "US", "region": "US-CA", "postal_code": "94105",
        "prices_include_tax": False, "tax_shipping": True,
        "rates": [{"title": "Federal Fee", "rate": "0.001"},
                  {"title": "CA State Tax", "rate": "0.0725"},
                  {"title": "SF County Tax", "rate": "0.0125"}]}


# -- amounts through the orders module ----------------------------------------------------------

def test_exclusive_prices_add_each_rate_rounded_half_even_per_tax_line(
        client: TestClient, org: Org, db: Database) -> None:
    california(client, org)
    where = TaxAddress("US", "CA", "94103")
    with db.session(tenant=org.id) as session:
        settings = tax.tax_settings(session)
        lines = tax.tax_lines(session, where)
        shipping = tax.shipping_tax_lines(session, where)
    assert settings == tax.TaxSettingsView(prices_include_tax=False, tax_shipping=True)
    totals = order_totals([LineIn(2, Decimal("50.00"), (), lines)],
                          [ShippingIn(Decimal("10.00"), shipping)],
                          included=settings.prices_include_tax)
    # 100.00 x (0.001, 0.0725, 0.0125, 0.005) = 0.10, 7.25, 1.25, 0.50
    assert [x["amount"] for x in totals.lines[0].tax_lines] == ["0.10", "7.25", "1.25", "0.50"]
    # 10.00 x the same rates = 0.01, 0.725 -> 0.72 (half-even), 0.125 -> 0.12, 0.05
    assert [x["amount"] for x in totals.shipping[0].tax_lines] == ["0.01", "0.72", "0.12",
                                                                    "0.05"]
    assert (totals.tax_total, totals.total) == (Decimal("10.00"), Decimal("120.00"))


def test_inclusive_prices_carry_their_tax_and_untaxed_shipping_carries_none(
        client: TestClient, org: Org, db: Database) -> None:
    add_rate(client, org, country="DE", title="MwSt", rate="0.19")
    add_rate(client, org, country="DE", postal_prefix="2", title="Hafen", rate="0.01")
    assert client.put(SETTINGS, headers=org.headers, json={
        "prices_include_tax": True, "tax_shipping": False}).status_code == 200
    where = TaxAddress("de", None, "20095")
    with db.session(tenant=org.id) as session:
        settings = tax.tax_settings(session)
        lines = tax.tax_lines(session, where)
        shipping = tax.shipping_tax_lines(session, where)
    assert shipping == []
    totals = order_totals([LineIn(1, Decimal("120.00"), (), lines)],
                          [ShippingIn(Decimal("4.90"), shipping)],
                          included=settings.prices_include_tax)
    # 120.00 is net 100.00 plus 19 % and 1 %: the tax inside it is 19.00 and 1.00
    assert [(x["title"], x["amount"]) for x in totals.lines[0].tax_lines] == [
        ("MwSt", "19.00"), ("Hafen", "1.00")]
    assert totals.shipping[0].tax_lines == []
    assert (totals.tax_total, totals.total) == (Decimal("20.00"), Decimal("124.90"))


# -- concurrency --------------------------------------------------------------------------------

def first_settings_writes(stack_: Stack, org: Org) -> None:
    """30 first writes of the settings at once all succeed and leave one row."""
    load = Load(stack_.urls, org)
    bodies = [{"prices_include_tax": n % 2 == 0, "tax_shipping": True} for n in range(30)]

    def put(body: dict[str, Any], n: int) -> httpx.Response:
        url = stack_.urls[n % len(stack_.urls)]
        return load._client().put(url + SETTINGS, json=body)

    answers = load.run([lambda b=b, n=n: put(b, n) for n, b in enumerate(bodies)])
    assert Counter(r.status_code for r in answers) == {200: 30}
    final = stack_.client.get(SETTINGS, headers=org.headers)
    assert final.json()["updated_at"] is not None
    # a write that changes nothing keeps the version; every other one bumped it once
    assert 1 <= int(final.headers["ETag"].strip('"').split(".")[1]) <= 30
    with stack_.db.session(tenant=org.id) as session:
        assert session.query(tax.TaxSettings).count() == 1


def test_sqlite_concurrent_first_settings_writes_leave_one_row(
        sqlite_stack: Stack, sqlite_org: Org) -> None:
    first_settings_writes(sqlite_stack, sqlite_org)


def test_postgresql_concurrent_first_settings_writes_over_three_processes_leave_one_row(
        pg_stack: Stack, pg_org: Org) -> None:
    first_settings_writes(pg_stack, pg_org)
