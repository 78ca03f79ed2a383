"""Custom domains: ``https://cards.example.com/store/v1/...`` reaches ``/store/v1/{slug}/...``."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Receive, Scope, Send

from mercato.tenancy.service import DomainResolver

PREFIX = "/store/v1"


class CustomDomainMiddleware:
    def __init__(self, app: ASGIApp, resolver: DomainResolver) -> None:
        self.app = app
        self.resolver = resolver

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        if scope["type"] == "http" and (path == PREFIX or path.startswith(PREFIX + "/")):
            host = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"host"), "")
            if host:
                known, slug = self.resolver.cached(host)
                if not known:
                    slug = await run_in_threadpool(self.resolver.slug_for_host, host)
                if slug:
                    rest = path[len(PREFIX):].lstrip("/")
                    if rest.split("/", 1)[0] != slug:
                        new_path = f"{PREFIX}/{slug}" + (f"/{rest}" if rest else "")
                        scope = {**scope, "path": new_path, "raw_path": new_path.encode()}
        await self.app(scope, receive, send)
