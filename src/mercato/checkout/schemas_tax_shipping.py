"""HTTP shapes of tax settings and rates, shipping zones, methods and quotes.

Field-level checks live here; checks that depend on other fields or on stored state (a
region inside the rate's country, brackets that fit the method's kind) are the services'.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    WithJsonSchema,
)

from mercato.checkout.tax import COUNTRIES, POSTAL_PREFIX, normalize_country, normalize_postal
from mercato.core.money import Money
from mercato.orders.schemas import Rate

MethodKind = Literal["flat", "weight", "price", "pickup"]
MAX_GRAMS = 100_000_000


def _country(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError("an ISO 3166-1 alpha-2 country code such as US")
    code = normalize_country(value)
    if code not in COUNTRIES:
        raise ValueError(f"{value!r} is not an ISO 3166-1 alpha-2 country code")
    return code


def _postal_prefix(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError("a postal code prefix such as 941 or SW1A")
    prefix = normalize_postal(value)
    if not prefix:
        return None
    if not POSTAL_PREFIX.match(prefix):
        raise ValueError("letters, digits and - only, at most 10 (spaces are ignored)")
    return prefix


def _region(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > 10:
        raise ValueError("an ISO 3166-2 subdivision code such as US-CA or CA")
    return "".join(value.split()).upper() or None


def plain_rate(rate: Decimal) -> Decimal:
    """A stored rate without the column's trailing zeros (0.072500 is 0.0725)."""
    return Decimal(f"{rate.normalize():f}")


def _blank_is_none(value: Any) -> Any:
    return None if value == "" else value


Country = Annotated[str, BeforeValidator(_country)]
PostalPrefix = Annotated[str | None, BeforeValidator(_postal_prefix)]
Region = Annotated[str | None, BeforeValidator(_region)]
StoredRate = Annotated[Decimal, AfterValidator(plain_rate),
                      PlainSerializer(lambda d: f"{d:f}", return_type=str, when_used="json"),
                      WithJsonSchema({"type": "string", "examples": ["0.0725"]})]
StoredScope = Annotated[str | None, BeforeValidator(_blank_is_none)]
Currency = Annotated[str, Field(pattern=r"^[A-Z]{3}$", description="ISO 4217.")]


# -- tax ----------------------------------------------------------------------------------------

class TaxSettingsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    prices_include_tax: bool = Field(description=(
        "Catalog prices already contain tax (VAT style); tax lines then show the share of "
        "the price that is tax."))
    tax_shipping: bool = Field(description="Shipping lines are taxed at the address's rates.")


class TaxSettingsOut(BaseModel):
    prices_include_tax: bool
    tax_shipping: bool
    updated_at: dt.datetime | None = Field(description="null while the defaults apply.")


class TaxRateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    country: Country = Field(description="ISO 3166-1 alpha-2, e.g. `US`.")
    region: Region = Field(default=None, description=(
        "ISO 3166-2 subdivision, full (`US-CA`) or without the country (`CA`); stored full. "
        "Omitted: the whole country."))
    postal_prefix: PostalPrefix = Field(default=None, description=(
        "Only postal codes starting with this (uppercased, spaces removed)."))
    title: str = Field(min_length=1, max_length=100, description="Shown on the tax line.")
    rate: Rate = Field(description="A decimal fraction: `\"0.0725\"` for 7.25 %.")


class TaxRateUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    country: Country | None = None
    region: Region = None
    postal_prefix: PostalPrefix = None
    title: str | None = Field(default=None, min_length=1, max_length=100)
    rate: Rate | None = None


class TaxRateOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    country: str
    region: StoredScope
    postal_prefix: StoredScope
    title: str
    rate: StoredRate
    created_at: dt.datetime
    updated_at: dt.datetime


class AppliedRate(BaseModel):
    title: str
    rate: StoredRate


class TaxLookupOut(BaseModel):
    country: str
    region: str | None = Field(description="As matched: a full ISO 3166-2 code.")
    postal_code: str | None = Field(description="As matched: uppercased, no spaces.")
    prices_include_tax: bool
    tax_shipping: bool
    rates: list[AppliedRate] = Field(description="Every rate that applies, broadest first.")


