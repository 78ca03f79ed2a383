from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from mercato.core.money import MAX_AMOUNT, Money
from mercato.core.pagination import PageQuery

Status = Literal["draft", "active", "archived"]
ChannelKind = Literal["web", "pos", "shopify", "tcgplayer", "ebay", "amazon", "shopee", "tiktok"]
"""Channel kinds a product can be published on (``web`` is the storefront)."""
CHANNELS_DESCRIPTION = ("Channel kinds the product is published on (`web` is the storefront); "
                        "`null` (the default): every channel; `[]`: none.")
SLUG = r"^[a-z0-9](?:[a-z0-9-]{0,98}[a-z0-9])?$"
MAX_WEIGHT_GRAMS = 2**31 - 1
"""``weight_grams`` is a 32-bit integer column."""


class ListingQuery(BaseModel):
    """The filters the admin listing and the storefront share, as query parameters
    (``core.query``); ``attr.<name>=`` comes beside them. Field names are
    ``ProductFilters``'s (``filter_values``)."""

    q: str | None = Field(None, max_length=200, description="Words (prefixes) of the title, "
                          "vendor, SKU, barcode or text attributes.")
    product_type: str | None = Field(None, description="Type slug or id.")
    category: str | None = Field(None, description="Category slug or id (with subcategories).")
    collection: str | None = Field(None, description="Collection slug or id.")
    tag: str | None = Field(None, max_length=100)
    vendor: str | None = Field(None, max_length=200)
    price_min: Decimal | None = Field(None, ge=0, le=MAX_AMOUNT,
                                      description="Some variant costs at least.")
    price_max: Decimal | None = Field(None, ge=0, le=MAX_AMOUNT,
                                      description="Some variant costs at most.")
    in_stock: bool | None = Field(None, description="Some variant is available to sell.")

    def filter_values(self) -> dict[str, Any]:
        """The filters by name (without a page query's ``limit`` and ``cursor``)."""
        return {name: getattr(self, name) for name in type(self).model_fields
                if name not in PageQuery.model_fields}


StoreSort = Literal["created", "-created", "title", "-title", "price", "-price"]


class StoreQuery(ListingQuery):
    """The storefront's filters (the API's and the pages'): the shared ones and the shopper's
    sorts (status and channel are fixed: ``store.published_filters``)."""

    in_stock: bool | None = Field(None, description="Some variant has units in stock.")
    sort: StoreSort = Field("-created", description="`price` is the lowest variant price.")


class StorePageQuery(StoreQuery, PageQuery):
    """The storefront's filters and page, validated together: a 422 names every bad one."""


Sort = Literal["created", "-created", "updated", "-updated", "title", "-title", "price",
               "-price"]


class ProductQuery(ListingQuery):
    """The admin listing's filters: the shared ones, status, channel and every sort."""

    status: Status | None = None
    channel: ChannelKind | None = Field(None, description="Published on this channel kind "
                                        "(`channels` lists it or is null).")
    sort: Sort = "-created"


class ExportQuery(ListingQuery):
    """An export's filters: the listing's but ``channel``, which on an export names the sales
    channel whose numbers a TCGplayer file carries (a channel id, not a kind)."""

    status: Status | None = None
    sort: Sort = "-created"


class ProductPageQuery(ProductQuery, PageQuery):
    """The listing's filters and page, validated together: a 422 names every bad one."""


class ProductTypeCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200)
    slug: str = Field(pattern=SLUG)
    attributes_schema: dict[str, Any] = Field(
        default_factory=lambda: {"type": "object"},
        description="JSON Schema (2020-12) for product attributes; must describe an object.")
    variant_attributes_schema: dict[str, Any] = Field(
        default_factory=lambda: {"type": "object"},
        description="JSON Schema (2020-12) for variant attributes.")
    serialized: bool = Field(default=False, description="One-of-a-kind items: never more than "
                             "one unit per variant (graded slabs).")
    digital: bool = Field(default=False, description="Digital goods (licence keys, downloads): "
                          "delivered once paid, never shipped (docs/digital.md).")


class ProductTypeUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(default=None, min_length=1, max_length=200)
    attributes_schema: dict[str, Any] | None = None
    variant_attributes_schema: dict[str, Any] | None = None
    digital: bool | None = None


class ProductTypeOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    slug: str
    name: str
    attributes_schema: dict[str, Any]
    variant_attributes_schema: dict[str, Any]
    serialized: bool
    digital: bool
    private_attributes: list[str] = Field(description="Attributes marked \"x-private\": true "
                                          "in either schema: never shown to shoppers.")
    created_at: dt.datetime
    updated_at: dt.datetime


class InstallTypeSet(BaseModel):
    model_config = ConfigDict(extra="forbid")
    set: Literal["tcg"] = "tcg"


class CategoryCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200)
    slug: str = Field(pattern=SLUG)
    parent: str | None = Field(default=None, description="Parent category id or slug.")


class CategoryUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(default=None, min_length=1, max_length=200)
    slug: str | None = Field(default=None, pattern=SLUG)
    parent: str | None = Field(default=None, description=(
        "Parent category id or slug; null moves the category to the top level."))


class CategoryOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    slug: str
    name: str
    parent_id: str | None
    created_at: dt.datetime


class CollectionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200)
    slug: str = Field(pattern=SLUG)
    description: str = Field(default="", max_length=10_000)


class CollectionUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(default=None, min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=10_000)


class CollectionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    slug: str
    name: str
    description: str
    created_at: dt.datetime


