"""Catalog use cases: product types, categories, products and their variants."""

from __future__ import annotations

import functools
import re
import threading
import time
import unicodedata
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any, TypeVar

from sqlalchemy import (
    ColumnElement,
    Select,
    String,
    and_,
    bindparam,
    exists,
    false,
    func,
    literal_column,
    not_,
    or_,
    select,
    table,
    true,
    tuple_,
    type_coerce,
    update,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import InstrumentedAttribute, Session

from mercato.catalog.index import (
    generation,
    private_names,
    search_words,
    sees_generation,
    touch,
    variants_t,
)
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
from mercato.catalog.schemas import (
    CategoryCreate,
    CategoryUpdate,
    CollectionCreate,
    CollectionUpdate,
    ProductCreate,
    ProductTypeCreate,
    ProductTypeUpdate,
    ProductUpdate,
    VariantIn,
    VariantUpdate,
)
from mercato.catalog.tcg import FACET, TYPE_SETS
from mercato.catalog.validation import attribute_errors, check_schema, validate_attributes
from mercato.core.db import (
    TENANT,
    add_unique,
    get_owned,
    require_owned,
    table_of,
    tenant_execute,
    tenant_of,
    utcnow,
)
from mercato.core.errors import Conflict, NotFound, ValidationFailed
from mercato.core.hooks import run_before_model
from mercato.core.ids import new_id
from mercato.core.outbox import record_event
from mercato.core.pagination import (
    PageParams,
    Slice,
    decode_cursor,
    encode_cursor,
    keyset_after,
    kind_of,
    ordering,
    paginate,
)
from mercato.tenancy import check_limit

M = TypeVar("M")
MAX_REPORTED = 50
SORTS = {
    "created": (Product.created_at, False), "-created": (Product.created_at, True),
    "updated": (Product.updated_at, False), "-updated": (Product.updated_at, True),
    "title": (Product.title, False), "-title": (Product.title, True),
    "price": (Product.min_price, False), "-price": (Product.min_price, True),
}
FACET_LIMIT = 50
COLUMN_FACETS: dict[str, InstrumentedAttribute[Any]] = {
    "product_type": Product.product_type_id, "status": Product.status,
    "vendor": Product.vendor, "category": Product.category_id,
}


def slugify(text: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")
    return slug[:90].strip("-") or "product"


def json_value(value: Any) -> Any:
    if isinstance(value, Decimal):
        return f"{value:.2f}"
    return value


def _reject_nulls(values: dict[str, Any], names: tuple[str, ...]) -> None:
    """PATCH may omit a field but not set a required one to null."""
    errors = [{"field": n, "message": "cannot be null"} for n in names
              if n in values and values[n] is None]
    if errors:
        raise ValidationFailed("Required fields cannot be null.", errors=errors)


def _changes(obj: Any, values: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Apply ``values`` to ``obj``; the fields that really changed, from and to."""
    changed = {}
    for name, value in values.items():
        old = getattr(obj, name)
        if old != value:
            changed[name] = {"from": json_value(old), "to": json_value(value)}
            setattr(obj, name, value)
    return changed


# -- product types ----------------------------------------------------------------------------

def create_product_type(session: Session, data: ProductTypeCreate) -> ProductType:
    check_schema(data.attributes_schema, "attributes_schema")
    check_schema(data.variant_attributes_schema, "variant_attributes_schema")
    product_type = ProductType(name=data.name, slug=data.slug, serialized=data.serialized,
                               digital=data.digital,
                               attributes_schema=data.attributes_schema,
                               variant_attributes_schema=data.variant_attributes_schema,
                               private_attributes=private_names(
                                   data.attributes_schema, data.variant_attributes_schema))
    add_unique(session, product_type, field="slug",
               detail=f"A product type with slug {data.slug!r} exists.")
    return product_type


def list_product_types(session: Session, params: PageParams) -> Slice[ProductType]:
    return paginate(session, select(ProductType), [(ProductType.slug, False)], params)


@dataclass(frozen=True)
class TypeChoice:
    """A product type as a list's filters offer it: its name, and the values each attribute
    declares (``enum``, product attributes then variant attributes)."""

    id: str
    slug: str
    name: str
    enums: tuple[tuple[str, tuple[str, ...]], ...]


_ENUMS: dict[tuple[str, int], tuple[tuple[str, tuple[str, ...]], ...]] = {}
"""Declared values by (type id, version): a list page reads names and versions, and a schema
only when its type changed since this process last read it."""
_ENUMS_KEPT = 4096
_types = table_of(ProductType)
_TYPE_CHOICES = (select(_types.c.id, _types.c.slug, _types.c.name, _types.c.version)
                 .where(_types.c.organization_id == TENANT).order_by(_types.c.slug))


def _listed(spec: Any) -> list[Any] | None:
    """A property's values for a filter: its ``enum``, or the ``examples`` of an open
    property marked as a facet (a card's rarity); None for a property that is neither."""
    if not isinstance(spec, dict):
        return None
    if isinstance(spec.get("enum"), list):
        return list(spec["enum"])
    if spec.get(FACET) is True:
        examples = spec.get("examples")
        return list(examples) if isinstance(examples, list) else []
    return None


def _declared(*schemas: dict[str, Any]) -> tuple[tuple[str, tuple[str, ...]], ...]:
    found: dict[str, list[str]] = {}
    for schema in schemas:
        props = schema.get("properties")
        for name, spec in (props.items() if isinstance(props, dict) else ()):
            listed = _listed(spec)
            if listed is not None:
                values = found.setdefault(str(name), [])
                values += [str(v) for v in listed if str(v) not in values]
    return tuple((name, tuple(values)) for name, values in found.items())


def type_choices(session: Session) -> list[TypeChoice]:
    """The organization's product types, by slug, for filters: one narrow read (types are few,
    their schemas large)."""
    rows = tenant_execute(session, _TYPE_CHOICES).all()
    known = {row.id: _ENUMS.get((row.id, row.version)) for row in rows}
    missing = [tid for tid, enums in known.items() if enums is None]
    if missing:
        if len(_ENUMS) > _ENUMS_KEPT:
            _ENUMS.clear()
        for tid, version, attrs, variant_attrs in session.execute(
                select(ProductType.id, ProductType.version, ProductType.attributes_schema,
                       ProductType.variant_attributes_schema)
                .where(ProductType.id.in_(missing))):
            known[tid] = _ENUMS[(tid, version)] = _declared(attrs, variant_attrs)
    return [TypeChoice(row.id, row.slug, row.name, known[row.id] or ()) for row in rows]


def _by_ref(session: Session, model: type[M], ref: str, what: str) -> M:
    """A product type, category or collection by id or slug; 404 naming it otherwise."""
    found: M | None = get_owned(session, model, ref) or session.scalar(
        select(model).where(getattr(model, "slug") == ref))  # noqa: B009
    if found is None:
        raise NotFound(f"No {what} {ref!r}.")
    return found


def get_product_type(session: Session, ref: str) -> ProductType:
    return _by_ref(session, ProductType, ref, "product type")


def update_product_type(session: Session, product_type: ProductType,
                        data: ProductTypeUpdate) -> ProductType:
    """A schema change is checked against every existing product; it is refused (409, with
    what would break) rather than leave products that no longer validate."""
    if data.attributes_schema is not None:
        check_schema(data.attributes_schema, "attributes_schema")
    if data.variant_attributes_schema is not None:
        check_schema(data.variant_attributes_schema, "variant_attributes_schema")
    broken: list[dict[str, str]] = []
    if data.attributes_schema is not None:
        rows = session.execute(select(Product.id, Product.attributes)
                               .where(Product.product_type_id == product_type.id))
        for product_id, attributes in rows:
            for error in attribute_errors(data.attributes_schema, attributes, "attributes"):
                broken.append({"field": f"products.{product_id}.{error['field']}",
                               "message": error["message"]})
    if data.variant_attributes_schema is not None:
        rows = session.execute(
            select(Variant.id, Variant.attributes).join(Product)
            .where(Product.product_type_id == product_type.id))
        for variant_id, attributes in rows:
            for error in attribute_errors(data.variant_attributes_schema, attributes,
                                          "attributes"):
                broken.append({"field": f"variants.{variant_id}.{error['field']}",
                               "message": error["message"]})
    if broken:
        raise Conflict(f"{len(broken)} existing attribute value(s) would not match the new "
                       "schema; change them first.", errors=broken[:MAX_REPORTED],
                       extra={"broken_count": len(broken)})
    values = {k: v for k, v in data.model_dump(exclude_unset=True).items() if v is not None}
    values["private_attributes"] = private_names(
        values.get("attributes_schema", product_type.attributes_schema),
        values.get("variant_attributes_schema", product_type.variant_attributes_schema))
    changed = _changes(product_type, values)
    if "private_attributes" in changed:  # the storefront's listings, search and facets
        touch(session, session.scalars(select(Product.id)
                                       .where(Product.product_type_id == product_type.id)))
    return product_type



def install_type_set(session: Session, name: str) -> list[ProductType]:
    """Install a built-in set of product types; types already present are left as they are."""
    installed = []
    for spec in TYPE_SETS[name]:
        existing = session.scalar(select(ProductType).where(ProductType.slug == spec["slug"]))
        installed.append(existing or create_product_type(session, ProductTypeCreate(**spec)))
    return installed


# -- categories -------------------------------------------------------------------------------

def get_category(session: Session, ref: str) -> Category:
    return _by_ref(session, Category, ref, "category")


def create_category(session: Session, data: CategoryCreate) -> Category:
    parent = get_category(session, data.parent) if data.parent else None
    category = Category(name=data.name, slug=data.slug, parent_id=parent.id if parent else None)
    add_unique(session, category, field="slug",
               detail=f"A category with slug {data.slug!r} exists.")
    return category


def update_category(session: Session, category: Category, data: CategoryUpdate) -> Category:
    """Rename, re-slug or move a category (with its subtree). Listings name categories by id,
    so no product is rebuilt; filters by a category follow the tree as it is when they run."""
    values = data.model_dump(exclude_unset=True)
    _reject_nulls(values, ("name", "slug"))
    if "parent" in values:
        ref = values.pop("parent")
        parent = get_category(session, ref) if ref else None
        if parent is not None and parent.id in descendants(session, category):
            raise ValidationFailed("A category cannot move under itself.", errors=[{
                "field": "parent",
                "message": "not this category or one of its subcategories"}])
        values["parent_id"] = parent.id if parent else None
    try:
        with session.begin_nested():
            _changes(category, values)
    except IntegrityError:
        raise Conflict(f"A category with slug {values.get('slug')!r} exists.",
                       errors=[{"field": "slug", "message": "already in use"}]) from None
    return category


def delete_category(session: Session, category: Category) -> None:
    """Only an empty category goes: one that holds products or subcategories is a 409 (its
    products would lose their place in the tree without anyone choosing where)."""
    if session.scalar(select(Category.id).where(Category.parent_id == category.id).limit(1)):
        raise Conflict("This category has subcategories; move or delete them first.")
    if session.scalar(select(Product.id).where(Product.category_id == category.id).limit(1)):
        raise Conflict("Products are in this category; move them to another first.")
    session.delete(category)


def list_categories(session: Session, params: PageParams) -> Slice[Category]:
    return paginate(session, select(Category), [(Category.slug, False)], params)


def descendants(session: Session, category: Category) -> list[str]:
    """The category and everything below it (filtering by a category includes its subtree)."""
    ids, frontier = [category.id], [category.id]
    while frontier:
        frontier = list(session.scalars(select(Category.id)
                                        .where(Category.parent_id.in_(frontier))))
        ids += frontier
    return ids


# -- collections ------------------------------------------------------------------------------

def get_collection(session: Session, ref: str) -> Collection:
    return _by_ref(session, Collection, ref, "collection")


def create_collection(session: Session, data: CollectionCreate) -> Collection:
    collection = Collection(name=data.name, slug=data.slug, description=data.description)
    add_unique(session, collection, field="slug",
               detail=f"A collection with slug {data.slug!r} exists.")
    return collection


def update_collection(session: Session, collection: Collection,
                      data: CollectionUpdate) -> Collection:
    values = data.model_dump(exclude_unset=True)
    _reject_nulls(values, ("name", "description"))
    _changes(collection, values)
    return collection


def delete_collection(session: Session, collection: Collection) -> None:
    """Its products stay; their listings lose its slug when this commits."""
    touch(session, session.scalars(select(ProductCollection.product_id).where(
        ProductCollection.collection_id == collection.id)))
    session.delete(collection)


def list_collections(session: Session, params: PageParams) -> Slice[Collection]:
    return paginate(session, select(Collection), [(Collection.slug, False)], params)


def _set_collections(session: Session, product: Product,
                     refs: list[str]) -> dict[str, Any] | None:
    """Put the product in exactly these collections; the change, if any, for the event."""
    wanted = {c.id: c for c in (get_collection(session, ref) for ref in refs)}
    before = product.collections
    kept = [link for link in product.collection_links if link.collection_id in wanted]
    have = {link.collection_id for link in kept}
    product.collection_links = kept + [ProductCollection(collection=c)
                                       for cid, c in wanted.items() if cid not in have]
    after = product.collections
    return {"from": before, "to": after} if before != after else None


# -- products and variants --------------------------------------------------------------------

def _variant(product_type: ProductType, data: VariantIn, position: int, field: str) -> Variant:
    validate_attributes(product_type.variant_attributes_schema, data.attributes,
                        f"{field}.attributes" if field != "variant" else "attributes")
    return Variant(sku=data.sku, barcode=data.barcode, title=data.title, price=data.price,
                   compare_at_price=data.compare_at_price, cost=data.cost,
                   currency=data.currency, weight_grams=data.weight_grams,
                   attributes=data.attributes, position=position)


def _variant_snapshot(variant: Variant) -> dict[str, Any]:
    return {"id": variant.id, "product_id": variant.product_id, "sku": variant.sku,
            "barcode": variant.barcode, "price": json_value(variant.price),
            "currency": variant.currency, "attributes": variant.attributes}


def _uniqueness_conflict(session: Session, variants: list[tuple[str, VariantIn]],
                         exclude_ids: frozenset[str] = frozenset()) -> Conflict:
    errors = []
    for where, data in variants:
        prefix = f"{where}." if where else ""
        taken_sku = session.scalar(select(Variant.id).where(Variant.sku == data.sku))
        if taken_sku and taken_sku not in exclude_ids:
            errors.append({"field": f"{prefix}sku", "message": f"SKU {data.sku!r} is taken"})
        if data.barcode:
            taken = session.scalar(select(Variant.id).where(Variant.barcode == data.barcode))
            if taken and taken not in exclude_ids:
                errors.append({"field": f"{prefix}barcode",
                               "message": f"barcode {data.barcode!r} is taken"})
    return Conflict("SKUs and barcodes are unique within an organization.",
                    errors=errors or [{"field": "variants", "message": "duplicate"}])


def _check_batch_duplicates(variants: list[VariantIn]) -> None:
    errors, skus, barcodes = [], set(), set()
    for i, data in enumerate(variants):
        if data.sku in skus:
            errors.append({"field": f"variants.{i}.sku", "message": "repeated in this request"})
        if data.barcode and data.barcode in barcodes:
            errors.append({"field": f"variants.{i}.barcode",
                           "message": "repeated in this request"})
        skus.add(data.sku)
        if data.barcode:
            barcodes.add(data.barcode)
    if errors:
        raise Conflict("SKUs and barcodes are unique within an organization.", errors=errors)


def _check_serialized(product_type: ProductType, count: int) -> None:
    if product_type.serialized and count > 1:
        raise ValidationFailed(
            "A one-of-a-kind product has exactly one variant.",
            errors=[{"field": "variants", "message": "serialized types allow one variant"}])


def _channels(kinds: Iterable[str] | None) -> list[str] | None:
    """One order for the same set of channels, so an unchanged set is not a change."""
    return None if kinds is None else sorted(set(kinds))


def _count_products(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(Product)) or 0)


def create_product(session: Session, data: ProductCreate) -> Product:
    organization_id = tenant_of(session)
    if organization_id:  # the plan's ``products`` limit: 409 plan_limit past it
        check_limit(session, organization_id, "products", lambda: _count_products(session))
    data = run_before_model(session, "before_product_save", data, key="product",
                            context={"product_id": None})
    product_type = get_product_type(session, data.product_type)
    validate_attributes(product_type.attributes_schema, data.attributes, "attributes")
    _check_serialized(product_type, len(data.variants))
    _check_batch_duplicates(data.variants)
    category = get_category(session, data.category) if data.category else None
    variants = [_variant(product_type, v, i, f"variants.{i}") for i, v in enumerate(data.variants)]
    product = Product(
        id=new_id(), product_type_id=product_type.id, title=data.title,
        slug=data.slug or f"{slugify(data.title)}-{new_id()[-6:].lower()}",
        description=data.description, status=data.status, vendor=data.vendor,
        category_id=category.id if category else None, tags=sorted(set(data.tags)),
        media=[m.model_dump() for m in sorted(data.media, key=lambda m: m.position)],
        attributes=data.attributes, variants=variants,
        channels=_channels(data.channels),
    )
    _set_collections(session, product, data.collections)
    try:
        with session.begin_nested():
            session.add(product)
    except IntegrityError:
        if data.slug and session.scalar(select(Product.id).where(Product.slug == data.slug)):
            raise Conflict(f"A product with slug {data.slug!r} exists.",
                           errors=[{"field": "slug", "message": "already in use"}]) from None
        raise _uniqueness_conflict(
            session, [(f"variants.{i}", v) for i, v in enumerate(data.variants)]) from None
    record_event(session, "product.created", resource_type="product", resource_id=product.id,
                 data={"product_id": product.id, "title": product.title,
                       "product_type": product_type.slug, "status": product.status,
                       "variants": [v.id for v in variants]})
    for variant in variants:
        record_event(session, "variant.created", resource_type="variant",
                     resource_id=variant.id, data=_variant_snapshot(variant))
    return product


def get_product(session: Session, product_id: str) -> Product:
    return require_owned(session, Product, product_id, "Product")


def update_product(session: Session, product: Product, data: ProductUpdate) -> Product:
    data = run_before_model(session, "before_product_save", data, key="product",
                            context={"product_id": product.id})
    values = data.model_dump(exclude_unset=True)
    _reject_nulls(values, ("title", "slug", "status", "description", "tags", "media",
                           "attributes"))
    if "attributes" in values:
        product_type = get_product_type(session, product.product_type_id)
        validate_attributes(product_type.attributes_schema, values["attributes"], "attributes")
    if "category" in values:
        category = values.pop("category")
        values["category_id"] = get_category(session, category).id if category else None
    collections = values.pop("collections", None)
    if "tags" in values:
        values["tags"] = sorted(set(values["tags"]))
    if "media" in values:
        values["media"] = sorted(values["media"], key=lambda m: m["position"])
    if "channels" in values:  # null is meaningful here: published everywhere
        values["channels"] = _channels(values["channels"])
    changed = _changes(product, values)
    if collections is not None:
        moved = _set_collections(session, product, collections)
        if moved:
            changed["collections"] = moved
            product.updated_at = utcnow()  # a new representation gets a new version and ETag
    if changed:
        try:
            with session.begin_nested():
                session.flush()
        except IntegrityError:
            raise Conflict("A product with this slug exists.",
                           errors=[{"field": "slug", "message": "already in use"}]) from None
        record_event(session, "product.updated", resource_type="product",
                     resource_id=product.id, data={"product_id": product.id,
                                                   "changes": changed})
    return product


def delete_product(session: Session, product: Product) -> None:
    for variant in product.variants:
        record_event(session, "variant.deleted", resource_type="variant",
                     resource_id=variant.id, data=_variant_snapshot(variant))
    record_event(session, "product.deleted", resource_type="product", resource_id=product.id,
                 data={"product_id": product.id, "title": product.title})
    session.delete(product)


def add_variant(session: Session, product: Product, data: VariantIn) -> Variant:
    product_type = get_product_type(session, product.product_type_id)
    _check_serialized(product_type, len(product.variants) + 1)
    variant = _variant(product_type, data, len(product.variants), "variant")
    variant.product_id = product.id
    try:
        with session.begin_nested():
            session.add(variant)
    except IntegrityError:
        raise _uniqueness_conflict(session, [("", data)]) from None
    record_event(session, "variant.created", resource_type="variant", resource_id=variant.id,
                 data=_variant_snapshot(variant))
    return variant


def get_variant(session: Session, variant_id: str) -> Variant:
    return require_owned(session, Variant, variant_id, "Variant")


def update_variant(session: Session, variant: Variant, data: VariantUpdate) -> Variant:
    values = data.model_dump(exclude_unset=True)
    _reject_nulls(values, ("sku", "price", "currency", "attributes", "title"))
    if "attributes" in values:
        product_type = get_product_type(session, variant.product.product_type_id)
        validate_attributes(product_type.variant_attributes_schema, values["attributes"],
                            "attributes")
    probe = VariantIn(sku=values.get("sku", variant.sku),
                      barcode=values.get("barcode", variant.barcode), price=variant.price)
    try:
        # Changed inside the savepoint: begin_nested() flushes what is pending before it
        # starts, and a clash flushed there would end the whole transaction, not the savepoint.
        with session.begin_nested():
            changed = _changes(variant, values)
    except IntegrityError:
        raise _uniqueness_conflict(session, [("", probe)], frozenset({variant.id})) from None
    if changed:
        record_event(session, "variant.updated", resource_type="variant",
                     resource_id=variant.id, data={"variant_id": variant.id,
                                                   "sku": variant.sku, "changes": changed})
    return variant


def _live_others(variant: Variant) -> int:
    """How many of the variant's siblings are live (not archived)."""
    return sum(1 for v in variant.product.variants
               if v.id != variant.id and v.archived_at is None)


def delete_variant(session: Session, variant: Variant) -> None:
    if len(variant.product.variants) == 1:
        raise Conflict("A product keeps at least one variant; delete the product instead.")
    if variant.archived_at is None and not _live_others(variant):
        raise Conflict("A product keeps at least one live variant; restore another first.")
    record_event(session, "variant.deleted", resource_type="variant", resource_id=variant.id,
                 data=_variant_snapshot(variant))
    session.delete(variant)


def archive_variant(session: Session, variant: Variant) -> Variant:
    """Stop selling the variant without deleting it: orders, the stock ledger and channel
    mappings keep referring to it. Archiving an archived variant changes nothing; the last
    live variant of a product is refused (409), so every product has one to sell."""
    if variant.archived_at is not None:
        return variant
    if not _live_others(variant):
        raise Conflict("A product keeps at least one live variant; archive the product "
                       "instead, or restore another variant first.")
    variant.archived_at = utcnow()
    record_event(session, "variant.archived", resource_type="variant", resource_id=variant.id,
                 data={**_variant_snapshot(variant),
                       "archived_at": variant.archived_at.isoformat()})
    return variant


def unarchive_variant(session: Session, variant: Variant) -> Variant:
    """Sell the variant again; a live variant is left as it is."""
    if variant.archived_at is None:
        return variant
    variant.archived_at = None
    record_event(session, "variant.unarchived", resource_type="variant",
                 resource_id=variant.id, data=_variant_snapshot(variant))
    return variant


def find_variants(session: Session, params: PageParams, *, sku: str | None = None,
                  barcode: str | None = None) -> Slice[Variant]:
    stmt = select(Variant)
    if sku is not None:
        stmt = stmt.where(Variant.sku == sku)
    if barcode is not None:
        stmt = stmt.where(Variant.barcode == barcode)
    return paginate(session, stmt, [(Variant.id, False)], params)


@dataclass
class ProductFilters:
    product_type: str | None = None
    category: str | None = None
    collection: str | None = None
    status: str | None = None
    tag: str | None = None
    vendor: str | None = None
    q: str | None = None
    attributes: dict[str, list[str]] = field(default_factory=dict)
    price_min: Decimal | None = None
    price_max: Decimal | None = None
    in_stock: bool | None = None
    channel: str | None = None
    sort: str = "-created"


@dataclass(frozen=True)
class _Shape:
    """Which filters a listing has, not their values: one set of conditions (and one listing
    statement) is built per shape and reused, the values bound when it runs. Building and
    keying the statement anew took more of a page's time than the query."""

    dialect: str
    product_type: bool = False
    category: bool = False
    collection: bool = False
    status: bool = False
    vendor: bool = False
    channel: bool = False
    tag: bool = False
    attributes: int = 0
    price_min: bool = False
    price_max: bool = False
    in_stock: bool | None = None
    text: bool | None = None  # None: no search; False: a search without words (none match)
    correlated: bool = True
    scoped: bool = False  # names its organization (TENANT) itself, for ``tenant_execute``


def _channel_value(dialect: str, kind: str) -> Any:
    """A channel kind as ``_published`` binds it: a JSON array to contain on PostgreSQL."""
    return [kind] if dialect == "postgresql" else kind


def _bound_filters(session: Session, filters: ProductFilters, *, correlated: bool,
                   scoped: bool) -> tuple[_Shape, dict[str, Any]]:
    """The filters' shape and the values to bind. What they name by slug or id is looked up
    here (404 for an unknown type, category or collection)."""
    dialect = session.get_bind().dialect.name
    values: dict[str, Any] = {}
    if filters.product_type:
        values["f_type"] = get_product_type(session, filters.product_type).id
    if filters.category:
        values["f_categories"] = descendants(session, get_category(session, filters.category))
    if filters.collection:
        values["f_collection"] = get_collection(session, filters.collection).id
    if filters.status:
        values["f_status"] = filters.status
    if filters.vendor:
        values["f_vendor"] = filters.vendor
    if filters.channel:
        values["f_channel"] = _channel_value(dialect, filters.channel)
    if filters.tag:
        values.update(f_tag_field="tag", f_tag=[filters.tag])
    for i, (name, wanted) in enumerate(filters.attributes.items()):
        values.update({f"f_attr{i}_field": f"attr.{name}", f"f_attr{i}": wanted})
    if filters.price_min is not None:
        values["f_price_min"] = filters.price_min
    if filters.price_max is not None:
        values["f_price_max"] = filters.price_max
    text = None
    if filters.q:
        terms = search_words(filters.q)[:16]
        text = bool(terms)
        if terms:
            values["f_text"] = (" & ".join(f"{t}:*" for t in terms) if dialect == "postgresql"
                                else " ".join(f'"{t}"*' for t in terms))
    shape = _Shape(
        dialect, product_type=bool(filters.product_type), category=bool(filters.category),
        collection=bool(filters.collection), status=bool(filters.status),
        vendor=bool(filters.vendor), channel=bool(filters.channel), tag=bool(filters.tag),
        attributes=len(filters.attributes), price_min=filters.price_min is not None,
        price_max=filters.price_max is not None, in_stock=filters.in_stock, text=text,
        correlated=correlated, scoped=scoped)
    return shape, values


def _own(model: Any, scoped: bool) -> list[ColumnElement[bool]]:
    """``model``'s organization condition when the statement names its scope itself (Core
    execution); the ORM adds the same one to every table when it runs the statement."""
    return [model.organization_id == TENANT] if scoped else []


Param = Callable[..., Any]
"""How a condition gets a value by name: ``bindparam`` (bound when the statement runs) or
``_literal(values)`` (the value itself)."""


def _literal(values: dict[str, Any]) -> Param:
    return lambda name, **_: values[name]


def _has_facet(field: str, values: str, shape: _Shape, param: Param,
               product_id: InstrumentedAttribute[str]) -> ColumnElement[bool]:
    """Listing pages use a correlated EXISTS, probed through the facet primary key (product,
    field, value): a card store's filters (game, condition) match much of the catalog, and
    walking the sort index while probing stops after a page, where ``IN (subquery)`` made
    SQLite collect every match first. Facet counts visit every match anyway, and there the
    ``IN`` form measured far faster (bench/catalog.py). ``field`` and ``values`` name the
    values."""
    matching = [ProductFacet.field == param(field),
                ProductFacet.value.in_(param(values, expanding=True)),
                *_own(ProductFacet, shape.scoped)]
    if shape.correlated:
        return exists().where(ProductFacet.product_id == product_id, *matching)
    return product_id.in_(select(ProductFacet.product_id).where(*matching))


def _facet_conditions(shape: _Shape, param: Param,
                      product_id: InstrumentedAttribute[str]) -> list[ColumnElement[bool]]:
    """The shape's tag and attribute filters, on the products ``product_id`` names: every
    attribute filter must match (any of its values), and the tag."""
    where = []
    if shape.tag:
        where.append(_has_facet("f_tag_field", "f_tag", shape, param, product_id))
    for i in range(shape.attributes):
        where.append(_has_facet(f"f_attr{i}_field", f"f_attr{i}", shape, param, product_id))
    return where


def _published(dialect: str, param: Param) -> ColumnElement[bool]:
    """Products published on channels of the kind named ``f_channel`` (``_channel_value``):
    ``channels`` is NULL (everywhere) or lists it. A condition on the row, not an index probe:
    listings walk a sort index (led by status on the storefront) and nearly every product they
    meet passes."""
    if dialect == "postgresql":
        listed = type_coerce(Product.channels, JSONB).contains(
            param("f_channel", type_=JSONB))
    else:
        items = func.json_each(Product.channels).table_valued("value")
        listed = exists().select_from(items).where(items.c.value == param("f_channel"))
    return or_(Product.channels.is_(None), listed)


def published_on(session: Session, kind: str) -> ColumnElement[bool]:
    """Products published on channels of this kind."""
    dialect = session.get_bind().dialect.name
    return _published(dialect, _literal({"f_channel": _channel_value(dialect, kind)}))


def _text_match(shape: _Shape, param: Param) -> ColumnElement[bool]:
    """Every word of the search (``f_text``, made by ``_bound_filters``) as a prefix
    (``light bolt`` finds Lightning Bolt) of the product's title, vendor, SKUs, barcodes or
    text attributes; PostgreSQL full text or SQLite FTS5."""
    if not shape.text:
        return false()
    if shape.dialect == "postgresql":
        query = func.to_tsquery("simple", param("f_text", type_=String))
        matching = select(ProductSearch.product_id).where(
            literal_column("product_search.tsv").op("@@")(query),
            *_own(ProductSearch, shape.scoped))
    else:
        fts = table("product_search_fts")
        rowids: Select[Any] = select(literal_column("rowid")).select_from(fts).where(
            literal_column("product_search_fts").op("MATCH")(param("f_text", type_=String)))
        matching = select(ProductSearch.product_id).where(ProductSearch.id.in_(rowids),
                                                          *_own(ProductSearch, shape.scoped))
    return Product.id.in_(matching)


def _conditions(shape: _Shape, param: Param) -> list[ColumnElement[bool]]:
    """The conditions of a shape, with the values ``param`` gives for the names
    ``_bound_filters`` uses."""
    where: list[ColumnElement[bool]] = []
    if shape.product_type:
        where.append(Product.product_type_id == param("f_type"))
    if shape.category:
        where.append(Product.category_id.in_(param("f_categories", expanding=True)))
    if shape.collection:
        where.append(Product.id.in_(select(ProductCollection.product_id).where(
            ProductCollection.collection_id == param("f_collection"),
            *_own(ProductCollection, shape.scoped))))
    if shape.status:
        where.append(Product.status == param("f_status"))
    if shape.vendor:
        where.append(Product.vendor == param("f_vendor"))
    if shape.channel:
        where.append(_published(shape.dialect, param))
    where += _facet_conditions(shape, param, Product.id)
    if shape.price_min or shape.price_max:
        priced = [Variant.product_id == Product.id, Variant.archived_at.is_(None),
                  *_own(Variant, shape.scoped)]
        if shape.price_min:
            priced.append(Variant.price >= param("f_price_min"))
        if shape.price_max:
            priced.append(Variant.price <= param("f_price_max"))
        where.append(exists().where(*priced))
    if shape.in_stock is not None:
        stocked = exists().where(Variant.product_id == Product.id, Variant.available > 0,
                                 Variant.archived_at.is_(None), *_own(Variant, shape.scoped))
        where.append(stocked if shape.in_stock else not_(stocked))
    if shape.text is not None:
        where.append(_text_match(shape, param))
    return where


@functools.lru_cache(maxsize=512)
def _bound_conditions(shape: _Shape) -> tuple[ColumnElement[bool], ...]:
    """A shape's conditions, built once, their values bound when the statement runs."""
    return tuple(_conditions(shape, bindparam))


def filter_conditions(session: Session, filters: ProductFilters, *,
                      correlated: bool = True) -> list[ColumnElement[bool]]:
    """The filters as conditions on ``Product`` with their values, for statements the ORM runs
    (and scopes)."""
    shape, values = _bound_filters(session, filters, correlated=correlated, scoped=False)
    return _conditions(shape, _literal(values))


@functools.lru_cache(maxsize=512)
def _listing(shape: _Shape, sort: str, after: bool) -> Select[Any]:
    """A listing page's statement: stored listing, id and sort value of each product, from
    ``after_0``/``after_1`` (a cursor's sort value and id) on when ``after``, ``limit`` rows."""
    column, descending = SORTS[sort]
    order = [(column, descending), (Product.id, descending)]
    columns: list[Any] = [ProductListing.body, Product.id, column]
    stmt: Select[Any] = (
        select(*columns)
        .join(ProductListing, and_(ProductListing.product_id == Product.id,
                                   ProductListing.organization_id == TENANT))
        .where(*_bound_conditions(shape), Product.organization_id == TENANT))
    if after:
        stmt = stmt.where(keyset_after(order, [bindparam("after_0"), bindparam("after_1")]))
    return stmt.order_by(*ordering(order)).limit(bindparam("limit"))


def list_products(session: Session, filters: ProductFilters,
                  params: PageParams) -> Slice[str]:
    """A page of products as their stored listing JSON (``catalog/index.py`` renders it when a
    product changes): the page is one indexed read, and its items need no work here. The
    busiest read of the catalog, so its statement is built once per shape (``_listing``)."""
    shape, values = _bound_filters(session, filters, correlated=True, scoped=True)
    values["limit"] = params.limit + 1
    if params.cursor:
        column, _ = SORTS[filters.sort]
        values["after_0"], values["after_1"] = decode_cursor(
            params.cursor, 2, [kind_of(column), kind_of(Product.id)])
    stmt = _listing(shape, filters.sort, bool(params.cursor))
    rows: list[Any] = list(tenant_execute(session, stmt, values))
    next_cursor = None
    if len(rows) > params.limit:
        rows = rows[: params.limit]
        next_cursor = encode_cursor([rows[-1][2], rows[-1][1]])
    return Slice(items=[row[0] for row in rows], next_cursor=next_cursor)


def default_facets(session: Session, product_type: str | None) -> list[str]:
    """Product type and status, and every attribute some type declares with an ``enum`` or
    marks as a facet (an open list such as a card's rarity)."""
    stmt = select(ProductType.attributes_schema, ProductType.variant_attributes_schema)
    if product_type:
        stmt = stmt.where(ProductType.id == get_product_type(session, product_type).id)
    names: set[str] = set()
    for schemas in session.execute(stmt):
        for schema in schemas:
            names.update(f"attr.{name}" for name, spec in schema.get("properties", {}).items()
                         if _listed(spec) is not None)
    return ["product_type", "status", *sorted(names)]


def facet_counts(session: Session, filters: ProductFilters,
                 fields: list[str]) -> dict[str, list[dict[str, Any]]]:
    """Per field, the commonest values among the products the filters select, with how many
    products have each (a product counts once per value however many variants share it).

    Attribute and tag fields are counted together from the products' facet sets
    (``_count_facet_sets``); product columns by one grouped read of the products each.
    """
    shape, values = _bound_filters(session, filters, correlated=False, scoped=False)
    where = _conditions(shape, _literal(values))
    counts: dict[str, list[tuple[Any, int]]] = {name: [] for name in fields}
    for name in (n for n in fields if n in COLUMN_FACETS):
        column = COLUMN_FACETS[name]
        counts[name] = [(value, count) for value, count in session.execute(
            select(column, func.count()).where(*where, column.is_not(None)).group_by(column))]
    facet_fields = list(dict.fromkeys(n for n in fields if n not in COLUMN_FACETS))
    if facet_fields and not where and shape.dialect != "postgresql":
        # SQLite counts a whole catalog faster from the facet index than by parsing every
        # product's facet set (100 against 250 ms at 500k variants)
        stmt = (select(ProductFacet.field, ProductFacet.value, func.count())
                .where(ProductFacet.field.in_(facet_fields))
                .group_by(ProductFacet.field, ProductFacet.value))
        for name, value, count in session.execute(stmt):
            counts[name].append((value, count))
    elif facet_fields:
        if replace(shape, tag=False, attributes=0) == _Shape(shape.dialect, correlated=False):
            # only tag and attribute filters: the facet index gives the products, and the
            # products table is not read (10-15 % of the count)
            chosen = _facet_conditions(shape, _literal(values), ProductFacetSet.product_id)
        else:
            chosen = [ProductFacetSet.product_id.in_(select(Product.id).where(*where))]
        for name, value, count in _count_facet_sets(session, shape.dialect, chosen,
                                                    facet_fields):
            counts[name].append((value, count))
    by_id = {"product_type": (ProductType.id, ProductType.slug),
             "category": (Category.id, Category.slug)}
    result: dict[str, list[dict[str, Any]]] = {}
    for name, pairs in counts.items():
        top = sorted(pairs, key=lambda pair: (-pair[1], str(pair[0])))[:FACET_LIMIT]
        if name in by_id and top:  # ids to slugs
            key, slug = by_id[name]
            slugs = dict(session.execute(select(key, slug).where(
                key.in_([value for value, _ in top]))).all())
            top = [(slugs.get(value), count) for value, count in top]
        result[name] = [{"value": value, "count": count} for value, count in top]
    return result


GROUPING_MAX = 31
"""PostgreSQL's ``GROUPING()`` takes at most this many arguments."""


def _count_facet_sets(session: Session, dialect: str, chosen: list[ColumnElement[bool]],
                      fields: list[str]) -> Iterable[tuple[str, str, int]]:
    """(field, value, products) for these facet fields among the products whose facet sets
    ``chosen`` selects, in one pass over those sets.

    Products are first counted per field and set of values (a card store's 25,000 Pokémon
    cards have 5 rarities, 1 set of conditions and 2 finishes: 8 groups), and each group's
    values are expanded after: the work per product is a lookup per field and a hash, not a
    row per value. A product's set holds each of its values once, so it counts once per value.
    PostgreSQL groups by every field in one pass (``GROUPING SETS``; ``GROUPING()`` tells which
    field a group is of); SQLite has no grouping sets, and walks each set's fields with
    ``json_each`` instead, keeping the asked ones.
    """
    if dialect != "postgresql":
        entries = func.json_each(ProductFacetSet.facets).table_valued("key", "value")
        grouped = (select(entries.c.key.label("field"), entries.c.value.label("values"),
                          func.count().label("products"))
                   .select_from(ProductFacetSet).join(entries, true())
                   .where(entries.c.key.in_(fields), *chosen)
                   .group_by(entries.c.key, entries.c.value).subquery())
        items = func.json_each(grouped.c["values"]).table_valued("value")
        stmt = (select(grouped.c.field, items.c.value, func.sum(grouped.c.products))
                .select_from(grouped).join(items, true())
                .group_by(grouped.c.field, items.c.value))
        for name, value, count in session.execute(stmt):
            yield name, value, int(count)
        return
    for start in range(0, len(fields), GROUPING_MAX):
        chunk = fields[start:start + GROUPING_MAX]
        sets = select(*(ProductFacetSet.facets[name].label(f"f{i}")
                        for i, name in enumerate(chunk))).where(*chosen).subquery()
        columns = [sets.c[f"f{i}"] for i in range(len(chunk))]
        grouped = (select(func.grouping(*columns).label("absent"),
                          func.coalesce(*columns).label("values"),
                          func.count().label("products"))
                   .group_by(func.grouping_sets(*(tuple_(c) for c in columns))).subquery())
        items = func.jsonb_array_elements_text(grouped.c["values"]).table_valued("value")
        stmt = (select(grouped.c.absent, items.c.value, func.sum(grouped.c.products))
                .select_from(grouped).join(items, true())
                .group_by(grouped.c.absent, items.c.value))
        everyone = (1 << len(chunk)) - 1
        for absent, value, count in session.execute(stmt):
            # GROUPING() sets the bit of each column its group is not of, the first highest
            yield chunk[len(chunk) - (everyone ^ absent).bit_length()], value, int(count)


class FacetCache:
    """Facet counts kept for repeat requests: counting a card store's catalog reads the facets
    of every matching product (a game is a quarter of the catalog), while shoppers ask for
    the same category pages over and over.

    An entry is served until a commit in this process changes its organization's catalog
    (``catalog.index.generation``), so this process's own writes show at once; writes made by
    other processes (other server workers, the import worker) show within ``ttl_seconds``.
    Once an entry is that old, one request recounts it while the others keep being answered
    from it; requests for counts nobody has yet wait for the one counting them. A moment of
    many shoppers therefore costs one count, not one each.
    """

    def __init__(self, max_entries: int = 2048,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.max_entries = max_entries
        self.clock = clock
        self._entries: OrderedDict[Any, tuple[Any, float, dict[str, Any]]] = OrderedDict()
        self._recounting: dict[Any, threading.Event] = {}
        self._lock = threading.Lock()

    def _usable(self, key: Any, current: Any, now: float, ttl_seconds: float
                ) -> dict[str, Any] | None:
        hit = self._entries.get(key)
        if hit is None or hit[0] != current or (
                now - hit[1] >= ttl_seconds and key not in self._recounting):
            return None
        self._entries.move_to_end(key)
        return hit[2]

    def counts(self, session: Session, filters: ProductFilters, fields: list[str],
               ttl_seconds: float) -> dict[str, list[dict[str, Any]]]:
        tenant = tenant_of(session)
        if ttl_seconds <= 0 or tenant is None:
            return facet_counts(session, filters, fields)
        key = (tenant, repr(filters), tuple(fields))
        current = generation(tenant)  # read first: a commit while counting voids the entry
        now = self.clock()
        with self._lock:
            found = self._usable(key, current, now, ttl_seconds)
            if found is not None:
                return found
            counting = self._recounting.get(key)
            if counting is None:
                self._recounting[key] = done = threading.Event()
        if counting is not None:  # counted by another request right now: wait for it
            counting.wait(60)
            with self._lock:
                found = self._usable(key, current, now, ttl_seconds)
            return found if found is not None else facet_counts(session, filters, fields)
        try:
            counts = facet_counts(session, filters, fields)
            # a commit just before this transaction may be missing from counts it read
            if sees_generation(session, current):
                with self._lock:
                    self._entries[key] = (current, now, counts)
                    self._entries.move_to_end(key)
                    while len(self._entries) > self.max_entries:
                        self._entries.popitem(last=False)
        finally:
            with self._lock:
                del self._recounting[key]
            done.set()
        return counts


FACETS = FacetCache()


# -- what inventory needs of variants ----------------------------------------------------------

@dataclass(frozen=True)
class StockItem:
    """A variant as inventory sees it: identity, whether it is one of a kind, its cost."""

    id: str
    sku: str
    product_id: str
    serialized: bool
    cost: Decimal | None
    currency: str


def stock_items(session: Session, *, skus: Iterable[str] = (),
                ids: Iterable[str] = ()) -> list[StockItem]:
    """The organization's variants with these SKUs or ids (unknown ones are left out)."""
    skus, ids = sorted(set(skus)), sorted(set(ids))
    if not skus and not ids:
        return []
    stmt = (select(Variant.id, Variant.sku, Variant.product_id, ProductType.serialized,
                   Variant.cost, Variant.currency)
            .join(Product, Product.id == Variant.product_id)
            .join(ProductType, ProductType.id == Product.product_type_id))
    condition = (Variant.sku.in_(skus) if skus else false()) | (
        Variant.id.in_(ids) if ids else false())
    return [StockItem(*row) for row in session.execute(stmt.where(condition))]


def set_available(session: Session, totals: dict[str, int]) -> None:
    """Record inventory's units-available total per variant (what ``in_stock`` filters on).

    A derived figure, not an edit: no event, no new version; the products' listings are
    rebuilt at commit."""
    if not totals:
        return
    stale = [(vid, pid) for vid, pid, available in session.execute(
        select(variants_t.c.id, variants_t.c.product_id, variants_t.c.available)
        .where(variants_t.c.id.in_(sorted(totals)))) if available != totals[vid]]
    if stale:
        session.execute(update(variants_t).where(variants_t.c.id == bindparam("vid"))
                        .values(available=bindparam("n"), updated_at=variants_t.c.updated_at),
                        [{"vid": vid, "n": totals[vid]} for vid, _ in stale])
        touch(session, {pid for _, pid in stale})


def set_costs(session: Session, costs: dict[str, Decimal]) -> None:
    """New unit costs (inventory's moving average after a receipt), as variant edits."""
    for variant_id, cost in sorted(costs.items()):
        variant = get_owned(session, Variant, variant_id)
        if variant is None or variant.cost == cost:
            continue
        before = variant.cost
        variant.cost = cost
        record_event(session, "variant.updated", resource_type="variant",
                     resource_id=variant.id, data={
                         "variant_id": variant.id, "sku": variant.sku,
                         "changes": {"cost": {"from": json_value(before),
                                              "to": json_value(cost)}}})


@dataclass(frozen=True)
class SaleItem:
    """A variant as an order line snapshots it (and a cart weighs and checks it)."""

    id: str
    sku: str
    product_title: str
    variant_title: str
    price: Decimal
    currency: str
    product_id: str = ""
    weight_grams: int = 0
    status: str = "active"
    channels: tuple[str, ...] | None = None
    archived: bool = False
    """The variant is archived: nothing new may sell it (its past orders still refer to it)."""
    digital: bool = False
    """Its product type is digital: delivered once paid (``mercato.digital``), never shipped."""

    def sold_on(self, kind: str) -> bool:
        """The variant is live, its product active and published on channels of this kind."""
        return not self.archived and self.status == "active" and (
            self.channels is None or kind in self.channels)


def sale_items(session: Session, skus: Iterable[str] = (), *,
               ids: Iterable[str] = ()) -> dict[str, SaleItem]:
    """The organization's variants with these SKUs (by SKU) or these ids (by id); unknown ones
    are left out."""
    wanted, by_id = sorted(set(skus)), sorted(set(ids))
    if not wanted and not by_id:
        return {}
    stmt = (select(Variant.id, Variant.sku, Product.title, Variant.title, Variant.price,
                   Variant.currency, Variant.product_id, Variant.weight_grams, Product.status,
                   Product.channels, Variant.archived_at, ProductType.digital)
            .join(Product, Product.id == Variant.product_id)
            .join(ProductType, ProductType.id == Product.product_type_id)
            .where(Variant.id.in_(by_id) if by_id else Variant.sku.in_(wanted)))
    found = {}
    for vid, sku, ptitle, vtitle, price, currency, pid, grams, status, channels, archived, \
            digital in session.execute(stmt):
        item = SaleItem(vid, sku, ptitle, vtitle, Decimal(price), currency, pid, grams or 0,
                        status, tuple(channels) if channels is not None else None,
                        archived is not None, bool(digital))
        found[vid if by_id else sku] = item
    return found
