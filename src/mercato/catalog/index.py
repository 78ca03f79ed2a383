"""Derived data for products: facet rows and the same facets as one row per product, the
full-text document, min/max price, and the rendered listing JSON.

Every write path (API, CSV import, later the channel connectors) changes products and variants
through the ORM or in bulk, and each marks the products it touched with ``touch``; just before
the transaction commits, ``reindex_products`` rebuilds their rows from what is in the database.
The derived rows therefore commit or roll back with the change that caused them, and no write
path can forget them. A change that alters how a product reads without writing its row (a
collection deleted, stock moved by a Core update) must ``touch`` the products it affects.

Facets and the price range are of a product's live variants (an archived one is not for
sale); the search document and the listing JSON keep archived ones too (the admin shows them).

Migrations that add derived data rebuild every product with ``reindex_products``; it reads the
tables as the models have them, so only the newest such migration does the rebuild.
"""

from __future__ import annotations

import itertools
import json
import re
import unicodedata
from collections import defaultdict
from collections.abc import Iterable, Iterator
from decimal import Decimal
from functools import lru_cache
from typing import Any

from sqlalchemy import Connection, bindparam, delete, event, select, update
from sqlalchemy.orm import Session

from mercato.catalog.models import (
    Category,
    Collection,
    Product,
    ProductCollection,
    ProductFacet,
    ProductFacetSet,
    ProductListing,
    ProductSearch,
    ProductType,
    Variant,
)
from mercato.catalog.schemas import ProductOut
from mercato.core.db import SYSTEM, among, insert_many, table_of, tenant_of

MAX_VALUE = 200
MAX_NAME = 90
_PENDING = "catalog.reindex"
_CHANGED = "catalog.changed"
_BEGAN = "catalog.began"
# what listings, filters and facet counts read besides the derived rows
_LISTED = (Product, Variant, ProductType, Category, Collection, ProductCollection)
_stamps = itertools.count(1)
_generations: dict[str, int] = {}

products_t = table_of(Product)
types_t = table_of(ProductType)
variants_t = table_of(Variant)
facets_t = table_of(ProductFacet)
facet_sets_t = table_of(ProductFacetSet)
search_t = table_of(ProductSearch)
listings_t = table_of(ProductListing)
links_t = table_of(ProductCollection)
collections_t = table_of(Collection)


def facet_text(value: Any) -> str | None:
    """How an attribute value is stored, filtered and counted: the text ``attr.<name>=`` takes.

    Strings as they are, numbers as JSON writes them, booleans as ``true``/``false``; objects
    and long text are not facets (long text is still found by full-text search), and neither
    is a number whose digits would not fit the column (PostgreSQL refused the row).
    """
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        value = json.dumps(value)
    if isinstance(value, str) and 0 < len(value) <= MAX_VALUE:
        return value
    return None


def attribute_facets(attributes: dict[str, Any]) -> Iterator[tuple[str, str]]:
    for name, value in attributes.items():
        if len(name) > MAX_NAME:
            continue
        for item in value if isinstance(value, list) else [value]:
            text = facet_text(item)
            if text is not None:
                yield f"attr.{name}", text


@lru_cache(maxsize=65536)
def search_words(text: str) -> tuple[str, ...]:
    """Lowercase letters-and-digits runs without accents: how documents and queries are both
    cut into words, so PostgreSQL's and SQLite's own parsers have nothing left to disagree on
    (``TCG-4/102`` is ``tcg 4 102`` everywhere, ``Pokémon`` is ``pokemon``). Remembered: a
    catalog repeats its attribute values (conditions, finishes, set names) on every card."""
    folded = "".join(c for c in unicodedata.normalize("NFKD", text.lower())
                     if not unicodedata.combining(c))
    return tuple(re.findall(r"[^\W_]+", folded))


PRIVATE = "x-private"
"""The schema keyword that keeps an attribute from shoppers (``"x-private": true``)."""


def private_names(*schemas: dict[str, Any]) -> list[str]:
    """Attribute names marked private in these schemas (product's, variant's), sorted."""
    names: set[str] = set()
    for schema in schemas:
        props = schema.get("properties") if isinstance(schema, dict) else None
        for name, spec in (props.items() if isinstance(props, dict) else ()):
            if isinstance(spec, dict) and spec.get(PRIVATE) is True:
                names.add(str(name))
    return sorted(names)


def public_only(attributes: dict[str, Any], private: set[str] | frozenset[str]
                ) -> dict[str, Any]:
    """The attributes without the private ones (a download URL): what search, facets and the
    storefront may see."""
    if not private:
        return attributes
    return {k: v for k, v in attributes.items() if k not in private}


def _strings(attributes: dict[str, Any]) -> Iterator[str]:
    for value in attributes.values():
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, str):
                yield item


