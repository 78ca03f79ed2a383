"""What catalog asks of modules above it, through ports (``core.ports``): they provide the
answer when imported, so catalog never imports them.

- ``units_for_sale(session, variant_ids)``: units of each variant the storefront may sell now,
  exact at the moment of the call (provided by inventory: the web sales channel's
  available-to-sell, expired holds not counted). The storefront listing reads it per page.
- ``has_purchased(session, customer_id, variant_ids)``: whether the customer has an order (not
  cancelled) with a line of one of these variants (provided by orders), for verified-purchase
  reviews.
- Stock in a TCGplayer inventory file (provided by inventory, which owns stock and what was
  imported of it): ``stock_location(session, ref)`` (the import's location: the one named, or
  the organization's only active location, or None; 422 on ``location`` for an unknown one),
  ``first_stock_file(session, location_id, sha256, reference)`` (whether this file is new at
  that location, recording it: its ``Add to Quantity`` is applied once) and
  ``apply_imported_stock(session, location_id, reference, lines, new_file)`` (the file's
  quantities applied through inventory's ledger; answers an error message by line for each
  refused; ``new_file`` False: the file was imported there before, its adds are not made
  again).
- A TCGplayer export's numbers: ``sales_channel(session, channel_id, kind)`` (the channel
  named, else the first of ``kind``; 422 on ``channel``; provided by inventory),
  ``channel_units(session, channel_id, variant_ids)`` (inventory's ``sellable``) and
  ``channel_prices(session, channel_id, variants)`` (the price a buyer pays on that channel,
  from price lists and rules for its kind; provided by checkout).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy.orm import Session

from mercato.core.ports import Port


@dataclass(frozen=True)
class StockLine:
    """One row's stock: ``total`` (Total Quantity: on hand at the location, applied as the
    difference from what the last file said) and ``add`` (Add to Quantity), None when empty."""

    line: int
    variant_id: str
    sku: str
    total: int | None
    add: int | None


@dataclass(frozen=True)
class PricedVariant:
    """A variant's catalog price, the base a channel's price lists and rules start from."""

    variant_id: str
    price: Decimal
    currency: str


units_for_sale: Port[[Session, list[str]], dict[str, int]] = Port(
    "catalog.ports.units_for_sale", "mercato.inventory")
has_purchased: Port[[Session, str, Collection[str]], bool] = Port(
    "catalog.ports.has_purchased", "mercato.orders")
stock_location: Port[[Session, str | None], str | None] = Port(
    "catalog.ports.stock_location", "mercato.inventory")
first_stock_file: Port[[Session, str, str, str], bool] = Port(
    "catalog.ports.first_stock_file", "mercato.inventory")
apply_imported_stock: Port[[Session, str, str, list[StockLine], bool], dict[int, str]] = Port(
    "catalog.ports.apply_imported_stock", "mercato.inventory")
sales_channel: Port[[Session, str | None, str], str] = Port(
    "catalog.ports.sales_channel", "mercato.inventory")
channel_units: Port[[Session, str, list[str]], dict[str, int]] = Port(
    "catalog.ports.channel_units", "mercato.inventory")
channel_prices: Port[[Session, str, list[PricedVariant]], dict[str, Decimal]] = Port(
    "catalog.ports.channel_prices", "mercato.checkout")
