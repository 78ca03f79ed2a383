"""Facet counts are exactly what the products' own attributes, tags and columns say, under any
filters: compared with a plain computation over random catalogs, on both databases."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, select

from mercato.catalog.models import Product, ProductFacetSet, ProductType
from mercato.catalog.schemas import (
    CategoryCreate,
    CollectionCreate,
    ProductCreate,
    ProductTypeCreate,
    VariantIn,
)
from mercato.catalog.service import (
    FACET_LIMIT,
    ProductFilters,
    create_category,
    create_collection,
    create_product,
    create_product_type,
    facet_counts,
    set_available,
)
from mercato.core.db import Database
from tests.conftest import Org

# attribute names and values that a separator-joined encoding could confuse, JSON path
# syntax (dots, quotes), case, accents, and ones too long to be facets
NAMES = ["game", "a=b", "a", "x\x1fy", 'q"uote', "dot.ted", "ünï", "n" * 91]
TEXTS = ["NM", "nm", "b", "a=b", "b=", "x\x1fy", 'say "hi"', "é", " ", "", "v" * 201]
TAGS = ["t1", "a=b", "x\x1fy", "", "T" * 201]
WORDS = ["alpha", "beta", "gamma"]
SCALAR = st.one_of(st.sampled_from(TEXTS), st.integers(-2, 2), st.booleans(), st.just(1.5),
                   st.just({"nested": "NM"}))
VALUE = st.one_of(SCALAR, st.lists(st.one_of(st.sampled_from(TEXTS[:6]), st.integers(0, 1),
                                             st.booleans()), max_size=3))
ATTRIBUTES = st.dictionaries(st.sampled_from(NAMES), VALUE, max_size=3)


@dataclass(frozen=True)
class VariantSpec:
    attributes: dict[str, Any]
    price: Decimal
    available: int


@dataclass(frozen=True)
class ProductSpec:
    title: str
    product_type: str
    status: str
    vendor: str | None
    category: str | None
    collections: list[str]
    channels: list[str] | None
    tags: list[str]
    attributes: dict[str, Any]
    variants: list[VariantSpec]


PRODUCTS = st.lists(st.builds(
    ProductSpec,
    title=st.lists(st.sampled_from(WORDS), min_size=1, max_size=2).map(" ".join),
    product_type=st.sampled_from(["free-a", "free-b"]),
    status=st.sampled_from(["draft", "active", "archived"]),
    vendor=st.sampled_from([None, "Acme", "Zed"]),
    category=st.sampled_from([None, "cat-a", "cat-b"]),
    collections=st.lists(st.sampled_from(["col-a", "col-b"]), max_size=2, unique=True),
    channels=st.sampled_from([None, [], ["web"], ["pos"], ["pos", "web"]]),
    tags=st.lists(st.sampled_from(TAGS), max_size=3, unique=True),
    attributes=ATTRIBUTES,
    variants=st.lists(st.builds(VariantSpec, attributes=ATTRIBUTES,
                                price=st.sampled_from([Decimal(1), Decimal(5), Decimal(20)]),
                                available=st.sampled_from([0, 3])), min_size=1, max_size=3),
), min_size=1, max_size=8)

FILTER_VALUES = ["NM", "nm", "b", "a=b", "x\x1fy", 'say "hi"', "true", "false", "1", "-1",
                 "1.5", "zzz"]
COLUMNS = ["status", "product_type", "vendor", "category"]
EVERY_FIELD = [f"attr.{name}" for name in NAMES] + ["tag", *COLUMNS]


def _filters(present: list[tuple[str, str]]) -> st.SearchStrategy[ProductFilters]:
    """Filters of every kind, their attribute names and values mostly ones the catalog has
    (``present``: its (field, value) pairs), so that they select some products."""
    attributes = [(field[5:], value) for field, value in present if field.startswith("attr.")]
    name = st.sampled_from(NAMES)
    value = st.sampled_from(FILTER_VALUES)
    if attributes:
        name = st.sampled_from([n for n, _ in attributes]) | name
        value = st.sampled_from([v for _, v in attributes]) | value
    facets = st.fixed_dictionaries({}, optional={
        "tag": st.sampled_from(TAGS[:3]),
        "attributes": st.dictionaries(name, st.lists(value, min_size=1, max_size=2,
                                                     unique=True), min_size=1, max_size=2)})
    # half the time none of the others: tag and attribute filters alone are counted another way
    others = st.just({}) | st.fixed_dictionaries({}, optional={
        "product_type": st.sampled_from(["free-a", "free-b"]),
        "category": st.sampled_from(["cat-a", "cat-b"]),
        "collection": st.sampled_from(["col-a", "col-b"]),
        "status": st.sampled_from(["draft", "active"]),
        "vendor": st.sampled_from(["Acme", "Zed"]),
        "q": st.sampled_from(["alp", "bet gam", "zzz"]),
        "price_min": st.just(Decimal(5)),
        "price_max": st.just(Decimal(5)),
        "in_stock": st.booleans(),
        "channel": st.sampled_from(["web", "pos"])})
    return st.builds(lambda a, b: ProductFilters(**a, **b), facets, others)


def _fields(present: list[tuple[str, str]]) -> st.SearchStrategy[list[str]]:
    """Fields to count, mostly ones the catalog has."""
    had = sorted({field for field, _ in present}) + COLUMNS
    return st.lists(st.sampled_from(had) | st.sampled_from(EVERY_FIELD), min_size=1,
                    max_size=6, unique=True)


def _text(value: Any) -> str | None:
    """What ``attr.<name>=`` takes for a value (docs/catalog.md), or None: not a facet."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return json.dumps(value)
    if isinstance(value, str) and 0 < len(value) <= 200:
        return value
    return None


