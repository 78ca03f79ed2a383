"""Digital delivery: licence-key pools (the pool is the variant's stock), files served by
signed, expiring links, email, webhook and manual delivery of digital goods once paid, tracked
per order line (docs/digital.md).

This package is the module's face, with ``digital.service``: others import from here.

- ``start_deliveries``: a paid order's digital lines get their deliveries (the
  ``order.paid`` handler calls it).
- ``order_deliveries`` / ``Delivery``: an order's deliveries, for the admin's order page.
- ``shopper_deliveries``: what the buyer sees (keys revealed, fresh download links).
"""

from __future__ import annotations

from mercato.digital.models import Delivery
from mercato.digital.service import order_deliveries, shopper_deliveries, start_deliveries

__all__ = ["Delivery", "order_deliveries", "shopper_deliveries", "start_deliveries"]
