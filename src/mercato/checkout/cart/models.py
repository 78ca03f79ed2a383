"""Carts and their lines. A cart holds what the shopper chose; prices, promotions, tax and
shipping are computed afresh on every read and change, never stored, so they cannot go stale."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from mercato.core.db import Base, TenantMixin, utcnow
from mercato.core.ids import new_id
from mercato.core.mixins import Timestamps, Versioned


class Cart(Timestamps, Versioned, TenantMixin, Base):
    __tablename__ = "carts"
    __audited__ = False
    __table_args__ = (
        Index("ix_carts_customer", "organization_id", "customer_id", "status"),
        Index("ix_carts_expiry", "status", "expires_at"),
    )

    id: Mapped[str] = mapped_column(String(26), primary_key=True, default=new_id)
    customer_id: Mapped[str | None] = mapped_column(
        String(26), ForeignKey("customers.id", ondelete="CASCADE"))
    account_id: Mapped[str | None] = mapped_column(String(26))
    email: Mapped[str | None] = mapped_column(String(320))
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(20), default="open", doc=(
        "open → checking_out → completed; checking_out → open when a payment fails or is "
        "abandoned; open → expired when untouched too long."))
    shipping_address: Mapped[dict[str, Any] | None]
    billing_address: Mapped[dict[str, Any] | None]
    shipping_method_id: Mapped[str | None] = mapped_column(String(26))
    codes: Mapped[list[str]]
    note: Mapped[str | None] = mapped_column(String(2000))
    attempt: Mapped[int] = mapped_column(Integer, default=0)
    payment: Mapped[dict[str, Any] | None] = mapped_column(doc=(
        "The current checkout attempt's payment: method, status, reference, amount."))
    reservation_id: Mapped[str | None] = mapped_column(String(26))
    order_id: Mapped[str | None] = mapped_column(String(26))
    expires_at: Mapped[dt.datetime]

    lines: Mapped[list[CartLine]] = relationship(
        lazy="selectin", order_by="CartLine.position", cascade="all, delete-orphan")


class CartLine(TenantMixin, Base):
    __tablename__ = "cart_lines"
    __audited__ = False
    __table_args__ = (
        UniqueConstraint("cart_id", "variant_id"),
        CheckConstraint("quantity > 0", name="cart_line_positive"),
    )

    id: Mapped[str] = mapped_column(String(26), primary_key=True, default=new_id)
    cart_id: Mapped[str] = mapped_column(
        String(26), ForeignKey("carts.id", ondelete="CASCADE"), index=True)
    variant_id: Mapped[str] = mapped_column(String(26))
    sku: Mapped[str] = mapped_column(String(100))
    quantity: Mapped[int] = mapped_column(Integer)
    position: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
