"""Promotions, their codes, per-customer usage counters and redemptions.

A promotion's usage counters are changed only by conditional UPDATEs (see
``checkout.promotions.service.redeem``); the CHECK constraints repeat the limits in the database.
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
from sqlalchemy.orm import Mapped, mapped_column, relationship

from mercato.core.db import Base, TenantMixin, utcnow
from mercato.core.ids import new_id
from mercato.core.mixins import Timestamps, Versioned

AMOUNT = Numeric(12, 2)


class Promotion(Timestamps, Versioned, TenantMixin, Base):
    """A discount at checkout: automatic (no codes) or unlocked by one of its codes."""

    __tablename__ = "promotions"
    __table_args__ = (
        Index("ix_promotions_active", "organization_id", "active"),
        CheckConstraint("usage_limit IS NULL OR used <= usage_limit", name="used_within_limit"),
        CheckConstraint("used >= 0", name="used_not_negative"),
    )

    id: Mapped[str] = mapped_column(String(26), primary_key=True, default=new_id)
    title: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(20))
    value: Mapped[Decimal] = mapped_column(AMOUNT)
    currency: Mapped[str | None] = mapped_column(String(3))
    scope_kind: Mapped[str] = mapped_column(String(20), default="all")
    scope_values: Mapped[list[str]]
    buy_quantity: Mapped[int | None] = mapped_column(Integer)
    get_quantity: Mapped[int | None] = mapped_column(Integer)
    min_subtotal: Mapped[Decimal | None] = mapped_column(AMOUNT)
    starts_at: Mapped[dt.datetime | None]
    ends_at: Mapped[dt.datetime | None]
    usage_limit: Mapped[int | None] = mapped_column(Integer)
    per_customer_limit: Mapped[int | None] = mapped_column(Integer)
    used: Mapped[int] = mapped_column(Integer, default=0)
    stacking: Mapped[str] = mapped_column(String(12), default="combinable")
    priority: Mapped[int] = mapped_column(Integer, default=0)
    active: Mapped[bool] = mapped_column(Boolean, default=True)

    codes: Mapped[list[PromotionCode]] = relationship(
        lazy="selectin", order_by="PromotionCode.code", cascade="all, delete-orphan")


class PromotionCode(TenantMixin, Base):
    """A code that unlocks a promotion; unique per organization, matched case-insensitively."""

    __tablename__ = "promotion_codes"
    __table_args__ = (UniqueConstraint("organization_id", "code_key"),)

    id: Mapped[str] = mapped_column(String(26), primary_key=True, default=new_id)
    promotion_id: Mapped[str] = mapped_column(
        String(26), ForeignKey("promotions.id", ondelete="CASCADE"), index=True)
    code: Mapped[str] = mapped_column(String(50))
    code_key: Mapped[str] = mapped_column(String(50))


class PromotionUsage(TenantMixin, Base):
    """How many times one customer (id, else lowercased email) has used a promotion."""

    __tablename__ = "promotion_usages"
    __audited__ = False  # counters; the redemptions record who and when
    __table_args__ = (
        UniqueConstraint("promotion_id", "customer_key"),
        CheckConstraint("used >= 0", name="used_not_negative"),
    )

    id: Mapped[str] = mapped_column(String(26), primary_key=True, default=new_id)
    promotion_id: Mapped[str] = mapped_column(
        String(26), ForeignKey("promotions.id", ondelete="CASCADE"), index=True)
    customer_key: Mapped[str] = mapped_column(String(320))
    used: Mapped[int] = mapped_column(Integer, default=0)


class PromotionRedemption(TenantMixin, Base):
    """One use of a promotion by an order: the history behind the counters."""

    __tablename__ = "promotion_redemptions"
    __audited__ = False
    __table_args__ = (Index("ix_promotion_redemptions_list", "promotion_id", "id"),)

    id: Mapped[str] = mapped_column(String(26), primary_key=True, default=new_id)
    promotion_id: Mapped[str] = mapped_column(
        String(26), ForeignKey("promotions.id", ondelete="CASCADE"))
    code: Mapped[str | None] = mapped_column(String(50))
    order_id: Mapped[str] = mapped_column(String(26))
    customer_key: Mapped[str | None] = mapped_column(String(320))
    amount: Mapped[Decimal] = mapped_column(AMOUNT)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
