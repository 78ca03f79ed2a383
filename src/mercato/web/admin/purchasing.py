"""Purchase orders: list, create (from low stock's suggestions too), receive into a location
and cancel, through the same functions and permissions as ``/api/v1/purchase-orders``."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session

from mercato import inventory
from mercato.core.errors import MercatoError
from mercato.core.pagination import DEFAULT_LIMIT, PageParams
from mercato.core.uow import DbSession, MercatoRoute
from mercato.web.admin.stock_forms import (
    all_locations,
    location_options,
    parse_lines,
    renamed,
)
from mercato.web.session import StaffSession, staff_page
from mercato.web.templating import errors_of, form_errors, formats_of, redirect, render

router = APIRouter(route_class=MercatoRoute, include_in_schema=False)
READ, WRITE = "inventory:read", "inventory:write"
STATUSES = ("open", "partially_received", "received", "cancelled")
TONES = {"open": "warn", "partially_received": "warn", "received": "good",
         "cancelled": "neutral"}
BASE = "/admin/inventory/purchase-orders"


def totals(order: Any) -> dict[str, Any]:
    return {"ordered_units": sum(line.quantity for line in order.lines),
            "received_units": sum(line.received for line in order.lines),
            "ordered_value": sum((line.quantity * line.unit_cost for line in order.lines),
                                 Decimal("0.00"))}


@router.get(BASE, response_class=HTMLResponse)
def purchase_orders(request: Request, session: DbSession,
                    status: Annotated[str | None, Query(max_length=30)] = None,
                    cursor: Annotated[str | None, Query(max_length=4000)] = None,
                    staff: StaffSession = Depends(staff_page(READ))) -> Response:
    chosen = status if status in STATUSES else None
    page = inventory.list_purchase_orders(
        session, PageParams(limit=DEFAULT_LIMIT, cursor=cursor), status=chosen)
    kept = {"status": chosen} if chosen else {}
    return render(request, "admin/inventory/purchase_orders.html", {
        "orders": [(order, totals(order)) for order in page.items], "tones": TONES,
        "statuses": STATUSES, "values": {"status": chosen or ""},
        "next_url": (f"{BASE}?{urlencode({**kept, 'cursor': page.next_cursor})}"
                     if page.next_cursor else None),
        "first_url": f"{BASE}?{urlencode(kept)}" if cursor else None,
        "can_write": staff.can(WRITE)}, block="rows")


def _new_page(request: Request, *, values: dict[str, Any],
              errors: list[dict[str, Any]] | None = None, status: int = 200) -> Response:
    by_field, listed = form_errors(errors or [])
    return render(request, "admin/inventory/purchase_order_new.html", {
        "values": values, "errors": by_field, "error_list": listed}, status=status)


@router.get(f"{BASE}/new", response_class=HTMLResponse)
def new_purchase_order(request: Request,
                       lines: Annotated[str, Query(max_length=20_000)] = "",
                       staff: StaffSession = Depends(staff_page(WRITE))) -> Response:
    return _new_page(request, values={"currency": formats_of(request).currency, "lines": lines})


@router.post(BASE, response_class=HTMLResponse)
def create_purchase_order(request: Request, session: DbSession,
                          supplier: Annotated[str, Form(max_length=1000)] = "",
                          currency: Annotated[str, Form(max_length=20)] = "USD",
                          lines: Annotated[str, Form(max_length=100_000)] = "",
                          note: Annotated[str, Form(max_length=4000)] = "",
                          staff: StaffSession = Depends(staff_page(WRITE))) -> Response:
    values = {"supplier": supplier, "currency": currency, "lines": lines, "note": note}
    try:
        body = inventory.PurchaseOrderCreate.model_validate({
            "supplier": supplier.strip(), "currency": currency.strip().upper(),
            "lines": parse_lines(lines, ("sku", "quantity", "unit_cost")),
            "note": note.strip() or None})
        order = inventory.create_purchase_order(session, body)
    except (ValidationError, MercatoError) as exc:
        session.rollback()
        return _new_page(request, values=values, status=422, errors=renamed(
            errors_of(exc), {"supplier": "supplier", "currency": "currency",
                             "lines": "lines", "note": "note"}))
    return redirect(f"{BASE}/{order.id}", flash=f"Purchase order for {order.supplier} created.")


def _order_page(request: Request, session: Session, staff: StaffSession, purchase_order_id: str, *,
                values: dict[str, Any] | None = None,
                errors: list[dict[str, Any]] | None = None, status: int = 200) -> Response:
    order = inventory.get_purchase_order(session, purchase_order_id)
    by_field, listed = form_errors(errors or [])
    locations = all_locations(session)
    return render(request, "admin/inventory/purchase_order.html", {
        "order": order, "totals": totals(order), "tones": TONES,
        "open": order.status in ("open", "partially_received"),
        "locations": location_options(locations), "can_write": staff.can(WRITE),
        "values": values or {}, "errors": by_field, "error_list": listed}, status=status)


@router.get(BASE + "/{purchase_order_id}", response_class=HTMLResponse)
def purchase_order(request: Request, purchase_order_id: str, session: DbSession,
                   staff: StaffSession = Depends(staff_page(READ))) -> Response:
    return _order_page(request, session, staff, purchase_order_id)


@router.post(BASE + "/{purchase_order_id}/receive", response_class=HTMLResponse)
def receive(request: Request, purchase_order_id: str, session: DbSession,
            location: Annotated[str, Form(max_length=200)] = "",
            quantity: Annotated[list[str], Form()] = [],  # noqa: B006
            note: Annotated[str, Form(max_length=4000)] = "",
            staff: StaffSession = Depends(staff_page(WRITE))) -> Response:
    order = inventory.get_purchase_order(session, purchase_order_id)
    sent = [(i, line.sku, typed.strip()) for i, (line, typed)
            in enumerate(zip(order.lines, quantity, strict=False)) if typed.strip()]
    values = {"location": location, "note": note, **{f"quantity_{i}": v for i, _, v in sent}}
    try:
        body = inventory.PurchaseReceiveIn.model_validate({
            "location": location, "note": note.strip() or None,
            "lines": [{"sku": sku, "quantity": v} for _, sku, v in sent]})
        inventory.receive_purchase_order(session, purchase_order_id, body)
    except (ValidationError, MercatoError) as exc:
        session.rollback()
        errors = []
        for error in errors_of(exc):
            field = str(error.get("field") or "")
            parts = field.split(".")
            if field == "lines" and not sent:
                field = "quantity_0"
                error = {**error, "message": "Enter the units that arrived."}
            elif len(parts) >= 2 and parts[0] == "lines" and parts[1].isdigit() \
                    and int(parts[1]) < len(sent):
                field = f"quantity_{sent[int(parts[1])][0]}"
            errors.append({**error, "field": field})
        return _order_page(request, session, staff, purchase_order_id, values=values, status=422,
                           errors=errors)
    units = sum(int(v) for _, _, v in sent)
    return redirect(f"{BASE}/{purchase_order_id}", flash=f"{units} units received.")


@router.post(BASE + "/{purchase_order_id}/cancel", response_class=HTMLResponse)
def cancel(request: Request, purchase_order_id: str, session: DbSession,
           staff: StaffSession = Depends(staff_page(WRITE))) -> Response:
    try:
        inventory.cancel_purchase_order(session, purchase_order_id)
    except MercatoError as exc:
        if exc.status == 404:
            raise
        session.rollback()
        return _order_page(request, session, staff, purchase_order_id, status=422,
                           errors=errors_of(exc))
    return redirect(f"{BASE}/{purchase_order_id}", flash="Purchase order cancelled.")
