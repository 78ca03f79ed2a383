from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column, relationship

from mercato.core.db import Base, BigIntPK, TenantMixin, utcnow
from mercato.core.ids import new_id
from mercato.core.mixins import Timestamps, Versioned

PRICE = Numeric(12, 2)
NULLABLE_JSON = JSON(none_as_null=True).with_variant(JSONB(none_as_null=True), "postgresql")
"""JSON where Python ``None`` is SQL NULL (the default type writes the JSON text ``null``), so
``IS NULL`` finds it."""


class ProductType(Timestamps, Versioned, TenantMixin, Base):
    """A kind of product whose attributes are described, per organization, by JSON Schema."""

    __tablename__ = "product_types"
    __table_args__ = (UniqueConstraint("organization_id", "slug"),)

    id: Mapped[str] = mapped_column(String(26), primary_key=True, default=new_id)
    slug: Mapped[str] = mapped_column(String(100))
    name: Mapped[str] = mapped_column(String(200))
    attributes_schema: Mapped[dict[str, Any]]
    variant_attributes_schema: Mapped[dict[str, Any]]
    serialized: Mapped[bool] = mapped_column(Boolean, default=False)
    digital: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    """Digital goods (keys, downloads): delivered by ``mercato.digital`` once paid, never
    shipped; a cart of digital goods only needs no address nor shipping method."""
    private_attributes: Mapped[list[str]] = mapped_column(default=list)
    """Attribute names marked ``"x-private": true`` in either schema (kept from the schemas
    when they are saved): shown to staff only, never on the storefront, its search or
    facets."""


class Category(TenantMixin, Base):
    __tablename__ = "categories"
    __table_args__ = (UniqueConstraint("organization_id", "slug"),)

    id: Mapped[str] = mapped_column(String(26), primary_key=True, default=new_id)
    slug: Mapped[str] = mapped_column(String(100))
    name: Mapped[str] = mapped_column(String(200))
    parent_id: Mapped[str | None] = mapped_column(
        String(26), ForeignKey("categories.id", ondelete="RESTRICT"), index=True
    )
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Product(Timestamps, Versioned, TenantMixin, Base):
    __tablename__ = "products"
    __table_args__ = (
        UniqueConstraint("organization_id", "slug"),
        Index("ix_products_org_created", "organization_id", "created_at", "id"),
        Index("ix_products_org_updated", "organization_id", "updated_at", "id"),
        Index("ix_products_org_title", "organization_id", "title", "id"),
        Index("ix_products_org_type", "organization_id", "product_type_id"),
        Index("ix_products_org_price", "organization_id", "min_price", "id"),
        # the storefront lists only active products: these walk them in its sort orders
        Index("ix_products_org_status_created", "organization_id", "status", "created_at", "id"),
        Index("ix_products_org_status_title", "organization_id", "status", "title", "id"),
        Index("ix_products_org_status_price", "organization_id", "status", "min_price", "id"),
    )

    id: Mapped[str] = mapped_column(String(26), primary_key=True, default=new_id)
    product_type_id: Mapped[str] = mapped_column(
        String(26), ForeignKey("product_types.id", ondelete="RESTRICT")
    )
    title: Mapped[str] = mapped_column(String(500))
    slug: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(16), default="draft")
    vendor: Mapped[str | None] = mapped_column(String(200))
    category_id: Mapped[str | None] = mapped_column(
        String(26), ForeignKey("categories.id", ondelete="SET NULL"), index=True
    )
    tags: Mapped[list[str]]
    media: Mapped[list[dict[str, Any]]]
    attributes: Mapped[dict[str, Any]]
    channels: Mapped[list[str] | None] = mapped_column(NULLABLE_JSON)
    """Channel kinds the product is published on (``web``, ``pos``, ...); NULL: every one."""
    min_price: Mapped[Decimal | None] = mapped_column(PRICE)
    """Lowest variant price, kept by the search index (catalog/index.py) for price sorting."""
    max_price: Mapped[Decimal | None] = mapped_column(PRICE)

    collection_links: Mapped[list[ProductCollection]] = relationship(
        cascade="all, delete-orphan", lazy="selectin")
    variants: Mapped[list[Variant]] = relationship(
        back_populates="product", cascade="all, delete-orphan", order_by="Variant.position",
        lazy="selectin",
    )

    @property
    def collections(self) -> list[str]:
        """Slugs of the collections the product is in."""
        return sorted(link.collection.slug for link in self.collection_links)


