"""The record of every email sent to a customer.

A row is written (``pending``) in the transaction that decides an email is due, already
rendered, and sent after commit by the worker (``service.send_pending``). The unique
(organization, kind, reference) makes an event delivered twice queue one email.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from mercato.core.db import Base, TenantMixin, utcnow
from mercato.core.ids import new_id

KINDS = ("order_placed", "order_paid", "order_shipped", "password_reset", "verify_email",
         "workflow", "digital_delivery", "key_pool_low")
STATUSES = ("pending", "sent", "failed", "skipped")


class Notification(TenantMixin, Base):
    """One email: what was rendered, to whom, and what became of it."""

    __tablename__ = "notifications"
    __audited__ = False  # it is a record itself, and a password reset's body holds a secret
    # (kept sealed: ``service.SECRET_KINDS``)
    __table_args__ = (
        UniqueConstraint("organization_id", "kind", "reference"),
        Index("ix_notifications_due", "status", "next_attempt_at"),
        Index("ix_notifications_listing", "organization_id", "created_at", "id"),
    )

    id: Mapped[str] = mapped_column(String(26), primary_key=True, default=new_id)
    kind: Mapped[str] = mapped_column(String(30))
    recipient: Mapped[str] = mapped_column(String(320), index=True)
    subject: Mapped[str] = mapped_column(String(500))
    body_text: Mapped[str] = mapped_column(Text)
    body_html: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    reference: Mapped[str] = mapped_column(String(200))
    customer_id: Mapped[str | None] = mapped_column(String(26))
    message_id: Mapped[str | None] = mapped_column(String(255))
    next_attempt_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    lease_owner: Mapped[str | None] = mapped_column(String(100))
    lease_until: Mapped[dt.datetime | None]
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[dt.datetime | None]
