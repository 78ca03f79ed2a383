"""The Shopify emulator's records: plain objects in memory, and their REST shapes for webhooks.

Every record has a number unique across all kinds (one counter), so an id of one kind is never
also a valid id of another kind: a connector that sends a variant id where an inventory item id
belongs gets an error here, as it would from Shopify.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, ClassVar, TypeVar

GID = re.compile(r"^gid://shopify/([A-Za-z]+)/(\d+)(?:\?(.*))?$")
CENT = Decimal("0.01")
# What on_hand is made of; "incoming" is stock not yet here, so it is not part of it.
ON_HAND_PARTS = ("available", "committed", "reserved", "damaged", "safety_stock",
                 "quality_control")
QUANTITY_NAMES = (*ON_HAND_PARTS, "incoming", "on_hand")


def gid(kind: str, num: int) -> str:
    return f"gid://shopify/{kind}/{num}"


def parse_gid(value: object, kind: str) -> int | None:
    """The number in ``gid://shopify/<kind>/<n>``, or in a bare number; None otherwise."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    text = str(value or "")
    if text.isdigit():
        return int(text)
    match = GID.match(text)
    if match is None or match.group(1) != kind:
        return None
    return int(match.group(2))


def iso(moment: datetime | None) -> str | None:
    """Shopify's timestamps: UTC, whole seconds, ``Z``."""
    if moment is None:
        return None
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def money(amount: Decimal | None) -> str | None:
    return None if amount is None else str(amount.quantize(CENT))


def to_decimal(value: object) -> Decimal:
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        raise ValueError(f"not an amount: {value!r}") from None
    if not amount.is_finite():
        raise ValueError(f"not an amount: {value!r}")
    return amount