def _facets(product: ProductSpec) -> set[tuple[str, str]]:
    pairs = {("tag", tag) for tag in product.tags if 0 < len(tag) <= 200}
    for attributes in [product.attributes, *(v.attributes for v in product.variants)]:
        for name, value in attributes.items():
            for item in value if isinstance(value, list) else [value]:
                text = _text(item)
                if len(name) <= 90 and text is not None:
                    pairs.add((f"attr.{name}", text))
    return pairs


def _selected(product: ProductSpec, f: ProductFilters) -> bool:
    facets = _facets(product)
    priced = [v for v in product.variants
              if (f.price_min is None or v.price >= f.price_min)
              and (f.price_max is None or v.price <= f.price_max)]
    return all([
        f.product_type is None or product.product_type == f.product_type,
        f.category is None or product.category == f.category,
        f.collection is None or f.collection in product.collections,
        f.status is None or product.status == f.status,
        f.vendor is None or product.vendor == f.vendor,
        f.channel is None or product.channels is None or f.channel in product.channels,
        f.tag is None or ("tag", f.tag) in facets,
        all(any((f"attr.{name}", v) in facets for v in values)
            for name, values in f.attributes.items()),
        (f.price_min is None and f.price_max is None) or bool(priced),
        f.in_stock is None or any(v.available > 0 for v in product.variants) == f.in_stock,
        f.q is None or all(any(word.startswith(term) for word in product.title.split())
                           for term in f.q.split()),
    ])


def _expected(products: list[ProductSpec], f: ProductFilters,
              fields: list[str]) -> dict[str, list[dict[str, Any]]]:
    chosen = [p for p in products if _selected(p, f)]
    expected = {}
    for field in fields:
        if field in ("status", "product_type", "vendor", "category"):
            counted = Counter(getattr(p, field) for p in chosen
                              if getattr(p, field) is not None)
        else:
            counted = Counter(value for p in chosen for name, value in _facets(p)
                              if name == field)
        top = sorted(counted.items(), key=lambda pair: (-pair[1], str(pair[0])))[:FACET_LIMIT]
        expected[field] = [{"value": value, "count": count} for value, count in top]
    return expected


