"""Mercato's pages: the admin (``/admin``), the storefront (``/s/{store}``), the POS
(``/pos``), the operator's console (``/platform``).

Server-rendered (Jinja2) with htmx for partial updates; every handler is thin: it parses the
form with the API's own schemas, calls the same service functions in the same unit of work,
with the same permissions, and renders. Static files are vendored and fingerprinted
(``assets``); sessions and CSRF are in ``session``.
"""

from __future__ import annotations

from fastapi import FastAPI

from mercato.web import admin, assets, platform, pos, store
from mercato.web.compression import PageCompression
from mercato.web.errors import install_page_errors
from mercato.web.routing import fenced


def install_pages(app: FastAPI) -> None:
    """Mount the pages and their static files, before the API's routers: each area's router
    is fenced (``web.routing``), so an API request costs a string test per area, and a page
    request never tries the API's routes. Page paths answer errors with pages.
    Call after the error handlers are installed."""
    for router in (fenced(assets.router), *admin.routers, *store.routers, *pos.routers,
                   *platform.routers):
        app.include_router(router)
    install_page_errors(app)
    app.add_middleware(PageCompression)
