"""Inventory use cases: locations, levels, adjustments, set with compare-and-set, the ledger."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from mercato.catalog import variants_matching
from mercato.catalog.service import StockItem, slugify, stock_items
from mercato.core.db import add_unique
from mercato.core.errors import Conflict, NotFound, ValidationFailed
from mercato.core.pagination import PageParams, Slice, paginate
from mercato.identity import record_audit
from mercato.inventory import stock
from mercato.inventory.lookup import resolve, short_errors
from mercato.inventory.models import Location, StockLevel, StockMovement
from mercato.inventory.reservations import release_expired
from mercato.inventory.schemas import (
    AdjustmentIn,
    LevelSet,
    LocationCreate,
    LocationUpdate,
)
from mercato.inventory.stock import InsufficientStock, Level, Move, Short

ADJUSTMENT_REASONS = ("sale", "restock", "adjustment", "return", "count", "damage")


# -- locations ---------------------------------------------------------------------------------

def create_location(session: Session, data: LocationCreate) -> Location:
    location = Location(name=data.name, code=data.code or slugify(data.name)[:50],
                        kind=data.kind, address=data.address.model_dump(),
                        fulfills_online=data.fulfills_online, pickup=data.pickup,
                        latitude=data.latitude, longitude=data.longitude, public=data.public,
                        phone=data.phone,
                        hours=data.hours.model_dump() if data.hours is not None else None)
    add_unique(session, location, field="code",
               detail=f"A location with code {location.code!r} exists.")
    return location


def list_locations(session: Session, params: PageParams) -> Slice[Location]:
    return paginate(session, select(Location), [(Location.id, False)], params)


def get_location(session: Session, ref: str) -> Location:
    """A location by id or code."""
    found = session.scalar(select(Location).where(or_(Location.id == ref, Location.code == ref)))
    if found is None:
        raise NotFound(f"No location {ref!r}.")
    return found


def find_location(session: Session, ref: str) -> Location | None:
    """A location by id or code, or None."""
    return session.scalar(select(Location).where(or_(Location.id == ref, Location.code == ref)))


def location_ids_by_name(session: Session) -> dict[str, str]:
    """Every location's id by its name, lowercased."""
    return {loc.name.lower(): loc.id for loc in session.scalars(select(Location))}


def update_location(session: Session, location: Location, data: LocationUpdate) -> Location:
    values = data.model_dump(exclude_unset=True)
    for name, value in values.items():
        if value is None and name in ("name", "code", "kind", "address", "fulfills_online",
                                      "pickup", "active", "public"):
            raise ValidationFailed(f"{name} cannot be null.",
                                   errors=[{"field": name, "message": "cannot be null"}])
        setattr(location, name, value)
    if (location.latitude is None) != (location.longitude is None):
        field = "longitude" if location.longitude is None else "latitude"
        raise ValidationFailed("A location has both coordinates or neither.",
                               errors=[{"field": field,
                                        "message": "give latitude and longitude together"}])
    return location


def free_units(session: Session, keys: Sequence[stock.Key]) -> dict[stock.Key, int]:
    """Available units (on hand - reserved) of these levels, read at once; missing ones are 0."""
    if not keys:
        return {}
    wanted = set(keys)
    return {(lv.variant_id, lv.location_id): lv.available for lv in stock.read_levels(
        session, variant_ids=[k[0] for k in wanted], location_ids=[k[1] for k in wanted])
        if (lv.variant_id, lv.location_id) in wanted}


def _with_items(session: Session, levels: list[Level]) -> list[tuple[Level, StockItem]]:
    """Each level with its variant (levels of deleted variants are left out)."""
    items = {i.id: i for i in stock_items(session, ids=[lv.variant_id for lv in levels])}
    return [(lv, items[lv.variant_id]) for lv in levels if lv.variant_id in items]


# -- adjustments and set ------------------------------------------------------------------------

