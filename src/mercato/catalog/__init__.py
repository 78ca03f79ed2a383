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
  (connectors' exports), ``product_type_id``.
- Writes: ``create_product`` / ``ProductCreate`` / ``VariantIn``, ``create_product_type`` /
  ``ProductTypeCreate``, ``install_type_set``; ``import_rows`` with ``SourceRow`` and
  ``join_list`` (rows upserted by SKU as a CSV import would; ``BatchResult``).
- ``export_rows``: the catalog (or what ``service.filter_conditions`` selects) as CSV
  chunks, the API's export and the admin's.
- ``slugify``.
"""

from __future__ import annotations

from mercato.catalog.csvio import SourceRow, join_list
from mercato.catalog.imports import BatchResult, export_rows
from mercato.catalog.reads import (
    PublishedProduct,
    PublishedVariant,
    VariantFacts,
    VariantPrice,
    category_ids_under,
    import_rows,
    product_type_id,
    published_products,
    variant_facts,
    variant_prices,
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

__all__ = [
    "BatchResult",
    "ProductCreate",
    "ProductTypeCreate",
    "PublishedProduct",
    "PublishedVariant",
    "SaleItem",
    "SourceRow",
    "StockItem",
    "VariantFacts",
    "VariantIn",
    "VariantPrice",
    "category_ids_under",
    "create_product",
    "create_product_type",
    "export_rows",
    "import_rows",
    "install_type_set",
    "join_list",
    "product_type_id",
    "published_products",
    "sale_items",
    "set_available",
    "set_costs",
    "slugify",
    "stock_items",
    "variant_facts",
    "variant_prices",
]