# -- shipping -----------------------------------------------------------------------------------

class ShippingZoneIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=100)
    countries: list[Country] = Field(min_length=1, max_length=250)
    regions: list[Region] = Field(default_factory=list, max_length=500, description=(
        "Narrow the zone to these ISO 3166-2 subdivisions; a bare code (`CA`) only when the "
        "zone has one country."))
    postal_prefixes: list[PostalPrefix] = Field(default_factory=list, max_length=1000,
                                                description="Narrow the zone to postal codes "
                                                            "starting with one of these.")


class ShippingZoneUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(default=None, min_length=1, max_length=100)
    countries: list[Country] | None = Field(default=None, min_length=1, max_length=250)
    regions: list[Region] | None = Field(default=None, max_length=500)
    postal_prefixes: list[PostalPrefix] | None = Field(default=None, max_length=1000)


class ShippingZoneOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    name: str
    countries: list[str]
    regions: list[str]
    postal_prefixes: list[str]
    created_at: dt.datetime
    updated_at: dt.datetime


class WeightBracket(BaseModel):
    model_config = ConfigDict(extra="forbid", from_attributes=True)
    up_to_grams: int | None = Field(ge=0, le=MAX_GRAMS, description=(
        "Carts weighing at most this many grams (inclusive); null on the last bracket: "
        "any weight."))
    price: Money


class PriceBracket(BaseModel):
    model_config = ConfigDict(extra="forbid", from_attributes=True)
    from_subtotal: Money = Field(description="Carts whose subtotal is at least this "
                                             "(inclusive).")
    price: Money


class ShippingMethodIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    zone_id: str | None = Field(default=None, max_length=26, description=(
        "The zone it ships to; required except for pickup, which has none."))
    title: str = Field(min_length=1, max_length=200)
    code: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,49}$", description=(
        "Unique in the organization; copied to the order's shipping line."))
    kind: MethodKind
    currency: Currency
    price: Money | None = Field(default=None, description=(
        "`flat`: the price (required). `pickup`: a fee, 0.00 when omitted."))
    weight_brackets: list[WeightBracket] | None = Field(default=None, max_length=100,
                                                        description="`weight` only, "
                                                                    "ascending.")
    price_brackets: list[PriceBracket] | None = Field(default=None, max_length=100,
                                                      description="`price` only, ascending.")
    min_subtotal: Money | None = Field(default=None, description="Offered from this "
                                                                 "subtotal (inclusive).")
    max_subtotal: Money | None = Field(default=None, description="Offered up to this "
                                                                 "subtotal (inclusive).")
    pickup_location: str | None = Field(default=None, max_length=50, description=(
        "`pickup` only: id or code of an inventory location with `pickup: true`."))
    active: bool = True


class ShippingMethodUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    zone_id: str | None = Field(default=None, max_length=26)
    title: str | None = Field(default=None, min_length=1, max_length=200)
    code: str | None = Field(default=None, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,49}$")
    kind: MethodKind | None = None
    currency: Currency | None = None
    price: Money | None = None
    weight_brackets: list[WeightBracket] | None = Field(default=None, max_length=100)
    price_brackets: list[PriceBracket] | None = Field(default=None, max_length=100)
    min_subtotal: Money | None = None
    max_subtotal: Money | None = None
    pickup_location: str | None = Field(default=None, max_length=50)
    active: bool | None = None


class ShippingMethodOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    zone_id: str | None
    title: str
    code: str
    kind: MethodKind
    currency: str
    price: Money | None
    weight_brackets: list[WeightBracket]
    price_brackets: list[PriceBracket]
    min_subtotal: Money | None
    max_subtotal: Money | None
    pickup_location_id: str | None
    active: bool
    created_at: dt.datetime
    updated_at: dt.datetime


class QuoteOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    method_id: str
    code: str
    title: str
    kind: MethodKind
    price: Money
    currency: str
    pickup_location_id: str | None


class QuoteList(BaseModel):
    zone_id: str | None = Field(description="The zone whose methods were offered (the most "
                                            "specific one the address is in), if any.")
    data: list[QuoteOut]