def adjust(session: Session, data: AdjustmentIn) -> list[tuple[Level, StockItem]]:
    """Batched adjustments: every line or none (409 ``insufficient_stock`` naming the lines
    that would go below zero)."""
    found = resolve(session, [(f"lines.{i}.sku", line.sku) for i, line in enumerate(data.lines)],
                    [(f"lines.{i}.location", line.location)
                     for i, line in enumerate(data.lines)])
    moves: list[Move] = []
    labels: Labels = {}
    for i, line in enumerate(data.lines):
        item, location = found.item(line.sku), found.locations[line.location]
        move = Move(item.id, location.id, on_hand=line.delta, reason=line.reason,
                    reference=data.reference, note=line.note)
        moves.append(move)
        labels[id(move)] = (f"lines.{i}.delta", line.sku)
    stock.ensure_levels(session, [m.key for m in moves if m.on_hand > 0])
    move_stock(session, moves, found.by_id, labels,
               detail="Not enough stock for every line; nothing was changed.")
    return _with_items(session, stock.read_levels(
        session, variant_ids=[m.variant_id for m in moves],
        location_ids=[m.location_id for m in moves]))


def _release_expired_holds(session: Session, moves: Sequence[Move]) -> None:
    """Expired reservations still sit in ``reserved`` until the worker releases them, while
    reads already count their units as available: release them before a movement that needs
    available units, so it is not refused for units nobody holds."""
    losing = sorted({m.variant_id for m in moves if m.on_hand < 0 or m.reserved > 0})
    if losing and stock.expired_holds(session, losing):
        release_expired(session, variant_ids=losing)


Labels = dict[int, tuple[str, str]]
"""(request field, SKU) of each movement, by ``id(move)``: how a short one is named."""


def move_stock(session: Session, moves: list[Move], items: dict[str, StockItem],
               labels: Labels, *, detail: str) -> None:
    """Apply staff movements all or none. Each line that is short on its own is named in a
    409 ``insufficient_stock`` (``detail``); one that became short meanwhile is named too."""
    _release_expired_holds(session, moves)
    free = free_units(session, [m.key for m in moves if m.on_hand < 0])
    shorts = [(*labels[id(m)], -m.on_hand, free.get(m.key, 0)) for m in moves
              if m.on_hand < 0 and free.get(m.key, 0) < -m.on_hand]
    if shorts:
        raise InsufficientStock(detail, errors=short_errors(shorts))
    try:
        stock.apply(session, moves, items)
    except Short as short:
        field, sku = labels[id(short.move)]
        raise InsufficientStock(
            "Not enough stock (it changed meanwhile); nothing was changed.",
            errors=short_errors([(field, sku, -short.move.on_hand,
                                  free_units(session, [short.move.key]).get(short.move.key,
                                                                            0))])
        ) from None


def set_level(session: Session, data: LevelSet) -> tuple[Level, StockItem]:
    """Set on hand (optionally compare-and-set on ``expected_on_hand``) and/or the level's
    safety stock and reorder settings (null clears a reorder setting; a level always has a
    safety stock, 0 for none)."""
    if "safety_stock" in data.model_fields_set and data.safety_stock is None:
        raise ValidationFailed("safety_stock cannot be null.", errors=[
            {"field": "safety_stock", "message": "cannot be null; 0 for none"}])
    found = resolve(session, [("sku", data.sku)], [("location", data.location)])
    item, location = found.item(data.sku), found.locations[data.location]
    key = (item.id, location.id)
    stock.ensure_levels(session, [key])
    current = session.execute(
        select(stock.levels_t).where(stock.levels_t.c.variant_id == item.id,
                                     stock.levels_t.c.location_id == location.id)
        .with_for_update()).one()
    if data.on_hand is not None:
        if data.expected_on_hand is not None and current.on_hand != data.expected_on_hand:
            raise Conflict(
                f"On hand is {current.on_hand}, not the expected {data.expected_on_hand}.",
                errors=[{"field": "expected_on_hand",
                         "message": f"current on_hand is {current.on_hand}"}],
                extra={"current_on_hand": current.on_hand})
        delta = data.on_hand - current.on_hand
        if delta:
            move = Move(item.id, location.id, on_hand=delta, reason=data.reason,
                        reference=data.reference, note=data.note)
            move_stock(session, [move], found.by_id, {id(move): ("on_hand", item.sku)},
                       detail="On hand cannot go below what is reserved; nothing was changed.")
    settings = data.model_dump(include={"safety_stock", "reorder_point", "reorder_quantity"},
                               exclude_unset=True)
    if settings:
        session.execute(update(stock.levels_t).where(
            stock.levels_t.c.variant_id == item.id,
            stock.levels_t.c.location_id == location.id)
            .values(**settings, changes=stock.levels_t.c.changes + 1))
        before = {name: getattr(current, name) for name in settings}
        if before != settings:  # a bulk UPDATE: the ledger records stock, this the settings
            names = {"sku": item.sku, "variant_id": item.id, "location_id": location.id}
            record_audit(session, action="stock_level.updated", resource_type="stock_level",
                         resource_id=f"{item.id}:{location.id}",
                         organization_id=location.organization_id,
                         before={**names, **before}, after={**names, **settings})
    return stock.read_levels(session, variant_ids=[item.id],
                             location_ids=[location.id])[0], item


