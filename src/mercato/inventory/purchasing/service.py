"""Purchase orders: what was ordered from a supplier at what cost, received (in parts) into a
location, each receipt moving the variants' moving-average cost; and the valuation report.

Receiving is guarded twice against taking in more than was ordered: each line's ``received``
grows by one conditional UPDATE (``received + q <= quantity``), so two requests receiving the
same remaining units cannot both succeed, and the table's CHECK constraint is the second wall.
On PostgreSQL the order row is also locked for the receipt, so receipts (and a cancel) of one
order run one after another and each sees what the previous one did; SQLite's write
transactions are serialized already (``BEGIN IMMEDIATE``).
"""

from __future__ import annotations

import io
import zlib
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from mercato.catalog.service import StockItem, set_costs, stock_items
from mercato.core import csvcells, money
from mercato.core.db import get_owned, table_of, tenant_of, utcnow
from mercato.core.errors import Conflict, NotFound, ValidationFailed
from mercato.core.pagination import PageParams, Slice, paginate
from mercato.inventory import stock
from mercato.inventory.lookup import resolve
from mercato.inventory.models import Location, PurchaseOrder, PurchaseOrderLine
from mercato.inventory.purchasing.schemas import PurchaseOrderCreate, ReceiveIn
from mercato.inventory.stock import Move

lines_t = table_of(PurchaseOrderLine)
OPEN, PARTIAL, RECEIVED, CANCELLED = "open", "partially_received", "received", "cancelled"
RECEIVABLE = (OPEN, PARTIAL)
COST_LOCK = 7295101
"""Advisory-lock namespace (PostgreSQL) serializing cost updates of one variant."""


# -- orders ------------------------------------------------------------------------------------

def _duplicates(skus: list[str]) -> list[dict[str, str]]:
    seen: set[str] = set()
    errors = []
    for i, sku in enumerate(skus):
        if sku in seen:
            errors.append({"field": f"lines.{i}.sku", "message": f"{sku!r} is listed twice"})
        seen.add(sku)
    return errors


def create(session: Session, data: PurchaseOrderCreate) -> PurchaseOrder:
    """A new open order; every unknown SKU, repeated SKU or SKU whose cost is kept in another
    currency is a 422 naming its line."""
    if errors := _duplicates([line.sku for line in data.lines]):
        raise ValidationFailed("Each SKU may appear on one line only.", errors=errors)
    found = resolve(session, [(f"lines.{i}.sku", line.sku) for i, line in enumerate(data.lines)],
                    [])
    errors = [{"field": f"lines.{i}.sku",
               "message": f"{line.sku}'s cost is kept in {found.item(line.sku).currency}, "
                          f"the order is in {data.currency}"}
              for i, line in enumerate(data.lines)
              if found.item(line.sku).currency != data.currency]
    if errors:
        raise ValidationFailed("The order's currency must be the variants' cost currency.",
                               errors=errors)
    order = PurchaseOrder(supplier=data.supplier, currency=data.currency, status=OPEN,
                          note=data.note)
    order.lines = [PurchaseOrderLine(variant_id=found.item(line.sku).id, sku=line.sku,
                                     quantity=line.quantity, received=0,
                                     unit_cost=line.unit_cost) for line in data.lines]
    session.add(order)
    session.flush()
    return order


def get(session: Session, purchase_order_id: str, *, lock: bool = False) -> PurchaseOrder:
    """The order (404 when absent or another organization's); ``lock`` takes its row lock on
    PostgreSQL and reads it afresh."""
    if lock and session.get_bind().dialect.name == "postgresql":
        order = session.scalar(select(PurchaseOrder).where(PurchaseOrder.id == purchase_order_id)
                               .with_for_update().execution_options(populate_existing=True))
        if order is not None and order.organization_id != tenant_of(session):
            order = None
    else:
        order = get_owned(session, PurchaseOrder, purchase_order_id)
    if order is None:
        raise NotFound("Purchase order not found.")
    return order


