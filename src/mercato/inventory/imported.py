"""Stock from a TCGplayer inventory file, imported through the catalog's import job.

Catalog reads the file and asks through its ports (``catalog.ports``); inventory owns stock
and what was imported of it (``imported_stock``, ``imported_stock_files``). A file's quantity
for a variant is its Total Quantity plus its Add to Quantity (what TCGplayer makes of an
upload). The first file imported at a location sets on hand to it; each later file moves
stock by the difference from the last file's quantity, so sales made in between are kept and
the same file imported again moves nothing. A row with only Add to Quantity adds it, once per
file (the file's SHA-256 is recorded per location). Every move is an ordinary ledger row
(reason ``import``) under the ledger's guards: one that would take on hand below what is
reserved is refused, and that row is reported, its record left as it was.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from mercato.catalog import ports as catalog_ports
from mercato.catalog.service import stock_items
from mercato.core.db import table_of, tenant_of, utcnow
from mercato.core.errors import ValidationFailed
from mercato.inventory import stock
from mercato.inventory.models import ImportedStock, ImportedStockFile, Location
from mercato.inventory.reservations import release_expired
from mercato.inventory.stock import Move, Short, StockCeiling

imported_t = table_of(ImportedStock)
REASON = "import"


@catalog_ports.stock_location.provide
def stock_location(session: Session, ref: str | None) -> str | None:
    """The location a file's stock goes to: the one named (id or code; 422 on ``location``
    when there is none such), else the organization's only active location, else None."""
    if ref:
        found = session.scalar(select(Location.id).where(
            (Location.id == ref) | (Location.code == ref)))
        if found is None:
            raise ValidationFailed(f"No location {ref!r}.", errors=[
                {"field": "location", "message": f"no location {ref!r}"}])
        return found
    active = list(session.scalars(select(Location.id).where(Location.active.is_(True))
                                  .limit(2)))
    return active[0] if len(active) == 1 else None


@catalog_ports.first_stock_file.provide
def first_stock_file(session: Session, location_id: str, sha256: str, reference: str) -> bool:
    """Whether this file is new at this location; records it if so (the unique key decides
    between two uploads of the same bytes at once)."""
    make = postgresql.insert if session.get_bind().dialect.name == "postgresql" \
        else sqlite.insert
    files_t = table_of(ImportedStockFile)
    made = session.execute(make(files_t).values(
        organization_id=tenant_of(session), location_id=location_id, sha256=sha256,
        reference=reference[:100], created_at=utcnow()).on_conflict_do_nothing(
        index_elements=["location_id", "sha256"]).returning(files_t.c.sha256)).scalar()
    return made is not None


@catalog_ports.apply_imported_stock.provide
def apply_imported_stock(session: Session, location_id: str, reference: str,
                         lines: list[catalog_ports.StockLine], new_file: bool
                         ) -> dict[int, str]:
    """Move each line's stock at the location (see the module's docstring); answers the
    refusal by line of each line not moved. ``new_file`` False: the file was imported here
    before, so a line with Add to Quantity alone adds nothing."""
    if not lines:
        return {}
    variant_ids = sorted({line.variant_id for line in lines})
    keys = [(v, location_id) for v in variant_ids]
    stock.ensure_levels(session, keys)
    if stock.expired_holds(session, variant_ids):  # held units nobody holds any more
        release_expired(session, variant_ids=variant_ids)
    last = dict(session.execute(select(imported_t.c.variant_id, imported_t.c.quantity).where(
        imported_t.c.location_id == location_id,
        imported_t.c.variant_id.in_(variant_ids))).all())
    levels = {lv.variant_id: lv for lv in stock.read_levels(
        session, variant_ids=variant_ids, location_ids=[location_id])}
    items = {i.id: i for i in stock_items(session, ids=variant_ids)}
    refused: dict[int, str] = {}
    planned: list[tuple[catalog_ports.StockLine, Move | None, int | None]] = []
    for line in lines:
        level = levels[line.variant_id]
        record: int | None = last.get(line.variant_id)
        quantity: int | None
        if line.total is not None:
            quantity = line.total + (line.add or 0)
            delta = quantity - (record if record is not None else level.on_hand)
        elif new_file and line.add:
            delta = line.add
            quantity = record + line.add if record is not None else None
        else:
            continue
        if level.on_hand + delta < level.reserved:
            refused[line.line] = (
                f"on hand at this location would go to {level.on_hand + delta}, below the "
                f"{level.reserved} unit(s) reserved for orders; stock left at "
                f"{level.on_hand}")
            continue
        move = Move(line.variant_id, location_id, on_hand=delta, reason=REASON,
                    reference=reference[:100]) if delta else None
        planned.append((line, move, quantity))
    moved = [(line, move, quantity) for line, move, quantity in planned if move is not None]
    try:
        with session.begin_nested():
            stock.apply(session, [m for _, m, _ in moved if m is not None], items)
    except (Short, StockCeiling):  # one line changed meanwhile, or a limit: each on its own
        for line, move, _ in moved:
            try:
                with session.begin_nested():
                    stock.apply(session, [move] if move is not None else [], items)
            except Short:
                refused[line.line] = ("not enough stock for this change at this location "
                                      "(it changed meanwhile); stock left as it was")
            except StockCeiling as exc:
                refused[line.line] = str(exc)
    records = [{"organization_id": tenant_of(session), "variant_id": line.variant_id,
                "location_id": location_id, "quantity": quantity,
                "reference": reference[:100], "updated_at": utcnow()}
               for line, _, quantity in planned
               if quantity is not None and line.line not in refused]
    if records:
        make = postgresql.insert if session.get_bind().dialect.name == "postgresql" \
            else sqlite.insert
        statement = make(imported_t)
        session.execute(statement.on_conflict_do_update(
            index_elements=["variant_id", "location_id"],
            set_={"quantity": statement.excluded.quantity,
                  "reference": statement.excluded.reference,
                  "updated_at": statement.excluded.updated_at}), records)
    return refused
