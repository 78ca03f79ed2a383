"""Orders: ingestion with dedupe, the stock an order takes, fulfillment, cancellation,
returns, payments and refunds.

The start of orders' face: what other modules may call, imported from here rather than from
``orders.service`` or ``orders.models`` (which may change).

- ``has_purchased(session, customer_id, variant_ids)``: whether the customer has an order
  (not cancelled) with a line of one of these variants (catalog's verified-purchase reviews).

Customers are identity's (``mercato.identity.customers``); importing this package registers
``orders.customers``' listeners that keep orders on their customers.
"""

from __future__ import annotations

from mercato.orders import customers as _customers  # noqa: F401 - registers its listeners
from mercato.orders.service import has_purchased

__all__ = ["has_purchased"]
