from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Index, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from mercato.core.db import Base, TenantMixin, utcnow
from mercato.core.ids import new_id
from mercato.core.mixins import Timestamps, Versioned


class Organization(Timestamps, Versioned, Base):
    """A tenant. Not itself tenant-scoped: it *is* the scope."""

    __tablename__ = "organizations"

    id: Mapped[str] = mapped_column(String(26), primary_key=True, default=new_id)
    slug: Mapped[str] = mapped_column(String(63), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    time_zone: Mapped[str] = mapped_column(String(64), default="UTC", server_default="UTC")
    """IANA name (``Europe/Paris``): the zone the store's days (reports, the dashboard) follow."""
    locale: Mapped[str] = mapped_column(String(35), default="en", server_default="en")
    """CLDR locale (``en``, ``fr_CA``) that pages format numbers, money and dates for."""
    currency: Mapped[str] = mapped_column(String(3), default="USD", server_default="USD")
    """ISO 4217 default currency: what reports total in and new prices default to."""
    logo_url: Mapped[str | None] = mapped_column(String(500), default=None)
    """The storefront's logo: an https URL or a path of the store's own media."""
    brand_color: Mapped[str | None] = mapped_column(String(7), default=None)
    """``#rrggbb``: the storefront header's background."""
    accent_color: Mapped[str | None] = mapped_column(String(7), default=None)
    """``#rrggbb``: the storefront's primary buttons."""
    status: Mapped[str] = mapped_column(String(16), default="active", server_default="active")
    """``active`` or ``suspended`` (by the platform operator: every surface answers 423, its
    background work pauses, its data stays as it is)."""
    suspended_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    suspension_reason: Mapped[str | None] = mapped_column(String(500), default=None)
    plan: Mapped[str] = mapped_column(String(64), default="standard", server_default="standard")
    """The operator's name for what the organization pays for; limits carry the numbers."""
    limits: Mapped[dict[str, Any]] = mapped_column(default=dict, server_default=text("'{}'"))
    """``products``, ``staff``, ``api_calls_per_minute``: a key left out is unlimited."""


class OrganizationDomain(TenantMixin, Base):
    """An organization's claim on a host name (``cards.example.com``); once verified, requests
    on that host reach its store without the slug.

    Anyone may claim any name, so a claim alone routes nothing and blocks no one: several
    organizations may hold pending claims on one name, each with its own token, and only one
    claim per name can be verified (the partial unique index decides races).
    """

    __tablename__ = "organization_domains"
    __table_args__ = (
        UniqueConstraint("organization_id", "domain"),
        Index("uq_organization_domains_verified_domain", "domain", unique=True,
              sqlite_where=text("verified_at IS NOT NULL"),
              postgresql_where=text("verified_at IS NOT NULL")),
    )

    id: Mapped[str] = mapped_column(String(26), primary_key=True, default=new_id)
    domain: Mapped[str] = mapped_column(String(253))
    token: Mapped[str] = mapped_column(String(64))
    """What the owner publishes to prove control (DNS TXT value, HTTP body); not a secret."""
    verified_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    verified_by: Mapped[str | None] = mapped_column(String(20), default=None)
    """How: ``dns``, ``http`` or ``operator`` (the CLI)."""
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
