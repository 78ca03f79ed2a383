"""Price lists and pricing rules.

Variants are referred to by id without foreign keys (as orders do): the catalog owns them, and a
price list outlives a deleted variant's row without breaking.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from mercato.core.db import Base, TenantMixin, utcnow
from mercato.core.ids import new_id
from mercato.core.mixins import Timestamps, Versioned

AMOUNT = Numeric(12, 2)


class PriceList(Timestamps, Versioned, TenantMixin, Base):
    """Prices in one currency, optionally for one customer group and a time window."""

    __tablename__ = "price_lists"
    __table_args__ = (Index("ix_price_lists_lookup", "organization_id", "currency", "active"),)

    id: Mapped[str] = mapped_column(String(26), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(200))
    currency: Mapped[str] = mapped_column(String(3))
    customer_group: Mapped[str | None] = mapped_column(String(100))
    starts_at: Mapped[dt.datetime | None]
    ends_at: Mapped[dt.datetime | None]
    priority: Mapped[int] = mapped_column(Integer, default=0)
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class PriceListEntry(TenantMixin, Base):
    """A variant's price in a list from ``min_quantity`` units up (quantity breaks)."""

    __tablename__ = "price_list_entries"
    __table_args__ = (
        UniqueConstraint("price_list_id", "variant_id", "min_quantity"),
        Index("ix_price_list_entries_variant", "organization_id", "variant_id"),
        CheckConstraint("min_quantity >= 1", name="min_quantity_positive"),
        CheckConstraint("price >= 0", name="price_not_negative"),
    )

    id: Mapped[str] = mapped_column(String(26), primary_key=True, default=new_id)
    price_list_id: Mapped[str] = mapped_column(
        String(26), ForeignKey("price_lists.id", ondelete="CASCADE"), index=True)
    variant_id: Mapped[str] = mapped_column(String(26))
    sku: Mapped[str] = mapped_column(String(100))
    min_quantity: Mapped[int] = mapped_column(Integer, default=1)
    price: Mapped[Decimal] = mapped_column(AMOUNT)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class PricingRule(Timestamps, Versioned, TenantMixin, Base):
    """Adjusts the price of the variants in its scope when its conditions hold."""

    __tablename__ = "pricing_rules"
    __table_args__ = (Index("ix_pricing_rules_active", "organization_id", "active"),)

    id: Mapped[str] = mapped_column(String(26), primary_key=True, default=new_id)
    title: Mapped[str] = mapped_column(String(200))
    adjustment: Mapped[str] = mapped_column(String(20))
    value: Mapped[Decimal] = mapped_column(AMOUNT)
    market_field: Mapped[str | None] = mapped_column(String(20))
    """A ``market`` rule's figure of the market price feed (``market``, ``low``, ...)."""
    currency: Mapped[str | None] = mapped_column(String(3))
    scope_kind: Mapped[str] = mapped_column(String(20), default="all")
    scope_values: Mapped[list[str]]
    min_quantity: Mapped[int] = mapped_column(Integer, default=1)
    customer_groups: Mapped[list[str]]
    channel_kinds: Mapped[list[str]]
    starts_at: Mapped[dt.datetime | None]
    ends_at: Mapped[dt.datetime | None]
    priority: Mapped[int] = mapped_column(Integer, default=0)
    active: Mapped[bool] = mapped_column(Boolean, default=True)

