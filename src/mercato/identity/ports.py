"""What identity asks of modules above it, through ports (``core.ports``): they provide the
answer or listen when imported (``app.load_modules`` imports every module), so identity
imports only core and tenancy. Every call runs in the caller's session and transaction.

- ``merge_guest_cart(session, cart_id, shopper, ttl_hours)``: at sign-in, the guest cart the
  shopper brought merges into theirs; answers the shopper's cart id (provided by checkout).
- ``send_account_mail(session, mail)``: a password-reset or verification email, recorded in
  the transaction that made its token (provided by notifications, which queues it).
- ``customer_figures(session, customer_ids)``: how many orders each customer has and what they
  are worth per currency, for the staff's customer records (provided by orders).
- ``emails_claimed(session, customer_id, emails)``: a customer took these emails (created,
  edited, merged); orders listens, linking the guest orders placed with them.
- ``customers_merging(session, customer_id, duplicate_ids)``: duplicates are about to be
  deleted, merged into the customer; orders listens, moving their orders first.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from mercato.core.ports import Listeners, Port
from mercato.identity.shoppers import Shopper


@dataclass(frozen=True)
class AccountMail:
    """An email about a shopper's account to send: its template (``password_reset``,
    ``verify_email``), recipient, the reference that makes it once-only, and the context."""

    kind: str
    to: str
    customer_id: str
    reference: str
    context: Mapping[str, Any]


Figures = tuple[int, dict[str, Decimal]]
"""A customer's orders: how many, and paid minus refunded per currency."""

merge_guest_cart: Port[[Session, str, Shopper, int], str] = Port(
    "identity.ports.merge_guest_cart", "mercato.checkout")
send_account_mail: Port[[Session, AccountMail], None] = Port(
    "identity.ports.send_account_mail", "mercato.notifications")
customer_figures: Port[[Session, Sequence[str]], dict[str | None, Figures]] = Port(
    "identity.ports.customer_figures", "mercato.orders")
emails_claimed: Listeners[[Session, str, list[str]]] = Listeners("identity.ports.emails_claimed")
customers_merging: Listeners[[Session, str, list[str]]] = Listeners(
    "identity.ports.customers_merging")
