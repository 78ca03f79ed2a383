"""Organizations: create, look up by slug or host, manage custom domains."""

from __future__ import annotations

import re
import time

from sqlalchemy import select
from sqlalchemy.orm import Session

from mercato.core.db import Database, add_unique, require_owned, set_tenant, system_scope
from mercato.core.errors import NotFound, ValidationFailed
from mercato.core.ids import new_id
from mercato.tenancy.models import Organization, OrganizationDomain

SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
DOMAIN = re.compile(r"^(?=.{1,253}$)(?!-)[a-z0-9-]{1,63}(?<!-)(?:\.(?!-)[a-z0-9-]{1,63}(?<!-))+$")
RESERVED_SLUGS = frozenset({"api", "admin", "store", "static", "webhooks", "health", "ready",
                            "metrics", "www"})


def validate_slug(slug: str) -> str:
    if not SLUG.match(slug) or slug in RESERVED_SLUGS:
        raise ValidationFailed(
            "Invalid organization slug.",
            errors=[{"field": "slug", "message": "lowercase letters, digits and hyphens, "
                     "1-63 characters, not a reserved word"}],
        )
    return slug


def normalize_domain(domain: str) -> str:
    value = domain.strip().lower().rstrip(".")
    if not DOMAIN.match(value):
        raise ValidationFailed("Invalid domain.",
                               errors=[{"field": "domain", "message": "not a host name"}])
    return value


def create_organization(session: Session, *, name: str, slug: str) -> Organization:
    """A new organization; the session is scoped to it from here on (its first rows follow)."""
    validate_slug(slug)
    if not name.strip():
        raise ValidationFailed("Name is required.",
                               errors=[{"field": "name", "message": "must not be empty"}])
    org = Organization(id=new_id(), name=name.strip(), slug=slug)
    set_tenant(session, org.id)
    add_unique(session, org, field="slug", detail=f"The slug {slug!r} is taken.")
    return org


def get_by_slug(session: Session, slug: str) -> Organization | None:
    return session.scalar(select(Organization).where(Organization.slug == slug))


def get_organization(session: Session, organization_id: str) -> Organization:
    org = session.get(Organization, organization_id)
    if org is None:
        raise NotFound("Organization not found.")
    return org


def add_domain(session: Session, organization_id: str, domain: str) -> OrganizationDomain:
    row = OrganizationDomain(domain=normalize_domain(domain), organization_id=organization_id)
    add_unique(session, row, field="domain", detail=f"The domain {row.domain!r} is already mapped.")
    return row


def list_domains(session: Session) -> list[OrganizationDomain]:
    return list(session.scalars(select(OrganizationDomain).order_by(OrganizationDomain.domain)))


def remove_domain(session: Session, domain_id: str) -> OrganizationDomain:
    row = require_owned(session, OrganizationDomain, domain_id, "Domain")
    session.delete(row)
    return row


class DomainResolver:
    """Host name → organization slug, cached briefly so storefront requests skip the lookup."""

    def __init__(self, db: Database, ttl_seconds: float = 30.0) -> None:
        self.db = db
        self.ttl = ttl_seconds
        self._cache: dict[str, tuple[float, str | None]] = {}

    @staticmethod
    def _host(host: str) -> str:
        return host.rsplit(":", 1)[0].lower().rstrip(".") if not host.startswith("[") else host

    def cached(self, host: str) -> tuple[bool, str | None]:
        """(known, slug) from the cache only: lets the middleware skip a thread hop."""
        hit = self._cache.get(self._host(host))
        if hit is not None and time.monotonic() - hit[0] < self.ttl:
            return True, hit[1]
        return False, None

    def slug_for_host(self, host: str) -> str | None:
        known, slug = self.cached(host)
        if known:
            return slug
        host = self._host(host)
        now = time.monotonic()
        with self.db.session(write=False) as session, system_scope(session):
            slug = session.scalar(
                select(Organization.slug)
                .join(OrganizationDomain, OrganizationDomain.organization_id == Organization.id)
                .where(OrganizationDomain.domain == host)
            )
        if len(self._cache) > 10_000:
            self._cache.clear()
        self._cache[host] = (now, slug)
        return slug

    def forget(self) -> None:
        self._cache.clear()
