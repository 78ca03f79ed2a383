"""What other modules read of the catalog, as plain data (part of catalog's face, re-exported
by ``mercato.catalog``): they never query catalog's tables themselves.

- ``variant_facts`` and ``category_ids_under``: what a pricing rule or promotion scope can match
  on (checkout's pricing and promotions).
- ``published_products``: a page of the products published on a channel kind, with their
  variants (a connector's product export).
- ``variant_prices``: the prices of variants by id (a connector's price push).
- ``product_type_id``: a product type's id by slug (None when there is none).
- ``import_rows``: catalog rows upserted by SKU through the importer, as a CSV import would
  (a connector's product import).
- ``variants_matching``: the variants a search box finds (SKU, or the catalog's search), as a
  subquery of ids another module filters its own rows by (inventory's level list).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session, selectinload

from mercato.catalog import csvio
from mercato.catalog.imports import BatchResult, Importer
from mercato.catalog.models import (
    Category,
    Collection,
    Product,
    ProductCollection,
    ProductType,
    Variant,
)
from mercato.catalog.service import (
    ProductFilters,
    descendants,
    filter_conditions,
    published_on,
)


@dataclass(frozen=True)
class VariantFacts:
    """What a scope can match on: the variant and its product's type, category, tags and
    collections (slugs and tags case-folded)."""

    variant_id: str
    sku: str
    product_type: str
    category_id: str | None
    tags: frozenset[str]
    collections: frozenset[str]


def variant_facts(session: Session, variant_ids: Iterable[str]) -> dict[str, VariantFacts]:
    """The facts of these variants (unknown ones are left out), in two queries."""
    ids = sorted(set(variant_ids))
    if not ids:
        return {}
    rows = session.execute(
        select(Variant.id, Variant.sku, Variant.product_id,
               ProductType.slug, Product.category_id, Product.tags)
        .join(Product, Product.id == Variant.product_id)
        .join(ProductType, ProductType.id == Product.product_type_id)
        .where(Variant.id.in_(ids))).all()
    product_ids = sorted({row[2] for row in rows})
    collections: dict[str, set[str]] = {}
    if product_ids:
        for product_id, slug in session.execute(
                select(ProductCollection.product_id, Collection.slug)
                .join(Collection, Collection.id == ProductCollection.collection_id)
                .where(ProductCollection.product_id.in_(product_ids))):
            collections.setdefault(product_id, set()).add(slug.casefold())
    return {
        vid: VariantFacts(vid, sku, type_slug.casefold(), category_id,
                          frozenset(str(t).casefold() for t in tags or ()),
                          frozenset(collections.get(product_id, ())))
        for vid, sku, product_id, type_slug, category_id, tags in rows
    }


def category_ids_under(session: Session, slug: str) -> frozenset[str]:
    """The ids of the category with this slug and of every category below it (empty when
    there is none), as the product list's category filter reads them."""
    category = session.scalar(select(Category).where(Category.slug == slug))
    return frozenset(descendants(session, category)) if category is not None else frozenset()


@dataclass(frozen=True)
class PublishedVariant:
    id: str
    sku: str
    title: str
    price: Decimal
    compare_at_price: Decimal | None
    barcode: str | None
    attributes: dict[str, Any] = field(default_factory=dict)
    """The variant's own attributes (a card's condition, finish, language)."""
    currency: str = "USD"


@dataclass(frozen=True)
class PublishedProduct:
    id: str
    slug: str
    title: str
    description: str
    vendor: str | None
    status: str
    tags: list[str]
    variants: list[PublishedVariant]
    product_type: str = ""
    """The product type's slug (``tcg-single``, ``tcg-graded`` …)."""
    attributes: dict[str, Any] = field(default_factory=dict)
    image_urls: list[str] = field(default_factory=list)


