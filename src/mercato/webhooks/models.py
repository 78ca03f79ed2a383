"""Outbound webhooks' tables: endpoints, one delivery per (endpoint, event), and every attempt.

A delivery is written by the fan-out handler (``events.py``) in the outbox transaction that
handles the event, so it exists exactly once per (endpoint, event) (the unique constraint
decides if the outbox ever hands the event over twice). The sender (``sender.py``) leases due
deliveries like every queue (``core.queue``), posts them, and writes the attempt and the outcome
in one transaction, only while it still holds the lease.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
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

PENDING, DELIVERED, DEAD = "pending", "delivered", "dead"
STATUSES = (PENDING, DELIVERED, DEAD)


class WebhookEndpoint(TenantMixin, Timestamps, Base):
    """Where an organization wants its events posted, which ones, and the secret that signs
    them (sealed; during a rotation's grace the previous one signs too)."""

    __tablename__ = "webhook_endpoints"
    __audit_exclude__ = frozenset({"secret_sealed", "previous_secret_sealed"})

    id: Mapped[str] = mapped_column(String(26), primary_key=True, default=new_id)
    url: Mapped[str] = mapped_column(String(2048))
    description: Mapped[str | None] = mapped_column(String(500))
    events: Mapped[list[str]]
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    secret_sealed: Mapped[str] = mapped_column(Text)
    secret_last4: Mapped[str] = mapped_column(String(4))
    previous_secret_sealed: Mapped[str | None] = mapped_column(Text)
    previous_secret_last4: Mapped[str | None] = mapped_column(String(4))
    previous_secret_expires_at: Mapped[dt.datetime | None]
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0)
    """Failed attempts in a row (any delivery); the breaker opens at the threshold."""
    open_until: Mapped[dt.datetime | None]
    """Set while the breaker is open (and while its one probe is in flight): the endpoint's
    deliveries are not claimed before then."""


class WebhookDelivery(TenantMixin, Base):
    """One event for one endpoint: its exact body (signed anew on every attempt) and state."""

    __tablename__ = "webhook_deliveries"
    __audited__ = False  # a queue's bookkeeping; its attempts are the log
    __table_args__ = (
        UniqueConstraint("endpoint_id", "event_id"),
        Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
        Index("ix_webhook_deliveries_chain", "endpoint_id", "resource_key", "status",
              "event_position"),
        Index("ix_webhook_deliveries_listing", "endpoint_id", "created_at", "id"),
    )

    id: Mapped[str] = mapped_column(String(26), primary_key=True, default=new_id)
    endpoint_id: Mapped[str] = mapped_column(
        String(26), ForeignKey("webhook_endpoints.id", ondelete="CASCADE"))
    event_id: Mapped[str] = mapped_column(String(26))
    event_type: Mapped[str] = mapped_column(String(100))
    event_position: Mapped[int] = mapped_column(BigInteger)
    """The outbox position: one resource's deliveries go in this order."""
    resource_key: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default=PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    lease_owner: Mapped[str | None] = mapped_column(String(100))
    lease_until: Mapped[dt.datetime | None]
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    delivered_at: Mapped[dt.datetime | None]


class WebhookAttempt(TenantMixin, Base):
    """One POST of a delivery: what was sent, what came back, how long it took."""

    __tablename__ = "webhook_attempts"
    __audited__ = False

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    delivery_id: Mapped[str] = mapped_column(
        String(26), ForeignKey("webhook_deliveries.id", ondelete="CASCADE"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    url: Mapped[str] = mapped_column(String(2048))
    request_headers: Mapped[dict[str, Any]]
    request_body: Mapped[str] = mapped_column(Text)
    response_status: Mapped[int | None] = mapped_column(Integer)
    response_body: Mapped[str | None] = mapped_column(Text)
    latency_ms: Mapped[int] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
