"""Money: decimal amounts (never floats), written as strings such as ``"12.50"``.

The one owner of currency exponents and of the rounding rule.

**Exponents** (how many decimal places a currency has) come from Babel's copy of the Unicode CLDR
currency data (``babel.numbers.get_currency_precision``), a maintained source, rather than a list
kept by hand: JPY, KRW, HUF and the like have none, most currencies two, KWD, BHD, JOD, OMR and
TND three, CLF four. CLDR gives the places a currency is *used* with, which for a few currencies
(HUF, COP, IDR, ...) is fewer than ISO 4217 lists. The exponent is capped at two
(``STORED_PLACES``): every amount column stores two places (``Numeric(12, 2)``) and ``Money``
accepts two, so a three-place currency is kept to hundredths like the rest. An unknown code has
two (CLDR's default). A payment gateway's own minor-unit rules (Stripe's zero-decimal list) are
that gateway's and stay in it; it converts with ``to_minor``/``from_minor`` and its own places.

**Rounding** is half-even (banker's rounding, ``ROUND_HALF_EVEN``) everywhere: an amount at exactly
half a minor unit goes to the even neighbour (``0.125`` -> ``0.12``, ``0.135`` -> ``0.14``), so
rounding many amounts does not drift upwards on average.
"""

from __future__ import annotations

from decimal import ROUND_DOWN, ROUND_HALF_EVEN, Decimal, InvalidOperation
from functools import lru_cache
from typing import Annotated, Any

from babel.numbers import get_currency_precision
from pydantic import BeforeValidator, PlainSerializer, WithJsonSchema

STORED_PLACES = 2
"""Decimal places every amount is stored with (``Numeric(12, 2)``) and ``Money`` accepts."""
CENTS = Decimal(1).scaleb(-STORED_PLACES)
MAX_AMOUNT = Decimal("99999999.99")
ROUNDING = ROUND_HALF_EVEN


@lru_cache(maxsize=512)
def _exponent(code: str) -> int:
    return min(get_currency_precision(code), STORED_PLACES)


def exponent(currency: str) -> int:
    """Decimal places of ``currency`` (any case): CLDR's, at most ``STORED_PLACES``."""
    return _exponent(currency.strip().upper())


def minor_unit(currency: str) -> Decimal:
    """The smallest amount of ``currency`` Mercato keeps: ``1`` for JPY, ``0.01`` for USD."""
    return Decimal(1).scaleb(-exponent(currency))


def _quantum(places: int) -> Decimal:
    return Decimal(1).scaleb(-places)


def round(amount: Decimal, currency: str | None = None) -> Decimal:
    """``amount`` half-even to ``currency``'s minor unit, or to cents without a currency."""
    places = STORED_PLACES if currency is None else exponent(currency)
    return amount.quantize(_quantum(places), rounding=ROUNDING)


def cents(amount: Decimal) -> Decimal:
    """``amount`` half-even to hundredths, the places amounts are stored with."""
    return amount.quantize(CENTS, rounding=ROUNDING)


def allocate(amount: Decimal, weights: dict[str, Decimal],
             currency: str | None = None) -> dict[str, Decimal]:
    """``amount`` split over ``weights``' keys in proportion, in whole minor units that add up
    to exactly ``amount``: each share rounded down, then the units left over go one each to the
    largest remainders (ties to the smaller key). Empty when the weights or the amount are not
    positive."""
    total = sum(weights.values(), Decimal(0))
    if total <= 0 or amount <= 0:
        return {}
    unit = CENTS if currency is None else minor_unit(currency)
    raw = {key: amount * weight / total for key, weight in weights.items()}
    shares = {key: value.quantize(unit, rounding=ROUND_DOWN) for key, value in raw.items()}
    left = int((amount - sum(shares.values(), Decimal(0))) / unit)
    for key in sorted(raw, key=lambda k: (-(raw[k] - shares[k]), k))[:left]:
        shares[key] += unit
    return shares


def to_minor(amount: Decimal, currency: str | None = None, *, places: int | None = None) -> int:
    """``amount`` as a whole number of minor units, exactly: ``12.50`` USD -> ``1250``.

    The places are ``places`` when given (a gateway's own rule), else ``currency``'s exponent,
    else ``STORED_PLACES``. An amount with more places than that raises ``ValueError``: amounts
    reach here validated, so it is a bug, never something to round away."""
    if places is None:
        places = STORED_PLACES if currency is None else exponent(currency)
    minor = amount.scaleb(places)
    if minor != minor.to_integral_value():
        what = f"{amount} {currency}" if currency else str(amount)
        raise ValueError(f"{what} has more than {places} decimal places")
    return int(minor)


def from_minor(units: int, currency: str | None = None, *, places: int | None = None) -> Decimal:
    """A whole number of minor units as an amount with exactly that many places:
    ``1250`` -> ``12.50`` (places as in ``to_minor``)."""
    if places is None:
        places = STORED_PLACES if currency is None else exponent(currency)
    return Decimal(units).scaleb(-places).quantize(_quantum(places), rounding=ROUNDING)


def parse_amount(value: Any) -> Decimal:
    """Strings and integers only: a float has already lost the cents it was meant to carry."""
    if isinstance(value, bool | float):
        raise ValueError("amounts are decimal strings such as \"12.50\"")
    try:
        amount = Decimal(str(value).strip()) if isinstance(value, str | int | Decimal) else None
    except InvalidOperation:
        amount = None
    if amount is None or not amount.is_finite():
        raise ValueError("not a decimal amount")
    if amount < 0:
        raise ValueError("must not be negative")
    if amount > MAX_AMOUNT:
        raise ValueError(f"must be at most {MAX_AMOUNT}")
    if amount != cents(amount):
        raise ValueError("at most two decimal places")
    return cents(amount)


Money = Annotated[
    Decimal,
    BeforeValidator(parse_amount),
    PlainSerializer(lambda d: f"{d:.2f}", return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "pattern": r"^\d{1,8}(\.\d{1,2})?$",
                    "examples": ["12.50"]}),
]
