"""What search engines read of a store: ``robots.txt`` and its sitemaps.

Addresses in them are absolute, under ``MERCATO_PUBLIC_URL`` (never the request's Host); a
platform without one has no sitemap (404), and its ``robots.txt`` names none.
"""

from __future__ import annotations

import math
from typing import Annotated
from xml.sax.saxutils import escape

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import PlainTextResponse, Response

from mercato import catalog
from mercato.core.errors import NotFound
from mercato.core.uow import DbSession, MercatoRoute
from mercato.web.store.common import Shop, shop_page, site_url

router = APIRouter(route_class=MercatoRoute, include_in_schema=False)

PRIVATE = ("cart", "checkout", "account")
"""A shopper's own pages: nothing for a search engine."""
XML = "application/xml; charset=utf-8"
NS = "http://www.sitemaps.org/schemas/sitemap/0.9"


def _site(request: Request, shop: Shop) -> str:
    site = site_url(request, shop)
    if not site:
        raise NotFound("This platform has no public address (MERCATO_PUBLIC_URL), so no sitemap.")
    return site


@router.get("/s/{store}/robots.txt", response_class=PlainTextResponse)
def robots(request: Request, shop: Shop = Depends(shop_page)) -> Response:
    lines = ["User-agent: *", *(f"Disallow: {shop.base}/{p}" for p in PRIVATE)]
    if site_url(request, shop):
        lines.append(f"Sitemap: {_site(request, shop)}/sitemap.xml")
    return PlainTextResponse("\n".join(lines) + "\n")


@router.get("/s/{store}/sitemap.xml")
def sitemap_index(request: Request, session: DbSession,
                  shop: Shop = Depends(shop_page)) -> Response:
    """The index of the store's sitemap files: one per 50,000 published products."""
    site = _site(request, shop)
    parts = max(1, math.ceil(catalog.published_count(session) / catalog.SITEMAP_LIMIT))
    entries = "".join(f"<sitemap><loc>{escape(site)}/sitemap-{n}.xml</loc></sitemap>"
                      for n in range(1, parts + 1))
    return Response(f'<?xml version="1.0" encoding="UTF-8"?>\n<sitemapindex xmlns="{NS}">'
                    f"{entries}</sitemapindex>\n", media_type=XML)


MAX_PART = 10_000
"""More sitemap files than any store has (500 million products): a larger number is a 422,
never an offset the database cannot take."""


@router.get("/s/{store}/sitemap-{part}.xml")
def sitemap(part: Annotated[int, Path(ge=1, le=MAX_PART)], request: Request, session: DbSession,
            shop: Shop = Depends(shop_page)) -> Response:
    """One file of product pages (the first also lists the home page and the catalog)."""
    site = _site(request, shop)
    found = catalog.published_slugs(session, part=part)
    if part != 1 and not found:
        raise NotFound("No such sitemap.")
    pages = [f"<url><loc>{escape(site)}/</loc></url>",
             f"<url><loc>{escape(site)}/products</loc></url>"] if part == 1 else []
    pages += [f"<url><loc>{escape(site)}/products/{escape(slug)}</loc>"
              f"<lastmod>{changed.date().isoformat()}</lastmod></url>"
              for slug, changed in found]
    return Response(f'<?xml version="1.0" encoding="UTF-8"?>\n<urlset xmlns="{NS}">'
                    f"{''.join(pages)}</urlset>\n", media_type=XML)
