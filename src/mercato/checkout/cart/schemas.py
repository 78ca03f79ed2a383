"""Shapes of the storefront's carts and checkout."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from mercato.core.money import Money
from mercato.identity import Address, Email
from mercato.orders import ShopperOrderOut


class CartCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    currency: str = Field(default="USD", pattern=r"^[A-Z]{3}$")
    email: Email | None = None
    lines: list[CartLineIn] = Field(default_factory=list, max_length=100)
    shipping_address: Address | None = None
    shipping_method_id: str | None = Field(default=None, max_length=26, description=(
        "Choose the method at once (it must be able to ship the cart)."))


class CartLineIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    sku: str = Field(min_length=1, max_length=100)
    quantity: int = Field(default=1, ge=1, le=1000)


class CartLineUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    quantity: int = Field(ge=1, le=1000)


class CodeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    code: str = Field(min_length=1, max_length=100)


class ShippingMethodIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    method_id: str = Field(min_length=1, max_length=26)


class CartUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    email: Email | None = None
    note: str | None = Field(default=None, max_length=2000)
    billing_address: Address | None = None


class PaymentChoice(BaseModel):
    model_config = ConfigDict(extra="allow")
    method: str = Field(min_length=1, max_length=30, description=(
        "`manual`, `store_credit`, `gift_card` or `stripe`; other fields are the method's "
        "(`code` for a gift card, `payment_method` for Stripe)."))


class CheckoutIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    payment: PaymentChoice
    email: Email | None = None


class CartLineOut(BaseModel):
    id: str
    sku: str
    variant_id: str
    title: str | None
    variant_title: str | None
    quantity: int
    unit_price: Money | None
    compare_at: Money | None
    price_source: str | None
    available: int = Field(description="Units the store can sell now.")
    discounts: list[dict[str, Any]]
    subtotal: Money
    discount_total: Money
    tax_total: Money
    total: Money
    problems: list[str] = Field(description="Why this line cannot be bought now, if so.")


class ShippingOptionOut(BaseModel):
    method_id: str
    code: str
    title: str
    kind: str
    price: Money
    currency: str
    pickup_location_id: str | None


class PromotionOut(BaseModel):
    promotion_id: str
    code: str | None
    title: str
    kind: str
    amount: Money


class CartOut(BaseModel):
    id: str
    status: Literal["open", "checking_out", "completed", "expired", "merged"]
    currency: str
    email: str | None
    customer_id: str | None
    lines: list[CartLineOut]
    codes: list[str]
    promotions: list[PromotionOut]
    rejected_codes: dict[str, str]
    shipping_address: dict[str, Any] | None
    billing_address: dict[str, Any] | None
    shipping_method: ShippingOptionOut | None
    taxes_included: bool
    subtotal: Money
    discount_total: Money
    shipping_total: Money
    tax_total: Money
    total: Money
    problems: list[dict[str, str]] = Field(description="What stops checkout now.")
    payment: dict[str, Any] | None
    order_id: str | None
    expires_at: dt.datetime
    updated_at: dt.datetime


class CheckoutOut(ShopperOrderOut):
    """The order the checkout made (201), or made before (200)."""

    payment: dict[str, Any]


class CheckoutPending(BaseModel):
    """The payment waits for the shopper (3-D Secure): finish it with ``client_secret``; the
    order is made when the provider confirms."""

    status: Literal["requires_action"]
    cart_id: str
    payment: dict[str, Any]


CartCreate.model_rebuild()
