from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from mercato.core.db import Base, BigIntPK, TenantMixin, utcnow
from mercato.core.ids import new_id


class StaffUser(TenantMixin, Base):
    __tablename__ = "staff_users"
    __table_args__ = (UniqueConstraint("organization_id", "email"),)
    __audit_exclude__ = frozenset({"password_hash", "invite_token_hash"})

    id: Mapped[str] = mapped_column(String(26), primary_key=True, default=new_id)
    email: Mapped[str] = mapped_column(String(254))
    password_hash: Mapped[str | None] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(32))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    invite_token_hash: Mapped[str | None] = mapped_column(String(64))
    invite_expires_at: Mapped[dt.datetime | None]
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": version}

    @property
    def status(self) -> str:
        if not self.is_active:
            return "deactivated"
        return "invited" if self.password_hash is None else "active"


class ApiKey(TenantMixin, Base):
    __tablename__ = "api_keys"
    __audit_exclude__ = frozenset({"secret_hash"})

    id: Mapped[str] = mapped_column(String(26), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(200))
    secret_hash: Mapped[str] = mapped_column(String(64))
    scopes: Mapped[list[str]]
    created_by_id: Mapped[str | None] = mapped_column(String(26))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[dt.datetime | None]
    revoked_at: Mapped[dt.datetime | None]


class StaffSignIn(TenantMixin, Base):
    """One password sign-in of a staff member: the family of refresh tokens rotated from it,
    and of the access tokens issued with them (their ``sid``). Ending it ends them all."""

    __tablename__ = "staff_sign_ins"
    __audited__ = False  # bookkeeping of credentials, not a change to the organization's data

    id: Mapped[str] = mapped_column(String(26), primary_key=True, default=new_id)
    staff_id: Mapped[str] = mapped_column(
        String(26), ForeignKey("staff_users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(doc=(
        "The absolute end (MERCATO_REFRESH_TOKEN_TTL_SECONDS after signing in)."))
    last_used_at: Mapped[dt.datetime | None]
    ended_at: Mapped[dt.datetime | None]
    end_reason: Mapped[str | None] = mapped_column(String(20), doc=(
        "sign_out, reuse (a used refresh token came back) or deactivated."))
    web_secret_hash: Mapped[str | None] = mapped_column(String(64), default=None, doc=(
        "A browser session of the admin (its cookie's secret, hashed); tokens otherwise."))


class RefreshToken(TenantMixin, Base):
    """One refresh token of a sign-in, kept as the hash of its secret. Used once: refreshing
    marks it used (compare-and-set) and issues the next."""

    __tablename__ = "refresh_tokens"
    __audited__ = False
    __audit_exclude__ = frozenset({"secret_hash"})

    id: Mapped[str] = mapped_column(String(26), primary_key=True, default=new_id)
    sign_in_id: Mapped[str] = mapped_column(
        String(26), ForeignKey("staff_sign_ins.id", ondelete="CASCADE"), index=True)
    secret_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(doc=(
        "Unused this long (MERCATO_REFRESH_TOKEN_IDLE_SECONDS), it expires; never after its "
        "sign-in does."))
    used_at: Mapped[dt.datetime | None]


class AuditEntry(TenantMixin, Base):
    """One change: who, what, to which resource, the row before and after, when."""

    __tablename__ = "audit_entries"
    __audited__ = False
    __table_args__ = (
        Index("ix_audit_entries_resource", "organization_id", "resource_type", "resource_id"),
    )

    id: Mapped[str] = mapped_column(String(26), primary_key=True, default=new_id)
    actor_type: Mapped[str] = mapped_column(String(16))
    actor_id: Mapped[str | None] = mapped_column(String(26))
    actor_label: Mapped[str] = mapped_column(String(254))
    action: Mapped[str] = mapped_column(String(100))
    resource_type: Mapped[str] = mapped_column(String(100))
    resource_id: Mapped[str] = mapped_column(String(100))
    before: Mapped[dict[str, Any] | None]
    after: Mapped[dict[str, Any] | None]
    request_id: Mapped[str | None] = mapped_column(String(128))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class LoginFailure(Base):
    """A failed sign-in, kept for the rate limiter's sliding window (not tenant data)."""

    __tablename__ = "login_failures"
    __audited__ = False

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    email: Mapped[str] = mapped_column(String(254), index=True)
    client: Mapped[str] = mapped_column(String(64), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)


class CustomerAccount(TenantMixin, Base):
    """A shopper's sign-in to a customer record: the password and whether the email is proven.
    Orders reach the record by email, so until the email is verified the account sees only
    the orders it placed itself (someone could sign up with another person's address)."""

    __tablename__ = "customer_accounts"
    __audit_exclude__ = frozenset({"password_hash"})

    id: Mapped[str] = mapped_column(String(26), primary_key=True, default=new_id)
    customer_id: Mapped[str] = mapped_column(
        String(26), ForeignKey("customers.id", ondelete="CASCADE"), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    verified_at: Mapped[dt.datetime | None]
    token_epoch: Mapped[int] = mapped_column(Integer, default=0, doc=(
        "Raised when the password changes: tokens of an earlier epoch are refused."))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class CustomerToken(TenantMixin, Base):
    """A one-time secret mailed to a shopper: password reset or email verification."""

    __tablename__ = "customer_tokens"
    __audited__ = False

    id: Mapped[str] = mapped_column(String(26), primary_key=True, default=new_id)
    account_id: Mapped[str] = mapped_column(
        String(26), ForeignKey("customer_accounts.id", ondelete="CASCADE"), index=True)
    purpose: Mapped[str] = mapped_column(String(20))
    secret_hash: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[dt.datetime]
    used_at: Mapped[dt.datetime | None]
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


__all__ = ["ApiKey", "AuditEntry", "CustomerAccount", "CustomerToken", "LoginFailure",
           "RefreshToken", "StaffSignIn", "StaffUser"]


class PlatformOperator(Base):
    """Someone who runs the platform: creates, suspends and limits organizations. Outside every
    organization (not a tenant table), signs in at ``/api/platform/v1/auth/token`` only."""

    __tablename__ = "platform_operators"
    __audited__ = False  # no organization's change; operators act on organizations, audited there

    id: Mapped[str] = mapped_column(String(26), primary_key=True, default=new_id)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    epoch: Mapped[int] = mapped_column(Integer, default=0)
    """Raised at sign-out: every token issued before it stops working."""
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)
