"""HTTP shapes of the orders API (a customer's, and the ``Address`` and ``Email`` orders use,
are identity's)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    WithJsonSchema,
    model_validator,
)

from mercato.core.money import Money
from mercato.identity import Address, Email
from mercato.inventory import MAX_LINES, MAX_UNITS

Status = Literal["open", "closed", "cancelled"]
FinancialStatus = Literal["pending", "authorized", "paid", "partially_refunded", "refunded",
                          "voided"]
FulfillmentStatus = Literal["unfulfilled", "partial", "fulfilled", "returned"]
Flag = Literal["oversold"]
CHANNEL_PATTERN = r"^([0-9A-Z]{26}|[a-z][a-z0-9_-]{0,29})$"


def _rate(value: Any) -> Decimal:
    """Strings and integers only, as for amounts: a float has already lost digits."""
    rate = None
    if isinstance(value, str | int | Decimal) and not isinstance(value, bool):
        try:
            rate = Decimal(value.strip() if isinstance(value, str) else value)
        except InvalidOperation:
            rate = None
    if rate is None:
        raise ValueError("rates are decimal strings such as \"0.0825\"")
    if not rate.is_finite() or rate < 0 or rate > 1 or rate != rate.quantize(Decimal("1e-6")):
        raise ValueError("a rate between 0 and 1 with at most 6 decimal places")
    return rate


Rate = Annotated[Decimal, BeforeValidator(_rate),
                 PlainSerializer(lambda d: str(d), return_type=str, when_used="json"),
                 WithJsonSchema({"type": "string", "pattern": r"^(0(\.[0-9]{1,6})?|1(\.0{1,6})?)$",
                                 "examples": ["0.0825"]})]


class TaxLineIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: str = Field(min_length=1, max_length=100)
    rate: Rate | None = Field(default=None, description="0.0825 for 8.25 %.")
    amount: Money | None = Field(default=None, description=(
        "What was charged; when omitted it is computed from the rate and rounded half-even "
        "to the cent."))

    @model_validator(mode="after")
    def _rate_or_amount(self) -> TaxLineIn:
        if self.rate is None and self.amount is None:
            raise ValueError("give a rate or an amount")
        return self


class DiscountIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: str = Field(default="Discount", max_length=100)
    code: str | None = Field(default=None, max_length=100)
    amount: Money


class OrderLineIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    sku: str = Field(min_length=1, max_length=100)
    quantity: int = Field(ge=1, le=MAX_UNITS)
    unit_price: Money | None = Field(default=None,
                                     description="The catalog price when omitted.")
    title: str | None = Field(default=None, max_length=500,
                              description="As the channel sold it; the product's title when "
                                          "omitted.")
    discounts: list[DiscountIn] = Field(default_factory=list, max_length=20)
    tax_lines: list[TaxLineIn] = Field(default_factory=list, max_length=10)


class ShippingLineIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: str = Field(min_length=1, max_length=200)
    code: str | None = Field(default=None, max_length=100)
    price: Money
    tax_lines: list[TaxLineIn] = Field(default_factory=list, max_length=10)


class CustomerRef(BaseModel):
    model_config = ConfigDict(extra="forbid")
    email: Email | None = None
    first_name: str | None = Field(default=None, max_length=100)
    last_name: str | None = Field(default=None, max_length=100)
    phone: str | None = Field(default=None, max_length=50)


class PaymentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    method: str = Field(min_length=1, max_length=50, description=(
        "How it was paid: `cash`, `card`, `shopify_payments`, `bank_transfer`, ..."))
    amount: Money | None = Field(default=None, description="The order's total when omitted.")
    status: Literal["authorized", "paid"] = "paid"
    reference: str | None = Field(default=None, max_length=200)


class OrderIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    channel: str = Field(pattern=CHANNEL_PATTERN, description=(
        "A sales channel's id (its locations feed the order), or a source name such as "
        "`web`, `pos` or `manual`."))
    external_id: str | None = Field(default=None, min_length=1, max_length=200, description=(
        "The order's id on the channel: the same (channel, external_id) again returns the "
        "first order (200) and moves no stock."))
    external_number: str | None = Field(default=None, max_length=100)
    currency: str = Field(pattern=r"^[A-Z]{3}$")
    taxes_included: bool = Field(default=False, description="Prices include their tax.")
    lines: list[OrderLineIn] = Field(min_length=1, max_length=MAX_LINES)
    shipping_lines: list[ShippingLineIn] = Field(default_factory=list, max_length=10)
    customer: CustomerRef | None = None
    shipping_address: Address | None = None
    billing_address: Address | None = None
    pickup_location: str | None = Field(default=None, max_length=50, description=(
        "Id or code of a pickup location: the customer collects the order there."))
    payments: list[PaymentIn] = Field(default_factory=list, max_length=10, description=(
        "Money already taken or authorized (a channel's order arrives paid)."))
    note: str | None = Field(default=None, max_length=5000)
    tags: list[str] = Field(default_factory=list, max_length=50)
    placed_at: dt.datetime | None = Field(default=None, description="When it sold; now if "
                                                                    "omitted.")


class OrderUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    note: str | None = Field(default=None, max_length=5000)
    tags: list[str] | None = Field(default=None, max_length=50)
    shipping_address: Address | None = None
    billing_address: Address | None = None
    email: Email | None = None


class AllocationOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    location_id: str
    quantity: int
    fulfilled: int
    cancelled: int


class OrderLineOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    variant_id: str
    sku: str
    title: str
    variant_title: str | None
    quantity: int
    unit_price: Money
    subtotal: Money
    discount_total: Money
    discounts: list[dict[str, Any]]
    tax_lines: list[dict[str, Any]]
    tax_total: Money
    total: Money
    allocated: int = Field(description="Units taken from stock (sold from a location).")
    short: int = Field(description="Units the channel sold that Mercato did not have.")
    fulfilled: int
    cancelled: int
    returned: int
    allocations: list[AllocationOut]


class ShippingLineOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    title: str
    code: str | None
    price: Money
    tax_lines: list[dict[str, Any]]
    tax_total: Money


class FulfillmentOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    location_id: str
    carrier: str | None
    tracking_number: str | None
    pickup: bool
    lines: list[dict[str, Any]]
    created_at: dt.datetime


class PaymentOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    method: str
    status: Literal["authorized", "paid", "voided"]
    amount: Money
    refunded: Money
    reference: str | None
    created_at: dt.datetime


class RefundOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    amount: Money
    reason: str | None
    lines: list[dict[str, Any]]
    payments: list[dict[str, Any]]
    created_at: dt.datetime


class ReturnOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    status: Literal["requested", "received"]
    lines: list[dict[str, Any]]
    note: str | None
    exchange_order_id: str | None
    created_at: dt.datetime
    received_at: dt.datetime | None


class OrderSummary(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    number: int
    channel: str
    channel_id: str | None
    source: str
    external_id: str | None
    external_number: str | None
    customer_id: str | None
    email: str | None
    customer_name: str | None
    currency: str
    status: Status
    financial_status: FinancialStatus
    fulfillment_status: FulfillmentStatus
    oversold: bool
    total: Money
    paid_total: Money
    refunded_total: Money
    tags: list[str]
    placed_at: dt.datetime
    created_at: dt.datetime
    updated_at: dt.datetime


class OrderOut(OrderSummary):
    customer_snapshot: dict[str, Any]
    shipping_address: dict[str, Any] | None
    billing_address: dict[str, Any] | None
    pickup_location_id: str | None
    taxes_included: bool
    subtotal: Money
    discount_total: Money
    shipping_total: Money
    tax_total: Money
    note: str | None
    cancel_reason: str | None
    cancelled_at: dt.datetime | None
    closed_at: dt.datetime | None
    lines: list[OrderLineOut]
    shipping_lines: list[ShippingLineOut]
    fulfillments: list[FulfillmentOut]
    payments: list[PaymentOut]
    refunds: list[RefundOut]
    returns: list[ReturnOut]


class LineQuantity(BaseModel):
    model_config = ConfigDict(extra="forbid")
    line_id: str = Field(min_length=1, max_length=26)
    quantity: int = Field(ge=1, le=MAX_UNITS)


class FulfillmentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    lines: list[LineQuantity] | None = Field(default=None, max_length=MAX_LINES, description=(
        "What ships; every unit still to ship when omitted."))
    location: str | None = Field(default=None, max_length=50, description=(
        "Id or code of the location it ships from: one the lines' units were taken from. "
        "Where the units were taken when omitted."))
    carrier: str | None = Field(default=None, max_length=100)
    tracking_number: str | None = Field(default=None, max_length=200)
    pickup: bool = Field(default=False, description="The customer collected it in store.")


class CancelIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    lines: list[LineQuantity] | None = Field(default=None, max_length=MAX_LINES, description=(
        "Cancel these units only (the order stays open); every unshipped unit when omitted."))
    reason: str | None = Field(default=None, max_length=200)
    restock: bool = Field(default=True, description=(
        "Put the cancelled units that were taken from stock back on hand."))


class ReturnLineIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    line_id: str = Field(min_length=1, max_length=26)
    quantity: int = Field(ge=1, le=MAX_UNITS)
    restock: bool | None = Field(default=None, description="Overrides the return's `restock`.")
    reason: str | None = Field(default=None, max_length=200)


class ReturnIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    lines: list[ReturnLineIn] = Field(min_length=1, max_length=MAX_LINES)
    restock: bool = Field(default=True, description="Put returned units back on hand.")
    received: bool = Field(default=True, description=(
        "The goods are back now (restocked at once); false opens a requested return to be "
        "received later."))
    location: str | None = Field(default=None, max_length=50, description=(
        "Where returned units go back on hand; where they shipped from when omitted."))
    note: str | None = Field(default=None, max_length=2000)
    exchange: list[OrderLineIn] | None = Field(default=None, max_length=MAX_LINES, description=(
        "Lines of a new order, on the same channel and customer, sent in exchange."))


class ReceiveIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    location: str | None = Field(default=None, max_length=50)


class RefundIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    amount: Money | None = Field(default=None, description=(
        "How much to give back; with `lines` only, their share of what was charged."))
    lines: list[LineQuantity] | None = Field(default=None, max_length=MAX_LINES)
    reason: str | None = Field(default=None, max_length=500)
    payment_id: str | None = Field(default=None, max_length=26, description=(
        "Refund against this payment; otherwise against the payments newest first."))


class ShopperLineOut(BaseModel):
    """A line as its buyer sees it: no stock locations, no allocation detail."""

    model_config = ConfigDict(from_attributes=True)
    sku: str
    title: str
    variant_title: str | None
    quantity: int
    unit_price: Money
    discount_total: Money
    tax_total: Money
    total: Money
    fulfilled: int
    cancelled: int
    returned: int


class ShopperFulfillmentOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    carrier: str | None
    tracking_number: str | None
    pickup: bool
    created_at: dt.datetime


class ShopperOrderOut(BaseModel):
    """An order in the shopper's history (``/store/v1/{store}/me/orders``)."""

    model_config = ConfigDict(from_attributes=True)
    id: str
    number: int
    currency: str
    status: Status
    financial_status: FinancialStatus
    fulfillment_status: FulfillmentStatus
    taxes_included: bool
    subtotal: Money
    discount_total: Money
    shipping_total: Money
    tax_total: Money
    total: Money
    refunded_total: Money
    shipping_address: dict[str, Any] | None
    billing_address: dict[str, Any] | None
    pickup_location_id: str | None
    lines: list[ShopperLineOut]
    shipping_lines: list[ShippingLineOut]
    fulfillments: list[ShopperFulfillmentOut]
    placed_at: dt.datetime
