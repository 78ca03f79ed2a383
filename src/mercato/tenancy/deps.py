"""Tenancy's web side: which store a ``/store/v1`` request is for (``current_store``), and
custom domains rewritten to the store's slug (``CustomDomainMiddleware``)."""

from __future__ import annotations

from fastapi import Request
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Receive, Scope, Send

from mercato.core.db import set_tenant
from mercato.core.errors import NotFound
from mercato.core.uow import uow_of
from mercato.tenancy.gate import OrganizationGate
from mercato.tenancy.service import DomainResolver
from mercato.tenancy.store import Store, StoreResolver


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
    await check_organization(request, found.organization_id)
    request.state.store = found
    set_tenant(uow_of(request).session, found.organization_id)
    return found


async def check_organization(request: Request, organization_id: str, *,
                             count_call: bool = False) -> None:
    """423 when the platform operator suspended the organization (its storefront, its
    webhooks, its API, its pages); with ``count_call``, 429 past its API calls per minute."""
    gate: OrganizationGate = request.app.state.org_gate
    known, state = gate.cached(organization_id)
    if not known:
        state = await run_in_threadpool(gate.lookup, organization_id)
    gate.check(state, organization_id, count_call=count_call)


# -- custom domains: ``https://cards.example.com/store/v1/...`` reaches ``/store/v1/{slug}/...``,
# and ``https://cards.example.com/...`` the storefront's pages ``/s/{slug}/...``

PREFIX = "/store/v1"
PAGES = "/s"
PLATFORM_ROOTS = frozenset({"api", "admin", "pos", "s", "store", "webhooks", "static", "docs",
                            "platform", "redoc", "openapi.json", "health", "ready", "metrics"})
"""First path segments that are the platform's own on every host: a store's domain serves
its storefront at every other path."""
STOREFRONT_ROOT = "storefront_root"
"""Set in the request's state when the storefront is served at a custom domain's root: its
pages then link and scope their cookies from ``/``."""


class CustomDomainMiddleware:
    def __init__(self, app: ASGIApp, resolver: DomainResolver) -> None:
        self.app = app
        self.resolver = resolver

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path: str = scope.get("path", "")
            api = path == PREFIX or path.startswith(PREFIX + "/")
            root = path.split("/", 2)[1] if path.startswith("/") else ""
            if api or root not in PLATFORM_ROOTS:
                slug = await self._slug(scope)
                if slug and api:
                    rest = path[len(PREFIX):].lstrip("/")
                    if rest.split("/", 1)[0] != slug:
                        scope = _moved(scope, f"{PREFIX}/{slug}" + (f"/{rest}" if rest else ""))
                elif slug:
                    scope = _moved(scope, f"{PAGES}/{slug}{path if path != '/' else '/'}")
                    scope["state"] = {**scope.get("state", {}), STOREFRONT_ROOT: True}
        await self.app(scope, receive, send)

    async def _slug(self, scope: Scope) -> str | None:
        host = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"host"), "")
        if not host:
            return None
        known, slug = self.resolver.cached(host)
        if not known:
            slug = await run_in_threadpool(self.resolver.slug_for_host, host)
        return slug


def _moved(scope: Scope, path: str) -> Scope:
    return {**scope, "path": path, "raw_path": path.encode()}
