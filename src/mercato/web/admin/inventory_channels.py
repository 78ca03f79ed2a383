"""Channel buffers and available-to-sell per channel for a SKU (as ``/api/v1/channels/{id}/
availability`` and ``PUT .../buffers``, with the channels permissions those routes use)."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session

from mercato import inventory
from mercato.core.errors import MercatoError
from mercato.core.pagination import MAX_LIMIT, PageParams
from mercato.core.uow import DbSession, MercatoRoute
from mercato.inventory.schemas import BuffersIn
from mercato.web.admin.stock_forms import renamed
from mercato.web.session import StaffSession, staff_page
from mercato.web.templating import errors_of, form_errors, redirect, render

router = APIRouter(route_class=MercatoRoute, include_in_schema=False)
READ, WRITE = "channels:read", "channels:write"
BUFFER_FIELDS = {"buffers.0.buffer": "buffer", "buffers.0.sku": "sku", "buffers": "buffer",
                 "channel": "channel"}


def _channels(session: Session) -> list[inventory.SalesChannel]:
    return list(inventory.list_channels(session, PageParams(limit=MAX_LIMIT, cursor=None))
                .items)


def availability(session: Session, staff: StaffSession, sku: str
                 ) -> list[dict[str, Any]] | None:
    """Each channel's number for the SKU (None for a role that cannot read channels)."""
    if not staff.can(READ):
        return None
    rows = []
    for channel in _channels(session):
        found = inventory.available_to_sell(session, channel, sku)
        rows.append({"channel": channel, "available": found["available_to_sell"],
                     "buffer": found["buffer"],
                     "own_buffer": found["buffer"] != channel.default_buffer})
    return rows


def _page(request: Request, session: Session, staff: StaffSession, sku: str, *,
          values: dict[str, Any] | None = None, errors: list[dict[str, Any]] | None = None,
          status: int = 200) -> Response:
    rows = availability(session, staff, sku) or []
    by_field, listed = form_errors(errors or [])
    return render(request, "admin/inventory/buffers.html", {
        "sku": sku, "rows": rows,
        "channels": [(c.id, f"{c.name} ({c.kind})") for c in _channels(session)],
        "can_write": staff.can(WRITE), "values": values or {}, "errors": by_field,
        "error_list": listed}, status=status)


@router.get("/admin/inventory/buffers", response_class=HTMLResponse)
def buffers(request: Request, session: DbSession,
            sku: Annotated[str, Query(min_length=1, max_length=100)],
            staff: StaffSession = Depends(staff_page("inventory:read", READ))) -> Response:
    inventory.list_levels(session, sku=sku, location=None)  # 404 for an unknown SKU
    return _page(request, session, staff, sku)


@router.post("/admin/inventory/buffers", response_class=HTMLResponse)
def set_buffer(request: Request, session: DbSession,
               sku: Annotated[str, Form(max_length=200)] = "",
               channel: Annotated[str, Form(max_length=100)] = "",
               buffer: Annotated[str, Form(max_length=200)] = "",
               staff: StaffSession = Depends(staff_page("inventory:read", WRITE))) -> Response:
    values = {"channel": channel, "buffer": buffer}
    try:
        target = inventory.get_channel(session, channel, field="channel")
        body = BuffersIn.model_validate({"buffers": [
            {"sku": sku, "buffer": buffer.strip() or None}]})
        inventory.set_buffers(session, target, body.buffers)
    except (ValidationError, MercatoError) as exc:
        session.rollback()
        return _page(request, session, staff, sku, values=values, status=422,
                     errors=renamed(errors_of(exc), BUFFER_FIELDS))
    what = (f"{target.name} keeps {body.buffers[0].buffer} of {sku} back."
            if body.buffers[0].buffer is not None
            else f"{target.name} uses its default buffer for {sku} again.")
    return redirect("/admin/inventory/buffers?" + urlencode({"sku": sku}), flash=what)
