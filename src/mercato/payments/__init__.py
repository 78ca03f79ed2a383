"""Payment gateways: manual, store credit, gift cards and Stripe; the payments taken for
orders, gift cards, store credit, and Stripe's webhooks (on ``core.inbound``).

This package is payments' face: other modules import from here, never its internals.

- ``gateway_for(session, method)``: the store's ready gateway for a method (422 when the store
  does not take it); ``Gateway``, ``ChargeRequest`` and ``ChargeResult`` are what it is asked
  and answers. A local gateway works in the caller's session; a remote one (``remote``) is
  called outside any transaction.
- ``on_payment_update(listener)``: be told, in the worker's transaction that handles the
  webhook, of every payment update a provider sends (``PaymentUpdate``), once per provider
  event (at least once: be idempotent).
- The store's payment settings and balances, as the admin routes change them: the Stripe
  account and the methods checkout offers (``current_settings``, ``update_stripe``,
  ``set_methods``, ``configured_methods``, ``METHODS``, ``stripe_emulated``: test cards
  instead of Stripe.js); gift cards (``issue_gift_card``,
  ``get_gift_card``, ``gift_card_fields`` / ``gift_card_status`` (a card as shown),
  ``update_gift_card``, ``list_gift_cards``, ``move_gift_card``,
  ``list_gift_card_transactions``) and store credit (``move_store_credit``,
  ``store_credit_balances``, ``list_store_credit_entries``), in cents (``to_cents``,
  ``from_cents``).
- ``Payment``: money received or authorized for an order (table ``payments``); orders records
  them and relates ``Order.payments`` to them.
"""

from __future__ import annotations

from mercato.payments.charges import ChargeRequest, ChargeResult, Gateway
from mercato.payments.gateways import (
    METHODS,
    configured_methods,
    current_settings,
    gateway_for,
    set_methods,
    stripe_emulated,
    update_stripe,
)
from mercato.payments.hooks import PaymentUpdate, on_payment_update
from mercato.payments.ledger import (
    from_cents,
    get_gift_card,
    gift_card_fields,
    gift_card_status,
    issue_gift_card,
    list_gift_card_transactions,
    list_gift_cards,
    list_store_credit_entries,
    move_gift_card,
    move_store_credit,
    store_credit_balances,
    to_cents,
    update_gift_card,
)
from mercato.payments.models import Payment

__all__ = [
    "METHODS",
    "ChargeRequest",
    "ChargeResult",
    "Gateway",
    "Payment",
    "PaymentUpdate",
    "configured_methods",
    "current_settings",
    "from_cents",
    "gateway_for",
    "get_gift_card",
    "gift_card_fields",
    "gift_card_status",
    "issue_gift_card",
    "list_gift_card_transactions",
    "list_gift_cards",
    "list_store_credit_entries",
    "move_gift_card",
    "move_store_credit",
    "on_payment_update",
    "set_methods",
    "store_credit_balances",
    "stripe_emulated",
    "to_cents",
    "update_gift_card",
    "update_stripe",
]
