"""Orders: ingestion with dedupe, the stock an order takes, fulfillment, cancellation,
returns, payments and refunds.

This package is orders' face (with ``orders.service``, where its use cases live): other
modules import from here, never ``orders.models``, ``orders.schemas`` or ``orders.totals``.

- ``CancelIn``: what ``service.cancel`` takes (a channel cancels an order it cannot send).
- Taking orders: ``OrderIn`` / ``OrderLineIn`` / ``CustomerRef`` / ``PaymentIn`` (an order
  from any source, for ``service.ingest``), ``RefundIn`` (``service.refund``).
- ``Order``: the row ``service.get_order`` and ``service.ingest`` return (read it; do not
  query orders' tables). ``ShopperOrderOut``: an order as its shopper sees it.
- Money: ``order_totals`` with ``LineIn`` / ``ShippingIn`` / ``TaxIn`` → ``OrderTotals`` (how
  a cart is priced exactly as its order will be), ``Rate`` (a tax rate as orders take it).
- ``has_purchased(session, customer_id, variant_ids)``: whether the customer has an order
  (not cancelled) with a line of one of these variants (catalog's verified-purchase reviews,
  through ``catalog.ports``).

Customers are identity's (``mercato.identity``); importing this package registers
``orders.customers``' listeners that keep orders on their customers.
"""

from __future__ import annotations

from mercato.orders import customers as _customers  # noqa: F401 - registers its listeners
from mercato.orders.models import Order
from mercato.orders.sales import SalesLine, sales_lines
from mercato.orders.schemas import (
    CancelIn,
    CustomerRef,
    OrderIn,
    OrderLineIn,
    PaymentIn,
    Rate,
    RefundIn,
    ShopperOrderOut,
)
from mercato.orders.service import has_purchased
from mercato.orders.totals import LineIn, OrderTotals, ShippingIn, TaxIn, order_totals

__all__ = [
    "CancelIn",
    "CustomerRef",
    "LineIn",
    "Order",
    "OrderIn",
    "OrderLineIn",
    "OrderTotals",
    "PaymentIn",
    "Rate",
    "RefundIn",
    "SalesLine",
    "ShippingIn",
    "ShopperOrderOut",
    "TaxIn",
    "has_purchased",
    "order_totals",
    "sales_lines",
]