class Variant(Timestamps, Versioned, TenantMixin, Base):
    __tablename__ = "variants"
    __table_args__ = (
        UniqueConstraint("organization_id", "sku"),
        UniqueConstraint("organization_id", "barcode"),
        Index("ix_variants_product_price", "product_id", "price"),
    )

    id: Mapped[str] = mapped_column(String(26), primary_key=True, default=new_id)
    product_id: Mapped[str] = mapped_column(
        String(26), ForeignKey("products.id", ondelete="CASCADE"), index=True
    )
    sku: Mapped[str] = mapped_column(String(100))
    barcode: Mapped[str | None] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(String(500), default="")
    price: Mapped[Decimal] = mapped_column(PRICE)
    compare_at_price: Mapped[Decimal | None] = mapped_column(PRICE)
    cost: Mapped[Decimal | None] = mapped_column(PRICE)
    currency: Mapped[str] = mapped_column(String(3), default="USD")
    weight_grams: Mapped[int | None] = mapped_column(Integer)
    attributes: Mapped[dict[str, Any]]
    position: Mapped[int] = mapped_column(Integer, default=0)
    available: Mapped[int] = mapped_column(Integer, default=0)
    """Units available to sell over all locations; inventory keeps it, listings filter on it."""
    archived_at: Mapped[dt.datetime | None]
    """When the variant stopped being sold (NULL: live). Kept rather than deleted because
    orders, the stock ledger and channel mappings refer to it; nothing new may sell it."""

    product: Mapped[Product] = relationship(back_populates="variants")


class Collection(TenantMixin, Base):
    """A hand-picked group of products (\"Commander staples\", \"New arrivals\")."""

    __tablename__ = "collections"
    __table_args__ = (UniqueConstraint("organization_id", "slug"),)

    id: Mapped[str] = mapped_column(String(26), primary_key=True, default=new_id)
    slug: Mapped[str] = mapped_column(String(100))
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class ProductCollection(TenantMixin, Base):
    __tablename__ = "product_collections"
    __audited__ = False  # the product's own audit entry records its collections
    __table_args__ = (Index("ix_product_collections_collection", "collection_id", "product_id"),)

    product_id: Mapped[str] = mapped_column(
        String(26), ForeignKey("products.id", ondelete="CASCADE"), primary_key=True)
    collection_id: Mapped[str] = mapped_column(
        String(26), ForeignKey("collections.id", ondelete="CASCADE"), primary_key=True)

    collection: Mapped[Collection] = relationship(lazy="joined")


class ProductFacet(TenantMixin, Base):
    """One filterable value of a product (its own or a variant's attribute, or a tag).

    Derived from products and variants by ``catalog/index.py``; a B-tree over (organization,
    field, value) serves ``attr.<name>=`` filters and facet counts the same way on both
    databases, where JSON containment would need a different index on each.
    """

    __tablename__ = "product_facets"
    __audited__ = False
    __table_args__ = (
        Index("ix_product_facets_lookup", "organization_id", "field", "value", "product_id"),
    )

    organization_id: Mapped[str] = mapped_column(  # the lookup index leads with it already
        String(26), ForeignKey("organizations.id", ondelete="CASCADE"))
    product_id: Mapped[str] = mapped_column(
        String(26), ForeignKey("products.id", ondelete="CASCADE"), primary_key=True)
    field: Mapped[str] = mapped_column(String(100), primary_key=True)
    value: Mapped[str] = mapped_column(String(200), primary_key=True)


class ProductFacetSet(TenantMixin, Base):
    """Every facet of a product in one row, ``{field: [value, ...]}`` (the same pairs as its
    ``product_facets`` rows, values sorted), which facet counts read.

    Counting from the facet rows visited every row of each matching product (14 for a card,
    to keep 7) through the primary key; this row is read once per product, and products with
    the same values of a field are counted together before their values are expanded
    (``service.facet_counts``). A JSON object keyed by field needs no separator that a name
    could contain. No JSON index: PostgreSQL cannot use one under row-level security (JSON
    containment is not leakproof), and the facet lookup index serves the filters.
    """

    __tablename__ = "product_facet_sets"
    __audited__ = False
    __table_args__ = {"sqlite_with_rowid": False}  # read by key: the row is in the key's B-tree

    product_id: Mapped[str] = mapped_column(
        String(26), ForeignKey("products.id", ondelete="CASCADE"), primary_key=True)
    facets: Mapped[dict[str, Any]]


