"""Routers that turn away, with one string test, the paths none of their routes can match.

FastAPI tries an app's routes one by one, and the admin has a few hundred: without a fence a
request for the last page (or for the API, after the pages) would first try every route before
it. A fence answers ``Match.NONE`` unless the path is one of its routes' fixed paths or starts
with the fixed part (before the first ``{``) of one of its routes with parameters.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from starlette.routing import Match
from starlette.types import Scope


class FencedRouter(APIRouter):
    def __init__(self, *, exact: frozenset[str] = frozenset(),
                 prefixes: tuple[str, ...] = (), **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.exact = exact
        self.prefixes = prefixes

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        path = scope.get("path", "")
        if path not in self.exact and not path.startswith(self.prefixes):
            return Match.NONE, {}
        matched: tuple[Match, Scope] = super().matches(scope)
        return matched


def route_paths(router: APIRouter, prefix: str = "") -> list[str]:
    """The full path of every route of ``router``, those of the routers it includes too."""
    paths: list[str] = []
    for route in router.routes:
        nested = getattr(route, "original_router", None)
        if nested is not None:
            paths += route_paths(nested, prefix + route.include_context.prefix)  # type: ignore[attr-defined]
        else:
            paths.append(prefix + getattr(route, "path", ""))
    return paths


def fenced(router: APIRouter) -> FencedRouter:
    """``router`` behind a fence made of its own routes' paths."""
    paths = route_paths(router)
    fence = FencedRouter(exact=frozenset(p for p in paths if "{" not in p),
                         prefixes=tuple(sorted({p.split("{", 1)[0] for p in paths if "{" in p})))
    fence.include_router(router)
    return fence
