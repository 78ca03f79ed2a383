"""The storefront's catalog pages: home (new arrivals, the ``featured`` collection), the
listing with its search, facets and pages, and a product's page.

Each calls the same catalog functions as ``GET /store/v1/{store}/products[/{slug}]``, with the
same filters (``StorePageQuery``, ``attr.<name>=``) and cursor pages: only what the web
channel publishes is listed, with what it can sell now.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote_plus, urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from markupsafe import Markup
from sqlalchemy.orm import Session

from mercato import catalog
from mercato.catalog.schemas import StorePageQuery
from mercato.core.errors import NotFound
from mercato.core.pagination import PageParams
from mercato.core.query import filter_parameters, parse_query
from mercato.core.uow import DbSession, MercatoRoute
from mercato.web.store.common import (
    Shop,
    cart_count,
    load,
    page,
    settings_of,
    shop_page,
    site_url,
)

router = APIRouter(route_class=MercatoRoute, include_in_schema=False)

PAGE_SIZE = 24
"""Cards per page unless ``limit`` says otherwise: a page stays light on a phone."""
HOME_SIZE = 8
FACETS: tuple[tuple[str, str], ...] = (
    ("product_type", "Type"), ("category", "Category"), ("attr.game", "Game"),
    ("attr.set_code", "Set"), ("attr.rarity", "Rarity"), ("attr.condition", "Condition"),
    ("attr.finish", "Finish"), ("vendor", "Brand"))
"""The facets shown beside the listing, as (field, heading); each a list of plain links."""
FACET_VALUES = 12
SORTS = (("-created", "Newest"), ("title", "Name, A to Z"), ("price", "Price, low to high"),
         ("-price", "Price, high to low"))
DESCRIPTION_CHARS = 160
CONDITIONS = {"NM": "Near Mint", "LP": "Lightly Played", "MP": "Moderately Played",
              "HP": "Heavily Played", "DMG": "Damaged"}
"""A card's condition codes (``catalog.tcg.CONDITIONS``) as a shopper reads them."""
OPTION_ORDER = ("condition", "finish", "language")


def _shown(field: str, value: str) -> str:
    """A facet's or a variant's option value as a shopper reads it."""
    if field.endswith("condition"):
        return f"{CONDITIONS[value]} ({value})" if value in CONDITIONS else value
    if field.endswith("finish"):
        return value.replace("-", " ").capitalize().replace("Nonfoil", "Non-foil")
    if field in ("attr.game", "attr.rarity", "product_type"):
        return value.replace("-", " ").capitalize()
    return value


def variant_label(variant: dict[str, Any]) -> str:
    """A variant as the picker names it: its options (condition, finish, language, then any
    other), or its title when it has no options."""
    options = variant.get("attributes") or {}
    names = [*[n for n in OPTION_ORDER if n in options],
             *sorted(n for n in options if n not in OPTION_ORDER)]
    shown = [_shown(n, str(options[n])) for n in names if options[n] not in (None, "")]
    return ", ".join(shown) or variant.get("title") or variant["sku"]


def _published(session: Session, **filters: Any) -> list[dict[str, Any]]:
    listed = catalog.list_published(session, catalog.published_filters(**filters),
                                    PageParams(limit=HOME_SIZE, cursor=None))
    found: list[dict[str, Any]] = listed["data"]
    return found


@router.get("/s/{store}/", response_class=HTMLResponse)
@router.get("/s/{store}", response_class=HTMLResponse)
def home(request: Request, session: DbSession, shop: Shop = Depends(shop_page)) -> Response:
    load(request, session, shop)
    cart_count(session, shop)
    arrivals = _published(session, sort="-created")
    try:
        featured = _published(session, collection="featured", sort="-created")
    except NotFound:  # the store has no collection "featured"
        featured = []
    return page(request, shop, "store/home.html", {"arrivals": arrivals, "featured": featured})


def _link(base: str, params: list[tuple[str, str]]) -> str:
    return f"{base}/products" + (f"?{urlencode(params)}" if params else "")


