"""HTTP shapes of price lists, pricing rules and promotions."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal, get_args

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints, model_validator

from mercato.core.money import Money

Currency = Annotated[str, Field(pattern=r"^[A-Z]{3}$", examples=["USD"])]
Group = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
Code = Annotated[str, StringConstraints(strip_whitespace=True,
                                        pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,49}$")]
ScopeKind = Literal["all", "product_type", "category", "collection", "tag", "sku"]
Adjustment = Literal["percentage", "fixed_amount", "fixed_price", "market"]
MarketField = Literal["market", "low", "mid", "direct_low"]
"""Which figure of the market price feed (catalog's ``market_prices``) a ``market`` rule uses."""
PromotionKind = Literal["percentage", "fixed_amount", "free_shipping", "buy_x_get_y"]
Stacking = Literal["exclusive", "combinable"]
ChannelKind = Literal["web", "pos", "tcgplayer"]
"""Where a rule can apply: the storefront, the point of sale, or the price a TCGplayer channel
sends (its inventory file and its price push)."""
CHANNEL_KINDS = len(get_args(ChannelKind))
MAX_ENTRIES = 1000
MAX_USES = 2**31 - 1
"""Use limits are 32-bit integer columns."""


class Scope(BaseModel):
    """Which variants: all, or those whose product has one of these types (slugs), categories
    (slugs, subcategories included), collections (slugs) or tags, or these SKUs."""

    model_config = ConfigDict(extra="forbid")
    kind: ScopeKind = "all"
    values: list[Annotated[str, StringConstraints(strip_whitespace=True, min_length=1,
                                                  max_length=100)]] = Field(
        default_factory=list, max_length=500)

    @model_validator(mode="after")
    def _values_match_kind(self) -> Scope:
        if self.kind == "all" and self.values:
            raise ValueError("`all` takes no values")
        if self.kind != "all" and not self.values:
            raise ValueError(f"`{self.kind}` needs at least one value")
        return self


# -- price lists ----------------------------------------------------------------------------

class EntryIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    sku: str = Field(min_length=1, max_length=100)
    price: Money
    min_quantity: int = Field(default=1, ge=1, le=1_000_000, description=(
        "The price holds from this many units up (quantity breaks)."))


class PriceListIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200)
    currency: Currency
    customer_group: Group | None = Field(default=None, description=(
        "Only shoppers whose customer tags include this group; everyone when omitted."))
    starts_at: AwareDatetime | None = None
    ends_at: AwareDatetime | None = None
    priority: int = Field(default=0, ge=-1000, le=1000, description="Higher wins.")
    active: bool = True
    entries: list[EntryIn] = Field(default_factory=list, max_length=MAX_ENTRIES)



class PriceListUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(default=None, min_length=1, max_length=200)
    currency: Currency | None = None
    customer_group: Group | None = None
    starts_at: AwareDatetime | None = None
    ends_at: AwareDatetime | None = None
    priority: int | None = Field(default=None, ge=-1000, le=1000)
    active: bool | None = None


class EntriesIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    entries: list[EntryIn] = Field(max_length=MAX_ENTRIES)
    replace: bool = Field(default=False, description=(
        "Remove the list's entries not named here; otherwise they are kept."))


class EntryOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    variant_id: str
    sku: str
    min_quantity: int
    price: Money
    updated_at: dt.datetime


class PriceListOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    name: str
    currency: str
    customer_group: str | None
    starts_at: dt.datetime | None
    ends_at: dt.datetime | None
    priority: int
    active: bool
    entries_count: int = 0
    created_at: dt.datetime
    updated_at: dt.datetime


class EntriesOut(BaseModel):
    set: int = Field(description="Entries created or changed.")
    removed: int


# -- pricing rules --------------------------------------------------------------------------

ADJUSTMENT = ("`percentage` off, `fixed_amount` off, a `fixed_price`, or `market`: the variant's "
              "latest market price (TCGplayer's, pulled by the connector's `price_pull`) times "
              "`value` percent. A variant with no market price is not priced by a `market` rule.")
VALUE = ("Percent off (above 0, at most 100) for `percentage`; percent of the market price "
         "(above 0, at most 1000: `105` is 5 % over market, `90` 10 % under) for `market`; "
         "an amount in `currency` otherwise.")
MARKET_FIELD = ("Which market price a `market` rule uses: `market` (the default), `low`, `mid` "
                "or `direct_low`; only with `market`.")
CURRENCY = ("Required for amounts and for `market` (the market prices' currency: USD for "
            "TCGplayer's); the rule then applies to carts in that currency only. A percentage "
            "without one applies in every currency.")
CHANNEL = ("Only on channels of these kinds (`web`, `pos`, `tcgplayer`: the price a TCGplayer "
           "channel's inventory file and price push send); every channel when empty.")

class PricingRuleIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: str = Field(min_length=1, max_length=200)
    adjustment: Adjustment = Field(description=ADJUSTMENT)
    value: Money = Field(description=VALUE)
    market_field: MarketField | None = Field(default=None, description=MARKET_FIELD)
    currency: Currency | None = Field(default=None, description=CURRENCY)
    scope: Scope = Field(default_factory=Scope)
    min_quantity: int = Field(default=1, ge=1, le=1_000_000)
    customer_groups: list[Group] = Field(default_factory=list, max_length=50, description=(
        "Only shoppers in one of these groups (customer tags); everyone when empty."))
    channel_kinds: list[ChannelKind] = Field(default_factory=list, max_length=CHANNEL_KINDS,
                                             description=CHANNEL)
    starts_at: AwareDatetime | None = None
    ends_at: AwareDatetime | None = None
    priority: int = Field(default=0, ge=-1000, le=1000)
    active: bool = True



class PricingRuleUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: str | None = Field(default=None, min_length=1, max_length=200)
    adjustment: Adjustment | None = Field(default=None, description=ADJUSTMENT)
    value: Money | None = Field(default=None, description=VALUE)
    market_field: MarketField | None = Field(default=None, description=MARKET_FIELD)
    currency: Currency | None = Field(default=None, description=CURRENCY)
    scope: Scope | None = None
    min_quantity: int | None = Field(default=None, ge=1, le=1_000_000)
    customer_groups: list[Group] | None = Field(default=None, max_length=50)
    channel_kinds: list[ChannelKind] | None = Field(default=None, max_length=CHANNEL_KINDS,
                                                    description=CHANNEL)
    starts_at: AwareDatetime | None = None
    ends_at: AwareDatetime | None = None
    priority: int | None = Field(default=None, ge=-1000, le=1000)
    active: bool | None = None


class ScopeOut(BaseModel):
    kind: ScopeKind
    values: list[str]


class PricingRuleOut(BaseModel):
    id: str
    title: str
    adjustment: Adjustment
    value: Money
    market_field: MarketField | None = Field(description="With `market` rules only.")
    currency: str | None
    scope: ScopeOut
    min_quantity: int
    customer_groups: list[str]
    channel_kinds: list[str]
    starts_at: dt.datetime | None
    ends_at: dt.datetime | None
    priority: int
    active: bool
    created_at: dt.datetime
    updated_at: dt.datetime


def dump(model: BaseModel) -> dict[str, Any]:
    """The fields a client sent (PATCH semantics)."""
    return model.model_dump(exclude_unset=True)
