"""The sale a register is ringing up (the "ticket"): lines, discounts, the attached customer and
the tenders taken so far, until "Complete sale" turns it into an order.

It holds no stock and no money, so it lives in the browser of the register, in a cookie signed
with a key derived from the secret key and bound to the cashier's sign-in (it cannot be edited
by hand, nor carried to another member's session). Pricing goes through ``orders.order_totals``
with the catalog's prices, exactly as ``orders.service.ingest`` prices the order it becomes, so
the total the cashier sees is the order's total.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any, Literal

from fastapi import Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from mercato import checkout
from mercato.catalog import SaleItem, sale_items
from mercato.core.ids import new_id
from mercato.core.keys import derive_key
from mercato.core.money import MAX_AMOUNT, allocate, cents
from mercato.orders import LineIn, OrderLineIn, OrderTotals, TaxIn, order_totals
from mercato.web.session import StaffSession, cookie_secure

COOKIE = "mercato_pos_ticket"
REGISTER_COOKIE = "mercato_pos_register"
PATH = "/pos"
MAX_TICKET_LINES = 60
"""A ticket is a cookie: this many lines stay well under a browser's 4 KB."""
ZERO = Decimal("0.00")
HUNDRED = Decimal(100)

DiscountKind = Literal["amount", "percent"]


@dataclass
class Discount:
    kind: DiscountKind
    value: Decimal

    def of(self, base: Decimal) -> Decimal:
        """What this discount takes off ``base`` (never more than ``base``)."""
        off = self.value if self.kind == "amount" else cents(base * self.value / HUNDRED)
        return min(max(off, ZERO), base)

    def label(self) -> str:
        return f"{self.value.normalize():f} %" if self.kind == "percent" else f"{self.value}"


@dataclass
class TicketLine:
    sku: str
    quantity: int
    discount: Discount | None = None


@dataclass
class Tender:
    method: str  # cash | card | store_credit | gift_card
    amount: Decimal
    reference: str | None = None
    code: str | None = None


@dataclass
class Ticket:
    id: str = field(default_factory=new_id)
    lines: list[TicketLine] = field(default_factory=list)
    discount: Discount | None = None
    customer_id: str | None = None
    tenders: list[Tender] = field(default_factory=list)

    def line(self, sku: str) -> TicketLine | None:
        return next((ln for ln in self.lines if ln.sku == sku), None)

    def paid(self) -> Decimal:
        return sum((t.amount for t in self.tenders), ZERO)


def parse_discount(kind: str, value: str) -> Discount | None:
    """A discount from a form's kind and value; None for a blank or zero value. ValueError
    says what is wrong."""
    value = value.strip()
    if not value:
        return None
    if kind not in ("amount", "percent"):
        raise ValueError("choose an amount or a percentage")
    try:
        number = Decimal(value)
    except InvalidOperation:
        raise ValueError("enter a number such as 5 or 2.50") from None
    if not number.is_finite() or number < 0:
        raise ValueError("enter a number of 0 or more")
    if number != number.quantize(Decimal("0.01")):
        raise ValueError("at most two decimal places")
    if kind == "percent" and number > HUNDRED:
        raise ValueError("at most 100 %")
    if number > MAX_AMOUNT:
        raise ValueError(f"at most {MAX_AMOUNT}")
    if number == 0:
        return None
    return Discount(kind, number)  # type: ignore[arg-type]


# -- the cookie ----------------------------------------------------------------------------------

@lru_cache(maxsize=8)
def _key(secret_key: str) -> bytes:
    return derive_key(secret_key, "pos-ticket")


def _sign(request: Request, staff: StaffSession, payload: bytes) -> str:
    key = _key(request.app.state.settings.require_secret_key())
    return hmac.new(key, staff.sign_in_id.encode() + b"\0" + payload,
                    hashlib.sha256).hexdigest()[:32]


def _dump(ticket: Ticket) -> dict[str, Any]:
    def disc(d: Discount | None) -> list[str] | None:
        return None if d is None else [d.kind, str(d.value)]

    return {"i": ticket.id, "c": ticket.customer_id, "d": disc(ticket.discount),
            "l": [[ln.sku, ln.quantity, disc(ln.discount)] for ln in ticket.lines],
            "t": [[t.method, str(t.amount), t.reference, t.code] for t in ticket.tenders]}


def _load(data: dict[str, Any]) -> Ticket:
    def disc(d: Any) -> Discount | None:
        return None if not d else Discount(d[0], Decimal(d[1]))

    return Ticket(id=str(data["i"]), customer_id=data.get("c"), discount=disc(data.get("d")),
                  lines=[TicketLine(str(s), int(q), disc(d)) for s, q, d in data.get("l", [])],
                  tenders=[Tender(str(m), Decimal(a), r, c) for m, a, r, c in data.get("t", [])])


MAX_COOKIE = 3800
"""Bytes the ticket's cookie may take: browsers drop a cookie past 4 KB without a word."""


