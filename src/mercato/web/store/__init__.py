"""The storefront's pages (``/s/{store}``): home, catalog, product pages, the cart,
checkout and its confirmation, customer accounts, the store locator, robots.txt and sitemaps, for
shoppers, over the same catalog and cart functions as ``/store/v1/{store}``.

A layout of its own (the store's name, a search box, the cart with its count, the store's
locale), no script: every page and form works without JavaScript.
"""

from __future__ import annotations

from fastapi import APIRouter

from mercato.web.routing import fenced
from mercato.web.store import account, cart, catalog, checkout, locator, seo

routers: list[APIRouter] = [fenced(part.router)
                             for part in (catalog, cart, checkout, seo, account, locator)]
"""Every area's router, each behind a fence of its own paths (``web.routing``)."""
