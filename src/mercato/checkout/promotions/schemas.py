"""HTTP shapes of promotions and their redemptions."""

from __future__ import annotations

import datetime as dt

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from mercato.checkout.pricing.schemas import (
    MAX_USES,
    Code,
    Currency,
    PromotionKind,
    Scope,
    ScopeOut,
    Stacking,
)
from mercato.core.money import Money


class PromotionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: str = Field(min_length=1, max_length=200)
    kind: PromotionKind
    value: Money | None = Field(default=None, description=(
        "`percentage` and `buy_x_get_y`: percent off (0-100; buy-x-get-y defaults to 100, "
        "free). `fixed_amount`: the amount in `currency`. `free_shipping`: none."))
    currency: Currency | None = Field(default=None, description=(
        "Required with `fixed_amount` or `min_subtotal`; the promotion then applies to carts "
        "in this currency only."))
    codes: list[Code] = Field(default_factory=list, max_length=100, description=(
        "Codes that unlock it (case-insensitive, unique in the store); none = automatic."))
    scope: Scope = Field(default_factory=Scope)
    buy_quantity: int | None = Field(default=None, ge=1, le=1000)
    get_quantity: int | None = Field(default=None, ge=1, le=1000)
    min_subtotal: Money | None = Field(default=None, description=(
        "The cart's subtotal (every line, before discounts) must reach it."))
    starts_at: AwareDatetime | None = None
    ends_at: AwareDatetime | None = None
    usage_limit: int | None = Field(default=None, ge=1, le=MAX_USES, description="Uses in total.")
    per_customer_limit: int | None = Field(default=None, ge=1, le=MAX_USES, description=(
        "Uses per customer (by customer id, else by email)."))
    stacking: Stacking = "combinable"
    priority: int = Field(default=0, ge=-1000, le=1000)
    active: bool = True



class PromotionUpdate(BaseModel):
    """Only the fields sent change; the result is checked as a whole, as on creation."""

    model_config = ConfigDict(extra="forbid")
    title: str | None = Field(default=None, min_length=1, max_length=200)
    kind: PromotionKind | None = None
    value: Money | None = None
    currency: Currency | None = None
    codes: list[Code] | None = Field(default=None, max_length=100)
    scope: Scope | None = None
    buy_quantity: int | None = Field(default=None, ge=1, le=1000)
    get_quantity: int | None = Field(default=None, ge=1, le=1000)
    min_subtotal: Money | None = None
    starts_at: AwareDatetime | None = None
    ends_at: AwareDatetime | None = None
    usage_limit: int | None = Field(default=None, ge=1, le=MAX_USES)
    per_customer_limit: int | None = Field(default=None, ge=1, le=MAX_USES)
    stacking: Stacking | None = None
    priority: int | None = Field(default=None, ge=-1000, le=1000)
    active: bool | None = None


class PromotionOut(BaseModel):
    id: str
    title: str
    kind: PromotionKind
    value: Money
    currency: str | None
    codes: list[str]
    automatic: bool
    scope: ScopeOut
    buy_quantity: int | None
    get_quantity: int | None
    min_subtotal: Money | None
    starts_at: dt.datetime | None
    ends_at: dt.datetime | None
    usage_limit: int | None
    per_customer_limit: int | None
    used: int
    stacking: Stacking
    priority: int
    active: bool
    created_at: dt.datetime
    updated_at: dt.datetime


class RedemptionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    code: str | None
    order_id: str
    customer_key: str | None
    amount: Money
    created_at: dt.datetime

