"""Orders: ingestion with dedupe, the stock an order takes, fulfillment, cancellation,
returns, payments and refunds; customers.

The start of orders' face: what other modules may call, imported from here rather than from
``orders.service``, ``orders.customers`` or ``orders.models`` (which may change).

- ``has_purchased(session, customer_id, variant_ids)``: whether the customer has an order
  (not cancelled) with a line of one of these variants (catalog's verified-purchase reviews).
- ``get_customer(session, customer_id)``: a customer (404 when unknown).
"""

from __future__ import annotations

from mercato.orders.customers import get_customer
from mercato.orders.service import has_purchased

__all__ = ["get_customer", "has_purchased"]
