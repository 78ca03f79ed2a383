"""The admin's inventory pages: stock levels (a SKU's by location, or a filtered list), adjust
and set a count as ``/api/v1/inventory/adjustments`` and ``PUT /api/v1/inventory/levels`` do,
the ledger of a SKU, and low stock with reorder suggestions.

Transfers, count sheets and purchase orders have modules of their own, included here."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session

from mercato import catalog
from mercato.core.errors import MercatoError, NotFound
from mercato.core.pagination import DEFAULT_LIMIT, PageParams
from mercato.core.uow import DbSession, MercatoRoute
from mercato.inventory import AdjustmentIn, LevelSet
from mercato.inventory import service as stock_service
from mercato.inventory.schemas import AdjustReason, LevelOut, MovementOut, SetReason
from mercato.web.admin import inventory_channels, inventory_movements, purchasing
from mercato.web.admin.stock_forms import (
    all_locations,
    location_options,
    renamed,
)
from mercato.web.session import StaffSession, staff_page
from mercato.web.templating import errors_of, form_errors, redirect, render

router = APIRouter(route_class=MercatoRoute, include_in_schema=False)
READ, WRITE = "inventory:read", "inventory:write"  # as the inventory API's routes
ADJUST_REASONS: tuple[str, ...] = AdjustReason.__args__  # type: ignore[attr-defined]
SET_REASONS: tuple[str, ...] = SetReason.__args__  # type: ignore[attr-defined]
ADJUST_FIELDS = {"lines.0.location": "location", "lines.0.delta": "change",
                 "lines.0.reason": "reason", "lines.0.note": "note", "lines.0.sku": "sku",
                 "lines": "change", "reference": "reference"}


def level_rows(session: Session, levels: list[tuple[Any, Any]]) -> list[dict[str, Any]]:
    """Levels as the API shows them, each with its location and a reorder suggestion."""
    names = {loc.id: loc for loc in all_locations(session)}
    rows = []
    for level, item in levels:
        out = LevelOut(sku=item.sku, variant_id=level.variant_id,
                       location_id=level.location_id, on_hand=level.on_hand,
                       reserved=level.reserved, available=level.available,
                       safety_stock=level.safety_stock, reorder_point=level.reorder_point,
                       reorder_quantity=level.reorder_quantity, updated_at=level.updated_at)
        rows.append({"level": out, "location": names.get(level.location_id),
                     "suggested": suggestion(out)})
    return rows


def suggestion(level: LevelOut) -> int | None:
    """Units to order for a level at or below its reorder point: its reorder quantity, or
    enough to lift what is available above the reorder point again."""
    if level.reorder_point is None or level.available > level.reorder_point:
        return None
    if level.reorder_quantity:
        return level.reorder_quantity
    return level.reorder_point - level.available + 1


# -- the list and a SKU's page -----------------------------------------------------------------

@router.get("/admin/inventory", response_class=HTMLResponse)
def inventory_index(request: Request, session: DbSession,
                    sku: Annotated[str | None, Query(max_length=100)] = None,
                    q: Annotated[str | None, Query(max_length=200)] = None,
                    location: Annotated[str | None, Query(max_length=50)] = None,
                    cursor: Annotated[str | None, Query(max_length=4000)] = None,
                    ledger_cursor: Annotated[str | None, Query(max_length=4000)] = None,
                    staff: StaffSession = Depends(staff_page(READ))) -> Response:
    if sku:
        return sku_page(request, session, staff, sku, ledger_cursor=ledger_cursor)
    locations = all_locations(session)
    page = stock_service.browse_levels(session, PageParams(limit=DEFAULT_LIMIT, cursor=cursor),
                                       q=q or None, location=location or None)
    titles = catalog.sale_items(session, ids=[item.id for _, item in page.items])
    filters = {k: v for k, v in (("q", q), ("location", location)) if v}
    return render(request, "admin/inventory/index.html", {
        "rows": level_rows(session, page.items), "titles": titles,
        "locations": location_options(locations, active_only=False),
        "values": {"q": q or "", "location": location or ""},
        "next_url": ("/admin/inventory?" + urlencode({**filters, "cursor": page.next_cursor})
                     if page.next_cursor else None),
        "first_url": ("/admin/inventory?" + urlencode(filters)) if cursor else None,
        "can_write": staff.can(WRITE)}, block="rows")


def sku_page(request: Request, session: Session, staff: StaffSession, sku: str, *,
             ledger_cursor: str | None = None, values: dict[str, Any] | None = None,
             errors: list[dict[str, Any]] | None = None, status: int = 200) -> Response:
    levels = stock_service.list_levels(session, sku=sku, location=None)  # 404 unknown SKU
    item = catalog.sale_items(session, [sku]).get(sku)
    if item is None:
        raise NotFound(f"No variant with SKU {sku!r}.")
    locations = all_locations(session)
    by_id = {loc.id: loc for loc in locations}
    ledger = stock_service.ledger(session, PageParams(limit=DEFAULT_LIMIT, cursor=ledger_cursor),
                                  sku=sku, location=None, reason=None, reference=None)
    by_field, listed = form_errors(errors or [])
    base = "/admin/inventory?" + urlencode({"sku": sku})
    return render(request, "admin/inventory/sku.html", {
        "sku": sku, "item": item, "rows": level_rows(session, levels),
        "locations": location_options(locations), "location_by_id": by_id,
        "reasons": ADJUST_REASONS, "base": base,
        "movements": [MovementOut.model_validate(m) for m in ledger.items],
        "ledger_next": (f"{base}&{urlencode({'ledger_cursor': ledger.next_cursor})}#ledger"
                        if ledger.next_cursor else None),
        "ledger_first": f"{base}#ledger" if ledger_cursor else None,
        "availability": inventory_channels.availability(session, staff, sku),
        "can_write": staff.can(WRITE), "can_buffers": staff.can("channels:write"),
        "values": values or {"reason": "adjustment"}, "errors": by_field,
        "error_list": listed}, status=status, block="ledger")


@router.post("/admin/inventory/adjust", response_class=HTMLResponse)
def adjust(request: Request, session: DbSession,
           sku: Annotated[str, Form(max_length=200)] = "",
           location: Annotated[str, Form(max_length=200)] = "",
           change: Annotated[str, Form(max_length=200)] = "",
           reason: Annotated[str, Form(max_length=50)] = "adjustment",
           note: Annotated[str, Form(max_length=4000)] = "",
           staff: StaffSession = Depends(staff_page(WRITE))) -> Response:
    values = {"location": location, "change": change, "reason": reason, "note": note}
    try:
        body = AdjustmentIn.model_validate({"lines": [{
            "sku": sku, "location": location, "delta": change.strip(), "reason": reason,
            "note": note.strip() or None}]})
        stock_service.adjust(session, body)
    except (ValidationError, MercatoError) as exc:
        errors = renamed(errors_of(exc), ADJUST_FIELDS)
        session.rollback()  # nothing of a refused adjustment stays; the page reads afresh
        return sku_page(request, session, staff, sku, values=values, errors=errors,
                        status=404 if isinstance(exc, NotFound) else 422)
    moved = body.lines[0].delta
    return redirect("/admin/inventory?" + urlencode({"sku": sku}),
                    flash=f"Stock of {sku} {'raised' if moved > 0 else 'lowered'} by "
                          f"{abs(moved)}.")


# -- set a count -------------------------------------------------------------------------------

SET_FIELDS = {"on_hand": "on_hand", "location": "location", "reason": "reason",
              "note": "note", "safety_stock": "safety_stock", "reorder_point": "reorder_point",
              "reorder_quantity": "reorder_quantity", "expected_on_hand": "on_hand",
              "sku": "sku"}


def _set_page(request: Request, session: Session, sku: str, *,
              values: dict[str, Any] | None = None, errors: list[dict[str, Any]] | None = None,
              status: int = 200) -> Response:
    levels = stock_service.list_levels(session, sku=sku, location=None)
    by_field, listed = form_errors(errors or [])
    return render(request, "admin/inventory/set_count.html", {
        "sku": sku, "rows": level_rows(session, levels),
        "locations": location_options(all_locations(session)), "reasons": SET_REASONS,
        "values": values or {"reason": "count"}, "errors": by_field, "error_list": listed},
        status=status)


@router.get("/admin/inventory/set-count", response_class=HTMLResponse)
def set_count_form(request: Request, session: DbSession,
                   sku: Annotated[str, Query(min_length=1, max_length=100)],
                   location: Annotated[str | None, Query(max_length=50)] = None,
                   staff: StaffSession = Depends(staff_page(WRITE))) -> Response:
    return _set_page(request, session, sku, values={"reason": "count",
                                                    "location": location or ""})


def _optional_int(value: str) -> str | None:
    return value.strip() or None


@router.post("/admin/inventory/set-count", response_class=HTMLResponse)
def set_count(request: Request, session: DbSession,
              sku: Annotated[str, Form(max_length=200)] = "",
              location: Annotated[str, Form(max_length=200)] = "",
              on_hand: Annotated[str, Form(max_length=200)] = "",
              reason: Annotated[str, Form(max_length=50)] = "count",
              note: Annotated[str, Form(max_length=4000)] = "",
              safety_stock: Annotated[str, Form(max_length=200)] = "",
              reorder_point: Annotated[str, Form(max_length=200)] = "",
              reorder_quantity: Annotated[str, Form(max_length=200)] = "",
              staff: StaffSession = Depends(staff_page(WRITE))) -> Response:
    values = {"location": location, "on_hand": on_hand, "reason": reason, "note": note,
              "safety_stock": safety_stock, "reorder_point": reorder_point,
              "reorder_quantity": reorder_quantity}
    data: dict[str, Any] = {"sku": sku, "location": location, "reason": reason,
                            "note": note.strip() or None}
    for name in ("on_hand", "safety_stock", "reorder_point", "reorder_quantity"):
        if (given := _optional_int(values[name])) is not None:
            data[name] = given
    if len(data) == 4:  # nothing to set
        return _set_page(request, session, sku, values=values, status=422, errors=[
            {"field": "on_hand", "message": "Enter the counted quantity (or a reorder setting "
                                            "to change)."}])
    try:
        body = LevelSet.model_validate(data)
        stock_service.set_level(session, body)
    except (ValidationError, MercatoError) as exc:
        session.rollback()
        return _set_page(request, session, sku, values=values,
                         errors=renamed(errors_of(exc), SET_FIELDS),
                         status=404 if isinstance(exc, NotFound) else 422)
    what = (f"On hand of {sku} set to {body.on_hand}." if body.on_hand is not None
            else f"Reorder settings of {sku} saved.")
    return redirect("/admin/inventory?" + urlencode({"sku": sku}), flash=what)


# -- low stock ---------------------------------------------------------------------------------

@router.get("/admin/inventory/low-stock", response_class=HTMLResponse)
def low_stock(request: Request, session: DbSession,
              location: Annotated[str | None, Query(max_length=50)] = None,
              staff: StaffSession = Depends(staff_page(READ))) -> Response:
    levels = stock_service.low_stock(session, location or None)
    rows = level_rows(session, levels)
    titles = catalog.sale_items(session, ids=[item.id for _, item in levels])
    order_lines = "\n".join(f"{r['level'].sku}, {r['suggested']}, "
                            f"{_cost(levels, r['level'].variant_id)}"
                            for r in rows if r["suggested"])
    return render(request, "admin/inventory/low_stock.html", {
        "rows": rows, "titles": titles,
        "locations": location_options(all_locations(session), active_only=False),
        "values": {"location": location or ""},
        "order_url": ("/admin/inventory/purchase-orders/new?" + urlencode({"lines": order_lines})
                      if order_lines and staff.can(WRITE) else None)}, block="rows")


def _cost(levels: list[tuple[Any, Any]], variant_id: str) -> str:
    for _, item in levels:
        if item.id == variant_id and item.cost is not None:
            return str(item.cost)
    return ""


router.include_router(inventory_movements.router)
router.include_router(purchasing.router)
router.include_router(inventory_channels.router)
