"""The published catalog: what the storefront lists and shows, with prices and what the web
channel can sell now.

A product is published on the storefront when it is ``active`` and its ``channels`` are null
(everywhere) or name ``web``. Lists reuse the admin listing machinery (``service.list_products``:
filters, full-text search, sort, cursor pages over the stored listing JSON; ``service.FACETS``
for counts) with those two conditions added, so the storefront is exactly as fast at card-store
size. Each page's availability is one read through ``ports.units_for_sale`` (inventory's
exact units for sale on the web channel).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from mercato.catalog import ports, service
from mercato.catalog.models import Category, Product, ProductListing, ProductType
from mercato.core.db import json_loads
from mercato.core.errors import NotFound, ValidationFailed
from mercato.core.pagination import PageParams

WEB = "web"
MAX_SHOWN_AVAILABLE = 100
"""A shopper sees at most this many units: enough to buy, without publishing the shop's stock."""
MAX_FACETS = 20
STORE_COLUMN_FACETS = ("product_type", "category", "vendor")


def published_filters(**filters: Any) -> service.ProductFilters:
    """Listing filters that select only what the storefront publishes, whatever was asked."""
    return service.ProductFilters(**filters, status="active", channel=WEB)


def facet_fields(requested: list[str]) -> list[str]:
    """The facet fields a shopper may count (no status: every published product is active)."""
    fields = list(dict.fromkeys(f.strip() for item in requested for f in item.split(",")
                                if f.strip()))
    bad = [f for f in fields if f not in STORE_COLUMN_FACETS and f != "tag"
           and not (f.startswith("attr.") and len(f) > 5)]
    if bad:
        raise ValidationFailed("Unknown facet field.", errors=[
            {"field": "facets", "message": f"not a facet: {f}"} for f in bad])
    if len(fields) > MAX_FACETS:
        raise ValidationFailed("Too many facet fields.", errors=[
            {"field": "facets", "message": f"at most {MAX_FACETS} fields"}])
    return fields


SITEMAP_LIMIT = 50_000
"""URLs in one sitemap file (the sitemaps.org protocol's limit)."""


def _published_products(session: Session) -> Any:
    return (select(Product.id, Product.slug, Product.updated_at)
            .where(Product.status == "active", service.published_on(session, WEB)))


def published_count(session: Session) -> int:
    """How many products the storefront publishes (how many sitemap files list them)."""
    return int(session.scalar(select(func.count()).select_from(
        _published_products(session).subquery())) or 0)


def published_slugs(session: Session, *, part: int = 1,
                    size: int = SITEMAP_LIMIT) -> list[tuple[str, Any]]:
    """(slug, last change) of the storefront's published products, ``size`` a part (from 1),
    by id: what one sitemap file lists, in one narrow read."""
    stmt = _published_products(session).order_by(Product.id).offset((part - 1) * size)
    return [(slug, changed) for _, slug, changed in session.execute(stmt.limit(size))]


def list_published(session: Session, filters: service.ProductFilters, params: PageParams, *,
                   facets: Sequence[str] = (), facet_ttl_seconds: float = 0.0
                   ) -> dict[str, Any]:
    """A page of published products as shoppers see them (``StorePage``), with facet counts
    under the same filters when ``facets`` names fields. Whatever ``filters`` says of status
    and channel, only published products are listed."""
    published = replace(filters, status="active", channel=WEB)
    page = service.list_products(session, published, params)
    result: dict[str, Any] = {
        "data": shoppable(session, json_loads(f"[{','.join(page.items)}]")),
        "next_cursor": page.next_cursor}
    if facets:
        result["facets"] = service.FACETS.counts(session, published, list(facets),
                                                 facet_ttl_seconds)
    return result


def get_published(session: Session, slug: str) -> dict[str, Any]:
    """One published product by slug (``StoreProduct``); 404 when it is not published."""
    body = session.scalar(
        select(ProductListing.body).join(Product, ProductListing.product_id == Product.id)
        .where(Product.slug == slug,
               *service.filter_conditions(session, published_filters())))
    if body is None:
        raise NotFound(f"No product {slug!r}.")
    return shoppable(session, [json_loads(body)])[0]


def shoppable(session: Session, listings: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Stored listings (``ProductOut`` JSON) as shoppers see them, with what the web channel
    can sell of each variant now: one availability read and two slug lookups per page."""
    variant_ids = [v["id"] for product in listings for v in product["variants"]
                   if v.get("archived_at") is None]
    units = ports.units_for_sale(session, variant_ids) if variant_ids else {}
    type_ids = {p["product_type_id"] for p in listings}
    category_ids = {p["category_id"] for p in listings if p["category_id"]}
    types = dict(session.execute(select(ProductType.id, ProductType.slug)
                                 .where(ProductType.id.in_(sorted(type_ids))))
                 .all()) if type_ids else {}
    categories = dict(session.execute(select(Category.id, Category.slug)
                                      .where(Category.id.in_(sorted(category_ids))))
                      .all()) if category_ids else {}
    return [_product(p, units, types, categories) for p in listings]


def _price_range(variants: list[dict[str, Any]], key: str) -> dict[str, str] | None:
    """Lowest and highest ``key`` among variants in the first variant's currency."""
    if not variants:
        return None
    currency = variants[0]["currency"]
    amounts = [Decimal(v[key]) for v in variants
               if v[key] is not None and v["currency"] == currency]
    if not amounts:
        return None
    return {"min": f"{min(amounts):.2f}", "max": f"{max(amounts):.2f}", "currency": currency}


def _product(listing: dict[str, Any], units: dict[str, int], types: dict[str, str],
             categories: dict[str, str]) -> dict[str, Any]:
    live = [v for v in listing["variants"] if v.get("archived_at") is None]  # archived: not sold
    variants = []
    for v in live:
        available = units.get(v["id"], 0)
        variants.append({
            "id": v["id"], "sku": v["sku"], "title": v["title"], "attributes": v["attributes"],
            "price": v["price"], "compare_at_price": v["compare_at_price"],
            "currency": v["currency"], "available": min(available, MAX_SHOWN_AVAILABLE),
            "purchasable": available > 0})
    return {
        "id": listing["id"], "slug": listing["slug"], "title": listing["title"],
        "description": listing["description"], "vendor": listing["vendor"],
        "product_type": types.get(listing["product_type_id"]),
        "category": categories.get(listing["category_id"] or ""),
        "tags": listing["tags"], "collections": listing["collections"],
        "media": listing["media"], "attributes": listing["attributes"],
        "price_range": _price_range(live, "price"),
        "compare_at_price_range": _price_range(live, "compare_at_price"),
        "purchasable": any(v["purchasable"] for v in variants),
        "variants": variants,
    }