def parse_time(text: str) -> datetime:
    """An ISO 8601 time or date as Shopify's search accepts it; naive means UTC."""
    value = text.strip().strip("'\"")
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def handleize(title: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-") or "product"


@dataclass(eq=False, kw_only=True)
class Record:
    KIND: ClassVar[str] = ""
    num: int
    created_at: datetime
    updated_at: datetime

    @property
    def gid(self) -> str:
        return gid(self.KIND, self.num)


R = TypeVar("R", bound=Record)


@dataclass(eq=False, kw_only=True)
class Shop(Record):
    KIND = "Shop"
    name: str
    myshopify_domain: str
    currency_code: str
    email: str


@dataclass(eq=False, kw_only=True)
class Location(Record):
    KIND = "Location"
    name: str
    is_active: bool = True
    fulfills_online_orders: bool = True


@dataclass(eq=False, kw_only=True)
class Product(Record):
    KIND = "Product"
    title: str
    handle: str
    description_html: str = ""
    vendor: str = ""
    product_type: str = ""
    status: str = "ACTIVE"
    tags: list[str] = field(default_factory=list)
    options: list[tuple[str, list[str]]] = field(default_factory=list)
    variant_nums: list[int] = field(default_factory=list)


@dataclass(eq=False, kw_only=True)
class Variant(Record):
    KIND = "ProductVariant"
    product_num: int
    item_num: int = 0
    title: str = "Default Title"
    sku: str | None = None
    barcode: str | None = None
    price: Decimal = Decimal("0")
    compare_at_price: Decimal | None = None
    options: list[tuple[str, str]] = field(default_factory=list)
    position: int = 1
    inventory_policy: str = "DENY"


@dataclass(eq=False, kw_only=True)
class InventoryItem(Record):
    KIND = "InventoryItem"
    variant_num: int
    sku: str | None = None
    tracked: bool = True
    requires_shipping: bool = True


@dataclass(eq=False, kw_only=True)
class Level:
    """One item at one location; ``on_hand`` is derived, so it always adds up."""

    KIND: ClassVar[str] = "InventoryLevel"
    item_num: int
    location_num: int
    created_at: datetime
    updated_at: datetime
    quantities: dict[str, int] = field(default_factory=dict)

    @property
    def gid(self) -> str:
        return f"{gid('InventoryLevel', self.location_num)}?inventory_item_id={self.item_num}"

    def get(self, name: str) -> int:
        if name == "on_hand":
            return sum(self.quantities.get(part, 0) for part in ON_HAND_PARTS)
        return self.quantities.get(name, 0)

    def add(self, name: str, delta: int) -> None:
        """Change one quantity; on_hand moves with its parts, so it changes ``available``."""
        target = "available" if name == "on_hand" else name
        self.quantities[target] = self.quantities.get(target, 0) + delta


@dataclass(eq=False, kw_only=True)
class Customer(Record):
    KIND = "Customer"
    email: str | None
    first_name: str
    last_name: str


@dataclass(eq=False, kw_only=True)
class LineItem(Record):
    KIND = "LineItem"
    order_num: int
    variant_num: int | None
    product_num: int | None
    sku: str | None
    title: str
    variant_title: str | None
    quantity: int
    price: Decimal
    removed: int = 0  # refunded before fulfilment ("cancel" restock type)


@dataclass(eq=False, kw_only=True)
class FulfillmentOrderLineItem(Record):
    KIND = "FulfillmentOrderLineItem"
    fo_num: int
    line_item_num: int
    total_quantity: int
    remaining_quantity: int


@dataclass(eq=False, kw_only=True)
class FulfillmentOrder(Record):
    KIND = "FulfillmentOrder"
    order_num: int
    location_num: int
    status: str = "OPEN"
    line_nums: list[int] = field(default_factory=list)


@dataclass(eq=False, kw_only=True)
class FulfillmentLineItem(Record):
    KIND = "FulfillmentLineItem"
    line_item_num: int
    quantity: int


@dataclass(eq=False, kw_only=True)
class Fulfillment(Record):
    KIND = "Fulfillment"
    order_num: int
    location_num: int
    name: str
    status: str = "SUCCESS"
    tracking: list[dict[str, str | None]] = field(default_factory=list)
    lines: list[FulfillmentLineItem] = field(default_factory=list)


@dataclass(eq=False, kw_only=True)
class RefundLineItem(Record):
    KIND = "RefundLineItem"
    line_item_num: int
    quantity: int
    restock_type: str  # CANCEL, RETURN, NO_RESTOCK
    subtotal: Decimal
    location_num: int | None


@dataclass(eq=False, kw_only=True)
class Refund(Record):
    KIND = "Refund"
    order_num: int
    note: str | None
    amount: Decimal
    lines: list[RefundLineItem] = field(default_factory=list)
    transaction_nums: list[int] = field(default_factory=list)


@dataclass(eq=False, kw_only=True)
class Transaction(Record):
    """Money moving on an order: a ``SALE`` or ``CAPTURE`` takes it, a ``REFUND`` (whose
    parent is one of those) gives some back."""
    KIND = "OrderTransaction"
    order_num: int
    kind: str  # AUTHORIZATION, CAPTURE, REFUND, SALE, VOID
    amount: Decimal
    gateway: str = "bogus"
    status: str = "SUCCESS"
    parent_num: int | None = None


@dataclass(eq=False, kw_only=True)
class Job(Record):
    """An asynchronous mutation's job (``orderCancel``): done by the time it is asked about."""
    KIND = "Job"
    done: bool = False


@dataclass(eq=False, kw_only=True)
class Order(Record):
    KIND = "Order"
    name: str
    number: int
    email: str | None
    currency: str
    financial_status: str
    location_num: int
    customer_num: int | None = None
    shipping_address: dict[str, Any] | None = None
    cancelled_at: datetime | None = None
    cancel_reason: str | None = None
    closed_at: datetime | None = None
    tags: list[str] = field(default_factory=list)
    note: str | None = None
    line_nums: list[int] = field(default_factory=list)
    fo_nums: list[int] = field(default_factory=list)
    fulfillment_nums: list[int] = field(default_factory=list)
    refund_nums: list[int] = field(default_factory=list)
    transaction_nums: list[int] = field(default_factory=list)


@dataclass(eq=False, kw_only=True)
class InventoryChange:
    name: str
    delta: int
    quantity_after_change: int
    item_num: int
    location_num: int
    ledger_document_uri: str | None = None


@dataclass(eq=False, kw_only=True)
class AdjustmentGroup(Record):
    KIND = "InventoryAdjustmentGroup"
    reason: str
    reference_document_uri: str | None
    changes: list[InventoryChange] = field(default_factory=list)


@dataclass(eq=False, kw_only=True)
class BulkOperation(Record):
    KIND = "BulkOperation"
    query: str
    base_url: str
    api_version: str
    status: str = "CREATED"
    type: str = "QUERY"
    error_code: str | None = None
    object_count: int = 0
    root_object_count: int = 0
    file_size: int | None = None
    url: str | None = None
    partial_data_url: str | None = None
    completed_at: datetime | None = None
    data: bytes = b""


@dataclass(eq=False, kw_only=True)
class WebhookSubscription(Record):
    KIND = "WebhookSubscription"
    topic: str  # the GraphQL enum name, e.g. ORDERS_CREATE
    uri: str
    api_version: str
    format: str = "JSON"
    include_fields: list[str] = field(default_factory=list)
    filter: str | None = None


def topic_header(topic: str) -> str:
    """``ORDERS_CREATE`` → ``orders/create``, ``INVENTORY_LEVELS_UPDATE`` →
    ``inventory_levels/update``: the last underscore is the slash."""
    resource, action = topic.lower().rsplit("_", 1)
    return f"{resource}/{action}"
