"""Payments taken for orders, gateway settings, gift cards, store credit, provider events.

Balances are integers of hundredths (``*_cents``), not ``Numeric``: SQLite keeps NUMERIC as a
binary float, and a conditional ``balance - 0.10`` drifts (0.30 less three dimes leaves
0.0999...), so the guard ``balance >= :amount`` would refuse money that is there. Integers are
exact on both databases; the API speaks decimal strings.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Numeric,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from mercato.core.db import Base, TenantMixin, utcnow
from mercato.core.ids import new_id
from mercato.core.mixins import Timestamps, Versioned


class Payment(Timestamps, TenantMixin, Base):
    """Money received (or authorized) for an order; refunds are recorded against it. An amount
    in ``Numeric(12, 2)`` like the order's totals (the integer rule above is for balances
    updated in place with a guard), pointing at its order (``orders``) by foreign key."""

    __tablename__ = "payments"
    __audited__ = False
    __table_args__ = (
        CheckConstraint("refunded <= amount", name="refund_within_payment"),
        CheckConstraint("amount > 0", name="payment_positive"),
    )

    id: Mapped[str] = mapped_column(String(26), primary_key=True, default=new_id)
    order_id: Mapped[str] = mapped_column(
        String(26), ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    method: Mapped[str] = mapped_column(String(50))
    status: Mapped[str] = mapped_column(String(20))
    amount: Mapped[Decimal] = mapped_column(Numeric(12, 2))
    refunded: Mapped[Decimal] = mapped_column(Numeric(12, 2), default=Decimal("0.00"))
    reference: Mapped[str | None] = mapped_column(String(200))


class PaymentSettings(TenantMixin, Base):
    """One row per organization: which methods checkout offers, and the Stripe account.

    Secrets are Fernet tokens (key derived from ``MERCATO_SECRET_KEY``); only their last four
    characters are kept in clear, to show which key is set.
    """

    __tablename__ = "payment_settings"
    __audit_exclude__ = frozenset({"stripe_secret_key_encrypted",
                                   "stripe_webhook_secret_encrypted"})

    organization_id: Mapped[str] = mapped_column(
        String(26), ForeignKey("organizations.id", ondelete="CASCADE"), primary_key=True)
    enabled_methods: Mapped[list[str]]
    stripe_secret_key_encrypted: Mapped[str | None] = mapped_column(Text)
    stripe_secret_key_last4: Mapped[str | None] = mapped_column(String(4))
    stripe_publishable_key: Mapped[str | None] = mapped_column(String(255))
    stripe_webhook_secret_encrypted: Mapped[str | None] = mapped_column(Text)
    stripe_webhook_secret_last4: Mapped[str | None] = mapped_column(String(4))
    stripe_api_base: Mapped[str | None] = mapped_column(String(500))
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class GiftCard(Timestamps, Versioned, TenantMixin, Base):
    """A code with a balance. The code itself is never stored: its SHA-256 finds the card, the
    last four characters identify it to staff."""

    __tablename__ = "gift_cards"
    __audit_exclude__ = frozenset({"code_hash"})
    __table_args__ = (
        UniqueConstraint("organization_id", "code_hash"),
        CheckConstraint("balance_cents >= 0", name="balance_not_negative"),
        Index("ix_gift_cards_customer", "organization_id", "customer_id"),
    )

    id: Mapped[str] = mapped_column(String(26), primary_key=True, default=new_id)
    code_hash: Mapped[str] = mapped_column(String(64))
    last4: Mapped[str] = mapped_column(String(4))
    currency: Mapped[str] = mapped_column(String(3))
    initial_balance_cents: Mapped[int] = mapped_column(BigInteger)
    balance_cents: Mapped[int] = mapped_column(BigInteger)
    expires_at: Mapped[dt.datetime | None]
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    customer_id: Mapped[str | None] = mapped_column(String(26))
    note: Mapped[str | None] = mapped_column(Text)


class GiftCardTransaction(TenantMixin, Base):
    """Append-only ledger of a card: every change of its balance, with the balance after it."""

    __tablename__ = "gift_card_transactions"
    __audited__ = False  # the ledger is the record
    __table_args__ = (
        UniqueConstraint("organization_id", "idempotency_key"),
        Index("ix_gift_card_transactions_card", "gift_card_id", "id"),
    )

    id: Mapped[str] = mapped_column(String(26), primary_key=True, default=new_id)
    gift_card_id: Mapped[str] = mapped_column(
        String(26), ForeignKey("gift_cards.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(20))
    delta_cents: Mapped[int] = mapped_column(BigInteger)
    balance_after_cents: Mapped[int] = mapped_column(BigInteger)
    reference: Mapped[str | None] = mapped_column(String(200))
    reason: Mapped[str | None] = mapped_column(String(500))
    idempotency_key: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class StoreCreditBalance(TenantMixin, Base):
    """A customer's store credit in one currency; changed only by conditional UPDATEs."""

    __tablename__ = "store_credit_balances"
    __audited__ = False  # the entries are the record
    __table_args__ = (
        UniqueConstraint("organization_id", "customer_id", "currency"),
        CheckConstraint("balance_cents >= 0", name="balance_not_negative"),
    )

    id: Mapped[str] = mapped_column(String(26), primary_key=True, default=new_id)
    customer_id: Mapped[str] = mapped_column(String(26))
    currency: Mapped[str] = mapped_column(String(3))
    balance_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class StoreCreditEntry(TenantMixin, Base):
    """Append-only ledger of store credit: grants, deductions, charges and refunds."""

    __tablename__ = "store_credit_entries"
    __audited__ = False
    __table_args__ = (
        UniqueConstraint("organization_id", "idempotency_key"),
        Index("ix_store_credit_entries_customer", "organization_id", "customer_id", "id"),
    )

    id: Mapped[str] = mapped_column(String(26), primary_key=True, default=new_id)
    customer_id: Mapped[str] = mapped_column(String(26))
    currency: Mapped[str] = mapped_column(String(3))
    kind: Mapped[str] = mapped_column(String(20))
    delta_cents: Mapped[int] = mapped_column(BigInteger)
    balance_after_cents: Mapped[int] = mapped_column(BigInteger)
    reference: Mapped[str | None] = mapped_column(String(200))
    reason: Mapped[str | None] = mapped_column(String(500))
    idempotency_key: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
