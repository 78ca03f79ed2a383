"""Digital delivery's tables: how each digital variant is delivered, its licence-key pool, its
stored files, and one delivery per order line (docs/digital.md)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from mercato.core.db import Base, TenantMixin, utcnow
from mercato.core.ids import new_id
from mercato.core.mixins import Timestamps

METHODS = ("key_pool", "download", "email", "webhook", "manual")
STATUSES = ("pending", "delivered", "failed")


class DigitalGood(Timestamps, TenantMixin, Base):
    """How one digital variant is delivered once its order is paid."""

    __tablename__ = "digital_goods"
    __table_args__ = (UniqueConstraint("organization_id", "variant_id"),)

    id: Mapped[str] = mapped_column(String(26), primary_key=True, default=new_id)
    variant_id: Mapped[str] = mapped_column(String(26))
    method: Mapped[str] = mapped_column(String(16))
    webhook_url: Mapped[str | None] = mapped_column(String(2000))
    message: Mapped[str] = mapped_column(Text, default="")
    low_pool_threshold: Mapped[int] = mapped_column(Integer, default=5)
    alert_email: Mapped[str | None] = mapped_column(String(320))
    link_ttl_seconds: Mapped[int] = mapped_column(Integer, default=86400)


class DigitalFile(TenantMixin, Base):
    """A file Mercato keeps for a variant's download links: its bytes are in the database (the
    same on SQLite and PostgreSQL, backed up with everything else), up to ``MAX_FILE_BYTES``."""

    __tablename__ = "digital_files"
    __audited__ = False  # the bytes are no audit material; uploads and deletes are audited
    __table_args__ = (Index("ix_digital_files_variant", "organization_id", "variant_id"),)

    id: Mapped[str] = mapped_column(String(26), primary_key=True, default=new_id)
    variant_id: Mapped[str] = mapped_column(String(26))
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    data: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class LicenceKey(TenantMixin, Base):
    """One licence key of a variant's pool, sealed at rest (``core.secrets.Vault``).

    Undrawn while ``order_line_id`` is NULL. Drawn for good, once, for one unit of one order
    line: the unique (line, unit) key and the conditional update that draws it make each key
    go to exactly one unit and each unit get exactly one key under any concurrency."""

    __tablename__ = "licence_keys"
    __audited__ = False  # bulk uploads and draws are audited as summaries; keys stay sealed
    __table_args__ = (
        UniqueConstraint("organization_id", "variant_id", "fingerprint"),
        UniqueConstraint("order_line_id", "unit"),
        Index("ix_licence_keys_pool", "organization_id", "variant_id", "drawn_at", "id"),
    )

    id: Mapped[str] = mapped_column(String(26), primary_key=True, default=new_id)
    variant_id: Mapped[str] = mapped_column(String(26))
    sealed: Mapped[str] = mapped_column(Text)
    fingerprint: Mapped[str] = mapped_column(String(64))
    """HMAC of the key under a derived key: finds duplicates without opening any key."""
    order_id: Mapped[str | None] = mapped_column(String(26))
    order_line_id: Mapped[str | None] = mapped_column(String(26))
    unit: Mapped[int | None] = mapped_column(Integer)
    drawn_at: Mapped[dt.datetime | None] = mapped_column()
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Delivery(Timestamps, TenantMixin, Base):
    """The delivery of one paid order line of a digital variant, with its attempts."""

    __tablename__ = "digital_deliveries"
    __table_args__ = (
        UniqueConstraint("organization_id", "order_line_id"),
        Index("ix_digital_deliveries_order", "organization_id", "order_id"),
        Index("ix_digital_deliveries_due", "status", "next_attempt_at"),
    )

    id: Mapped[str] = mapped_column(String(26), primary_key=True, default=new_id)
    order_id: Mapped[str] = mapped_column(String(26))
    order_line_id: Mapped[str] = mapped_column(String(26))
    variant_id: Mapped[str] = mapped_column(String(26))
    sku: Mapped[str] = mapped_column(String(100))
    title: Mapped[str] = mapped_column(String(500))
    quantity: Mapped[int] = mapped_column(Integer)
    method: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    next_attempt_at: Mapped[dt.datetime | None] = mapped_column()
    lease_until: Mapped[dt.datetime | None] = mapped_column()
    lease_owner: Mapped[str | None] = mapped_column(String(100))
    delivered_at: Mapped[dt.datetime | None] = mapped_column()
    email: Mapped[str | None] = mapped_column(String(320))
