"""Customers: the people who buy, every email they are known by, and their addresses.

Orders link to a customer by email (``orders.customers`` keeps that link); a shopper's account
(``identity.models.CustomerAccount``) signs in to one.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Boolean, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from mercato.core.db import Base, TenantMixin
from mercato.core.ids import new_id
from mercato.core.mixins import Timestamps, Versioned


class Customer(Timestamps, Versioned, TenantMixin, Base):
    """A person who buys. Orders link to it when their email matches one of its emails."""

    __tablename__ = "customers"

    id: Mapped[str] = mapped_column(String(26), primary_key=True, default=new_id)
    email: Mapped[str | None] = mapped_column(String(320))
    first_name: Mapped[str | None] = mapped_column(String(100))
    last_name: Mapped[str | None] = mapped_column(String(100))
    phones: Mapped[list[str]]
    tags: Mapped[list[str]]
    note: Mapped[str | None] = mapped_column(Text)

    emails: Mapped[list[CustomerEmail]] = relationship(
        lazy="selectin", order_by="CustomerEmail.email", cascade="all, delete-orphan")
    addresses: Mapped[list[CustomerAddress]] = relationship(
        lazy="selectin", order_by="CustomerAddress.id", cascade="all, delete-orphan")


class CustomerEmail(TenantMixin, Base):
    """Every address a customer is known by; unique per organization, stored lowercased."""

    __tablename__ = "customer_emails"
    __audited__ = False  # the customer's own entry records them
    __table_args__ = (UniqueConstraint("organization_id", "email"),)

    id: Mapped[str] = mapped_column(String(26), primary_key=True, default=new_id)
    email: Mapped[str] = mapped_column(String(320))
    customer_id: Mapped[str] = mapped_column(
        String(26), ForeignKey("customers.id", ondelete="CASCADE"), index=True)


class CustomerAddress(TenantMixin, Base):
    __tablename__ = "customer_addresses"
    __audited__ = False

    id: Mapped[str] = mapped_column(String(26), primary_key=True, default=new_id)
    customer_id: Mapped[str] = mapped_column(
        String(26), ForeignKey("customers.id", ondelete="CASCADE"), index=True)
    address: Mapped[dict[str, Any]]
    default_shipping: Mapped[bool] = mapped_column(Boolean, default=False)
    default_billing: Mapped[bool] = mapped_column(Boolean, default=False)


__all__ = ["Customer", "CustomerAddress", "CustomerEmail"]
