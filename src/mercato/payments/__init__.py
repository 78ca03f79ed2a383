"""Payment gateways: manual, store credit, gift cards and Stripe; the payments taken for
orders, gift cards, store credit and providers' webhook events.

This package is payments' face: other modules import from here, never its internals.

- ``gateway_for(session, method)``: the store's ready gateway for a method (422 when the store
  does not take it); ``Gateway``, ``ChargeRequest`` and ``ChargeResult`` are what it is asked
  and answers. A local gateway works in the caller's session; a remote one (``remote``) is
  called outside any transaction.
- ``on_payment_update(listener)``: be told, in the webhook's transaction, of every payment
  update a provider sends (``PaymentUpdate``), once per provider event.
- ``Payment``: money received or authorized for an order (table ``payments``); orders records
  them and relates ``Order.payments`` to them.
"""

from __future__ import annotations

from mercato.payments.charges import ChargeRequest, ChargeResult, Gateway
from mercato.payments.gateways import gateway_for
from mercato.payments.hooks import PaymentUpdate, on_payment_update
from mercato.payments.models import Payment

__all__ = [
    "ChargeRequest",
    "ChargeResult",
    "Gateway",
    "Payment",
    "PaymentUpdate",
    "gateway_for",
    "on_payment_update",
]