class ProductListing(TenantMixin, Base):
    """A product as the API shows it (``ProductOut`` JSON, with its variants and collections),
    rendered when it changes: a listing page is then one indexed read of 50 short texts that
    go into the response as they are, where building it from rows cost ~15 ms of Python."""

    __tablename__ = "product_listings"
    __audited__ = False

    organization_id: Mapped[str] = mapped_column(  # read by primary key, never by tenant
        String(26), ForeignKey("organizations.id", ondelete="CASCADE"))
    product_id: Mapped[str] = mapped_column(
        String(26), ForeignKey("products.id", ondelete="CASCADE"), primary_key=True)
    body: Mapped[str] = mapped_column(Text)


class ProductSearch(TenantMixin, Base):
    """The text a product is found by: title, vendor, SKUs, barcodes, text attributes.

    PostgreSQL adds a generated ``tsv`` column with a GIN index; SQLite keeps an FTS5 index
    over ``document`` in step by triggers (migration 0003). The integer key gives FTS5 a
    stable rowid. On PostgreSQL only its writes are under a tenant policy (migration 0005):
    reads go through ``products``.
    """

    __tablename__ = "product_search"
    __audited__ = False

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    product_id: Mapped[str] = mapped_column(
        String(26), ForeignKey("products.id", ondelete="CASCADE"), unique=True)
    document: Mapped[str] = mapped_column(Text)


class ImportJob(TenantMixin, Base):
    """A CSV upload being applied in the background, batch by batch.

    ``rows_done`` advances in the same transaction as each batch's writes, so a job that is
    picked up again after a crash resumes where it stopped and applies no batch twice.
    """

    __tablename__ = "import_jobs"
    __audited__ = False

    id: Mapped[str] = mapped_column(String(26), primary_key=True, default=new_id)
    kind: Mapped[str] = mapped_column(String(32), default="products")
    format: Mapped[str] = mapped_column(String(32))
    filename: Mapped[str] = mapped_column(String(300), default="")
    dry_run: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(32), default="queued", index=True)
    rows_total: Mapped[int] = mapped_column(Integer, default=0)
    rows_done: Mapped[int] = mapped_column(Integer, default=0)
    created: Mapped[int] = mapped_column(Integer, default=0)
    updated: Mapped[int] = mapped_column(Integer, default=0)
    unchanged: Mapped[int] = mapped_column(Integer, default=0)
    failed: Mapped[int] = mapped_column(Integer, default=0)
    products_created: Mapped[int] = mapped_column(Integer, default=0)
    warnings: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    location_id: Mapped[str | None] = mapped_column(String(26), doc=(
        "Where a TCGplayer file's quantities go (inventory's location; no foreign key: "
        "catalog does not own it)."))
    adds_skipped: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false(),
                                               doc="The same file was imported at this "
                                                   "location before: Add to Quantity is not "
                                                   "applied again.")
    message: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[str | None] = mapped_column(String(26))
    lease_until: Mapped[dt.datetime | None]
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    started_at: Mapped[dt.datetime | None]
    finished_at: Mapped[dt.datetime | None]


class ImportContent(TenantMixin, Base):
    """An import job's uploaded file, apart from the job's row: every batch updates that row,
    and SQLite rewrites a whole row on update, file included (25 ms for 13 MB, twice a batch)."""

    __tablename__ = "import_contents"
    __audited__ = False

    job_id: Mapped[str] = mapped_column(
        String(26), ForeignKey("import_jobs.id", ondelete="CASCADE"), primary_key=True)
    content: Mapped[bytes] = mapped_column(LargeBinary)


class ImportRowError(TenantMixin, Base):
    __tablename__ = "import_row_errors"
    __audited__ = False
    __table_args__ = (Index("ix_import_row_errors_job", "job_id", "line", "id"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    job_id: Mapped[str] = mapped_column(String(26), ForeignKey("import_jobs.id",
                                                               ondelete="CASCADE"))
    line: Mapped[int] = mapped_column(Integer)
    sku: Mapped[str | None] = mapped_column(String(100))
    field: Mapped[str] = mapped_column(String(200))
    message: Mapped[str] = mapped_column(Text)
    severity: Mapped[str] = mapped_column(String(16), default="error", server_default="error",
                                          doc="``error``: the row was not imported; "
                                              "``warning``: it was, with what it says kept.")