def _catalog_parts(db: Database, org: Org) -> None:
    with db.transaction(tenant=org.id) as session:
        if session.scalar(select(ProductType.id).where(ProductType.slug == "free-a")):
            return
        for slug in ("free-a", "free-b"):
            create_product_type(session, ProductTypeCreate(name=slug, slug=slug))
        for slug in ("cat-a", "cat-b"):
            create_category(session, CategoryCreate(name=slug, slug=slug))
        for slug in ("col-a", "col-b"):
            create_collection(session, CollectionCreate(name=slug, slug=slug))


def _replace_catalog(db: Database, org: Org, products: list[ProductSpec]) -> None:
    _catalog_parts(db, org)
    with db.transaction(tenant=org.id) as session:
        session.execute(delete(Product))  # the derived rows go with them (ON DELETE CASCADE)
    with db.transaction(tenant=org.id) as session:
        stock = {}
        for i, p in enumerate(products):
            created = create_product(session, ProductCreate(
                title=p.title, product_type=p.product_type, status=p.status, vendor=p.vendor,
                category=p.category, collections=p.collections, channels=p.channels,
                tags=p.tags, attributes=p.attributes, variants=[
                    VariantIn(sku=f"s{i}-{j}", price=v.price, attributes=v.attributes)
                    for j, v in enumerate(p.variants)]))
            session.flush()
            stock.update({variant.id: spec.available
                          for variant, spec in zip(created.variants, p.variants, strict=True)})
        set_available(session, stock)


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_facet_counts_equal_a_count_of_the_products_own_values(
    db: Database, org: Org, other_org: Org, data: st.DataObject
) -> None:
    """Per value, the products that have it (their own or a variant's attribute, or a tag)
    among those the filters select, each once; attribute filters are any of their values
    and all of the attributes; another organization's products never count."""
    products = data.draw(PRODUCTS, label="products")
    present = sorted({pair for product in products for pair in _facets(product)})
    filters = data.draw(_filters(present), label="filters")
    fields = data.draw(_fields(present), label="fields")
    _catalog_parts(db, other_org)
    with db.session(tenant=other_org.id) as session:
        others = session.scalar(select(Product.id).limit(1))
    if others is None:
        _replace_catalog(db, other_org, [ProductSpec(
            "alpha beta", "free-a", "active", "Acme", "cat-a", ["col-a"], None, TAGS[:3],
            dict.fromkeys(NAMES, TEXTS[:6]), [VariantSpec({"game": 1}, Decimal(5), 3)])])
    _replace_catalog(db, org, products)
    with db.session(write=False, tenant=org.id) as session:
        assert facet_counts(session, filters, fields) == _expected(products, filters, fields)


def test_every_product_has_its_facets_in_one_row(db: Database, org: Org) -> None:
    """The row counts read: each field's values, sorted, once each, as the facet rows have
    them; an edit rewrites it, and a product without facets has an empty one."""
    spec = ProductSpec("alpha", "free-a", "draft", None, None, [], None, ["t1", "a=b"],
                       {"a": ["b", "NM", "b"], "n" * 91: "long name"},
                       [VariantSpec({"a": "a=b", "game": 2}, Decimal(1), 0),
                        VariantSpec({"a": "NM", "game": True}, Decimal(1), 0)])
    bare = ProductSpec("beta", "free-b", "draft", None, None, [], None, [], {},
                       [VariantSpec({}, Decimal(1), 0)])
    _replace_catalog(db, org, [spec, bare])
    with db.session(write=False, tenant=org.id) as session:
        rows: dict[str, dict[str, Any]] = dict(session.execute(
            select(Product.title, ProductFacetSet.facets)
            .join(ProductFacetSet, ProductFacetSet.product_id == Product.id)).all())
    assert rows == {"alpha": {"tag": ["a=b", "t1"], "attr.a": ["NM", "a=b", "b"],
                              "attr.game": ["2", "true"]},
                    "beta": {}}
