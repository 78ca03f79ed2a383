"""Transfers between locations and count sheets: list, create, and each one's key actions
(receive or cancel a transfer; record, apply or cancel a count), through the same inventory
functions and permissions as ``/api/v1/inventory/transfers`` and ``/counts``."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session

from mercato import inventory
from mercato.core.errors import MercatoError, ValidationFailed
from mercato.core.pagination import DEFAULT_LIMIT, PageParams
from mercato.core.uow import DbSession, MercatoRoute
from mercato.web.admin.stock_forms import (
    all_locations,
    location_options,
    parse_lines,
    renamed,
)
from mercato.web.session import StaffSession, staff_page
from mercato.web.templating import errors_of, form_errors, redirect, render

router = APIRouter(route_class=MercatoRoute, include_in_schema=False)
READ, WRITE = "inventory:read", "inventory:write"
TRANSFER_STATUSES = ("in_transit", "partially_received", "received", "cancelled")
COUNT_STATUSES = ("open", "applied", "cancelled")
COUNT_REASONS = ("count", "damage", "adjustment")
TONES = {"in_transit": "warn", "partially_received": "warn", "received": "good",
         "cancelled": "neutral", "open": "warn", "applied": "good"}


def _names(session: Session) -> dict[str, inventory.Location]:
    return {loc.id: loc for loc in all_locations(session)}


def _list_urls(path: str, filters: dict[str, str | None], cursor: str | None,
               next_cursor: str | None) -> tuple[str | None, str | None]:
    kept = {k: v for k, v in filters.items() if v}
    next_url = f"{path}?{urlencode({**kept, 'cursor': next_cursor})}" if next_cursor else None
    first_url = f"{path}?{urlencode(kept)}" if cursor else None
    return next_url, first_url


def _line_inputs(typed: list[str], skus: list[str]) -> list[tuple[int, str, str]]:
    """(line index, sku, typed value) of the per-line inputs filled in (one input per line, in
    the lines' order, all with the same name)."""
    return [(i, sku, value.strip()) for i, (sku, value) in enumerate(zip(skus, typed,
                                                                          strict=False))
            if value.strip()]


def _per_line(errors: list[dict[str, Any]], prefix: str, sent: list[tuple[int, str, str]],
              names: dict[str, str]) -> list[dict[str, Any]]:
    """Errors on ``lines.N.*`` of what was sent, moved to the input of the line they concern."""
    out = []
    for error in errors:
        field = str(error.get("field") or "")
        parts = field.split(".")
        if len(parts) >= 2 and parts[0] == "lines" and parts[1].isdigit() \
                and int(parts[1]) < len(sent):
            out.append({**error, "field": f"{prefix}{sent[int(parts[1])][0]}"})
        else:
            out.append({**error, "field": names.get(field, field)})
    return out


# -- transfers ---------------------------------------------------------------------------------

@router.get("/admin/inventory/transfers", response_class=HTMLResponse)
def transfers(request: Request, session: DbSession,
              status: Annotated[str | None, Query(max_length=30)] = None,
              cursor: Annotated[str | None, Query(max_length=4000)] = None,
              staff: StaffSession = Depends(staff_page(READ))) -> Response:
    chosen = status if status in TRANSFER_STATUSES else None
    page = inventory.list_transfers(session, PageParams(limit=DEFAULT_LIMIT, cursor=cursor),
                                    status=chosen)
    next_url, first_url = _list_urls("/admin/inventory/transfers", {"status": chosen}, cursor,
                                     page.next_cursor)
    return render(request, "admin/inventory/transfers.html", {
        "transfers": page.items, "names": _names(session), "tones": TONES,
        "statuses": TRANSFER_STATUSES, "values": {"status": chosen or ""},
        "in_transit": inventory.in_transit, "next_url": next_url, "first_url": first_url,
        "can_write": staff.can(WRITE)}, block="rows")


def _new_transfer(request: Request, session: Session, *, values: dict[str, Any],
                  errors: list[dict[str, Any]] | None = None, status: int = 200) -> Response:
    by_field, listed = form_errors(errors or [])
    return render(request, "admin/inventory/transfer_new.html", {
        "locations": location_options(all_locations(session)), "values": values,
        "errors": by_field, "error_list": listed}, status=status)


@router.get("/admin/inventory/transfers/new", response_class=HTMLResponse)
def new_transfer(request: Request, session: DbSession,
                 sku: Annotated[str | None, Query(max_length=100)] = None,
                 staff: StaffSession = Depends(staff_page(WRITE))) -> Response:
    return _new_transfer(request, session, values={"lines": f"{sku}, 1" if sku else ""})


@router.post("/admin/inventory/transfers", response_class=HTMLResponse)
def create_transfer(request: Request, session: DbSession,
                    from_location: Annotated[str, Form(max_length=200)] = "",
                    to_location: Annotated[str, Form(max_length=200)] = "",
                    lines: Annotated[str, Form(max_length=100_000)] = "",
                    note: Annotated[str, Form(max_length=4000)] = "",
                    staff: StaffSession = Depends(staff_page(WRITE))) -> Response:
    values = {"from_location": from_location, "to_location": to_location, "lines": lines,
              "note": note}
    try:
        body = inventory.TransferIn.model_validate({
            "from_location": from_location, "to_location": to_location,
            "lines": parse_lines(lines, ("sku", "quantity")), "note": note.strip() or None})
        transfer = inventory.create_transfer(session, body)
    except (ValidationError, MercatoError) as exc:
        session.rollback()
        return _new_transfer(request, session, values=values, status=422, errors=renamed(
            errors_of(exc), {"from_location": "from_location", "to_location": "to_location",
                             "lines": "lines", "note": "note"}))
    units = sum(line.quantity for line in body.lines)
    return redirect(f"/admin/inventory/transfers/{transfer.id}",
                    flash=f"Transfer created: {units} units are in transit.")


def _transfer_page(request: Request, session: Session, staff: StaffSession, transfer_id: str,
                   *, values: dict[str, Any] | None = None,
                   errors: list[dict[str, Any]] | None = None, status: int = 200) -> Response:
    transfer = inventory.get_transfer(session, transfer_id)
    by_field, listed = form_errors(errors or [])
    return render(request, "admin/inventory/transfer.html", {
        "transfer": transfer, "names": _names(session), "tones": TONES,
        "in_transit": inventory.in_transit,
        "open": transfer.status in ("in_transit", "partially_received"),
        "can_write": staff.can(WRITE), "values": values or {}, "errors": by_field,
        "error_list": listed}, status=status)


@router.get("/admin/inventory/transfers/{transfer_id}", response_class=HTMLResponse)
def transfer_page(request: Request, transfer_id: str, session: DbSession,
                  staff: StaffSession = Depends(staff_page(READ))) -> Response:
    return _transfer_page(request, session, staff, transfer_id)


@router.post("/admin/inventory/transfers/{transfer_id}/receive", response_class=HTMLResponse)
def receive_transfer(request: Request, transfer_id: str, session: DbSession,
                     quantity: Annotated[list[str], Form()] = [],  # noqa: B006
                     staff: StaffSession = Depends(staff_page(WRITE))) -> Response:
    transfer = inventory.get_transfer(session, transfer_id)
    sent = _line_inputs(quantity, [line.sku for line in transfer.lines])
    values = {f"quantity_{i}": v for i, _, v in sent}
    try:
        data: dict[str, Any] = {} if not sent else {
            "lines": [{"sku": sku, "quantity": v} for _, sku, v in sent]}
        body = inventory.TransferReceiveIn.model_validate(data)
        inventory.receive_transfer(session, transfer, body)
    except (ValidationError, MercatoError) as exc:
        session.rollback()
        return _transfer_page(request, session, staff, transfer_id, values=values, status=422,
                              errors=_per_line(errors_of(exc), "quantity_", sent, {}))
    return redirect(f"/admin/inventory/transfers/{transfer_id}",
                    flash="Received." if sent else "Everything in transit was received.")


@router.post("/admin/inventory/transfers/{transfer_id}/cancel", response_class=HTMLResponse)
def cancel_transfer(request: Request, transfer_id: str, session: DbSession,
                    staff: StaffSession = Depends(staff_page(WRITE))) -> Response:
    transfer = inventory.get_transfer(session, transfer_id)
    try:
        inventory.cancel_transfer(session, transfer)
    except MercatoError as exc:
        session.rollback()
        return _transfer_page(request, session, staff, transfer_id, status=422,
                              errors=errors_of(exc))
    return redirect(f"/admin/inventory/transfers/{transfer_id}",
                    flash="Transfer cancelled: the stock is back at its source.")


# -- count sheets ------------------------------------------------------------------------------

@router.get("/admin/inventory/counts", response_class=HTMLResponse)
def counts(request: Request, session: DbSession,
           status: Annotated[str | None, Query(max_length=30)] = None,
           location: Annotated[str | None, Query(max_length=50)] = None,
           cursor: Annotated[str | None, Query(max_length=4000)] = None,
           staff: StaffSession = Depends(staff_page(READ))) -> Response:
    chosen = status if status in COUNT_STATUSES else None
    page = inventory.list_counts(session, PageParams(limit=DEFAULT_LIMIT, cursor=cursor),
                                 status=chosen, location=location or None)
    next_url, first_url = _list_urls("/admin/inventory/counts",
                                     {"status": chosen, "location": location}, cursor,
                                     page.next_cursor)
    locations = all_locations(session)
    return render(request, "admin/inventory/counts.html", {
        "counts": page.items, "names": {loc.id: loc for loc in locations}, "tones": TONES,
        "statuses": COUNT_STATUSES, "locations": location_options(locations, active_only=False),
        "values": {"status": chosen or "", "location": location or ""},
        "next_url": next_url, "first_url": first_url, "can_write": staff.can(WRITE)},
        block="rows")


def _new_count(request: Request, session: Session, *, values: dict[str, Any],
               errors: list[dict[str, Any]] | None = None, status: int = 200) -> Response:
    by_field, listed = form_errors(errors or [])
    return render(request, "admin/inventory/count_new.html", {
        "locations": location_options(all_locations(session)), "values": values,
        "errors": by_field, "error_list": listed}, status=status)


@router.get("/admin/inventory/counts/new", response_class=HTMLResponse)
def new_count(request: Request, session: DbSession,
              staff: StaffSession = Depends(staff_page(WRITE))) -> Response:
    return _new_count(request, session, values={})


@router.post("/admin/inventory/counts", response_class=HTMLResponse)
def create_count(request: Request, session: DbSession,
                 location: Annotated[str, Form(max_length=200)] = "",
                 skus: Annotated[str, Form(max_length=100_000)] = "",
                 note: Annotated[str, Form(max_length=4000)] = "",
                 staff: StaffSession = Depends(staff_page(WRITE))) -> Response:
    values = {"location": location, "skus": skus, "note": note}
    listed = [row["sku"] for row in parse_lines(skus, ("sku",))]
    try:
        body = inventory.CountIn.model_validate({
            "location": location, "skus": listed or None, "note": note.strip() or None})
        count = inventory.create_count(session, body)
    except (ValidationError, MercatoError) as exc:
        session.rollback()
        errors = [{**e, "field": "skus" if str(e.get("field", "")).startswith("skus")
                   else e.get("field")} for e in errors_of(exc)]
        return _new_count(request, session, values=values, status=422, errors=errors)
    return redirect(f"/admin/inventory/counts/{count.id}",
                    flash=f"Count sheet started with {len(count.lines)} lines.")


def _count_page(request: Request, session: Session, staff: StaffSession, count_id: str, *,
                values: dict[str, Any] | None = None,
                errors: list[dict[str, Any]] | None = None, status: int = 200) -> Response:
    count = inventory.get_count(session, count_id)
    by_field, listed = form_errors(errors or [])
    shown = dict(values or {})
    for i, line in enumerate(count.lines):
        if line.counted is not None:
            shown.setdefault(f"counted_{i}", str(line.counted))
    return render(request, "admin/inventory/count.html", {
        "count": count, "names": _names(session), "tones": TONES, "reasons": COUNT_REASONS,
        "variance": inventory.count_variance, "open": count.status == "open",
        "can_write": staff.can(WRITE), "values": {"reason": "count", **shown},
        "errors": by_field, "error_list": listed}, status=status)


@router.get("/admin/inventory/counts/{count_id}", response_class=HTMLResponse)
def count_page(request: Request, count_id: str, session: DbSession,
               staff: StaffSession = Depends(staff_page(READ))) -> Response:
    return _count_page(request, session, staff, count_id)


@router.post("/admin/inventory/counts/{count_id}/lines", response_class=HTMLResponse)
def record_counts(request: Request, count_id: str, session: DbSession,
                  counted: Annotated[list[str], Form()] = [],  # noqa: B006
                  staff: StaffSession = Depends(staff_page(WRITE))) -> Response:
    count = inventory.get_count(session, count_id)
    sent = _line_inputs(counted, [line.sku for line in count.lines])
    values = {f"counted_{i}": v for i, _, v in sent}
    try:
        if not sent:
            raise ValidationFailed("Enter at least one counted quantity.", errors=[
                {"field": "counted_0", "message": "Enter what you counted."}])
        body = inventory.CountedIn.model_validate({
            "lines": [{"sku": sku, "counted": v} for _, sku, v in sent]})
        inventory.record_counts(session, count, body)
    except (ValidationError, MercatoError) as exc:
        session.rollback()
        return _count_page(request, session, staff, count_id, values=values, status=422,
                           errors=_per_line(errors_of(exc), "counted_", sent, {}))
    return redirect(f"/admin/inventory/counts/{count_id}",
                    flash=f"{len(sent)} counted quantities saved.")


@router.post("/admin/inventory/counts/{count_id}/apply", response_class=HTMLResponse)
def apply_count(request: Request, count_id: str, session: DbSession,
                reason: Annotated[str, Form(max_length=50)] = "count",
                note: Annotated[str, Form(max_length=4000)] = "",
                staff: StaffSession = Depends(staff_page(WRITE))) -> Response:
    count = inventory.get_count(session, count_id)
    try:
        body = inventory.ApplyIn.model_validate({"reason": reason,
                                                 "note": note.strip() or None})
        inventory.apply_count(session, count, body)
    except (ValidationError, MercatoError) as exc:
        session.rollback()
        return _count_page(request, session, staff, count_id, status=422,
                           values={"reason": reason, "apply_note": note},
                           errors=[{**e, "field": "apply_note" if e.get("field") == "note"
                                    else e.get("field")} for e in errors_of(exc)])
    return redirect(f"/admin/inventory/counts/{count_id}",
                    flash="Count applied: each counted line moved by its variance.")


@router.post("/admin/inventory/counts/{count_id}/cancel", response_class=HTMLResponse)
def cancel_count(request: Request, count_id: str, session: DbSession,
                 staff: StaffSession = Depends(staff_page(WRITE))) -> Response:
    count = inventory.get_count(session, count_id)
    try:
        inventory.cancel_count(session, count)
    except MercatoError as exc:
        session.rollback()
        return _count_page(request, session, staff, count_id, status=422,
                           errors=errors_of(exc))
    return redirect(f"/admin/inventory/counts/{count_id}", flash="Count cancelled.")
