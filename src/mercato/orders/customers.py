"""What orders know of customers (identity owns them, ``identity.customers``), given through
identity's ports (``identity.ports``) from import: how many orders each customer has and what
they are worth (``customer_figures``, on the staff's customer records), and which orders are
whose: a customer's new emails claim the guest orders placed with them (``emails_claimed``),
and merged duplicates' orders move to the customer they merge into before the duplicates are
deleted (``customers_merging``). ``mercato.orders`` imports this module, so every process that
has orders provides and listens.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from mercato.core import money
from mercato.identity import ports as identity_ports
from mercato.orders.models import Order


@identity_ports.customer_figures.provide
def stats(session: Session, ids: Sequence[str]) -> dict[str | None, identity_ports.Figures]:
    """(orders, paid minus refunded per currency) per customer, in one query: a customer who
    bought in two currencies has two values, never one sum of both."""
    if not ids:
        return {}
    rows = session.execute(
        select(Order.customer_id, Order.currency, func.count(Order.id),
               func.coalesce(func.sum(Order.paid_total - Order.refunded_total), 0))
        .where(Order.customer_id.in_(list(ids)))
        .group_by(Order.customer_id, Order.currency).order_by(Order.currency))
    out: dict[str | None, identity_ports.Figures] = {}
    for cid, currency, n, value in rows:
        count, values = out.get(cid, (0, {}))
        values[currency] = money.cents(Decimal(value))
        out[cid] = (count + int(n), values)
    return out


@identity_ports.emails_claimed.add
def link_orders(session: Session, customer_id: str, emails: list[str]) -> None:
    """Orders placed with these emails and no customer yet are this customer's."""
    session.execute(update(Order).where(Order.customer_id.is_(None), Order.email.in_(emails))
                    .values(customer_id=customer_id)
                    .execution_options(synchronize_session=False))


@identity_ports.customers_merging.add
def move_orders(session: Session, customer_id: str, duplicate_ids: list[str]) -> None:
    """Merged duplicates' orders are the customer's (before the duplicates are deleted, which
    would set their orders' customer to null)."""
    session.execute(update(Order).where(Order.customer_id.in_(duplicate_ids))
                    .values(customer_id=customer_id)
                    .execution_options(synchronize_session=False))

