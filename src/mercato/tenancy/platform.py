"""What the platform operator decides about an organization: its status (active or suspended),
its plan and its limits; and the checks every surface makes against them.

Plain Python: the operator's routes (``identity.platform``) and pages call these; the gates
that answer 423 for a suspended organization call ``require_active`` (in a transaction) or the
cached ``OrganizationGate`` (``tenancy.gate``, per request).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from mercato.core.db import utcnow
from mercato.core.errors import OrganizationSuspended, PlanLimitReached, ValidationFailed
from mercato.core.outbox import paused_organizations
from mercato.core.pagination import PageParams, Slice, paginate
from mercato.tenancy.models import Organization

ACTIVE = "active"
SUSPENDED = "suspended"
LIMIT_KEYS = ("products", "staff", "api_calls_per_minute")
"""The limits a plan may set; a key left out is unlimited."""
MAX_LIMIT = 1_000_000_000
PLAN_LENGTH = 64  # organizations.plan
REASON_LENGTH = 500  # organizations.suspension_reason


def clean_limits(limits: Mapping[str, Any]) -> dict[str, int]:
    """The limits as stored: known keys, whole numbers from 0 up; ``null`` removes one."""
    errors: list[dict[str, str]] = []
    clean: dict[str, int] = {}
    for key, value in limits.items():
        if key not in LIMIT_KEYS:
            errors.append({"field": f"limits.{key}",
                           "message": f"unknown limit; known: {', '.join(LIMIT_KEYS)}"})
        elif value is None:
            continue
        elif isinstance(value, bool) or not isinstance(value, int) or not (
                0 <= value <= MAX_LIMIT):
            errors.append({"field": f"limits.{key}",
                           "message": f"a whole number from 0 to {MAX_LIMIT}, or null for "
                                      "unlimited"})
        else:
            clean[key] = value
    if errors:
        raise ValidationFailed("Invalid limits.", errors=errors)
    return clean


def clean_plan(plan: str) -> str:
    value = plan.strip()
    if not value or len(value) > PLAN_LENGTH:
        raise ValidationFailed("Invalid plan.", errors=[{
            "field": "plan", "message": f"1 to {PLAN_LENGTH} characters"}])
    return value


def list_organizations(session: Session, params: PageParams,
                       status: str | None = None) -> Slice[Organization]:
    """Every organization, newest first (ids are time-ordered)."""
    stmt = select(Organization)
    if status is not None:
        stmt = stmt.where(Organization.status == status)
    return paginate(session, stmt, [(Organization.id, True)], params)  # newest first


def set_plan(session: Session, org: Organization, *, plan: str | None = None,
             limits: Mapping[str, Any] | None = None) -> Organization:
    """Change the plan and, when given, replace the limits whole (``{}``: unlimited)."""
    if plan is not None:
        org.plan = clean_plan(plan)
    if limits is not None:
        org.limits = clean_limits(limits)
    session.flush()
    return org


def suspend(session: Session, org: Organization, reason: str | None = None) -> Organization:
    """Suspend (again: the reason is updated, the time kept). Nothing of its data changes."""
    if reason is not None and len(reason) > REASON_LENGTH:
        raise ValidationFailed("Reason too long.", errors=[{
            "field": "reason", "message": f"at most {REASON_LENGTH} characters"}])
    if org.status != SUSPENDED:
        org.status = SUSPENDED
        org.suspended_at = utcnow()
    org.suspension_reason = (reason or "").strip() or None
    session.flush()
    return org


def reactivate(session: Session, org: Organization) -> Organization:
    org.status = ACTIVE
    org.suspended_at = None
    org.suspension_reason = None
    session.flush()
    return org


def require_active(session: Session, organization_id: str) -> None:
    """423 when the organization is suspended: read in the caller's transaction, for what must
    never slip through a cache (issuing tokens)."""
    status = session.scalar(select(Organization.status)
                            .where(Organization.id == organization_id))
    if status == SUSPENDED:
        raise OrganizationSuspended()


def organization_limits(session: Session, organization_id: str) -> dict[str, int]:
    limits = session.scalar(select(Organization.limits)
                            .where(Organization.id == organization_id))
    return dict(limits or {})


def check_limit(session: Session, organization_id: str, what: str,
                current: Callable[[], int], adding: int = 1) -> None:
    """409 ``plan_limit`` when ``current() + adding`` would pass the plan's limit of ``what``
    (``current`` is only counted when the plan sets that limit). The organization's row is
    locked first (PostgreSQL; SQLite's write transaction is one at a time already), so two
    requests adding at once cannot both see room for one more."""
    limits = session.scalar(select(Organization.limits)
                            .where(Organization.id == organization_id).with_for_update())
    limit = dict(limits or {}).get(what)
    if limit is None:
        return
    count = current()
    if count + adding > limit:
        raise PlanLimitReached(
            f"The organization's plan allows {limit} {what.replace('_', ' ')}; it has "
            f"{count}. Ask the platform operator for a larger plan.",
            extra={"limit": limit, "current": count, "resource": what})


def suspended_organizations(session: Session) -> frozenset[str]:
    """Ids of every suspended organization: whose background work is held back."""
    return frozenset(session.scalars(select(Organization.id)
                                     .where(Organization.status == SUSPENDED)))


def count_organizations(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(Organization)) or 0)


paused_organizations.provide(suspended_organizations)
