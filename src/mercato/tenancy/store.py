"""The store a ``/store/v1/{store}/...`` request is for: its slug (or custom domain, rewritten
to the slug by the middleware) names an organization, and the request's session is scoped to it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from fastapi import Request
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from mercato.core.db import Database, set_tenant
from mercato.core.errors import NotFound
from mercato.core.uow import uow_of
from mercato.tenancy.models import Organization
from mercato.tenancy.service import DomainResolver

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


def _no_store(slug: str, request: Request) -> str:
    """Say what was looked for: on a host that could be a store's own domain, the first path
    segment is a slug only because the host is no verified domain."""
    host = request.headers.get("host", "")
    domains: DomainResolver = request.app.state.domains
    if host and domains.routable(host):
        return (f"No store here: the host {domains.bare(host)!r} is not a verified domain of any "
                f"store, and no store has the slug {slug!r} (/store/v1/{{store}}/...).")
    return f"No store has the slug {slug!r}."


async def current_store(store: str, request: Request) -> Store:
    """FastAPI dependency for every storefront route: 404 for an unknown store; otherwise the
    request's session acts inside that organization (row-level security included)."""
    resolver: StoreResolver = request.app.state.stores
    known, found = resolver.cached(store)
    if not known:
        found = await run_in_threadpool(resolver.lookup, store)
    if found is None:
        raise NotFound(_no_store(store, request))
    request.state.store = found
    set_tenant(uow_of(request).session, found.organization_id)
    return found