def list_levels(session: Session, *, sku: str | None,
                location: str | None) -> list[tuple[Level, StockItem]]:
    variant_ids = None
    if sku is not None:
        variant_ids = [i.id for i in stock_items(session, skus=[sku])]
        if not variant_ids:
            raise NotFound(f"No variant with SKU {sku!r}.")
    location_ids = [get_location(session, location).id] if location is not None else None
    if variant_ids is None and location_ids is None:
        raise ValidationFailed("Give a sku or a location.",
                               errors=[{"field": "sku", "message": "sku or location required"}])
    return _with_items(session, stock.read_levels(session, variant_ids=variant_ids,
                                                  location_ids=location_ids))


def browse_levels(session: Session, params: PageParams, *, q: str | None = None,
                  location: str | None = None) -> Slice[tuple[Level, StockItem]]:
    """A page of levels, by variant then location: of the variants a search finds (a SKU, or
    words of the title as the catalog's search reads them) and/or at one location."""
    stmt = select(StockLevel)
    if location is not None:
        stmt = stmt.where(StockLevel.location_id == get_location(session, location).id)
    if q is not None and q.strip():
        stmt = stmt.where(StockLevel.variant_id.in_(variants_matching(session, q)))
    page = paginate(session, stmt, [(StockLevel.variant_id, False),
                                    (StockLevel.location_id, False)], params)
    return Slice(items=_with_items(session, stock.levels_of(session, page.items)),
                 next_cursor=page.next_cursor)


def low_stock(session: Session, location: str | None) -> list[tuple[Level, StockItem]]:
    """Levels at or below their reorder point (available = on hand - reserved)."""
    location_ids = [get_location(session, location).id] if location is not None else None
    conditions = [stock.levels_t.c.reorder_point.is_not(None),
                  stock.levels_t.c.on_hand - stock.levels_t.c.reserved
                  <= stock.levels_t.c.reorder_point]
    keys = session.execute(select(stock.levels_t.c.variant_id).where(*conditions)
                           .distinct()).scalars().all()
    return _with_items(session, [
        lv for lv in stock.read_levels(session, variant_ids=keys, location_ids=location_ids)
        if lv.reorder_point is not None and lv.available <= lv.reorder_point])


def ledger(session: Session, params: PageParams, *, sku: str | None, location: str | None,
           reason: str | None, reference: str | None) -> Slice[StockMovement]:
    """Every movement, newest first."""
    stmt = select(StockMovement)
    if sku is not None:
        ids = [i.id for i in stock_items(session, skus=[sku])]
        if not ids:
            raise NotFound(f"No variant with SKU {sku!r}.")
        stmt = stmt.where(StockMovement.variant_id == ids[0])
    if location is not None:
        stmt = stmt.where(StockMovement.location_id == get_location(session, location).id)
    if reason is not None:
        stmt = stmt.where(StockMovement.reason == reason)
    if reference is not None:
        stmt = stmt.where(StockMovement.reference == reference)
    return paginate(session, stmt, [(StockMovement.id, True)], params)
