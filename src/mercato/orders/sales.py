"""What orders sold, as plain rows for reports (``mercato.reporting``): one row per order line.

A line's ``amount`` is its net sale: what it was charged after its discounts, before tax and
shipping, for the units that stayed sold. Cancelled orders are left out. Within an order that
stands:

- cancelled units are not sold (``units`` and ``amount`` drop them);
- refunds come off, at the day the order was placed (a report of a past day can change when
  its orders are refunded). A refund that names lines takes those units off their lines; a
  refund of an amount only is the merchandise's share of it (the amount times the lines' net
  over the order's total, which holds tax and shipping too), spread over the lines in
  proportion to what each still counts;
- a refund pays back cancelled units first: units both cancelled and refunded by lines come
  off once, and an amount refunded is taken off the lines only past what the order's
  cancelled units (not refunded by lines) were worth.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from mercato.core import money
from mercato.orders.models import Order, OrderLine, Refund

ZERO = Decimal("0.00")


@dataclass(frozen=True)
class SalesLine:
    """One order line as sales reports count it."""

    order_id: str
    placed_at: dt.datetime
    """When the order was placed, in UTC."""
    channel: str
    """The order's channel: a sales channel's id (``channel_id`` set) or a source name."""
    channel_id: str | None
    currency: str
    variant_id: str
    sku: str
    title: str
    """The product's title as the order recorded it."""
    units: int
    """Units sold: ordered, less those cancelled or refunded by lines."""
    amount: Decimal
    """Net of discounts, cancellations and refunds; before tax and shipping."""


@dataclass
class _Line:
    order_id: str
    placed_at: dt.datetime
    channel: str
    channel_id: str | None
    currency: str
    order_total: Decimal
    line_id: str
    variant_id: str
    sku: str
    title: str
    quantity: int
    cancelled: int
    net: Decimal  # the line as ordered, after discounts, before tax


def _share(net: Decimal, units: int, quantity: int) -> Decimal:
    return money.cents(net * units / quantity) if quantity else ZERO


def sales_lines(session: Session, start: dt.datetime, end: dt.datetime) -> list[SalesLine]:
    """The lines of the orders placed from ``start`` (inclusive) to ``end`` (exclusive), both
    aware datetimes, leaving out cancelled orders; oldest first. Two queries: the lines with
    their orders, and those orders' refunds."""
    placed = (Order.placed_at >= start, Order.placed_at < end, Order.status != "cancelled")
    rows = session.execute(
        select(Order.id, Order.placed_at, Order.channel, Order.channel_id, Order.currency,
               Order.total, OrderLine.id, OrderLine.variant_id, OrderLine.sku, OrderLine.title,
               OrderLine.quantity, OrderLine.cancelled, OrderLine.total, OrderLine.tax_total)
        .join(Order, OrderLine.order_id == Order.id).where(*placed)
        .order_by(Order.placed_at, Order.id, OrderLine.position))
    lines = [_Line(oid, at, channel, channel_id, currency, Decimal(order_total), line_id,
                   variant_id, sku, title, quantity, cancelled, Decimal(total) - Decimal(tax))
             for (oid, at, channel, channel_id, currency, order_total, line_id, variant_id,
                  sku, title, quantity, cancelled, total, tax) in rows]
    refunded_units: dict[str, int] = defaultdict(int)
    refunded_amount: dict[str, Decimal] = defaultdict(lambda: ZERO)
    for order_id, amount, refund_lines in session.execute(
            select(Refund.order_id, Refund.amount, Refund.lines)
            .join(Order, Refund.order_id == Order.id).where(*placed)):
        if refund_lines:
            for entry in refund_lines:
                refunded_units[entry["line_id"]] += int(entry["quantity"])
        else:
            refunded_amount[order_id] += Decimal(amount)
    by_order: dict[str, list[_Line]] = defaultdict(list)
    for line in lines:
        by_order[line.order_id].append(line)
    out: list[SalesLine] = []
    for order_lines in by_order.values():
        out += _order_sales(order_lines, refunded_units,
                            refunded_amount.get(order_lines[0].order_id, ZERO))
    return out


def _order_sales(lines: list[_Line], refunded_units: dict[str, int],
                 refunded: Decimal) -> list[SalesLine]:
    kept: dict[str, tuple[int, Decimal]] = {}
    unrefunded_cancelled = ZERO  # what cancelled units not refunded by lines were worth
    for line in lines:
        gone = min(line.quantity, max(line.cancelled, refunded_units.get(line.line_id, 0)))
        kept[line.line_id] = (line.quantity - gone,
                              line.net - _share(line.net, gone, line.quantity))
        unrefunded_cancelled += _share(
            line.net, max(0, line.cancelled - refunded_units.get(line.line_id, 0)),
            line.quantity)
    first = lines[0]
    if refunded > 0 and first.order_total > 0:
        merchandise = sum((line.net for line in lines), ZERO)
        beyond = money.cents(refunded * merchandise / first.order_total) - unrefunded_cancelled
        left = sum((amount for _, amount in kept.values()), ZERO)
        shares = money.allocate(min(beyond, left),
                                {key: amount for key, (_, amount) in kept.items()
                                 if amount > 0})
        kept = {key: (units, amount - shares.get(key, ZERO))
                for key, (units, amount) in kept.items()}
    return [SalesLine(order_id=line.order_id, placed_at=line.placed_at, channel=line.channel,
                      channel_id=line.channel_id, currency=line.currency,
                      variant_id=line.variant_id, sku=line.sku, title=line.title,
                      units=kept[line.line_id][0], amount=kept[line.line_id][1])
            for line in lines]
