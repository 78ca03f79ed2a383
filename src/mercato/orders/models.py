"""Orders: one order model for every source, with the stock it took, its fulfillments,
payments, refunds and returns.

An order's variants, locations and channel belong to other modules; these tables refer to them
by id without foreign keys (an order outlives a deleted variant, and keeps its snapshots). Its
customer (``identity.customers``) is a foreign key that a deleted customer sets to null.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from mercato.core.db import Base, TenantMixin, utcnow
from mercato.core.ids import new_id
from mercato.payments import Payment

AMOUNT = Numeric(12, 2)


class OrderNumber(TenantMixin, Base):
    """The organization's last order number: orders are numbered 1001, 1002, ... per store."""

    __tablename__ = "order_numbers"
    __audited__ = False

    organization_id: Mapped[str] = mapped_column(
        String(26), ForeignKey("organizations.id", ondelete="CASCADE"), primary_key=True)
    last: Mapped[int] = mapped_column(Integer, default=1000)


class Order(TenantMixin, Base):
    __tablename__ = "orders"
    __table_args__ = (
        UniqueConstraint("organization_id", "channel", "external_id"),
        UniqueConstraint("organization_id", "number"),
        Index("ix_orders_created", "organization_id", "created_at", "id"),
        Index("ix_orders_customer", "customer_id", "id"),
        Index("ix_orders_flag", "organization_id", "oversold", "id"),
        CheckConstraint("refunded_total <= paid_total", name="refund_within_paid"),
    )

    id: Mapped[str] = mapped_column(String(26), primary_key=True, default=new_id)
    number: Mapped[int | None] = mapped_column(Integer, doc=(
        "Set as the last step of ingestion (see service.ingest); never null once committed."))
    channel: Mapped[str] = mapped_column(String(50))
    channel_id: Mapped[str | None] = mapped_column(String(26))
    source: Mapped[str] = mapped_column(String(30))
    external_id: Mapped[str | None] = mapped_column(String(200))
    external_number: Mapped[str | None] = mapped_column(String(100))
    customer_id: Mapped[str | None] = mapped_column(
        String(26), ForeignKey("customers.id", ondelete="SET NULL"))
    account_id: Mapped[str | None] = mapped_column(String(26), doc=(
        "The shopper account that placed it at checkout: shown in that account's history "
        "even before its email is verified."))
    email: Mapped[str | None] = mapped_column(String(320))
    customer_name: Mapped[str | None] = mapped_column(String(200))
    customer_snapshot: Mapped[dict[str, Any]]
    shipping_address: Mapped[dict[str, Any] | None]
    billing_address: Mapped[dict[str, Any] | None]
    pickup_location_id: Mapped[str | None] = mapped_column(String(26))
    currency: Mapped[str] = mapped_column(String(3))
    taxes_included: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(20), default="open")
    financial_status: Mapped[str] = mapped_column(String(30), default="pending")
    fulfillment_status: Mapped[str] = mapped_column(String(20), default="unfulfilled")
    oversold: Mapped[bool] = mapped_column(Boolean, default=False)
    subtotal: Mapped[Decimal] = mapped_column(AMOUNT)
    discount_total: Mapped[Decimal] = mapped_column(AMOUNT)
    shipping_total: Mapped[Decimal] = mapped_column(AMOUNT)
    tax_total: Mapped[Decimal] = mapped_column(AMOUNT)
    total: Mapped[Decimal] = mapped_column(AMOUNT)
    paid_total: Mapped[Decimal] = mapped_column(AMOUNT, default=Decimal("0.00"))
    refunded_total: Mapped[Decimal] = mapped_column(AMOUNT, default=Decimal("0.00"))
    note: Mapped[str | None] = mapped_column(Text)
    tags: Mapped[list[str]]
    cancel_reason: Mapped[str | None] = mapped_column(String(200))
    placed_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    cancelled_at: Mapped[dt.datetime | None]
    closed_at: Mapped[dt.datetime | None]
    version: Mapped[int] = mapped_column(Integer, default=1)

    lines: Mapped[list[OrderLine]] = relationship(lazy="selectin", order_by="OrderLine.position")
    shipping_lines: Mapped[list[ShippingLine]] = relationship(
        lazy="selectin", order_by="ShippingLine.id")
    fulfillments: Mapped[list[Fulfillment]] = relationship(
        lazy="selectin", order_by="Fulfillment.id")
    payments: Mapped[list[Payment]] = relationship(lazy="selectin", order_by="Payment.id")
    refunds: Mapped[list[Refund]] = relationship(lazy="selectin", order_by="Refund.id")
    returns: Mapped[list[Return]] = relationship(lazy="selectin", order_by="Return.id")

    __mapper_args__ = {"version_id_col": version}


