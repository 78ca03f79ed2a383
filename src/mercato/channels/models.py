"""Tables of the channels module: connections, id mappings, sync jobs, webhook receipts.

A connection belongs to one sales channel (inventory's ``sales_channels``): the channel decides
what may be sold there (its locations and buffers), the connection how to talk to the platform.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from mercato.core.db import Base, BigIntPK, TenantMixin, utcnow
from mercato.core.ids import new_id
from mercato.core.mixins import Timestamps


class Connection(Timestamps, TenantMixin, Base):
    """How Mercato reaches one platform account for one channel, and how that is going.

    ``credentials`` is a sealed JSON object (``core.secrets``, purpose ``channels``); only the
    last four characters of each secret are kept in the clear, to show which key is set.
    """

    __tablename__ = "channel_connections"
    __audit_exclude__ = frozenset({"credentials"})
    __table_args__ = (UniqueConstraint("organization_id", "channel_id"),
                      UniqueConstraint("organization_id", "platform", "account"))

    id: Mapped[str] = mapped_column(String(26), primary_key=True, default=new_id)
    channel_id: Mapped[str] = mapped_column(
        String(26), ForeignKey("sales_channels.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(20))
    platform: Mapped[str] = mapped_column(String(20))
    """The platform behind ``kind`` (``binderpos`` runs on ``shopify``): one connection per
    platform account and organization, whatever the kind."""
    mode: Mapped[str] = mapped_column(String(20), default="channel")
    account: Mapped[str] = mapped_column(String(255))
    """The platform account, normalised: a Shopify shop domain (``example.myshopify.com``)."""
    api_base: Mapped[str | None] = mapped_column(String(500))
    api_version: Mapped[str] = mapped_column(String(20))
    credentials: Mapped[str] = mapped_column(Text)
    credential_hints: Mapped[dict[str, Any]]
    settings: Mapped[dict[str, Any]]
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    # health
    last_success_at: Mapped[dt.datetime | None]
    last_error_at: Mapped[dt.datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    last_error_kind: Mapped[str | None] = mapped_column(String(20))
    circuit: Mapped[dict[str, Any]]
    # inbound webhooks: refused signatures, counted since the credentials were last set
    signature_failures: Mapped[int] = mapped_column(Integer, default=0)
    last_signature_failure_at: Mapped[dt.datetime | None]
    last_webhook_at: Mapped[dt.datetime | None]
    """When a webhook last passed its signature check (written at most every few seconds)."""
    # one inventory pusher per connection at a time, across processes
    push_lease_owner: Mapped[str | None] = mapped_column(String(100))
    push_lease_until: Mapped[dt.datetime | None]
    cursors: Mapped[dict[str, Any]]
    """Watermarks of incremental syncs, e.g. the order backfill's last ``updated_at``."""


class Mapping(TenantMixin, Base):
    """A Mercato record (variant, location, product, order) and the platform's id for it.

    Variant rows also carry the inventory push state: the number Mercato wants the platform to
    show (``want_quantity``, bumped ``want_version`` each time it changes), the version last
    pushed, and the platform's quantity as last seen (the ``changeFromQuantity`` of the next
    push). A burst of changes only moves ``want_*``; the pusher sends the latest number once.
    """

    __tablename__ = "channel_mappings"
    __audited__ = False
    __table_args__ = (
        UniqueConstraint("connection_id", "resource", "local_id"),
        UniqueConstraint("connection_id", "resource", "remote_id"),
        Index("ix_channel_mappings_due", "connection_id", "resource", "pushed_version",
              "want_version"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    connection_id: Mapped[str] = mapped_column(
        String(26), ForeignKey("channel_connections.id", ondelete="CASCADE"))
    resource: Mapped[str] = mapped_column(String(20))
    local_id: Mapped[str] = mapped_column(String(26))
    remote_id: Mapped[str] = mapped_column(String(255))
    remote_extra: Mapped[str | None] = mapped_column(String(255))
    """For a variant: the platform's inventory item id."""
    want_quantity: Mapped[int | None] = mapped_column(Integer)
    want_version: Mapped[int] = mapped_column(Integer, default=0)
    pushed_version: Mapped[int] = mapped_column(Integer, default=0)
    remote_quantity: Mapped[int | None] = mapped_column(Integer)
    remote_seen_at: Mapped[dt.datetime | None]
    """When the platform last said what its quantity is (a level webhook's ``updated_at``)."""
    wanted_at: Mapped[dt.datetime | None]
    pushed_at: Mapped[dt.datetime | None]
    push_error: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class SyncJob(TenantMixin, Base):
    """One run of a sync (import, export, push, pull) with its progress and outcome.

    ``state`` is the job's resume point, written with its progress in one transaction after
    each page, so a job taken over after a crash starts from the last finished page.
    """

    __tablename__ = "channel_sync_jobs"
    __audited__ = False
    __table_args__ = (Index("ix_channel_sync_jobs_due", "status", "run_after"),
                      Index("ix_channel_sync_jobs_history", "connection_id", "kind", "id"))

    id: Mapped[str] = mapped_column(String(26), primary_key=True, default=new_id)
    connection_id: Mapped[str] = mapped_column(
        String(26), ForeignKey("channel_connections.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(30))
    trigger: Mapped[str] = mapped_column(String(20), default="manual")
    status: Mapped[str] = mapped_column(String(32), default="queued")
    params: Mapped[dict[str, Any]]
    state: Mapped[dict[str, Any]]
    total: Mapped[int | None] = mapped_column(Integer)
    done: Mapped[int] = mapped_column(Integer, default=0)
    failed: Mapped[int] = mapped_column(Integer, default=0)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer, default=5)
    error: Mapped[str | None] = mapped_column(Text)
    error_kind: Mapped[str | None] = mapped_column(String(20))
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    retry_of: Mapped[str | None] = mapped_column(String(26))
    created_by: Mapped[str | None] = mapped_column(String(26))
    lease_owner: Mapped[str | None] = mapped_column(String(100))
    lease_until: Mapped[dt.datetime | None]
    run_after: Mapped[dt.datetime] = mapped_column(default=utcnow)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    started_at: Mapped[dt.datetime | None]
    finished_at: Mapped[dt.datetime | None]


class SyncItemError(TenantMixin, Base):
    """One item a job could not sync (the job goes on with the others)."""

    __tablename__ = "channel_sync_errors"
    __audited__ = False

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    job_id: Mapped[str] = mapped_column(
        String(26), ForeignKey("channel_sync_jobs.id", ondelete="CASCADE"), index=True)
    item: Mapped[str] = mapped_column(String(300))
    kind: Mapped[str] = mapped_column(String(20))
    message: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class ListingRevision(TenantMixin, Base):
    """How many times Mercato revised one platform listing on one UTC day: eBay allows a
    listing 250 revisions a day, and the push never sends the one past the limit."""

    __tablename__ = "channel_listing_revisions"
    __audited__ = False
    __table_args__ = (UniqueConstraint("connection_id", "listing_id", "day"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    connection_id: Mapped[str] = mapped_column(
        String(26), ForeignKey("channel_connections.id", ondelete="CASCADE"))
    listing_id: Mapped[str] = mapped_column(String(100))
    day: Mapped[dt.date] = mapped_column(Date)
    count: Mapped[int] = mapped_column(Integer, default=0)
