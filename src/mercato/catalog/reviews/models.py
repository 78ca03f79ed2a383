"""Product reviews: one per customer and product, shown to shoppers once approved."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from mercato.core.db import Base, TenantMixin
from mercato.core.ids import new_id
from mercato.core.mixins import Timestamps, Versioned

REVIEW_STATUSES = ("pending", "approved", "rejected")


class Review(Timestamps, Versioned, TenantMixin, Base):
    """A shopper's rating and words on a product. ``customer_id`` names the author without a
    foreign key: customers belong to the orders module, and a review outlives a merge."""

    __tablename__ = "product_reviews"
    __table_args__ = (
        UniqueConstraint("organization_id", "customer_id", "product_id"),
        CheckConstraint("rating >= 1 AND rating <= 5", name="rating_one_to_five"),
        Index("ix_product_reviews_product", "product_id", "status", "created_at", "id"),
        Index("ix_product_reviews_listing", "organization_id", "created_at", "id"),
    )

    id: Mapped[str] = mapped_column(String(26), primary_key=True, default=new_id)
    product_id: Mapped[str] = mapped_column(
        String(26), ForeignKey("products.id", ondelete="CASCADE"))
    customer_id: Mapped[str] = mapped_column(String(26))
    author_name: Mapped[str] = mapped_column(String(100))
    rating: Mapped[int] = mapped_column(Integer)
    title: Mapped[str | None] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    verified_purchase: Mapped[bool] = mapped_column(Boolean, default=False)
    moderation_note: Mapped[str | None] = mapped_column(Text)
    moderated_at: Mapped[dt.datetime | None]
    moderated_by: Mapped[str | None] = mapped_column(String(26))