class OrderLine(TenantMixin, Base):
    """What was bought, and what became of each unit. Changed only while the order's row is
    locked; the CHECK constraints refuse any count past what the line holds."""

    __tablename__ = "order_lines"
    __audited__ = False  # the order's events and the ledger record every change
    __table_args__ = (
        Index("ix_order_lines_sku", "organization_id", "sku"),
        CheckConstraint("allocated + short <= quantity", name="short_within_ordered"),
        CheckConstraint("fulfilled + cancelled <= quantity", name="fulfilled_within_ordered"),
        CheckConstraint("fulfilled <= allocated", name="fulfilled_within_allocated"),
        CheckConstraint("returned <= fulfilled", name="returned_within_fulfilled"),
    )

    id: Mapped[str] = mapped_column(String(26), primary_key=True, default=new_id)
    order_id: Mapped[str] = mapped_column(
        String(26), ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    variant_id: Mapped[str] = mapped_column(String(26))
    sku: Mapped[str] = mapped_column(String(100))
    title: Mapped[str] = mapped_column(String(500))
    variant_title: Mapped[str | None] = mapped_column(String(300))
    quantity: Mapped[int] = mapped_column(Integer)
    unit_price: Mapped[Decimal] = mapped_column(AMOUNT)
    subtotal: Mapped[Decimal] = mapped_column(AMOUNT)
    discount_total: Mapped[Decimal] = mapped_column(AMOUNT)
    discounts: Mapped[list[dict[str, Any]]]
    tax_lines: Mapped[list[dict[str, Any]]]
    tax_total: Mapped[Decimal] = mapped_column(AMOUNT)
    total: Mapped[Decimal] = mapped_column(AMOUNT)
    allocated: Mapped[int] = mapped_column(Integer, default=0)
    short: Mapped[int] = mapped_column(Integer, default=0)
    fulfilled: Mapped[int] = mapped_column(Integer, default=0)
    cancelled: Mapped[int] = mapped_column(Integer, default=0)
    returned: Mapped[int] = mapped_column(Integer, default=0)

    allocations: Mapped[list[Allocation]] = relationship(
        lazy="selectin", order_by="Allocation.id")


class Allocation(TenantMixin, Base):
    """Units of a line taken from one location's stock (sold there): how many shipped, how many
    were cancelled before shipping."""

    __tablename__ = "order_allocations"
    __audited__ = False
    __table_args__ = (
        CheckConstraint("fulfilled + cancelled <= quantity", name="allocation_within_quantity"),
    )

    id: Mapped[str] = mapped_column(String(26), primary_key=True, default=new_id)
    line_id: Mapped[str] = mapped_column(
        String(26), ForeignKey("order_lines.id", ondelete="CASCADE"), index=True)
    location_id: Mapped[str] = mapped_column(String(26))
    quantity: Mapped[int] = mapped_column(Integer)
    fulfilled: Mapped[int] = mapped_column(Integer, default=0)
    cancelled: Mapped[int] = mapped_column(Integer, default=0)


class ShippingLine(TenantMixin, Base):
    __tablename__ = "order_shipping_lines"
    __audited__ = False

    id: Mapped[str] = mapped_column(String(26), primary_key=True, default=new_id)
    order_id: Mapped[str] = mapped_column(
        String(26), ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    title: Mapped[str] = mapped_column(String(200))
    code: Mapped[str | None] = mapped_column(String(100))
    price: Mapped[Decimal] = mapped_column(AMOUNT)
    tax_lines: Mapped[list[dict[str, Any]]]
    tax_total: Mapped[Decimal] = mapped_column(AMOUNT)


class Fulfillment(TenantMixin, Base):
    """Units shipped from one location; audited (``fulfillment.created``) beside the order's
    ``order.fulfilled``, like refunds and returns."""

    __tablename__ = "fulfillments"

    id: Mapped[str] = mapped_column(String(26), primary_key=True, default=new_id)
    order_id: Mapped[str] = mapped_column(
        String(26), ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    location_id: Mapped[str] = mapped_column(String(26))
    carrier: Mapped[str | None] = mapped_column(String(100))
    tracking_number: Mapped[str | None] = mapped_column(String(200))
    pickup: Mapped[bool] = mapped_column(Boolean, default=False)
    lines: Mapped[list[dict[str, Any]]]
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Refund(TenantMixin, Base):
    __tablename__ = "refunds"

    id: Mapped[str] = mapped_column(String(26), primary_key=True, default=new_id)
    order_id: Mapped[str] = mapped_column(
        String(26), ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    amount: Mapped[Decimal] = mapped_column(AMOUNT)
    reason: Mapped[str | None] = mapped_column(String(500))
    lines: Mapped[list[dict[str, Any]]]
    payments: Mapped[list[dict[str, Any]]]
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Return(TenantMixin, Base):
    """A return (RMA): requested, then received, when restocked lines go back on hand."""

    __tablename__ = "returns"

    id: Mapped[str] = mapped_column(String(26), primary_key=True, default=new_id)
    order_id: Mapped[str] = mapped_column(
        String(26), ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    status: Mapped[str] = mapped_column(String(20), default="requested")
    lines: Mapped[list[dict[str, Any]]]
    note: Mapped[str | None] = mapped_column(Text)
    exchange_order_id: Mapped[str | None] = mapped_column(String(26))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    received_at: Mapped[dt.datetime | None]