def _facets(base: str, params: list[tuple[str, str]],
            counts: dict[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """Each facet's values as links: choosing one replaces the facet's value (and goes back to
    the first page); the chosen one links to the listing without it."""
    kept = [(k, v) for k, v in params if k != "cursor"]
    out = []
    for field, heading in FACETS:
        chosen = {v for k, v in kept if k == field}
        others = [(k, v) for k, v in kept if k != field]
        without = _link(base, others)  # the others encoded once; each value adds its pair
        joined = f"{without}{'&' if others else '?'}{quote_plus(field)}="
        values = []
        for item in counts.get(field, [])[:FACET_VALUES]:
            value = "" if item["value"] is None else str(item["value"])
            if not value:
                continue
            selected = value in chosen
            values.append({"label": _shown(field, value), "count": item["count"],
                           "selected": selected,
                           "href": without if selected else joined + quote_plus(value)})
        if values:
            out.append({"field": field, "heading": heading, "options": values})
    return out


@router.get("/s/{store}/products", response_class=HTMLResponse)
def products(request: Request, session: DbSession,
             shop: Shop = Depends(shop_page)) -> Response:
    load(request, session, shop)
    cart_count(session, shop)
    query = parse_query(StorePageQuery, request)
    params = PageParams(limit=query.limit if "limit" in request.query_params else PAGE_SIZE,
                        cursor=query.cursor)
    filters = catalog.published_filters(**query.filter_values(),
                                        attributes=filter_parameters(request, "attr."))
    listed = catalog.list_published(
        session, filters, params, facets=catalog.facet_fields([f for f, _ in FACETS]),
        facet_ttl_seconds=settings_of(request).facet_cache_seconds)
    given = [(k, v) for k, v in request.query_params.multi_items() if v != ""]
    without_cursor = [(k, v) for k, v in given if k != "cursor"]
    next_url = (_link(shop.base, [*without_cursor, ("cursor", listed["next_cursor"])])
                if listed["next_cursor"] else None)
    first_url = _link(shop.base, without_cursor) if query.cursor else None
    hidden = [(k, v) for k, v in without_cursor if k not in ("q", "sort", "in_stock")]
    return page(request, shop, "store/products.html", {
        "products": listed["data"], "facets": _facets(shop.base, given, listed.get("facets") or {}),
        "query": query, "sorts": SORTS, "hidden": hidden, "next_url": next_url,
        "first_url": first_url,
        "clear_url": _link(shop.base, [("q", query.q)] if query.q else [])})


def _summary(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= DESCRIPTION_CHARS else flat[:DESCRIPTION_CHARS - 1] + "…"


def json_ld(data: dict[str, Any]) -> Markup:
    """JSON for a ``<script type="application/ld+json">`` data block: ``<``, ``>`` and ``&``
    escaped as JSON's ``\\u`` escapes, so no text of the store's (a title holding
    ``</script>``) can end the block. A data block is never executed, so the pages' CSP
    (``script-src 'self'``) does not apply to it."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return Markup(text)  # noqa: S704 - escaped for a script data block above


def canonical_url(request: Request, shop: Shop, path: str) -> str | None:
    """A page's address for search engines and link previews (``site_url``: never built from
    a Host a client chose); None when the platform has no public address."""
    site = site_url(request, shop)
    return f"{site}{path}" if site else None


def _structured(product: dict[str, Any], summary: dict[str, Any] | None,
                url: str | None) -> dict[str, Any]:
    """schema.org ``Product`` with an offer per sellable variant price range."""
    data: dict[str, Any] = {"@context": "https://schema.org", "@type": "Product",
                            "name": product["title"]}
    if url:
        data["url"] = url
    if product["description"]:
        data["description"] = _summary(product["description"])
    if product["media"]:
        data["image"] = [m["url"] for m in product["media"]]
    if product["vendor"]:
        data["brand"] = {"@type": "Brand", "name": product["vendor"]}
    skus = [v["sku"] for v in product["variants"]]
    if len(skus) == 1:
        data["sku"] = skus[0]
    prices = product["price_range"]
    if prices:
        data["offers"] = {
            "@type": "AggregateOffer", "priceCurrency": prices["currency"],
            "lowPrice": prices["min"], "highPrice": prices["max"],
            "offerCount": len(product["variants"]),
            "availability": "https://schema.org/" + ("InStock" if product["purchasable"]
                                                     else "OutOfStock")}
    if summary and summary["count"]:
        data["aggregateRating"] = {"@type": "AggregateRating",
                                   "ratingValue": str(summary["average_rating"]),
                                   "reviewCount": summary["count"]}
    return data


def product_page(request: Request, session: Session, shop: Shop, slug: str, *,
                 status: int = 200, errors: dict[str, str] | None = None,
                 error_list: list[dict[str, str]] | None = None,
                 values: dict[str, str] | None = None,
                 review: dict[str, str] | None = None) -> Response:
    """A product's page; also the answer to an add-to-cart or a review (``review``: what was
    entered) refused (422, its errors beside the fields)."""
    load(request, session, shop)
    cart_count(session, shop)
    product = catalog.get_published(session, slug)
    summary = catalog.rating_summary(session, product["id"]).model_dump()
    reviews = catalog.approved_reviews(session, product["id"], PageParams(limit=10, cursor=None))
    canonical = canonical_url(request, shop, f"/products/{product['slug']}")
    chosen = (values or {}).get("sku") or next(
        (v["sku"] for v in product["variants"] if v["purchasable"]), "")
    return page(request, shop, "store/product.html", {
        "product": product, "labels": {v["sku"]: variant_label(v) for v in product["variants"]},
        "reviews": reviews.items, "summary": summary,
        "chosen": chosen, "quantity": (values or {}).get("quantity", "1"),
        "meta_description": _summary(product["description"] or product["title"]),
        "canonical": canonical,
        "json_ld": json_ld(_structured(product, summary, canonical)),
        "errors": errors or {}, "error_list": error_list or [], "review": review or {}},
        status=status)


@router.get("/s/{store}/products/{slug}", response_class=HTMLResponse)
def product(slug: str, request: Request, session: DbSession,
            shop: Shop = Depends(shop_page)) -> Response:
    return product_page(request, session, shop, slug)
