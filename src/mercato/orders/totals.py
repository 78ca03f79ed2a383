"""Order arithmetic, in decimal, with one rounding rule (docs/orders.md, "Totals").

Every amount is in cents. Only a tax line given as a rate needs rounding: its amount is
rounded half-even to the cent, per tax line, and every total above it is a plain sum of
rounded parts. So a total always equals the sum of its parts, on every order, exactly.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from mercato.core import money
from mercato.core.money import MAX_AMOUNT

ZERO = Decimal("0.00")


def cents(value: Decimal) -> Decimal:
    return money.cents(value)


@dataclass(frozen=True)
class TaxIn:
    title: str
    rate: Decimal | None = None  # 0.0825 for 8.25 %
    amount: Decimal | None = None  # as the channel charged it; wins over the rate


@dataclass(frozen=True)
class Priced:
    """One taxed amount: a line (after its discounts) or a shipping line."""

    base: Decimal
    tax_lines: list[dict[str, Any]]
    tax_total: Decimal


def tax(base: Decimal, taxes: Sequence[TaxIn], *, included: bool) -> Priced:
    """Tax lines on ``base``. With prices that include tax, ``base`` is the net price times
    ``1 + the sum of the rates``, and each rate's tax is ``net * rate``; otherwise it is
    ``base * rate``."""
    lines: list[dict[str, Any]] = []
    # with several rates inside one price, each is a share of the price before any tax
    net = base / (1 + sum((t.rate or ZERO for t in taxes if t.amount is None), ZERO))
    for t in taxes:
        if t.amount is not None:
            amount = t.amount
        else:
            rate = t.rate or ZERO
            amount = cents(net * rate) if included else cents(base * rate)
        lines.append({"title": t.title, "rate": None if t.rate is None else str(t.rate),
                      "amount": f"{amount:.2f}"})
    return Priced(base, lines, sum((Decimal(x["amount"]) for x in lines), ZERO))


@dataclass(frozen=True)
class LineIn:
    quantity: int
    unit_price: Decimal
    discounts: Sequence[tuple[str, Decimal]] = ()
    taxes: Sequence[TaxIn] = ()


@dataclass(frozen=True)
class LineTotals:
    subtotal: Decimal
    discount_total: Decimal
    tax_lines: list[dict[str, Any]]
    tax_total: Decimal
    total: Decimal


@dataclass(frozen=True)
class ShippingIn:
    price: Decimal
    taxes: Sequence[TaxIn] = ()


@dataclass(frozen=True)
class OrderTotals:
    lines: list[LineTotals]
    shipping: list[Priced]
    subtotal: Decimal
    discount_total: Decimal
    shipping_total: Decimal
    tax_total: Decimal
    total: Decimal
    errors: list[dict[str, str]] = field(default_factory=list)


def line_totals(line: LineIn, *, included: bool) -> LineTotals:
    subtotal = cents(line.unit_price * line.quantity)
    discount = sum((amount for _, amount in line.discounts), ZERO)
    taxed = tax(subtotal - discount, line.taxes, included=included)
    total = subtotal - discount + (ZERO if included else taxed.tax_total)
    return LineTotals(subtotal, discount, taxed.tax_lines, taxed.tax_total, total)


def order_totals(lines: Sequence[LineIn], shipping: Sequence[ShippingIn], *,
                 included: bool) -> OrderTotals:
    """Totals of an order; ``errors`` names each line whose discounts exceed its price, and
    each line, and the order, that would come to more than the largest amount (every amount
    is one, and an order's answer states them all)."""
    priced = [line_totals(line, included=included) for line in lines]
    errors = [{"field": f"lines.{i}.discounts",
               "message": f"discounts {t.discount_total} exceed the line's {t.subtotal}"}
              for i, t in enumerate(priced) if t.discount_total > t.subtotal]
    errors += [{"field": f"lines.{i}.quantity",
                "message": f"the line comes to {max(t.subtotal, t.total)}, more than the "
                           f"largest amount {MAX_AMOUNT}"}
               for i, t in enumerate(priced) if max(t.subtotal, t.total, t.tax_total)
               > MAX_AMOUNT]
    ship = [tax(s.price, s.taxes, included=included) for s in shipping]
    subtotal = sum((t.subtotal for t in priced), ZERO)
    discount = sum((t.discount_total for t in priced), ZERO)
    shipping_total = sum((s.base for s in ship), ZERO)
    tax_total = sum((t.tax_total for t in priced), ZERO) + sum((s.tax_total for s in ship), ZERO)
    total = subtotal - discount + shipping_total + (ZERO if included else tax_total)
    if not errors and max(subtotal, shipping_total, tax_total, total) > MAX_AMOUNT:
        errors.append({"field": "lines", "message": f"the order comes to "
                       f"{max(subtotal, total)}, more than the largest amount {MAX_AMOUNT}"})
    return OrderTotals(priced, ship, subtotal, discount, shipping_total, tax_total, total,
                       errors)
