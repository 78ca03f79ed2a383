"""Emails to customers (order placed, paid, shipped, password reset), templated and recorded.

- ``email_receipt(session, organization_id, order_id, to)``: an order's receipt to an address
  given on request (the point of sale), once per address.
- ``send_message(session, to=..., subject=..., body=..., reference=...)``: a plain-text email a
  merchant wrote (a workflow's ``send_email`` step), queued once per reference.
"""

from __future__ import annotations

from mercato.notifications.receipts import email_receipt
from mercato.notifications.service import send_message

__all__ = ["email_receipt", "send_message"]
