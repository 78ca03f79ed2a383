"""Transfers between locations: stock leaves the source when the transfer is made (it is then
in transit, on neither shelf) and lands at the destination as it is received.

Every change of a transfer first claims its row with one conditional UPDATE (the status it
must be in, and the version bumped), so two requests on one transfer take turns: the second
re-reads the lines after the first committed and sees what is left. Each line's ``received``
is then raised by a conditional UPDATE too, and ``received <= quantity`` is a CHECK: three
walls against receiving more than was sent.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from mercato.catalog.service import StockItem, stock_items
from mercato.core.db import require_owned, table_of, tenant_of, utcnow
from mercato.core.errors import Conflict, ValidationFailed
from mercato.core.ids import new_id
from mercato.core.pagination import PageParams, Slice, paginate
from mercato.inventory import stock
from mercato.inventory.lookup import resolve
from mercato.inventory.models import Transfer, TransferLine
from mercato.inventory.schemas_movements import ReceiveIn, TransferIn, TransferLineIn
from mercato.inventory.service import move_stock
from mercato.inventory.stock import Move

transfers_t = table_of(Transfer)
lines_t = table_of(TransferLine)
OPEN = ("in_transit", "partially_received")


def in_transit(transfer: Transfer, line: TransferLine) -> int:
    return 0 if transfer.status == "cancelled" else line.quantity - line.received


def _unique_skus(lines: Sequence[TransferLineIn]) -> None:
    seen: dict[str, int] = {}
    for i, line in enumerate(lines):
        if line.sku in seen:
            raise ValidationFailed("Each SKU once per request.", errors=[
                {"field": f"lines.{i}.sku", "message": f"repeats line {seen[line.sku]}"}])
        seen[line.sku] = i


def create_transfer(session: Session, data: TransferIn) -> Transfer:
    """Ship every line from the source, or none (409 ``insufficient_stock``)."""
    _unique_skus(data.lines)
    found = resolve(session, [(f"lines.{i}.sku", line.sku) for i, line in enumerate(data.lines)],
                    [("from_location", data.from_location), ("to_location", data.to_location)])
    source, target = found.locations[data.from_location], found.locations[data.to_location]
    if source.id == target.id:
        raise ValidationFailed("A transfer goes between two different locations.", errors=[
            {"field": "to_location", "message": "same as from_location"}])
    transfer = Transfer(id=new_id(), from_location_id=source.id, to_location_id=target.id,
                        status="in_transit", note=data.note)
    moves, labels = [], {}
    for i, line in enumerate(data.lines):
        item = found.item(line.sku)
        transfer.lines.append(TransferLine(variant_id=item.id, sku=item.sku,
                                           quantity=line.quantity, received=0))
        move = Move(item.id, source.id, on_hand=-line.quantity, reason="transfer",
                    reference=transfer.id, note=data.note)
        moves.append(move)
        labels[id(move)] = (f"lines.{i}.quantity", item.sku)
    move_stock(session, moves, found.by_id, labels, detail=(
        "Not enough stock at the source for every line; nothing was changed."))
    session.add(transfer)
    session.flush()
    return transfer


def get_transfer(session: Session, transfer_id: str) -> Transfer:
    return require_owned(session, Transfer, transfer_id, "Transfer")


def list_transfers(session: Session, params: PageParams, *,
                   status: str | None) -> Slice[Transfer]:
    stmt = select(Transfer)
    if status is not None:
        stmt = stmt.where(Transfer.status == status)
    return paginate(session, stmt, [(Transfer.id, True)], params)


def _items(session: Session, moves: Sequence[Move]) -> dict[str, StockItem]:
    """The moved variants by id, so one-of-a-kind ones are checked as they arrive."""
    return {i.id: i for i in stock_items(session, ids=[m.variant_id for m in moves])}


def _claim(session: Session, transfer: Transfer, statuses: Sequence[str],
           action: str) -> list[TransferLine]:
    """Take the transfer's row (waiting for anyone else changing it) if it is in one of
    ``statuses``, and re-read its lines as they are now; else a 409."""
    done = session.execute(update(transfers_t).where(
        transfers_t.c.id == transfer.id, transfers_t.c.organization_id == tenant_of(session),
        transfers_t.c.status.in_(statuses))
        .values(version=transfers_t.c.version + 1, updated_at=utcnow()))
    session.expire(transfer)
    if getattr(done, "rowcount", 0) != 1:
        raise Conflict(f"The transfer is {transfer.status}; it cannot be {action}.",
                       extra={"transfer_status": transfer.status})
    return list(session.scalars(
        select(TransferLine).where(TransferLine.transfer_id == transfer.id)
        .order_by(TransferLine.id).execution_options(populate_existing=True)))


def _set_status(session: Session, transfer: Transfer, status: str) -> None:
    session.execute(update(transfers_t).where(transfers_t.c.id == transfer.id,
                                              transfers_t.c.organization_id == tenant_of(session))
                    .values(status=status))
    session.expire(transfer)


def receive(session: Session, transfer: Transfer, data: ReceiveIn) -> Transfer:
    """Land units at the destination: the lines given, or everything still in transit."""
    lines = _claim(session, transfer, OPEN, "received")
    by_sku = {line.sku: line for line in lines}
    wanted: list[tuple[str, TransferLine, int]] = []
    if data.lines is None:
        wanted = [(f"lines.{i}.quantity", line, line.quantity - line.received)
                  for i, line in enumerate(lines) if line.received < line.quantity]
    else:
        _unique_skus(data.lines)
        errors = []
        for i, asked in enumerate(data.lines):
            line = by_sku.get(asked.sku)
            if line is None:
                errors.append({"field": f"lines.{i}.sku",
                               "message": f"{asked.sku!r} is not on this transfer"})
            elif asked.quantity > line.quantity - line.received:
                errors.append({"field": f"lines.{i}.quantity",
                               "message": f"{line.quantity - line.received} still in transit"})
            else:
                wanted.append((f"lines.{i}.quantity", line, asked.quantity))
        if errors:
            raise ValidationFailed("More than was sent, or a SKU not on the transfer; nothing "
                                   "was received.", errors=errors)
    if not wanted:
        raise Conflict("Nothing is left in transit on this transfer.")
    for field, line, quantity in wanted:
        done = session.execute(update(lines_t).where(
            lines_t.c.id == line.id, lines_t.c.received + quantity <= lines_t.c.quantity)
            .values(received=lines_t.c.received + quantity))
        if getattr(done, "rowcount", 0) != 1:
            raise Conflict("The transfer was received meanwhile; nothing was received.",
                           errors=[{"field": field, "message": "more than is in transit"}])
    target = transfer.to_location_id
    moves = [Move(line.variant_id, target, on_hand=quantity, reason="transfer",
                  reference=transfer.id) for _, line, quantity in wanted]
    stock.ensure_levels(session, [m.key for m in moves])
    stock.apply(session, moves, _items(session, moves))
    outstanding = session.scalar(
        select(lines_t.c.id).where(lines_t.c.transfer_id == transfer.id,
                                   lines_t.c.received < lines_t.c.quantity).limit(1))
    _set_status(session, transfer, "partially_received" if outstanding else "received")
    for line in lines:
        session.expire(line)
    return transfer


def cancel(session: Session, transfer: Transfer) -> Transfer:
    """Return everything to the source: only while nothing has been received."""
    lines = _claim(session, transfer, ("in_transit",), "cancelled")
    if any(line.received for line in lines):
        raise Conflict("Part of the transfer was received; it cannot be cancelled.")
    moves = [Move(line.variant_id, transfer.from_location_id, on_hand=line.quantity,
                  reason="transfer", reference=transfer.id, note="cancelled")
             for line in lines]
    stock.ensure_levels(session, [m.key for m in moves])
    stock.apply(session, moves, _items(session, moves))
    _set_status(session, transfer, "cancelled")
    return transfer