def _encoded(ticket: Ticket) -> str:
    """The ticket as the cookie holds it: compact JSON, compressed (SKUs repeat their
    prefixes), in URL-safe base64."""
    raw = json.dumps(_dump(ticket), separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(zlib.compress(raw, 9)).decode()


def ticket_fits(ticket: Ticket) -> bool:
    """Whether the ticket still fits its cookie (with its signature)."""
    return len(_encoded(ticket)) + 33 <= MAX_COOKIE


def read_ticket(request: Request, staff: StaffSession) -> Ticket:
    """This register's ticket, or a new empty one (a cookie that is not this sign-in's, or
    was tampered with, is ignored)."""
    raw = request.cookies.get(COOKIE, "")
    payload, _, signature = raw.rpartition(".")
    if payload and hmac.compare_digest(signature, _sign(request, staff, payload.encode())):
        try:
            return _load(json.loads(zlib.decompress(base64.urlsafe_b64decode(
                payload.encode()), bufsize=65536)))
        except (ValueError, KeyError, TypeError, IndexError, InvalidOperation, zlib.error):
            pass
    return Ticket()


def write_ticket(request: Request, response: Response, staff: StaffSession,
                 ticket: Ticket | None) -> None:
    """Keep ``ticket`` in the register's cookie (None: the sale is over, forget it)."""
    if ticket is None:
        response.delete_cookie(COOKIE, path=PATH)
        return
    payload = _encoded(ticket)
    response.set_cookie(COOKIE, f"{payload}.{_sign(request, staff, payload.encode())}",
                        path=PATH, httponly=True, samesite="lax",
                        secure=cookie_secure(request))


# -- pricing -------------------------------------------------------------------------------------

@dataclass
class PricedLine:
    line: TicketLine
    item: SaleItem | None
    unit_price: Decimal
    discounts: list[tuple[str, Decimal]]
    subtotal: Decimal
    discount_total: Decimal
    total: Decimal


@dataclass
class Priced:
    lines: list[PricedLine]
    totals: OrderTotals
    order_discount: Decimal
    problems: list[str]
    taxes: list[TaxIn] = field(default_factory=list)
    taxes_included: bool = False

    @property
    def total(self) -> Decimal:
        return self.totals.total


def price(session: Session, ticket: Ticket, currency: str,
          where: Mapping[str, Any] | None = None) -> Priced:
    """The ticket priced as its order will be: catalog prices, each line's own discount, then
    the order's discount spread over the lines in proportion to what is left of each (in whole
    cents that add up exactly), and the tax rates at ``where`` (the register's address: a sale
    handed over at the counter pays the shop's own rates), through ``orders.order_totals``."""
    taxes, included = checkout.sale_taxes(session, where)
    items = sale_items(session, [ln.sku for ln in ticket.lines])
    problems: list[str] = []
    bases: list[tuple[Decimal, Decimal, list[tuple[str, Decimal]]]] = []
    for ln in ticket.lines:
        item = items.get(ln.sku)
        unit = item.price if item is not None else ZERO
        if item is None or item.archived or item.status != "active":
            problems.append(f"{ln.sku} is not for sale; remove it")
        elif item.currency != currency:
            problems.append(f"{ln.sku} is priced in {item.currency}, not {currency}")
        subtotal = cents(unit * ln.quantity)
        own = ln.discount.of(subtotal) if ln.discount else ZERO
        discounts = [("Line discount", own)] if own else []
        bases.append((unit, subtotal - own, discounts))
    order_off = ZERO
    if ticket.discount is not None:
        net = sum((b for _, b, _ in bases), ZERO)
        order_off = ticket.discount.of(net)
        shares = allocate(order_off, {str(i): b for i, (_, b, _) in enumerate(bases)}, currency)
        for i, (_, _, discounts) in enumerate(bases):
            share = shares.get(str(i), ZERO)
            if share:
                discounts.append(("Order discount", share))
    totals = order_totals([LineIn(ln.quantity, unit, discounts, taxes)
                           for ln, (unit, _, discounts) in zip(ticket.lines, bases, strict=True)],
                          [], included=included)
    problems += [e["message"] for e in totals.errors]
    lines = [PricedLine(ln, items.get(ln.sku), unit, discounts, t.subtotal, t.discount_total,
                        t.total)
             for ln, (unit, _, discounts), t in zip(ticket.lines, bases, totals.lines,
                                                     strict=True)]
    return Priced(lines, totals, order_off, problems, taxes, included)


def order_lines(priced: Priced) -> list[OrderLineIn]:
    """The order's lines, at the prices and discounts the cashier saw."""
    return [OrderLineIn.model_validate({
        "sku": pl.line.sku, "quantity": pl.line.quantity, "unit_price": pl.unit_price,
        "discounts": [{"title": title, "amount": amount} for title, amount in pl.discounts],
        "tax_lines": [{"title": t.title, "rate": t.rate} for t in priced.taxes]})
        for pl in priced.lines]
