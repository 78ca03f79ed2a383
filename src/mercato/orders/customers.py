"""What orders know of customers (identity owns them, ``identity.customers``): how many
orders each has and what they are worth, and which orders belong to whom.

Registers, at import, the listeners that keep orders on the right customer: a customer's new
emails claim the guest orders placed with them, and merged duplicates' orders move to the
customer they merge into before the duplicates are deleted. ``mercato.orders`` imports this
module, so every process that has orders has the listeners.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from mercato.core import money
from mercato.identity.customers.service import Figures, on_emails_claimed, on_merging
from mercato.orders.models import Order


def stats(session: Session, ids: Sequence[str]) -> dict[str | None, Figures]:
    """(orders, paid minus refunded per currency) per customer, in one query: a customer who
    bought in two currencies has two values, never one sum of both."""
    if not ids:
        return {}
    rows = session.execute(
        select(Order.customer_id, Order.currency, func.count(Order.id),
               func.coalesce(func.sum(Order.paid_total - Order.refunded_total), 0))
        .where(Order.customer_id.in_(list(ids)))
        .group_by(Order.customer_id, Order.currency).order_by(Order.currency))
    out: dict[str | None, Figures] = {}
    for cid, currency, n, value in rows:
        count, values = out.get(cid, (0, {}))
        values[currency] = money.cents(Decimal(value))
        out[cid] = (count + int(n), values)
    return out


def link_orders(session: Session, customer_id: str, emails: list[str]) -> None:
    """Orders placed with these emails and no customer yet are this customer's."""
    session.execute(update(Order).where(Order.customer_id.is_(None), Order.email.in_(emails))
                    .values(customer_id=customer_id)
                    .execution_options(synchronize_session=False))


def move_orders(session: Session, customer_id: str, duplicate_ids: list[str]) -> None:
    """Merged duplicates' orders are the customer's (before the duplicates are deleted, which
    would set their orders' customer to null)."""
    session.execute(update(Order).where(Order.customer_id.in_(duplicate_ids))
                    .values(customer_id=customer_id)
                    .execution_options(synchronize_session=False))


on_emails_claimed(link_orders)
on_merging(move_orders)