class Media(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: str = Field(min_length=1, max_length=2000, pattern=r"^https?://")
    alt: str = Field(default="", max_length=500)
    position: int = Field(default=0, ge=0)


class VariantIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    sku: str = Field(min_length=1, max_length=100, pattern=r"^\S(.*\S)?$")
    barcode: str | None = Field(default=None, min_length=1, max_length=64)
    title: str = Field(default="", max_length=500)
    price: Money
    compare_at_price: Money | None = None
    cost: Money | None = None
    currency: str = Field(default="USD", pattern=r"^[A-Z]{3}$")
    weight_grams: int | None = Field(default=None, ge=0, le=MAX_WEIGHT_GRAMS)
    attributes: dict[str, Any] = Field(default_factory=dict)


class VariantUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    sku: str | None = Field(default=None, min_length=1, max_length=100, pattern=r"^\S(.*\S)?$")
    barcode: str | None = Field(default=None, min_length=1, max_length=64)
    title: str | None = Field(default=None, max_length=500)
    price: Money | None = None
    compare_at_price: Money | None = None
    cost: Money | None = None
    currency: str | None = Field(default=None, pattern=r"^[A-Z]{3}$")
    weight_grams: int | None = Field(default=None, ge=0, le=MAX_WEIGHT_GRAMS)
    attributes: dict[str, Any] | None = None


class VariantOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    product_id: str
    sku: str
    barcode: str | None
    title: str
    price: Money
    compare_at_price: Money | None
    cost: Money | None
    currency: str
    weight_grams: int | None
    attributes: dict[str, Any]
    position: int
    available: int = Field(description="Units available to sell over all locations.")
    archived_at: dt.datetime | None = Field(
        default=None, description="When the variant was archived (no longer sold anywhere); "
        "null while it is live.")
    created_at: dt.datetime
    updated_at: dt.datetime


class ProductCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: str = Field(min_length=1, max_length=500)
    product_type: str = Field(description="Product type slug or id.")
    slug: str | None = Field(default=None, pattern=SLUG)
    description: str = Field(default="", max_length=100_000)
    status: Status = "draft"
    vendor: str | None = Field(default=None, max_length=200)
    category: str | None = Field(default=None, description="Category id or slug.")
    tags: list[str] = Field(default_factory=list, max_length=100)
    collections: list[str] = Field(default_factory=list, max_length=100,
                                   description="Collection slugs or ids.")
    media: list[Media] = Field(default_factory=list, max_length=50)
    attributes: dict[str, Any] = Field(default_factory=dict)
    channels: list[ChannelKind] | None = Field(default=None, max_length=20,
                                               description=CHANNELS_DESCRIPTION)
    variants: list[VariantIn] = Field(min_length=1, max_length=500)


class ProductUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: str | None = Field(default=None, min_length=1, max_length=500)
    slug: str | None = Field(default=None, pattern=SLUG)
    description: str | None = Field(default=None, max_length=100_000)
    status: Status | None = None
    vendor: str | None = Field(default=None, max_length=200)
    category: str | None = None
    tags: list[str] | None = Field(default=None, max_length=100)
    collections: list[str] | None = Field(default=None, max_length=100)
    media: list[Media] | None = Field(default=None, max_length=50)
    attributes: dict[str, Any] | None = None
    channels: list[ChannelKind] | None = Field(
        default=None, max_length=20,
        description=CHANNELS_DESCRIPTION + " Omit it to leave the channels as they are.")


class ProductOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    product_type_id: str
    title: str
    slug: str
    description: str
    status: Status
    vendor: str | None
    category_id: str | None
    tags: list[str]
    collections: list[str] = Field(description="Collection slugs.")
    media: list[Media]
    attributes: dict[str, Any]
    channels: list[str] | None = Field(description=CHANNELS_DESCRIPTION)
    variants: list[VariantOut]
    created_at: dt.datetime
    updated_at: dt.datetime


class FacetValue(BaseModel):
    value: Any
    count: int


class Facets(BaseModel):
    facets: dict[str, list[FacetValue]]


class ImportRowErrorOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    line: int = Field(description="Line of the file the row starts on (the header is line 1).")
    sku: str | None
    field: str = Field(description="Column the error is about (empty: the whole row).")
    message: str
    severity: Literal["error", "warning"] = Field(
        default="error", description="`error`: the row was not imported; `warning`: it was, "
        "keeping a value Mercato does not know (an unknown rarity, condition or game).")


class ImportJobOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    kind: str
    format: str
    filename: str
    dry_run: bool
    status: Literal["queued", "running", "succeeded", "completed_with_errors", "failed"] = Field(
        description="`succeeded`: every row applied; `completed_with_errors`: the file was read "
        "to the end and the rows in `errors` were skipped; `failed`: the job stopped.")
    rows_total: int
    rows_done: int
    created: int = Field(description="Variant rows that created a variant.")
    updated: int
    unchanged: int
    failed: int
    products_created: int
    warnings: int = Field(default=0, description="Notes on imported rows (severity "
                          "`warning` in `errors`).")
    location_id: str | None = Field(default=None, description="Where a TCGplayer file's "
                                    "Total Quantity and Add to Quantity go.")
    adds_skipped: bool = Field(default=False, description="The same file was imported at "
                               "this location before: its Add to Quantity is not added again.")
    message: str
    created_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    errors: list[ImportRowErrorOut] = Field(
        default_factory=list, description="The first 100 row errors; all of them at "
        "`/api/v1/imports/{id}/errors`.")