def published_products(session: Session, channel_kind: str, *, after: str = "",
                       limit: int = 25) -> list[PublishedProduct]:
    """The next ``limit`` products (by id, after ``after``) published on channels of this
    kind and not archived, with their live variants (an archived variant is left out, so a
    connector that sets a product's variants from this list delists it)."""
    stmt = (select(Product).options(selectinload(Product.variants))
            .where(Product.status != "archived", published_on(session, channel_kind),
                   Product.id > after).order_by(Product.id).limit(limit))
    products = list(session.scalars(stmt))
    types = dict(session.execute(select(ProductType.id, ProductType.slug).where(
        ProductType.id.in_(sorted({p.product_type_id for p in products})))).all()) \
        if products else {}
    return [PublishedProduct(
        id=p.id, slug=p.slug, title=p.title, description=p.description, vendor=p.vendor,
        status=p.status, tags=list(p.tags or []),
        variants=[PublishedVariant(id=v.id, sku=v.sku, title=v.title, price=v.price,
                                   compare_at_price=v.compare_at_price, barcode=v.barcode,
                                   attributes=dict(v.attributes or {}), currency=v.currency)
                  for v in p.variants if v.archived_at is None],
        product_type=types.get(p.product_type_id, ""), attributes=dict(p.attributes or {}),
        image_urls=[str(m["url"]) for m in sorted(p.media or [],
                                                  key=lambda m: m.get("position", 0))
                    if m.get("url")])
        for p in products]


@dataclass(frozen=True)
class VariantPrice:
    id: str
    sku: str
    product_id: str
    price: Decimal
    compare_at_price: Decimal | None


def variant_prices(session: Session, variant_ids: Iterable[str]) -> list[VariantPrice]:
    """The prices of these variants (unknown ids are left out)."""
    ids = sorted(set(variant_ids))
    if not ids:
        return []
    return [VariantPrice(*row) for row in session.execute(
        select(Variant.id, Variant.sku, Variant.product_id, Variant.price,
               Variant.compare_at_price).where(Variant.id.in_(ids)))]


def product_type_id(session: Session, slug: str) -> str | None:
    return session.scalar(select(ProductType.id).where(ProductType.slug == slug))


def import_rows(session: Session, organization_id: str,
                rows: list[csvio.SourceRow]) -> BatchResult:
    """Upsert catalog rows by SKU in the caller's transaction, exactly as a CSV import does
    (same validation, same per-row errors in the result)."""
    return Importer(organization_id).apply(session, rows)


def sku_for_code(session: Session, code: str) -> str | None:
    """The SKU of the variant whose SKU or barcode is exactly ``code`` (what a scanner at the
    point of sale reads), or None."""
    code = code.strip()
    if not code:
        return None
    found = session.scalar(select(Variant.sku).where(Variant.sku == code).limit(1))
    if found is None:
        found = session.scalar(select(Variant.sku).where(Variant.barcode == code).limit(1))
    return found


def variants_matching(session: Session, text: str) -> Select[Any]:
    """Ids of the variants a search box finds, as a subquery: the variant whose SKU is exactly
    ``text`` when there is one, else every variant of the products the catalog's search finds
    (each word a prefix of the title, vendor, SKUs, barcodes...)."""
    exact = select(Variant.id).where(Variant.sku == text.strip())
    if session.scalar(exact.limit(1)) is not None:
        return exact
    products = select(Product.id).where(*filter_conditions(session, ProductFilters(q=text)))
    return select(Variant.id).where(Variant.product_id.in_(products))


@dataclass(frozen=True)
class CardVariant:
    """A live variant with what identifies the card it is: its product's attributes (game,
    set_code, set_name, collector_number, ...) and its own (condition, finish, language)."""

    id: str
    sku: str
    product_id: str
    title: str
    product_type: str
    attributes: dict[str, Any]
    variant_attributes: dict[str, Any]


def card_variants(session: Session, *, after: str = "", limit: int = 100,
                  ids: Iterable[str] | None = None) -> list[CardVariant]:
    """The next ``limit`` live variants by id after ``after`` (or exactly ``ids``), with their
    products' attributes: what a marketplace connector matches cards on."""
    stmt = (select(Variant.id, Variant.sku, Variant.product_id, Product.title,
                   ProductType.slug, Product.attributes, Variant.attributes)
            .join(Product, Product.id == Variant.product_id)
            .join(ProductType, ProductType.id == Product.product_type_id)
            .where(Variant.archived_at.is_(None)))
    if ids is not None:
        stmt = stmt.where(Variant.id.in_(sorted(set(ids))))
    else:
        stmt = stmt.where(Variant.id > after)
    return [CardVariant(vid, sku, pid, title, slug, dict(attrs or {}), dict(vattrs or {}))
            for vid, sku, pid, title, slug, attrs, vattrs
            in session.execute(stmt.order_by(Variant.id).limit(limit))]