def list_orders(session: Session, params: PageParams, *, status: str | None = None,
                supplier: str | None = None) -> Slice[PurchaseOrder]:
    """Newest first (ids are time-ordered)."""
    stmt = select(PurchaseOrder)
    if status is not None:
        stmt = stmt.where(PurchaseOrder.status == status)
    if supplier is not None:
        stmt = stmt.where(PurchaseOrder.supplier == supplier)
    return paginate(session, stmt, [(PurchaseOrder.id, True)], params)


def cancel(session: Session, purchase_order_id: str) -> PurchaseOrder:
    """Open or partly received → cancelled; what was received stays where it is."""
    order = get(session, purchase_order_id, lock=True)
    if order.status not in RECEIVABLE:
        raise Conflict(f"A {order.status.replace('_', ' ')} purchase order cannot be cancelled.")
    order.status = CANCELLED
    order.updated_at = utcnow()
    session.flush()
    return order


# -- receiving ---------------------------------------------------------------------------------

def moving_average(on_hand: int, cost: Decimal | None, quantity: int,
                   unit_cost: Decimal) -> Decimal:
    """The variant's cost after ``quantity`` units arrive at ``unit_cost``.

    ``(Q·C + q·c) / (Q + q)`` where Q is the units on hand over every location before the
    receipt and C the variant's cost then (the unit cost when it has none yet, or when nothing
    is on hand), computed exactly in ``Decimal`` and rounded once, to cents, half-even like
    every amount (``core.money``: ``1.005`` → ``1.00``, ``1.015`` → ``1.02``). Rounding each
    receipt's result is where the average can drift from the exact one, by at most half a cent
    per receipt.
    """
    held = max(on_hand, 0)
    current = unit_cost if cost is None else cost
    exact = (held * current + quantity * unit_cost) / Decimal(held + quantity)
    return money.cents(exact)


def _lock_costs(session: Session, variant_ids: list[str]) -> None:
    """On PostgreSQL, one receipt at a time per variant reads on hand and cost and writes the
    new cost (two orders received at once would otherwise both average from the same start)."""
    if session.get_bind().dialect.name != "postgresql":
        return
    for variant_id in sorted(set(variant_ids)):
        session.execute(select(func.pg_advisory_xact_lock(
            COST_LOCK, zlib.crc32(variant_id.encode()) & 0x7FFFFFFF)))


def receive(session: Session, purchase_order_id: str, data: ReceiveIn) -> PurchaseOrder:
    """Take units of an open order into a location: all lines or none.

    422 naming the field for an unknown location, a SKU not on the order, a repeated SKU or
    more units than are outstanding; 409 when the order is cancelled or received in full.
    """
    order = get(session, purchase_order_id, lock=True)
    if order.status not in RECEIVABLE:
        raise Conflict(f"A {order.status.replace('_', ' ')} purchase order cannot be received.")
    if errors := _duplicates([line.sku for line in data.lines]):
        raise ValidationFailed("Each SKU may appear on one line only.", errors=errors)
    found = resolve(session, [], [("location", data.location)])
    location: Location = found.locations[data.location]
    by_sku = {line.sku: line for line in order.lines}
    errors = []
    for i, line in enumerate(data.lines):
        ordered = by_sku.get(line.sku)
        if ordered is None:
            errors.append({"field": f"lines.{i}.sku",
                           "message": f"{line.sku!r} is not on this purchase order"})
        elif line.quantity > ordered.quantity - ordered.received:
            errors.append({"field": f"lines.{i}.quantity",
                           "message": f"{line.sku}: {line.quantity} received, "
                                      f"{ordered.quantity - ordered.received} outstanding"})
    if errors:
        raise ValidationFailed("Nothing was received.", errors=errors)

    org = tenant_of(session)
    for i, line in enumerate(data.lines):
        ordered = by_sku[line.sku]
        done = session.execute(update(lines_t).where(
            lines_t.c.id == ordered.id, lines_t.c.organization_id == org,
            lines_t.c.received + line.quantity <= lines_t.c.quantity)
            .values(received=lines_t.c.received + line.quantity))
        if getattr(done, "rowcount", 0) != 1:  # another receipt took these units meanwhile
            raise ValidationFailed("Nothing was received.", errors=[{
                "field": f"lines.{i}.quantity",
                "message": f"{line.sku}: more than is outstanding"}])

    variant_ids = [by_sku[line.sku].variant_id for line in data.lines]
    _lock_costs(session, variant_ids)
    items: dict[str, StockItem] = {i.id: i for i in stock_items(session, ids=variant_ids)}
    held: dict[str, int] = defaultdict(int)
    for level in stock.read_levels(session, variant_ids=variant_ids):
        held[level.variant_id] += level.on_hand
    costs = {}
    for line in data.lines:
        ordered = by_sku[line.sku]
        item = items.get(ordered.variant_id)
        if item is None:
            raise Conflict(f"{line.sku} no longer exists in the catalog.",
                           errors=[{"field": "lines", "message": f"{line.sku}: no variant"}])
        costs[item.id] = moving_average(held[item.id], item.cost, line.quantity,
                                        ordered.unit_cost)
    moves = [Move(by_sku[line.sku].variant_id, location.id, on_hand=line.quantity,
                  reason="restock", reference=order.id, note=data.note) for line in data.lines]
    stock.ensure_levels(session, [m.key for m in moves])
    stock.apply(session, moves, items)  # only gains: never short
    set_costs(session, costs)

    for ordered in order.lines:
        session.refresh(ordered, ["received"])
    complete = all(ordered.received >= ordered.quantity for ordered in order.lines)
    order.status = RECEIVED if complete else PARTIAL
    order.updated_at = utcnow()
    session.flush()
    return order


