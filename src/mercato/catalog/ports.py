"""What catalog asks of modules above it, through ports (``core.ports``): they provide the
answer when imported, so catalog never imports them.

- ``units_for_sale(session, variant_ids)``: units of each variant the storefront may sell now,
  exact at the moment of the call (provided by inventory: the web sales channel's
  available-to-sell, expired holds not counted). The storefront listing reads it per page.
- ``has_purchased(session, customer_id, variant_ids)``: whether the customer has an order (not
  cancelled) with a line of one of these variants (provided by orders), for verified-purchase
  reviews.
"""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy.orm import Session

from mercato.core.ports import Port

units_for_sale: Port[[Session, list[str]], dict[str, int]] = Port(
    "catalog.ports.units_for_sale", "mercato.inventory")
has_purchased: Port[[Session, str, Collection[str]], bool] = Port(
    "catalog.ports.has_purchased", "mercato.orders")
