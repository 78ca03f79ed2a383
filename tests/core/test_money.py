"""core.money: currency exponents from CLDR (Babel) capped at the stored two places, and
half-even rounding."""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal

import pytest
from babel.numbers import get_currency_precision
from hypothesis import given
from hypothesis import strategies as st

from mercato.core import money

SAMPLE = ["USD", "EUR", "GBP", "JPY", "KRW", "CLP", "VND", "ISK", "XPF", "KWD", "BHD", "JOD",
          "OMR", "TND", "CLF", "CHF", "TWD", "HUF", "MGA", "XXX"]


@pytest.mark.parametrize(("code", "places"), [
    ("JPY", 0), ("KRW", 0), ("usd", 2), ("USD", 2), ("EUR", 2), ("KWD", 2), ("BHD", 2),
    ("CLF", 2), ("ZZZ", 2),  # three or four places in CLDR, kept to the stored two; unknown: 2
])
def test_exponents_of_well_known_currencies(code: str, places: int) -> None:
    assert money.exponent(code) == places
    assert money.minor_unit(code) == Decimal(1).scaleb(-places)


@pytest.mark.parametrize("code", SAMPLE)
def test_exponents_are_babels_capped_at_the_stored_places(code: str) -> None:
    assert money.exponent(code) == min(get_currency_precision(code), money.STORED_PLACES)


amounts = st.decimals(min_value=Decimal("-99999999.99"), max_value=Decimal("99999999.99"),
                      places=4, allow_nan=False, allow_infinity=False)


@given(amount=amounts, code=st.sampled_from(SAMPLE))
def test_rounding_is_half_even_to_the_minor_unit(amount: Decimal, code: str) -> None:
    unit = money.minor_unit(code)
    rounded = money.round(amount, code)
    assert rounded == amount.quantize(unit, rounding=ROUND_HALF_EVEN)
    assert abs(rounded - amount) <= unit / 2
    assert money.round(rounded, code) == rounded


@given(whole=st.integers(min_value=-10**8, max_value=10**8), code=st.sampled_from(SAMPLE))
def test_an_exact_half_goes_to_the_even_neighbour(whole: int, code: str) -> None:
    unit = money.minor_unit(code)
    half = Decimal(whole) * unit + unit / 2
    rounded = money.round(half, code)
    assert rounded in (Decimal(whole) * unit, Decimal(whole + 1) * unit)
    assert int(rounded / unit) % 2 == 0


def test_examples() -> None:
    assert money.cents(Decimal("1.005")) == Decimal("1.00")
    assert money.cents(Decimal("1.015")) == Decimal("1.02")
    assert money.round(Decimal("904.5"), "JPY") == Decimal("904")
    assert money.round(Decimal("905.5"), "JPY") == Decimal("906")
    assert money.round(Decimal("0.125")) == Decimal("0.12")


@given(units=st.integers(min_value=-10**10, max_value=10**10), code=st.sampled_from(SAMPLE))
def test_minor_units_round_trip(units: int, code: str) -> None:
    amount = money.from_minor(units, code)
    assert amount.as_tuple().exponent == -money.exponent(code)
    assert money.to_minor(amount, code) == units


def test_to_minor_never_rounds() -> None:
    assert money.to_minor(Decimal("12.50")) == 1250
    assert money.to_minor(Decimal("1200"), "JPY") == 1200
    assert money.to_minor(Decimal("12.50"), "JPY", places=2) == 1250  # a gateway's own places
    with pytest.raises(ValueError, match="decimal places"):
        money.to_minor(Decimal("12.5"), "JPY")
    with pytest.raises(ValueError, match="decimal places"):
        money.to_minor(Decimal("0.001"))


@given(amount=st.decimals(min_value=Decimal("0.01"), max_value=Decimal("99999.99"), places=2),
       weights=st.dictionaries(st.sampled_from("abcdef"),
                               st.decimals(min_value=Decimal("0.01"), max_value=Decimal("999"),
                                           places=2), min_size=1),
       code=st.sampled_from(["USD", "JPY"]))
def test_allocation_adds_up_exactly_in_minor_units(
        amount: Decimal, weights: dict[str, Decimal], code: str) -> None:
    amount = money.round(amount, code)
    shares = money.allocate(amount, weights, code)
    if amount <= 0:
        assert shares == {}
        return
    assert sum(shares.values(), Decimal(0)) == amount
    unit = money.minor_unit(code)
    assert all(share % unit == 0 for share in shares.values())