# -- valuation ---------------------------------------------------------------------------------

@dataclass
class Valued:
    """Stock at one location (or in total) in one currency."""

    currency: str
    units: int = 0
    value: Decimal = Decimal("0.00")
    uncosted_units: int = 0

    def add(self, units: int, cost: Decimal | None) -> None:
        self.units += units
        if cost is None:
            self.uncosted_units += units
        else:
            self.value += units * cost


@dataclass
class Valuation:
    locations: list[tuple[Location, Valued]]
    totals: list[Valued]


def valuation(session: Session, location: str | None = None, *,
              default_currency: str = "USD") -> Valuation:
    """Units on hand times each variant's current cost, per location (every location, or the one
    named by id or code: 422 ``location`` when unknown). Values are exact sums of cents."""
    if location is not None:
        places = [resolve(session, [], [("location", location)]).locations[location]]
    else:
        places = list(session.scalars(select(Location).order_by(Location.code, Location.id)))
    levels = stock.read_levels(session, location_ids=[p.id for p in places])
    items = {i.id: i for i in stock_items(session, ids={lv.variant_id for lv in levels})}
    per_place: dict[str, dict[str, Valued]] = defaultdict(dict)
    totals: dict[str, Valued] = {}
    for level in levels:
        item = items.get(level.variant_id)
        if item is None or level.on_hand == 0:
            continue
        row = per_place[level.location_id].setdefault(item.currency, Valued(item.currency))
        row.add(level.on_hand, item.cost)
        totals.setdefault(item.currency, Valued(item.currency)).add(level.on_hand, item.cost)
    if not totals:
        totals[default_currency] = Valued(default_currency)
    fallback = max(totals.values(), key=lambda v: v.units).currency
    rows: list[tuple[Location, Valued]] = []
    for place in places:
        found = per_place.get(place.id) or {fallback: Valued(fallback)}
        rows += [(place, found[c]) for c in sorted(found)]
    for valued in [v for _, v in rows] + list(totals.values()):
        valued.value = money.cents(valued.value)
    return Valuation(rows, [totals[c] for c in sorted(totals)])


VALUATION_COLUMNS = ("location_id", "code", "name", "currency", "units", "value",
                     "uncosted_units")


def valuation_csv(report: Valuation) -> str:
    """One line per location (and currency), then one per currency's total (``TOTAL``): the
    file the API and the admin both give."""
    out = io.StringIO()
    writer = csvcells.Writer(out)
    writer.writerow(VALUATION_COLUMNS)
    for place, v in report.locations:
        writer.writerow([place.id, place.code, place.name, v.currency, v.units,
                         f"{v.value:.2f}", v.uncosted_units])
    for v in report.totals:
        writer.writerow(["", "TOTAL", "Total", v.currency, v.units, f"{v.value:.2f}",
                         v.uncosted_units])
    return out.getvalue()
