"""Inventory tables: locations, stock levels, the ledger, reservations, channels, transfers,
cycle counts and purchase orders.

Variants belong to the catalog; these tables refer to them by id without a foreign key (the
ledger outlives a deleted variant, and a module never writes another module's tables).
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
    false,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from mercato.core.db import Base, BigIntPK, TenantMixin, utcnow
from mercato.core.ids import new_id
from mercato.core.mixins import Timestamps, Versioned

COST = Numeric(12, 2)
COORDINATE = Numeric(9, 6)
"""Degrees to six places: about 0.1 m."""

REASONS = ("sale", "restock", "adjustment", "return", "transfer", "count", "damage",
           "reservation", "release")
"""Why a ledger row moved stock. Staff adjustments may use the first seven but ``transfer``;
``transfer``, ``reservation`` and ``release`` are written by their own operations."""


class Location(Timestamps, Versioned, TenantMixin, Base):
    """Where stock is: a store, a warehouse, or a virtual place (consignment, a show booth)."""

    __tablename__ = "locations"
    __table_args__ = (UniqueConstraint("organization_id", "code"),)

    id: Mapped[str] = mapped_column(String(26), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(200))
    code: Mapped[str] = mapped_column(String(50))
    kind: Mapped[str] = mapped_column(String(20))
    address: Mapped[dict[str, Any]]
    fulfills_online: Mapped[bool] = mapped_column(Boolean, default=True)
    pickup: Mapped[bool] = mapped_column(Boolean, default=False)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # the store locator (inventory/api_locator.py): shown to shoppers only when ``public``
    latitude: Mapped[Decimal | None] = mapped_column(COORDINATE)
    longitude: Mapped[Decimal | None] = mapped_column(COORDINATE)
    public: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    phone: Mapped[str | None] = mapped_column(String(50))
    hours: Mapped[dict[str, Any] | None] = mapped_column(doc="Opening hours by weekday.")


class StockLevel(TenantMixin, Base):
    """Units of one variant at one location. Only ``inventory.stock`` writes it, always as a
    conditional update plus a ledger row in the same transaction."""

    __tablename__ = "stock_levels"
    __audited__ = False  # the ledger is its history
    __table_args__ = (
        CheckConstraint("on_hand >= 0", name="on_hand_not_negative"),
        CheckConstraint("reserved >= 0 AND reserved <= on_hand", name="reserved_within_on_hand"),
        CheckConstraint("safety_stock >= 0", name="safety_stock_not_negative"),
        Index("ix_stock_levels_location", "location_id", "variant_id"),
        Index("ix_stock_levels_unpublished", "organization_id", "variant_id",
              sqlite_where=text("changes > published"),
              postgresql_where=text("changes > published")),
    )

    variant_id: Mapped[str] = mapped_column(String(26), primary_key=True)
    location_id: Mapped[str] = mapped_column(
        String(26), ForeignKey("locations.id", ondelete="RESTRICT"), primary_key=True)
    on_hand: Mapped[int] = mapped_column(Integer, default=0)
    reserved: Mapped[int] = mapped_column(Integer, default=0)
    safety_stock: Mapped[int] = mapped_column(Integer, default=0)
    reorder_point: Mapped[int | None] = mapped_column(Integer)
    reorder_quantity: Mapped[int | None] = mapped_column(Integer)
    changes: Mapped[int] = mapped_column(Integer, default=0)
    """Bumped by every write; availability is republished while it is ahead of ``published``."""
    published: Mapped[int] = mapped_column(Integer, default=0)
    low: Mapped[bool] = mapped_column(Boolean, default=False)
    """At or below the reorder point when last published: ``inventory.low_stock`` was sent."""
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class StockMovement(TenantMixin, Base):
    """One append-only ledger row: levels are the sum of these."""

    __tablename__ = "stock_movements"
    __audited__ = False  # append-only: it is the audit trail
    __table_args__ = (
        Index("ix_stock_movements_variant", "organization_id", "variant_id", "id"),
        Index("ix_stock_movements_location", "organization_id", "location_id", "id"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    variant_id: Mapped[str] = mapped_column(String(26))
    location_id: Mapped[str] = mapped_column(String(26))
    delta_on_hand: Mapped[int] = mapped_column(Integer, default=0)
    delta_reserved: Mapped[int] = mapped_column(Integer, default=0)
    reason: Mapped[str] = mapped_column(String(20))
    reference: Mapped[str | None] = mapped_column(String(200))
    note: Mapped[str | None] = mapped_column(Text)
    actor: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Reservation(TenantMixin, Base):
    __tablename__ = "reservations"
    __audited__ = False  # its lines and the ledger record everything
    __table_args__ = (
        UniqueConstraint("organization_id", "reference"),
        Index("ix_reservations_expiry", "status", "expires_at"),
    )

    id: Mapped[str] = mapped_column(String(26), primary_key=True, default=new_id)
    reference: Mapped[str] = mapped_column(String(200))
    channel_id: Mapped[str | None] = mapped_column(String(26))
    status: Mapped[str] = mapped_column(String(20), default="active")
    expires_at: Mapped[dt.datetime]
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    closed_at: Mapped[dt.datetime | None]

    lines: Mapped[list[ReservationLine]] = relationship(
        lazy="selectin", order_by="ReservationLine.id")


class ReservationLine(TenantMixin, Base):
    __tablename__ = "reservation_lines"
    __audited__ = False
    __table_args__ = (Index("ix_reservation_lines_level", "variant_id", "location_id"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    reservation_id: Mapped[str] = mapped_column(
        String(26), ForeignKey("reservations.id", ondelete="CASCADE"), index=True)
    variant_id: Mapped[str] = mapped_column(String(26))
    sku: Mapped[str] = mapped_column(String(100))
    location_id: Mapped[str] = mapped_column(String(26))
    quantity: Mapped[int] = mapped_column(Integer)


class SalesChannel(Timestamps, Versioned, TenantMixin, Base):
    """Somewhere stock is sold (web store, POS, a marketplace): which locations feed it and
    how much to hold back from it."""

    __tablename__ = "sales_channels"

    id: Mapped[str] = mapped_column(String(26), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(30))
    default_buffer: Mapped[int] = mapped_column(Integer, default=0)
    email_buyers: Mapped[bool] = mapped_column(Boolean)
    """Whether Mercato emails the buyers of the channel's orders (placed, paid, shipped): on
    for Mercato's own channels, off for platforms that email their buyers themselves."""

    locations: Mapped[list[ChannelLocation]] = relationship(
        lazy="selectin", order_by="ChannelLocation.priority", cascade="all, delete-orphan")


