"""What shoppers see of the catalog: published products, their prices and whether they can be
bought now. No cost, barcode, status, channels or stock per location: those are the shop's."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from mercato.catalog.schemas import FacetValue, Media
from mercato.core.money import Money


class PriceRange(BaseModel):
    min: Money
    max: Money
    currency: str


class StoreVariant(BaseModel):
    id: str
    sku: str
    title: str = Field(description="The option combination as a name (\"NM / Foil\").")
    attributes: dict[str, Any] = Field(description="The variant's options (condition, finish, "
                                       "language...).")
    price: Money
    compare_at_price: Money | None
    currency: str
    available: int = Field(description="Units the web channel can sell now, at most "
                           "`MAX_SHOWN_AVAILABLE` (100): a larger stock shows as 100.")
    purchasable: bool = Field(description="At least one unit can be bought now.")


class StoreProduct(BaseModel):
    id: str
    slug: str
    title: str
    description: str
    vendor: str | None
    product_type: str | None = Field(description="Product type slug.")
    category: str | None = Field(description="Category slug.")
    tags: list[str]
    collections: list[str] = Field(description="Collection slugs.")
    media: list[Media]
    attributes: dict[str, Any]
    price_range: PriceRange | None = Field(
        description="Lowest and highest variant price (in the first variant's currency).")
    compare_at_price_range: PriceRange | None = Field(
        description="Lowest and highest compare-at price, when some variant has one.")
    purchasable: bool = Field(description="Some variant can be bought now.")
    variants: list[StoreVariant]


class StorePage(BaseModel):
    data: list[StoreProduct]
    next_cursor: str | None
    facets: dict[str, list[FacetValue]] | None = Field(
        default=None, description="Only when `facets=` was asked for.")