def reindex_products(conn: Connection | Session, product_ids: Iterable[str]) -> None:
    """Rebuild facet rows and sets, search documents, price range and listing JSON for these
    products."""
    ids = sorted(set(product_ids))
    if not ids:
        return
    products = conn.execute(select(products_t).where(among(conn, products_t.c.id, ids))).all()
    variants: dict[str, list[Any]] = defaultdict(list)
    for row in conn.execute(select(variants_t).where(among(conn, variants_t.c.product_id, ids))
                            .order_by(variants_t.c.product_id, variants_t.c.position,
                                      variants_t.c.id)):
        variants[row.product_id].append(row)
    collections: dict[str, list[str]] = defaultdict(list)
    for product_id, slug in conn.execute(
            select(links_t.c.product_id, collections_t.c.slug)
            .join(collections_t, collections_t.c.id == links_t.c.collection_id)
            .where(among(conn, links_t.c.product_id, ids)).order_by(collections_t.c.slug)):
        collections[product_id].append(slug)
    type_ids = sorted({p.product_type_id for p in products})
    private: dict[str, set[str]] = {  # from the schemas: this runs in old migrations too
        tid: set(private_names(own, variant)) for tid, own, variant in conn.execute(
            select(types_t.c.id, types_t.c.attributes_schema,
                   types_t.c.variant_attributes_schema)
            .where(among(conn, types_t.c.id, type_ids)))} if type_ids else {}
    for table in (facets_t, facet_sets_t, search_t, listings_t):
        conn.execute(delete(table).where(among(conn, table.c.product_id, ids)))
    facet_rows: list[dict[str, Any]] = []
    set_rows: list[dict[str, Any]] = []
    search_rows: list[dict[str, Any]] = []
    listing_rows: list[dict[str, Any]] = []
    prices: list[dict[str, Any]] = []
    for product in products:
        own = variants[product.id]
        org = product.organization_id
        hidden = private.get(product.product_type_id, set())
        facets = {("tag", tag) for tag in product.tags if 0 < len(tag) <= MAX_VALUE}
        facets.update(attribute_facets(public_only(product.attributes, hidden)))
        words = [product.title, product.vendor or "",
                 *_strings(public_only(product.attributes, hidden))]
        live = [v for v in own if v.archived_at is None]  # what is for sale
        for variant in live:
            facets.update(attribute_facets(public_only(variant.attributes, hidden)))
        for variant in own:  # an archived SKU still finds its product (orders name it)
            words += [variant.sku, variant.barcode or "",
                      *_strings(public_only(variant.attributes, hidden))]
        facet_rows += [{"organization_id": org, "product_id": product.id, "field": name,
                        "value": value} for name, value in facets]
        by_field: dict[str, list[str]] = {}
        for name, value in facets:
            by_field.setdefault(name, []).append(value)
        for values in by_field.values():
            values.sort()  # the same values, the same group when counted
        set_rows.append({"organization_id": org, "product_id": product.id,
                         "facets": by_field})
        document = " ".join(dict.fromkeys(w for text in words for w in search_words(text)))
        search_rows.append({"organization_id": org, "product_id": product.id,
                            "document": document})
        listing = ProductOut.model_validate({
            **product._mapping, "collections": collections[product.id],
            "variants": [v._mapping for v in own]})
        listing_rows.append({"organization_id": org, "product_id": product.id,
                             "body": listing.model_dump_json()})
        variant_prices = [Decimal(v.price) for v in live]
        low = min(variant_prices) if variant_prices else None
        high = max(variant_prices) if variant_prices else None
        if (low, high) != (product.min_price, product.max_price):
            prices.append({"pid": product.id, "low": low, "high": high})
    for table, rows in ((facets_t, facet_rows), (facet_sets_t, set_rows),
                        (search_t, search_rows), (listings_t, listing_rows)):
        insert_many(conn, table, rows)
    if prices:
        conn.execute(update(products_t).where(products_t.c.id == bindparam("pid"))
                     .values(min_price=bindparam("low"), max_price=bindparam("high"),
                             updated_at=products_t.c.updated_at),  # derived: not an edit
                     prices)


def touch(session: Session, product_ids: Iterable[str]) -> None:
    """Mark products whose derived rows must be rebuilt before this transaction commits."""
    ids = set(product_ids)
    if ids:
        session.info.setdefault(_PENDING, set()).update(ids)
        session.info.setdefault(_CHANGED, set()).add(tenant_of(session) or SYSTEM)


def generation(organization_id: str) -> tuple[int, int]:
    """Changes whenever a transaction of this process that changed the organization's catalog
    (or, from system scope, any catalog) commits: what results computed from a catalog are
    cached against. Other processes' commits do not show here."""
    return _generations.get(SYSTEM, 0), _generations.get(organization_id, 0)


def sees_generation(session: Session, seen: tuple[int, int]) -> bool:
    """Whether this session's transaction began after the commits behind ``seen``, so what it
    reads includes them (SQLite reads from a snapshot taken early in the transaction)."""
    began: int = session.info.get(_BEGAN, 0)
    return max(seen) < began


@event.listens_for(Session, "after_begin")
def _stamp_begin(session: Session, transaction: Any, conn: Connection) -> None:
    if not transaction.nested:
        session.info[_BEGAN] = next(_stamps)


@event.listens_for(Session, "after_flush")
def _collect(session: Session, flush_context: Any) -> None:
    touched = set()
    changed = set()
    for obj in (*session.new, *session.dirty, *session.deleted):
        if isinstance(obj, Product):
            touched.add(obj.id)
        elif isinstance(obj, Variant) and obj.product_id:
            touched.add(obj.product_id)
        if isinstance(obj, _LISTED):
            changed.add(obj.organization_id or SYSTEM)
    touch(session, touched)
    if changed:
        session.info.setdefault(_CHANGED, set()).update(changed)


def reindex_pending(session: Session) -> None:
    """Rebuild the derived rows of the products this transaction touched so far (what commit
    would do), for a transaction that wants that work done before it commits."""
    session.flush()
    ids = sorted(session.info.pop(_PENDING, set()))
    for start in range(0, len(ids), 1000):
        reindex_products(session, ids[start:start + 1000])


@event.listens_for(Session, "before_commit")
def _reindex_before_commit(session: Session) -> None:
    reindex_pending(session)  # which flushes first: commit's own flush comes after this hook


@event.listens_for(Session, "after_commit")
def _advance_generations(session: Session) -> None:
    for organization_id in session.info.pop(_CHANGED, ()):
        _generations[organization_id] = next(_stamps)  # unique: no two commits share one


@event.listens_for(Session, "after_rollback")
def _forget(session: Session) -> None:
    session.info.pop(_PENDING, None)
    session.info.pop(_CHANGED, None)
