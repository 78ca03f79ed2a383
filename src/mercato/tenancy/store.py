"""The store a ``/store/v1/{store}/...`` request is for: its slug (or custom domain, rewritten
to the slug by the middleware) names an organization, and the request's session is scoped to it.

Plain Python: the dependency that resolves it for a request (``current_store``) is in
``tenancy.deps``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from sqlalchemy import select

from mercato.core.db import Database
from mercato.tenancy.models import Organization

CACHE_SECONDS = 30.0


@dataclass(frozen=True)
class Store:
    """The organization behind a storefront request."""

    organization_id: str
    slug: str
    name: str


class StoreResolver:
    """Slug → store, cached briefly: every storefront request needs it, and it rarely changes."""

    def __init__(self, db: Database, ttl_seconds: float = CACHE_SECONDS) -> None:
        self.db = db
        self.ttl = ttl_seconds
        self._cache: dict[str, tuple[float, Store | None]] = {}

    def cached(self, slug: str) -> tuple[bool, Store | None]:
        hit = self._cache.get(slug)
        if hit is not None and time.monotonic() - hit[0] < self.ttl:
            return True, hit[1]
        return False, None

    def lookup(self, slug: str) -> Store | None:
        now = time.monotonic()
        with self.db.session(write=False) as session:
            row = session.execute(select(Organization.id, Organization.slug, Organization.name)
                                  .where(Organization.slug == slug)).first()
        store = Store(organization_id=row[0], slug=row[1], name=row[2]) if row else None
        if len(self._cache) > 10_000:
            self._cache.clear()
        self._cache[slug] = (now, store)
        return store

    def forget(self) -> None:
        self._cache.clear()
