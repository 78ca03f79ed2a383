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

import functools
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any, cast

from sqlalchemy import String, bindparam, func, null, select, union_all
from sqlalchemy import cast as sql_cast
from sqlalchemy.orm import Session

from mercato.catalog import ports, service
from mercato.catalog.index import public_only
from mercato.catalog.models import Category, Product, ProductListing, ProductType
from mercato.core.db import TENANT, json_bytes, json_dumps, json_loads, tenant_execute
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


def list_published_json(session: Session, filters: service.ProductFilters,
                        params: PageParams, *, facets: Sequence[str] = (),
                        facet_ttl_seconds: float = 0.0) -> bytes:
    """A page of published products as shoppers see them (``StorePage``), as JSON bytes, with
    facet counts under the same filters when ``facets`` names fields. Whatever ``filters``
    says of status and channel, only published products are listed.

    Each product is its stored listing as it is stored, cut once into the text between its
    availability slots (``_fragments``, kept per stored body) and spliced with this page's
    units: three reads (the listing, the units for sale, type and category slugs) and no
    parsing or encoding of the products per request."""
    published = replace(filters, status="active", channel=WEB)
    page = service.list_products(session, published, params)
    parts = [b'{"data":[', ",".join(_shoppable_texts(session, page.items)).encode(),
             b'],"next_cursor":', json_bytes(page.next_cursor)]
    if facets:
        parts += [b',"facets":', json_bytes(service.FACETS.counts(
            session, published, list(facets), facet_ttl_seconds))]
    parts.append(b"}")
    return b"".join(parts)


def list_published(session: Session, filters: service.ProductFilters, params: PageParams, *,
                   facets: Sequence[str] = (), facet_ttl_seconds: float = 0.0
                   ) -> dict[str, Any]:
    """``list_published_json`` as data, for the storefront's pages."""
    loaded: dict[str, Any] = json_loads(list_published_json(
        session, filters, params, facets=facets, facet_ttl_seconds=facet_ttl_seconds))
    return loaded


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
    can sell of each variant now."""
    loaded: list[dict[str, Any]] = json_loads(
        "[" + ",".join(_shoppable_texts(session, [json_dumps(p) for p in listings])) + "]")
    return loaded


_SLUGS = union_all(
    select(ProductType.id, ProductType.slug, sql_cast(ProductType.private_attributes, String))
    .where(ProductType.organization_id == TENANT,
           ProductType.id.in_(bindparam("type_ids", expanding=True))),
    select(Category.id, Category.slug, sql_cast(null(), String))
    .where(Category.organization_id == TENANT,
           Category.id.in_(bindparam("category_ids", expanding=True))))
"""The slugs of a page's product types and categories, and the types' private attribute
names (JSON text), in one read."""


def _shoppable_texts(session: Session, bodies: list[str]) -> list[str]:
    """Stored listing bodies as the JSON shoppers see, with the units the web channel can
    sell now: one availability read and one slug read for the whole page."""
    if not bodies:
        return []
    cuts = [_cut(body) for body in bodies]
    variant_ids = [v for cut in cuts for v in cut.variant_ids]
    units = ports.units_for_sale(session, variant_ids) if variant_ids else {}
    type_ids = sorted({cut.type_id for cut in cuts})
    category_ids = sorted({cut.category_id for cut in cuts if cut.category_id})
    rows = tenant_execute(session, _SLUGS, {"type_ids": type_ids,
                                            "category_ids": category_ids}).all()
    found = cast("list[tuple[str, str, str | None]]", rows)
    slugs = {row[0]: row[1] for row in found}
    private = {row[0]: tuple(json_loads(row[2])) for row in found if row[2]}
    return [_fragments(body, slugs.get(cut.type_id), slugs.get(cut.category_id or ""),
                       private.get(cut.type_id, ()))
            .render(units) for body, cut in zip(bodies, cuts, strict=True)]


@dataclass(frozen=True)
class _Cut:
    """What a stored body needs of the page's reads: its live variants, type and category."""

    variant_ids: tuple[str, ...]
    type_id: str
    category_id: str | None


@dataclass(frozen=True)
class _Fragments:
    """A product's shopper JSON cut at its availability slots, in the order they appear: the
    product's ``purchasable``, then each live variant's ``available`` and ``purchasable``."""

    texts: tuple[str, ...]
    variant_ids: tuple[str, ...]

    def render(self, units: dict[str, int]) -> str:
        counts = [units.get(v, 0) for v in self.variant_ids]
        texts = self.texts
        out = [texts[0], "true" if any(n > 0 for n in counts) else "false"]
        for i, n in enumerate(counts):
            out += [texts[2 * i + 1], str(min(n, MAX_SHOWN_AVAILABLE)), texts[2 * i + 2],
                    "true" if n > 0 else "false"]
        out.append(texts[-1])
        return "".join(out)


_SLOT = f"slot-{secrets.token_hex(8)}"
_SLOTS = re.compile(f'"{_SLOT}"')


@functools.lru_cache(maxsize=4096)
def _cut(body: str) -> _Cut:
    listing = json_loads(body)
    return _Cut(tuple(v["id"] for v in listing["variants"] if v.get("archived_at") is None),
                listing["product_type_id"], listing["category_id"])


@functools.lru_cache(maxsize=4096)
def _fragments(body: str, product_type: str | None, category: str | None,
               private: tuple[str, ...] = ()) -> _Fragments:
    """The shopper JSON of a stored body with a slot (a quoted random token, which no stored
    text can hold unescaped) where each number of the page goes; kept per (body, slugs,
    private names), so a product whose listing, type or category changes is cut again. The
    type's private attributes are left out: shoppers never see them."""
    listing = json_loads(body)
    hidden = frozenset(private)
    live = [v for v in listing["variants"] if v.get("archived_at") is None]  # archived: not sold
    product = {
        "id": listing["id"], "slug": listing["slug"], "title": listing["title"],
        "description": listing["description"], "vendor": listing["vendor"],
        "product_type": product_type, "category": category,
        "tags": listing["tags"], "collections": listing["collections"],
        "media": listing["media"], "attributes": public_only(listing["attributes"], hidden),
        "price_range": _price_range(live, "price"),
        "compare_at_price_range": _price_range(live, "compare_at_price"),
        "purchasable": _SLOT,
        "variants": [{
            "id": v["id"], "sku": v["sku"], "title": v["title"],
            "attributes": public_only(v["attributes"], hidden),
            "price": v["price"], "compare_at_price": v["compare_at_price"],
            "currency": v["currency"], "available": _SLOT, "purchasable": _SLOT}
            for v in live],
    }
    texts = tuple(_SLOTS.split(json_bytes(product).decode()))
    assert len(texts) == 2 + 2 * len(live)  # the slots are ours alone
    return _Fragments(texts, tuple(v["id"] for v in live))


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
