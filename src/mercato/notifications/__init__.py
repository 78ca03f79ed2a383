"""Emails to customers (order placed, paid, shipped, password reset), templated and recorded.

- ``email_receipt(session, organization_id, order_id, to)``: an order's receipt to an address
  given on request (the point of sale), once per address.
"""

from __future__ import annotations

from mercato.notifications.receipts import email_receipt

__all__ = ["email_receipt"]
