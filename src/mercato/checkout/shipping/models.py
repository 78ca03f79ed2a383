"""Shipping zones and shipping methods.

A zone's scope is stored normalized (see ``checkout.tax.service``): countries as ISO 3166-1
alpha-2, regions as full ISO 3166-2 codes (``US-CA``), postal prefixes uppercased without spaces.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    ForeignKey,
    Numeric,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from mercato.core.db import Base, TenantMixin
from mercato.core.ids import new_id
from mercato.core.mixins import Timestamps, Versioned

AMOUNT = Numeric(12, 2)
METHOD_KINDS = ("flat", "weight", "price", "pickup")


class ShippingZone(Timestamps, Versioned, TenantMixin, Base):
    """Where shipped methods are offered: some countries, optionally narrowed to regions and
    to postal prefixes. When an address is in several zones the most specific one wins."""

    __tablename__ = "shipping_zones"
    __table_args__ = (UniqueConstraint("organization_id", "name"),)

    id: Mapped[str] = mapped_column(String(26), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(100))
    countries: Mapped[list[str]]
    regions: Mapped[list[str]]
    postal_prefixes: Mapped[list[str]]


class ShippingMethod(Timestamps, Versioned, TenantMixin, Base):
    """A way to get the goods to the customer and its price table.

    ``flat`` uses ``price``; ``weight`` uses ``weight_brackets`` (``[{"up_to_grams", "price"}]``
    ascending); ``price`` uses ``price_brackets`` (``[{"from_subtotal", "price"}]`` ascending);
    ``pickup`` has no zone, names an inventory location (by id, no foreign key: the location
    belongs to inventory) and charges ``price`` (usually 0.00).
    """

    __tablename__ = "shipping_methods"
    __table_args__ = (
        UniqueConstraint("organization_id", "code"),
        CheckConstraint("kind IN ('flat', 'weight', 'price', 'pickup')", name="known_kind"),
        CheckConstraint("min_subtotal IS NULL OR max_subtotal IS NULL "
                        "OR min_subtotal <= max_subtotal", name="subtotal_range"),
    )

    id: Mapped[str] = mapped_column(String(26), primary_key=True, default=new_id)
    zone_id: Mapped[str | None] = mapped_column(
        String(26), ForeignKey("shipping_zones.id", ondelete="RESTRICT"), index=True)
    title: Mapped[str] = mapped_column(String(200))
    code: Mapped[str] = mapped_column(String(50))
    kind: Mapped[str] = mapped_column(String(10))
    currency: Mapped[str] = mapped_column(String(3))
    price: Mapped[Decimal | None] = mapped_column(AMOUNT)
    weight_brackets: Mapped[list[dict[str, Any]]]
    price_brackets: Mapped[list[dict[str, Any]]]
    min_subtotal: Mapped[Decimal | None] = mapped_column(AMOUNT)
    max_subtotal: Mapped[Decimal | None] = mapped_column(AMOUNT)
    pickup_location_id: Mapped[str | None] = mapped_column(String(26))
    active: Mapped[bool] = mapped_column(Boolean, default=True)

