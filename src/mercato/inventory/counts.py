"""Cycle counts: a sheet of what each SKU at a location should be (``expected``, on hand when
the line was put on the sheet), what was found (``counted``), then applied.

Applying moves each line by its variance (counted - expected), not to the counted number:
a sale made while the shelf was being counted already left on hand and stays out. Every
change first claims the count's row with a conditional UPDATE (status ``open``), so two
requests take turns and a count is applied once.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from mercato.catalog.service import stock_items
from mercato.core.db import require_owned, table_of, tenant_of, utcnow
from mercato.core.errors import Conflict, ValidationFailed
from mercato.core.pagination import PageParams, Slice, paginate
from mercato.inventory import stock
from mercato.inventory.lookup import resolve
from mercato.inventory.models import StockCount, StockCountLine
from mercato.inventory.schemas_movements import ApplyIn, CountedIn, CountIn
from mercato.inventory.service import move_stock
from mercato.inventory.stock import Move

counts_t = table_of(StockCount)


def variance(line: StockCountLine) -> int | None:
    return None if line.counted is None else line.counted - line.expected


def _on_hand(session: Session, location_id: str, variant_ids: Sequence[str]) -> dict[str, int]:
    return {lv.variant_id: lv.on_hand for lv in stock.read_levels(
        session, variant_ids=variant_ids, location_ids=[location_id])}


def _unique(values: Sequence[str], field: str) -> None:
    seen: dict[str, int] = {}
    for i, value in enumerate(values):
        if value in seen:
            raise ValidationFailed("Each SKU once per request.", errors=[
                {"field": field.format(i=i), "message": f"repeats item {seen[value]}"}])
        seen[value] = i


def create_count(session: Session, data: CountIn) -> StockCount:
    """A count sheet; every SKU with a level at the location when none are named."""
    skus = data.skus or []
    _unique(skus, "skus.{i}")
    found = resolve(session, [(f"skus.{i}", sku) for i, sku in enumerate(skus)],
                    [("location", data.location)])
    location = found.locations[data.location]
    count = StockCount(location_id=location.id, status="open", note=data.note)
    if data.skus is None:
        levels = stock.read_levels(session, location_ids=[location.id])
        items = {i.id: i for i in stock_items(session, ids=[lv.variant_id for lv in levels])}
        sheet = [(items[lv.variant_id].id, items[lv.variant_id].sku, lv.on_hand)
                 for lv in levels if lv.variant_id in items]
    else:
        on_hand = _on_hand(session, location.id, [found.item(s).id for s in skus])
        sheet = [(found.item(s).id, s, on_hand.get(found.item(s).id, 0)) for s in skus]
    for variant_id, sku, expected in sheet:
        count.lines.append(StockCountLine(variant_id=variant_id, sku=sku, expected=expected))
    session.add(count)
    session.flush()
    return count


def get_count(session: Session, count_id: str) -> StockCount:
    return require_owned(session, StockCount, count_id, "Count")


def list_counts(session: Session, params: PageParams, *, status: str | None,
                location: str | None) -> Slice[StockCount]:
    stmt = select(StockCount)
    if status is not None:
        stmt = stmt.where(StockCount.status == status)
    if location is not None:
        found = resolve(session, [], [("location", location)])
        stmt = stmt.where(StockCount.location_id == found.locations[location].id)
    return paginate(session, stmt, [(StockCount.id, True)], params)


def _claim(session: Session, count: StockCount, action: str) -> list[StockCountLine]:
    """Take the open count's row (waiting for anyone else changing it) and re-read its lines
    as they are now; a 409 when it is no longer open."""
    done = session.execute(update(counts_t).where(
        counts_t.c.id == count.id, counts_t.c.organization_id == tenant_of(session),
        counts_t.c.status == "open").values(version=counts_t.c.version + 1))
    session.expire(count)
    if getattr(done, "rowcount", 0) != 1:
        raise Conflict(f"The count is {count.status}; it cannot be {action}.",
                       extra={"count_status": count.status})
    return list(session.scalars(
        select(StockCountLine).where(StockCountLine.count_id == count.id)
        .order_by(StockCountLine.id).execution_options(populate_existing=True)))


def record(session: Session, count: StockCount, data: CountedIn) -> StockCount:
    """Record counted quantities; a SKU not on the sheet joins it (expected = on hand now)."""
    _unique([line.sku for line in data.lines], "lines.{i}.sku")
    found = resolve(session, [(f"lines.{i}.sku", line.sku) for i, line in enumerate(data.lines)],
                    [])
    lines = _claim(session, count, "recorded")
    by_variant = {line.variant_id: line for line in lines}
    missing = [found.item(line.sku).id for line in data.lines
               if found.item(line.sku).id not in by_variant]
    on_hand = _on_hand(session, count.location_id, missing)
    for asked in data.lines:
        item = found.item(asked.sku)
        line = by_variant.get(item.id)
        if line is None:
            session.add(StockCountLine(count_id=count.id, variant_id=item.id, sku=item.sku,
                                       expected=on_hand.get(item.id, 0), counted=asked.counted))
        else:
            line.counted = asked.counted
    session.flush()
    session.expire(count)
    return count


def apply(session: Session, count: StockCount, data: ApplyIn) -> StockCount:
    """Move every counted line by its variance, all or none (409 ``insufficient_stock``
    naming lines that would leave fewer units than are reserved)."""
    lines = _claim(session, count, "applied")
    moves, labels = [], {}
    for i, line in enumerate(lines):
        delta = variance(line)
        if delta:
            move = Move(line.variant_id, count.location_id, on_hand=delta,
                        reason=data.reason, reference=count.id, note=data.note)
            moves.append(move)
            labels[id(move)] = (f"lines.{i}.counted", line.sku)
    stock.ensure_levels(session, [m.key for m in moves if m.on_hand > 0])
    items = {i.id: i for i in stock_items(session, ids=[m.variant_id for m in moves])}
    move_stock(session, moves, items, labels, detail=(
        "Applying would leave fewer units than are reserved; nothing was changed."))
    session.execute(update(counts_t).where(counts_t.c.id == count.id,
                                           counts_t.c.organization_id == tenant_of(session))
                    .values(status="applied", applied_at=utcnow()))
    session.expire(count)
    return count


def cancel(session: Session, count: StockCount) -> StockCount:
    _claim(session, count, "cancelled")
    session.execute(update(counts_t).where(counts_t.c.id == count.id,
                                           counts_t.c.organization_id == tenant_of(session))
                    .values(status="cancelled"))
    session.expire(count)
    return count
