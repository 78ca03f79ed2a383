"""Catalog: product types defined at run time (JSON Schema attributes), products, variants,
categories, collections, the listing and facet read model, CSV imports and reviews.

This package is catalog's face: other modules import what they use from here (or from
``catalog.service``, and ``catalog.ports`` for the ports catalog declares), never its
``models``, ``schemas`` module or internals. Reads return plain data.

- What a SKU is: ``stock_items`` / ``StockItem`` (inventory), ``sale_items`` / ``SaleItem``
  (orders, carts).
- Fed by inventory: ``set_available`` (units available, what ``in_stock`` filters on),
  ``set_costs`` (moving-average costs after a receipt).
- Reads for other modules (``reads``): ``variant_facts`` / ``VariantFacts`` and
  ``category_ids_under`` (pricing scopes), ``published_products`` and ``variant_prices``
  (connectors' exports), ``product_type_id``, ``variants_matching`` (a search box's
  variants, as a subquery of ids), ``sku_for_code`` (the SKU a scanned SKU or barcode
  names).
- Writes: ``create_product`` / ``ProductCreate`` / ``VariantIn``, ``create_product_type`` /
  ``ProductTypeCreate``, ``install_type_set``; ``import_rows`` with ``SourceRow`` and
  ``join_list`` (rows upserted by SKU as a CSV import would; ``BatchResult``).
- ``export_rows``: the catalog (or what ``service.filter_conditions`` selects) as CSV
  chunks, the API's export and the admin's.
- The storefront (the API's ``/store/v1`` and the pages' ``/s``): ``published_filters``,
  ``facet_fields``, ``list_published``, ``get_published``, ``published_count`` and
  ``published_slugs`` (sitemaps) (``store``); approved reviews as
  shoppers see them, ``approved_reviews`` and ``rating_summary`` (``reviews``); a signed-in
  customer's review, ``create_review`` / ``ReviewIn`` (pending until moderated) of
  ``published_product_id``.
- Market prices (``market``): ``record_market_prices`` / ``MarketQuote`` (a marketplace's
  low, mid, market and direct low of variants, kept as history; written by a connector's
  price pull), ``latest_market_prices`` (the latest per variant, what a price rule or the API
  reads) and ``market_price_history``.
- ``card_variants`` / ``CardVariant``: live variants with their products' attributes (game,
  set, collector number; condition, finish, language), what a marketplace connector links
  cards by.
- ``slugify``.
- CSV imports (the admin's pages): ``check_import_file`` / ``CsvLimits`` / ``CsvFormatError``,
  ``create_import_job``, ``get_import_job``, ``import_job_errors``, ``import_error_page``,
  ``list_import_jobs``, ``import_failed_rows``, ``apply_import_dry_run``.
"""

from __future__ import annotations

from mercato.catalog.csvio import CsvFormatError, CsvLimits, SourceRow, join_list
from mercato.catalog.imports import BatchResult, export_rows
from mercato.catalog.imports import apply_dry_run as apply_import_dry_run
from mercato.catalog.imports import check_file as check_import_file
from mercato.catalog.imports import create_job as create_import_job
from mercato.catalog.imports import error_page as import_error_page
from mercato.catalog.imports import failed_rows as import_failed_rows
from mercato.catalog.imports import get_job as get_import_job
from mercato.catalog.imports import job_errors as import_job_errors
from mercato.catalog.imports import list_jobs as list_import_jobs
from mercato.catalog.market import (
    MarketQuote,
    latest_market_prices,
    market_price_history,
    record_market_prices,
)
from mercato.catalog.reads import (
    CardVariant,
    PublishedProduct,
    PublishedVariant,
    VariantFacts,
    VariantPrice,
    card_variants,
    category_ids_under,
    import_rows,
    product_type_id,
    published_products,
    sku_for_code,
    variant_facts,
    variant_prices,
    variants_matching,
)
from mercato.catalog.reviews.schemas import ReviewIn
from mercato.catalog.reviews.service import (
    approved_reviews,
    create_review,
    published_product_id,
    rating_summary,
)
from mercato.catalog.schemas import ProductCreate, ProductTypeCreate, VariantIn
from mercato.catalog.service import (
    SaleItem,
    StockItem,
    create_product,
    create_product_type,
    install_type_set,
    sale_items,
    set_available,
    set_costs,
    slugify,
    stock_items,
)
from mercato.catalog.store import (
    SITEMAP_LIMIT,
    facet_fields,
    get_published,
    list_published,
    published_count,
    published_filters,
    published_slugs,
)

__all__ = [
    "SITEMAP_LIMIT",
    "BatchResult",
    "CardVariant",
    "CsvFormatError",
    "CsvLimits",
    "MarketQuote",
    "ProductCreate",
    "ProductTypeCreate",
    "PublishedProduct",
    "PublishedVariant",
    "ReviewIn",
    "SaleItem",
    "SourceRow",
    "StockItem",
    "VariantFacts",
    "VariantIn",
    "VariantPrice",
    "apply_import_dry_run",
    "approved_reviews",
    "card_variants",
    "category_ids_under",
    "check_import_file",
    "create_import_job",
    "create_product",
    "create_product_type",
    "create_review",
    "export_rows",
    "facet_fields",
    "get_import_job",
    "get_published",
    "import_error_page",
    "import_failed_rows",
    "import_job_errors",
    "import_rows",
    "install_type_set",
    "join_list",
    "latest_market_prices",
    "list_import_jobs",
    "list_published",
    "market_price_history",
    "product_type_id",
    "published_count",
    "published_filters",
    "published_product_id",
    "published_products",
    "published_slugs",
    "rating_summary",
    "record_market_prices",
    "sale_items",
    "set_available",
    "set_costs",
    "sku_for_code",
    "slugify",
    "stock_items",
    "variant_facts",
    "variant_prices",
    "variants_matching",
]
