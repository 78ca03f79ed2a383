"""Tax settings and tax rates.

A rate's scope is stored normalized (see ``checkout.tax.service``): countries as ISO 3166-1
alpha-2, regions as full ISO 3166-2 codes (``US-CA``), postal prefixes uppercased without
spaces. A rate's missing region or prefix is stored as ``""`` so that the unique constraint
also refuses two rates of the same title at the same place (NULLs never clash in SQL).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    ForeignKey,
    Integer,
    Numeric,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from mercato.core.db import Base, TenantMixin, utcnow
from mercato.core.ids import new_id
from mercato.core.mixins import Timestamps, Versioned

RATE = Numeric(7, 6)


class TaxSettings(TenantMixin, Base):
    """How the organization's prices relate to tax; absent means the defaults."""

    __tablename__ = "tax_settings"

    organization_id: Mapped[str] = mapped_column(
        String(26), ForeignKey("organizations.id", ondelete="CASCADE"), primary_key=True)
    prices_include_tax: Mapped[bool] = mapped_column(Boolean, default=False)
    tax_shipping: Mapped[bool] = mapped_column(Boolean, default=True)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": version}


class TaxRate(Timestamps, Versioned, TenantMixin, Base):
    """One tax charged where an address matches: a country, optionally one region, optionally
    postal codes starting with a prefix. Every matching rate applies (state + county)."""

    __tablename__ = "tax_rates"
    __table_args__ = (
        UniqueConstraint("organization_id", "country", "region", "postal_prefix", "title",
                         name="uq_tax_rates_scope_title"),
        CheckConstraint("rate >= 0 AND rate <= 1", name="rate_is_a_fraction"),
    )

    id: Mapped[str] = mapped_column(String(26), primary_key=True, default=new_id)
    country: Mapped[str] = mapped_column(String(2))
    region: Mapped[str] = mapped_column(String(6), default="")
    postal_prefix: Mapped[str] = mapped_column(String(10), default="")
    title: Mapped[str] = mapped_column(String(100))
    rate: Mapped[Decimal] = mapped_column(RATE)

