from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    Boolean,
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

PRICE = Numeric(12, 2)


class ProductType(TenantMixin, Base):
    """A kind of product whose attributes are described, per organization, by JSON Schema."""

    __tablename__ = "product_types"
    __table_args__ = (UniqueConstraint("organization_id", "slug"),)

    id: Mapped[str] = mapped_column(String(26), primary_key=True, default=new_id)
    slug: Mapped[str] = mapped_column(String(100))
    name: Mapped[str] = mapped_column(String(200))
    attributes_schema: Mapped[dict[str, Any]]
    variant_attributes_schema: Mapped[dict[str, Any]]
    serialized: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": version}


class Category(TenantMixin, Base):
    __tablename__ = "categories"
    __table_args__ = (UniqueConstraint("organization_id", "slug"),)

    id: Mapped[str] = mapped_column(String(26), primary_key=True, default=new_id)
    slug: Mapped[str] = mapped_column(String(100))
    name: Mapped[str] = mapped_column(String(200))
    parent_id: Mapped[str | None] = mapped_column(
        String(26), ForeignKey("categories.id", ondelete="RESTRICT"), index=True
    )
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Product(TenantMixin, Base):
    __tablename__ = "products"
    __table_args__ = (
        UniqueConstraint("organization_id", "slug"),
        Index("ix_products_org_created", "organization_id", "created_at", "id"),
        Index("ix_products_org_updated", "organization_id", "updated_at", "id"),
        Index("ix_products_org_title", "organization_id", "title", "id"),
        Index("ix_products_org_type", "organization_id", "product_type_id"),
    )

    id: Mapped[str] = mapped_column(String(26), primary_key=True, default=new_id)
    product_type_id: Mapped[str] = mapped_column(
        String(26), ForeignKey("product_types.id", ondelete="RESTRICT")
    )
    title: Mapped[str] = mapped_column(String(500))
    slug: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(16), default="draft")
    vendor: Mapped[str | None] = mapped_column(String(200))
    category_id: Mapped[str | None] = mapped_column(
        String(26), ForeignKey("categories.id", ondelete="SET NULL"), index=True
    )
    tags: Mapped[list[str]]
    media: Mapped[list[dict[str, Any]]]
    attributes: Mapped[dict[str, Any]]
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    version: Mapped[int] = mapped_column(Integer, default=1)

    variants: Mapped[list[Variant]] = relationship(
        back_populates="product", cascade="all, delete-orphan", order_by="Variant.position",
        lazy="selectin",
    )

    __mapper_args__ = {"version_id_col": version}


class Variant(TenantMixin, Base):
    __tablename__ = "variants"
    __table_args__ = (
        UniqueConstraint("organization_id", "sku"),
        UniqueConstraint("organization_id", "barcode"),
    )

    id: Mapped[str] = mapped_column(String(26), primary_key=True, default=new_id)
    product_id: Mapped[str] = mapped_column(
        String(26), ForeignKey("products.id", ondelete="CASCADE"), index=True
    )
    sku: Mapped[str] = mapped_column(String(100))
    barcode: Mapped[str | None] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(String(500), default="")
    price: Mapped[Decimal] = mapped_column(PRICE)
    compare_at_price: Mapped[Decimal | None] = mapped_column(PRICE)
    cost: Mapped[Decimal | None] = mapped_column(PRICE)
    currency: Mapped[str] = mapped_column(String(3), default="USD")
    weight_grams: Mapped[int | None] = mapped_column(Integer)
    attributes: Mapped[dict[str, Any]]
    position: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    version: Mapped[int] = mapped_column(Integer, default=1)

    product: Mapped[Product] = relationship(back_populates="variants")

    __mapper_args__ = {"version_id_col": version}
