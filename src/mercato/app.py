"""Builds the FastAPI application: every module's router, the middleware, the error handlers."""

from __future__ import annotations

import hmac
import importlib
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy import text

from mercato import __version__
from mercato.core.browser import ListedOriginsCORS, SecurityHeadersMiddleware
from mercato.core.db import Database
from mercato.core.docs import install_docs
from mercato.core.idempotency import IdempotentReplay, on_replay
from mercato.core.limits import RequestLimitsMiddleware
from mercato.core.observability import ObservabilityMiddleware, metrics_payload
from mercato.core.outbox import Dispatcher
from mercato.core.problems import install_error_handlers, problem_response
from mercato.core.proxies import TrustedProxies, TrustedProxyMiddleware
from mercato.core.secrets import remember_secret_key
from mercato.settings import Settings, get_settings
from mercato.tenancy import OrganizationGate, StoreResolver
from mercato.tenancy.deps import CustomDomainMiddleware
from mercato.tenancy.service import DomainResolver
from mercato.tenancy.verification import load_verifier
from mercato.web import install_pages

MODULES = ("mercato.core", "mercato.tenancy", "mercato.identity", "mercato.catalog",
           "mercato.inventory", "mercato.orders", "mercato.checkout", "mercato.payments",
           "mercato.notifications", "mercato.channels", "mercato.reporting",
           "mercato.webhooks", "mercato.events", "mercato.plugins", "mercato.workflows",
           "mercato.digital")
"""Business modules, in mount order. Each may have ``api`` (routers; ``startup_routers()`` for
routers made at start, such as the installed plugins'), ``events`` (handlers; one whose
subscriptions depend on the settings defines ``configure_handlers(settings)``),
``tasks`` (background loops) and ``connectors`` (plug-ins that register themselves) modules."""


def load_modules(settings: Settings) -> list[Any]:
    """Import every module's api/events/tasks/connectors (and extensions), so routes, handlers
    and connectors register."""
    loaded: list[Any] = []
    for name in MODULES:
        for part in ("api", "events", "tasks", "connectors"):
            try:
                loaded.append(importlib.import_module(f"{name}.{part}"))
            except ModuleNotFoundError as exc:
                if exc.name != f"{name}.{part}":
                    raise
    loaded.extend(importlib.import_module(ext) for ext in settings.extensions)
    for module in loaded:
        configure_handlers = getattr(module, "configure_handlers", None)
        if callable(configure_handlers):
            configure_handlers(settings)
    return loaded


def create_app(settings: Settings | None = None, db: Database | None = None) -> FastAPI:
    settings = settings or get_settings()
    db = db or Database.from_settings(settings)
    modules = load_modules(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        stop = threading.Event()
        thread = None
        if settings.run_worker:
            dispatcher = Dispatcher(db, batch_size=settings.worker_batch_size,
                                    lease_seconds=settings.worker_lease_seconds,
                                    max_attempts=settings.worker_max_attempts,
                                    poll_interval=settings.worker_poll_interval_seconds)
            thread = threading.Thread(target=dispatcher.run_forever, args=(stop,),
                                      name="mercato-dispatcher", daemon=True)
            thread.start()
        try:
            yield
        finally:
            stop.set()
            if thread is not None:
                thread.join(timeout=10)

    app = FastAPI(
        title="Mercato",
        version=__version__,
        description="One system of record for a retailer's catalog, stock and orders.",
        lifespan=lifespan,
        docs_url=None,  # served by core.docs, with assets of its own rather than a CDN's
        redoc_url=None,
    )
    from mercato.identity.deps import staff_authenticator
    from mercato.identity.service import Identity

    app.state.settings = settings
    app.state.db = db
    if settings.secret_key is not None:  # code with only a session can open stored secrets
        remember_secret_key(db.url, settings.require_secret_key())
    app.state.identity = Identity(settings, db)
    app.state.authenticator = staff_authenticator(app.state.identity)
    app.state.domains = DomainResolver(db, platform_hosts=settings.platform_hosts)
    app.state.domain_verifier = load_verifier(settings.domain_verifier)
    app.state.stores = StoreResolver(db)
    app.state.org_gate = OrganizationGate(db)  # suspended organizations, API calls per minute

    install_error_handlers(app)
    app.add_exception_handler(IdempotentReplay, on_replay)
    install_pages(app)  # first: page paths never try the API's routes (web.PageRouter)
    for module in modules:
        for attr in ("router", "store_router", "platform_router"):
            router = getattr(module, attr, None)
            if router is not None:
                app.include_router(router)
        for router in getattr(module, "startup_routers", list)():
            app.include_router(router)
    _operations(app, db, settings)
    install_docs(app)
    # the last added runs first: security headers reach every answer, CORS headers errors too
    app.add_middleware(RequestLimitsMiddleware, settings=settings, routes=app.router.routes)
    app.add_middleware(CustomDomainMiddleware, resolver=app.state.domains)
    app.add_middleware(ObservabilityMiddleware)
    app.add_middleware(ListedOriginsCORS, origins=settings.cors_origins)
    app.add_middleware(SecurityHeadersMiddleware)
    proxies = TrustedProxies(settings.trusted_proxies)
    if proxies:  # outermost: every part of the app sees the client a trusted proxy reports
        app.add_middleware(TrustedProxyMiddleware, proxies=proxies)
    return app


def _revisions(revisions: frozenset[str]) -> str:
    return ", ".join(sorted(revisions)) or "None"


def _operations(app: FastAPI, db: Database, settings: Settings) -> None:
    metrics_token = (settings.metrics_token.get_secret_value().encode()
                     if settings.metrics_token else None)

    @app.get("/health", tags=["operations"], summary="The process is up")
    async def health() -> dict[str, str]:
        return {"status": "ok", "version": __version__}

    @app.get("/ready", tags=["operations"], summary="The database is reachable and migrated")
    def ready(request: Request) -> Response:
        from mercato.migrations import (
            PluginMigrationsError,
            current_revisions,
            head_revision,
            head_revisions,
        )

        try:
            with db.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
                current = current_revisions(conn)
        except Exception as exc:
            return problem_response(503, "not_ready", f"Database unreachable: {exc}",
                                    request=request)
        try:
            heads = head_revisions()  # Mercato's and each installed plugin's branch
        except PluginMigrationsError as exc:
            return problem_response(503, "not_ready", str(exc), request=request)
        if current != heads:
            return problem_response(503, "not_ready",
                                    f"Schema at {_revisions(current)}, code expects "
                                    f"{_revisions(heads)}; run `mercato migrate`.",
                                    request=request)
        return JSONResponse({"status": "ready", "database": db.dialect,
                             "schema": head_revision(), "heads": sorted(heads)})

    @app.get("/metrics", tags=["operations"], summary="Prometheus metrics",
             response_class=Response, description="Open unless `MERCATO_METRICS_TOKEN` is set; "
             "then only with `Authorization: Bearer <that token>` (Prometheus' "
             "`authorization` setting).")
    def metrics(request: Request) -> Response:
        if metrics_token is not None:
            given = request.headers.get("authorization", "").encode("latin-1")
            if not hmac.compare_digest(given, b"Bearer " + metrics_token):
                return problem_response(401, "unauthorized", "/metrics needs the metrics "
                                        "token (MERCATO_METRICS_TOKEN) as a bearer token.",
                                        headers={"WWW-Authenticate": "Bearer"},
                                        request=request)
        payload, content_type = metrics_payload()
        return Response(payload, media_type=content_type)
