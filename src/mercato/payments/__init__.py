"""Payment gateways: manual, store credit, gift cards and Stripe; the payments taken for
orders, gift cards, store credit and providers' webhook events.

The start of payments' face (what other modules import from here):

- ``Payment``: money received or authorized for an order (table ``payments``); orders records
  them and relates ``Order.payments`` to them.
"""

from __future__ import annotations

from mercato.payments.models import Payment

__all__ = ["Payment"]
