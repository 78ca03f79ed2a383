"""HTTP shapes of tax settings and rates (and the field types shipping zones share).

Field-level checks live here; checks that depend on other fields or on stored state (a
region inside the rate's country, brackets that fit the method's kind) are the services'.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    WithJsonSchema,
)

from mercato.checkout.tax.places import (
    COUNTRIES,
    POSTAL_PREFIX,
    normalize_country,
    normalize_postal,
)
from mercato.orders import Rate


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

