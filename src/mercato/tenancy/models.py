from __future__ import annotations

import datetime as dt

from sqlalchemy import Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from mercato.core.db import Base, TenantMixin, utcnow
from mercato.core.ids import new_id


class Organization(Base):
    """A tenant. Not itself tenant-scoped: it *is* the scope."""

    __tablename__ = "organizations"

    id: Mapped[str] = mapped_column(String(26), primary_key=True, default=new_id)
    slug: Mapped[str] = mapped_column(String(63), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": version}


class OrganizationDomain(TenantMixin, Base):
    """A custom host name (``cards.example.com``) that reaches the organization's store."""

    __tablename__ = "organization_domains"

    id: Mapped[str] = mapped_column(String(26), primary_key=True, default=new_id)
    domain: Mapped[str] = mapped_column(String(253), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