class ChannelLocation(TenantMixin, Base):
    __tablename__ = "channel_locations"
    __audited__ = False  # the channel's own entry records them

    channel_id: Mapped[str] = mapped_column(
        String(26), ForeignKey("sales_channels.id", ondelete="CASCADE"), primary_key=True)
    location_id: Mapped[str] = mapped_column(
        String(26), ForeignKey("locations.id", ondelete="RESTRICT"), primary_key=True)
    priority: Mapped[int] = mapped_column(Integer)


class ChannelBuffer(TenantMixin, Base):
    """A per-SKU buffer that overrides the channel's default."""

    __tablename__ = "channel_buffers"

    channel_id: Mapped[str] = mapped_column(
        String(26), ForeignKey("sales_channels.id", ondelete="CASCADE"), primary_key=True)
    variant_id: Mapped[str] = mapped_column(String(26), primary_key=True)
    buffer: Mapped[int] = mapped_column(Integer)


class ChannelStock(TenantMixin, Base):
    """The available-to-sell last published for a (channel, variant): what the next
    ``inventory.availability_changed`` is compared against."""

    __tablename__ = "channel_stock"
    __audited__ = False

    channel_id: Mapped[str] = mapped_column(
        String(26), ForeignKey("sales_channels.id", ondelete="CASCADE"), primary_key=True)
    variant_id: Mapped[str] = mapped_column(String(26), primary_key=True)
    quantity: Mapped[int] = mapped_column(Integer)
    published_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class ImportedStock(TenantMixin, Base):
    """The quantity the last imported TCGplayer file gave a variant at a location (its Total
    Quantity plus its Add to Quantity): the next file moves stock by the difference only, so
    sales made in between are kept (``inventory.imported``)."""

    __tablename__ = "imported_stock"
    __audited__ = False

    variant_id: Mapped[str] = mapped_column(String(26), primary_key=True)
    location_id: Mapped[str] = mapped_column(
        String(26), ForeignKey("locations.id", ondelete="CASCADE"), primary_key=True)
    quantity: Mapped[int] = mapped_column(Integer)
    reference: Mapped[str] = mapped_column(String(100), default="")
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class ImportedStockFile(TenantMixin, Base):
    """A stock file imported at a location, by its SHA-256: the same bytes again do not add
    their Add to Quantity a second time."""

    __tablename__ = "imported_stock_files"
    __audited__ = False

    location_id: Mapped[str] = mapped_column(
        String(26), ForeignKey("locations.id", ondelete="CASCADE"), primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    reference: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Transfer(Timestamps, Versioned, TenantMixin, Base):
    __tablename__ = "transfers"

    id: Mapped[str] = mapped_column(String(26), primary_key=True, default=new_id)
    from_location_id: Mapped[str] = mapped_column(
        String(26), ForeignKey("locations.id", ondelete="RESTRICT"))
    to_location_id: Mapped[str] = mapped_column(
        String(26), ForeignKey("locations.id", ondelete="RESTRICT"))
    status: Mapped[str] = mapped_column(String(20), default="in_transit")
    note: Mapped[str | None] = mapped_column(Text)

    lines: Mapped[list[TransferLine]] = relationship(
        lazy="selectin", order_by="TransferLine.id", cascade="all, delete-orphan")


class TransferLine(TenantMixin, Base):
    __tablename__ = "transfer_lines"
    __audited__ = False
    __table_args__ = (CheckConstraint("received <= quantity", name="received_within_sent"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    transfer_id: Mapped[str] = mapped_column(
        String(26), ForeignKey("transfers.id", ondelete="CASCADE"), index=True)
    variant_id: Mapped[str] = mapped_column(String(26))
    sku: Mapped[str] = mapped_column(String(100))
    quantity: Mapped[int] = mapped_column(Integer)
    received: Mapped[int] = mapped_column(Integer, default=0)


class StockCount(TenantMixin, Base):
    """A cycle count: a sheet of expected quantities, then what was counted, then applied."""

    __tablename__ = "stock_counts"

    id: Mapped[str] = mapped_column(String(26), primary_key=True, default=new_id)
    location_id: Mapped[str] = mapped_column(
        String(26), ForeignKey("locations.id", ondelete="RESTRICT"))
    status: Mapped[str] = mapped_column(String(20), default="open")
    note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    applied_at: Mapped[dt.datetime | None]
    version: Mapped[int] = mapped_column(Integer, default=1)

    lines: Mapped[list[StockCountLine]] = relationship(
        lazy="selectin", order_by="StockCountLine.id", cascade="all, delete-orphan")

    __mapper_args__ = {"version_id_col": version}


class StockCountLine(TenantMixin, Base):
    __tablename__ = "stock_count_lines"
    __audited__ = False
    __table_args__ = (UniqueConstraint("count_id", "variant_id"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    count_id: Mapped[str] = mapped_column(
        String(26), ForeignKey("stock_counts.id", ondelete="CASCADE"), index=True)
    variant_id: Mapped[str] = mapped_column(String(26))
    sku: Mapped[str] = mapped_column(String(100))
    expected: Mapped[int] = mapped_column(Integer)
    counted: Mapped[int | None] = mapped_column(Integer)


class PurchaseOrder(Timestamps, Versioned, TenantMixin, Base):
    __tablename__ = "purchase_orders"

    id: Mapped[str] = mapped_column(String(26), primary_key=True, default=new_id)
    supplier: Mapped[str] = mapped_column(String(200))
    currency: Mapped[str] = mapped_column(String(3), default="USD")
    status: Mapped[str] = mapped_column(String(20), default="open")
    note: Mapped[str | None] = mapped_column(Text)

    lines: Mapped[list[PurchaseOrderLine]] = relationship(
        lazy="selectin", order_by="PurchaseOrderLine.id", cascade="all, delete-orphan")


class PurchaseOrderLine(TenantMixin, Base):
    __tablename__ = "purchase_order_lines"
    __audited__ = False
    __table_args__ = (CheckConstraint("received <= quantity", name="received_within_ordered"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    purchase_order_id: Mapped[str] = mapped_column(
        String(26), ForeignKey("purchase_orders.id", ondelete="CASCADE"), index=True)
    variant_id: Mapped[str] = mapped_column(String(26))
    sku: Mapped[str] = mapped_column(String(100))
    quantity: Mapped[int] = mapped_column(Integer)
    received: Mapped[int] = mapped_column(Integer, default=0)
    unit_cost: Mapped[Decimal] = mapped_column(COST)

