"""HTTP shapes of shipping zones, methods and quotes.

Field-level checks live here; checks that depend on other fields or on stored state (brackets
that fit the method's kind) are the service's.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
)

from mercato.checkout.tax.schemas import (
    Country,
    Currency,
    PostalPrefix,
    Region,
)
from mercato.core.money import Money

MethodKind = Literal["flat", "weight", "price", "pickup"]
MAX_GRAMS = 100_000_000


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
