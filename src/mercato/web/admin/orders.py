"""The admin's orders pages: one inbox across channels, an order's detail and timeline, and
what staff do to an order (fulfil, cancel, refund, return, resolve an oversold order).

Every handler calls the service function its API route calls (``orders.api``), with the
same permission: reading needs ``orders:read``; fulfilling and returns ``fulfillment:write``;
cancelling, refunding and allocating stock ``orders:write``.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from mercato import digital, inventory
from mercato.core.errors import MercatoError, NotFound
from mercato.core.pagination import PageParams
from mercato.core.uow import DbSession, MercatoRoute
from mercato.identity import audit_trail
from mercato.orders import service
from mercato.orders.schemas import (
    CancelIn,
    FinancialStatus,
    Flag,
    FulfillmentIn,
    FulfillmentStatus,
    OrderOut,
    OrderSummary,
    RefundIn,
    ReturnIn,
    Status,
)
from mercato.web.session import StaffSession, staff_page
from mercato.web.templating import (
    errors_of,
    form_errors,
    formats_of,
    pydantic_errors,
    redirect,
    render,
)

router = APIRouter(route_class=MercatoRoute, include_in_schema=False)
READ, WRITE, FULFIL = "orders:read", "orders:write", "fulfillment:write"
PAGE_SIZE = 50
SOURCES = ("web", "pos", "manual", "shopify", "binderpos", "tcgplayer", "ebay", "amazon",
           "shopee", "tiktok")
"""Suggestions for the channel filter (it also takes a sales channel's id)."""

STATUSES: tuple[Status, ...] = ("open", "closed", "cancelled")
FINANCIAL: tuple[FinancialStatus, ...] = ("pending", "authorized", "paid",
                                          "partially_refunded", "refunded", "voided")
FULFILMENT: tuple[FulfillmentStatus, ...] = ("unfulfilled", "partial", "fulfilled", "returned")


def options(values: Sequence[str]) -> list[tuple[str, str]]:
    """(value, label) pairs for a select: ``partially_refunded`` reads "Partially refunded"."""
    return [(v, v.replace("_", " ").capitalize()) for v in values]


async def form_of(request: Request) -> FormData:
    """The posted form (already read once by the CSRF check: Starlette keeps it)."""
    return await request.form()


def here(request: Request) -> str:
    """This page's path and query (where htmx sends the browser for a whole page)."""
    query = request.url.query
    return request.url.path + ("?" + query if query else "")


def _text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


# -- the inbox ----------------------------------------------------------------------------------

class OrderFilterForm(BaseModel):
    """The inbox's filters: those of ``GET /api/v1/orders``, with dates instead of instants."""

    model_config = ConfigDict(extra="ignore")
    q: str | None = Field(default=None, max_length=200)
    channel: str | None = Field(default=None, max_length=50)
    status: Status | None = None
    financial_status: FinancialStatus | None = None
    fulfillment_status: FulfillmentStatus | None = None
    oversold: bool = False
    flag: Flag | None = Field(default=None, description="The API's name: `oversold`.")
    date_from: dt.date | None = None
    date_to: dt.date | None = None

    @model_validator(mode="after")
    def _dates_in_order(self) -> OrderFilterForm:
        if self.date_from and self.date_to and self.date_to < self.date_from:
            raise ValueError("the end date is before the start date")
        return self


FILTER_NAMES = ("q", "channel", "status", "financial_status", "fulfillment_status",
                "oversold", "flag", "date_from", "date_to")


def _filters_of(request: Request) -> tuple[dict[str, str], OrderFilterForm | None,
                                           list[dict[str, Any]]]:
    raw = {name: request.query_params.get(name, "").strip() for name in FILTER_NAMES}
    given = {k: v for k, v in raw.items() if v}
    try:
        parsed = OrderFilterForm.model_validate(given)
    except ValidationError as exc:
        shown = {"flag": "oversold", "": "date_to"}  # fields the form has, beside which
        errors = [{"field": shown.get(e["field"], e["field"]), "message": e["message"]}
                  for e in pydantic_errors(exc)]
        return raw, None, errors
    return raw, parsed, []


def service_filters(request: Request, form: OrderFilterForm) -> dict[str, Any]:
    """The filters as ``service.list_orders`` takes them (days in the store's time zone)."""
    zone = formats_of(request).zone

    def start_of(day: dt.date) -> dt.datetime:
        return dt.datetime.combine(day, dt.time.min, tzinfo=zone)

    return {"q": form.q, "channel": form.channel, "status": form.status,
            "financial_status": form.financial_status,
            "fulfillment_status": form.fulfillment_status,
            "flag": "oversold" if form.oversold or form.flag else None,
            "created_after": start_of(form.date_from) if form.date_from else None,
            "created_before": (start_of(form.date_to + dt.timedelta(days=1))
                               if form.date_to else None)}


def channel_names(session: Session, orders: Sequence[Any]) -> dict[str, str]:
    """The names of the sales channels these orders came through (by id), read once each
    through inventory's face; a source name (``web``, ``shopify``) needs none."""
    names: dict[str, str] = {}
    for channel_id in sorted({o.channel_id for o in orders if o.channel_id}):
        try:
            names[channel_id] = inventory.get_channel(session, channel_id).name
        except MercatoError:
            continue
    return names


def _page_url(path: str, raw: Mapping[str, str], cursor: str | None) -> str | None:
    if cursor is None:
        return None
    return path + "?" + urlencode({**{k: v for k, v in raw.items() if v}, "cursor": cursor})


@router.get("/admin/orders", response_class=HTMLResponse)
def orders_index(request: Request, session: DbSession, cursor: str | None = None,
                 staff: StaffSession = Depends(staff_page(READ))) -> Response:
    raw, parsed, errors = _filters_of(request)
    values: dict[str, Any] = {"values": raw, "sources": SOURCES,
                              "statuses": options(STATUSES), "financial": options(FINANCIAL),
                              "fulfilment": options(FULFILMENT),
                              "orders": [], "next_url": None, "first_url": None,
                              "channel_names": {}}
    if parsed is None:
        if request.headers.get("hx-request"):  # htmx swaps no 422: show the whole page
            return Response(status_code=204, headers={"HX-Redirect": here(request)})
        by_field, listed = form_errors(errors)
        return render(request, "admin/orders/index.html",
                      {**values, "errors": by_field, "error_list": listed}, status=422,
                      block="rows")
    page = service.list_orders(session, PageParams(limit=PAGE_SIZE, cursor=cursor or None),
                               **service_filters(request, parsed))
    values["orders"] = [OrderSummary.model_validate(o) for o in page.items]
    values["channel_names"] = channel_names(session, values["orders"])
    values["next_url"] = _page_url("/admin/orders", raw, page.next_cursor)
    if cursor:
        values["first_url"] = "/admin/orders?" + urlencode({k: v for k, v in raw.items() if v})
    return render(request, "admin/orders/index.html", values, block="rows")


@router.get("/admin/orders/oversold", response_class=HTMLResponse)
def oversold_queue(request: Request, session: DbSession, cursor: str | None = None,
                   staff: StaffSession = Depends(staff_page(READ))) -> Response:
    """Orders a channel sold with units Mercato did not have, and what can be done."""
    page = service.list_orders(session, PageParams(limit=PAGE_SIZE, cursor=cursor or None),
                               flag="oversold")
    orders = [OrderOut.model_validate(o) for o in page.items]
    return render(request, "admin/orders/oversold.html", {
        "orders": orders, "channel_names": channel_names(session, orders),
        "next_url": _page_url("/admin/orders/oversold", {}, page.next_cursor),
        "first_url": "/admin/orders/oversold" if cursor else None})


# -- one order ----------------------------------------------------------------------------------

ACTIONS = {"order.created": "Order created", "order.updated": "Order updated",
           "order.fulfilled": "Fulfilled", "order.cancelled": "Cancelled",
           "order.refunded": "Refunded", "order.allocated": "Stock allocated",
           "order.closed": "Closed", "order.reopened": "Reopened",
           "order.payment_added": "Payment recorded",
           "order.payment_captured": "Payment captured",
           "order.payment_voided": "Payment voided", "order.returned": "Return recorded",
           "order.return_received": "Return received"}


def action_label(action: str) -> str:
    return ACTIONS.get(action) or action.rpartition(".")[2].replace("_", " ").capitalize()


def in_stock(line: Any) -> int:
    """Units of a line taken from stock and neither shipped nor cancelled: what can ship."""
    return sum(a.quantity - a.fulfilled - a.cancelled for a in line.allocations)


def returnable(order: OrderOut | Any) -> dict[str, int]:
    """Units of each line shipped (or handed over at the counter) and not returned (nor in a
    return awaiting its goods): the admin's order page and the POS's returns."""
    pending: dict[str, int] = {}
    for ret in order.returns:
        if ret.status == "requested":
            for entry in ret.lines:
                pending[entry["line_id"]] = pending.get(entry["line_id"], 0) + int(
                    entry["quantity"])
    return {line.id: line.fulfilled - line.returned - pending.get(line.id, 0)
            for line in order.lines}


def _order_context(session: Session, order_id: str) -> dict[str, Any]:
    order = OrderOut.model_validate(service.get_order(session, order_id))
    lines = {line.id: line for line in order.lines}
    places = {f.location_id for f in order.fulfillments}
    place_names = {p: found.name for p in sorted(places)
                   if (found := inventory.find_location(session, p)) is not None}
    fulfilments = [{"f": f, "from": place_names.get(f.location_id, f.location_id),
                    "lines": [(lines[e["line_id"]].sku if e["line_id"] in lines
                               else e["line_id"], e["quantity"]) for e in f.lines]}
                   for f in order.fulfillments]
    timeline = [{"label": action_label(e.action), "actor": e.actor_label, "at": e.created_at}
                for e in audit_trail(session, "order", order.id)]
    return {"order": order, "in_stock": {ln.id: in_stock(ln) for ln in order.lines},
            "deliveries": digital.order_deliveries(session, order.id),
            "returnable": returnable(order), "fulfilments": fulfilments,
            "timeline": timeline, "channel_names": channel_names(session, [order]),
            "refundable": order.paid_total - order.refunded_total}


def _detail(request: Request, session: Session, order_id: str, *, status: int = 200,
            errors: Sequence[dict[str, Any]] = (), values: Mapping[str, Any] | None = None,
            ) -> HTMLResponse:
    context = _order_context(session, order_id)
    by_field, listed = form_errors(list(errors))
    return render(request, "admin/orders/detail.html", {
        **context, "values": dict(values or {}), "errors": by_field, "error_list": listed},
        status=status)


@router.get("/admin/orders/{order_id}", response_class=HTMLResponse)
def order_detail(order_id: str, request: Request, session: DbSession,
                 staff: StaffSession = Depends(staff_page(READ))) -> Response:
    return _detail(request, session, order_id)


def _renamed(errors: Sequence[dict[str, Any]], names: Sequence[str],
             fields: Mapping[str, str], fallback: str) -> list[dict[str, Any]]:
    """A service's or schema's errors named after the form's fields: ``lines.<i>.*`` is the
    field of the i-th line sent (``names``), others by ``fields``; the rest on ``fallback``."""
    out = []
    for error in errors:
        field = str(error.get("field") or "")
        found = re.fullmatch(r"lines\.(\d+)(\..*)?", field)
        if found and int(found.group(1)) < len(names):
            field = names[int(found.group(1))]
        else:
            field = fields.get(field.split(".")[0], fallback if field else "")
        out.append({"field": field, "message": error.get("message") or "is invalid"})
    return out


def _attempt(call: Callable[[], Any], names: Sequence[str], fields: Mapping[str, str],
             fallback: str) -> list[dict[str, Any]]:
    """Run a validation and service call: its errors as the form's, or [] when it worked."""
    try:
        call()
    except ValidationError as exc:
        return _renamed(pydantic_errors(exc), names, fields, fallback)
    except MercatoError as exc:
        if exc.status in (401, 403, 404):
            raise
        return _renamed(errors_of(exc), names, fields, fallback)
    return []


def _quantities(form: FormData, prefix: str, line_ids: Sequence[str],
                ) -> tuple[list[dict[str, Any]], list[str], list[dict[str, Any]]]:
    """(lines asked for, their fields, errors) from ``<prefix>.<line id>`` quantity fields:
    a blank or 0 asks for none of a line."""
    lines, names, errors = [], [], []
    for line_id in line_ids:
        name = f"{prefix}.{line_id}"
        text = _text(form, name)
        if not text:
            continue
        if not re.fullmatch(r"\d{1,9}", text):
            errors.append({"field": name, "message": "enter a whole number of units"})
            continue
        if int(text):
            lines.append({"line_id": line_id, "quantity": int(text)})
            names.append(name)
    return lines, names, errors


# -- fulfilling ---------------------------------------------------------------------------------

def _fulfil_page(request: Request, session: Session, order_id: str, *, status: int = 200,
                 errors: Sequence[dict[str, Any]] = (),
                 values: Mapping[str, Any] | None = None) -> HTMLResponse:
    context = _order_context(session, order_id)
    by_field, listed = form_errors(list(errors))
    if values is None:
        values = {f"fulfil.{ln.id}": context["in_stock"][ln.id]
                  for ln in context["order"].lines}
    return render(request, "admin/orders/fulfil.html", {
        **context, "values": dict(values), "errors": by_field, "error_list": listed},
        status=status, block="fulfil_form")


@router.get("/admin/orders/{order_id}/fulfil", response_class=HTMLResponse)
def fulfil_form(order_id: str, request: Request, session: DbSession,
                staff: StaffSession = Depends(staff_page(FULFIL))) -> Response:
    return _fulfil_page(request, session, order_id)


@router.post("/admin/orders/{order_id}/fulfil", response_class=HTMLResponse)
def fulfil(order_id: str, request: Request, session: DbSession,
           form: FormData = Depends(form_of),
           staff: StaffSession = Depends(staff_page(FULFIL))) -> Response:
    order = service.get_order(session, order_id)
    lines, names, errors = _quantities(form, "fulfil", [ln.id for ln in order.lines])
    carrier, tracking = _text(form, "carrier"), _text(form, "tracking_number")
    if not errors and not lines:
        ready = [ln.id for ln in order.lines if in_stock(ln) > 0]
        errors = [{"field": f"fulfil.{ready[0]}" if ready else "",
                   "message": ("enter how many units of a line ship" if ready else
                               "nothing taken from stock is left to ship on this order")}]
    if not errors:
        errors = _attempt(lambda: service.fulfill(session, order_id, FulfillmentIn(
            lines=lines, carrier=carrier or None, tracking_number=tracking or None)),
            names, {"carrier": "carrier", "tracking_number": "tracking_number"}, "")
    if not errors:
        return redirect(f"/admin/orders/{order_id}", flash=f"Order #{order.number} fulfilled.")
    values = {k: v for k, v in form.items() if isinstance(v, str) and k != "csrf_token"}
    return _fulfil_page(request, session, order_id, status=422, errors=errors, values=values)


# -- cancelling ---------------------------------------------------------------------------------

@router.get("/admin/orders/{order_id}/cancel", response_class=HTMLResponse)
def cancel_form(order_id: str, request: Request, session: DbSession,
                staff: StaffSession = Depends(staff_page(WRITE))) -> Response:
    """The confirmation: nothing is cancelled until its button is pressed."""
    return render(request, "admin/orders/cancel.html", {
        **_order_context(session, order_id), "values": {"restock": True}})


@router.post("/admin/orders/{order_id}/cancel", response_class=HTMLResponse)
def cancel(order_id: str, request: Request, session: DbSession,
           form: FormData = Depends(form_of),
           staff: StaffSession = Depends(staff_page(WRITE))) -> Response:
    order = service.get_order(session, order_id)
    reason, restock = _text(form, "reason"), form.get("restock") == "true"
    errors = _attempt(lambda: service.cancel(session, order_id, CancelIn.model_validate(
        {"reason": reason or None, "restock": restock})), [], {"reason": "reason"}, "")
    if not errors:
        return redirect(f"/admin/orders/{order_id}", flash=f"Order #{order.number} cancelled.")
    by_field, listed = form_errors(errors)
    return render(request, "admin/orders/cancel.html", {
        **_order_context(session, order_id), "values": {"reason": reason, "restock": restock},
        "errors": by_field, "error_list": listed}, status=422)


# -- money back and goods back ------------------------------------------------------------------

@router.post("/admin/orders/{order_id}/refund", response_class=HTMLResponse)
def refund(order_id: str, request: Request, session: DbSession,
           form: FormData = Depends(form_of),
           staff: StaffSession = Depends(staff_page(WRITE))) -> Response:
    order = service.get_order(session, order_id)
    amount, reason = _text(form, "refund.amount"), _text(form, "refund.reason")
    errors = _attempt(lambda: service.refund(session, order_id, RefundIn.model_validate(
        {"amount": amount or None, "reason": reason or None})), [],
        {"amount": "refund.amount", "reason": "refund.reason"}, "refund.amount")
    if not errors:
        return redirect(f"/admin/orders/{order_id}",
                        flash=f"Refunded {formats_of(request).money(amount, order.currency)} "
                              f"on order #{order.number}.")
    return _detail(request, session, order_id, status=422, errors=errors,
                   values={"refund.amount": amount, "refund.reason": reason})


@router.post("/admin/orders/{order_id}/return", response_class=HTMLResponse)
def create_return(order_id: str, request: Request, session: DbSession,
                  form: FormData = Depends(form_of),
                  staff: StaffSession = Depends(staff_page(FULFIL))) -> Response:
    order = service.get_order(session, order_id)
    lines, names, errors = _quantities(form, "return", [ln.id for ln in order.lines])
    restock = form.get("return.restock") == "true"
    if not errors and not lines:
        shipped = [ln.id for ln in order.lines if ln.fulfilled > ln.returned]
        errors = [{"field": f"return.{shipped[0]}" if shipped else "",
                   "message": "enter how many units of a line come back"}]
    if not errors:
        errors = _attempt(lambda: service.create_return(
            session, staff.principal.organization_id, order_id,
            ReturnIn.model_validate({"lines": lines, "restock": restock})),
            names, {}, "")
    if not errors:
        units = sum(ln["quantity"] for ln in lines)
        return redirect(f"/admin/orders/{order_id}", flash=(
            f"Return of {units} unit(s) recorded" + (" and restocked." if restock else ".")))
    values: dict[str, Any] = {k: v for k, v in form.items()
                              if isinstance(v, str) and k != "csrf_token"}
    values["return.restock"] = restock
    return _detail(request, session, order_id, status=422, errors=errors, values=values)


@router.post("/admin/orders/{order_id}/returns/{return_id}/receive",
             response_class=HTMLResponse)
def receive_return(order_id: str, return_id: str, session: DbSession,
                   staff: StaffSession = Depends(staff_page(FULFIL))) -> Response:
    """The goods of a requested return arrived (``POST .../returns/{id}/receive``)."""
    service.receive_return(session, order_id, return_id, None)
    return redirect(f"/admin/orders/{order_id}", flash="Return received.")


@router.post("/admin/orders/{order_id}/payments/{payment_id}/{action}",
             response_class=HTMLResponse)
def settle_payment(order_id: str, payment_id: str, action: str, session: DbSession,
                   staff: StaffSession = Depends(staff_page(WRITE))) -> Response:
    """Capture or void an authorized payment (``POST .../payments/{id}/capture|void``)."""
    target = {"capture": "paid", "void": "voided"}.get(action)
    if target is None:
        raise NotFound("There is no page at this address.")
    service.settle_payment(session, order_id, payment_id, target)
    return redirect(f"/admin/orders/{order_id}", flash=(
        "Payment captured." if target == "paid" else "Payment voided."))


# -- oversold orders ----------------------------------------------------------------------------

def _back(form: FormData, order_id: str) -> str:
    """Where an action returns: the oversold queue when it came from there."""
    return ("/admin/orders/oversold" if _text(form, "next") == "/admin/orders/oversold"
            else f"/admin/orders/{order_id}")


@router.post("/admin/orders/{order_id}/allocate", response_class=HTMLResponse)
def allocate(order_id: str, request: Request, session: DbSession,
             form: FormData = Depends(form_of),
             staff: StaffSession = Depends(staff_page(WRITE))) -> Response:
    """Take stock again for the short units (``POST /api/v1/orders/{id}/allocate``)."""
    before = {ln.id: ln.short for ln in service.get_order(session, order_id).lines}
    shorts = sum(before.values())
    order = service.allocate(session, order_id)
    left = sum(ln.short for ln in order.lines)
    if left == shorts:
        message = f"Order #{order.number}: no stock is free for its {left} short unit(s) yet."
    elif left:
        message = (f"Order #{order.number}: {shorts - left} unit(s) allocated, "
                   f"{left} still short.")
    else:
        message = f"Order #{order.number}: every short unit is allocated."
    return redirect(_back(form, order_id), flash=message)


@router.post("/admin/orders/{order_id}/cancel-short", response_class=HTMLResponse)
def cancel_short(order_id: str, request: Request, session: DbSession,
                 form: FormData = Depends(form_of),
                 staff: StaffSession = Depends(staff_page(WRITE))) -> Response:
    """Cancel only the units Mercato did not have (``POST .../cancel`` with those lines:
    short units are cancelled first); the order stays open for the rest."""
    order = service.get_order(session, order_id)
    short: list[dict[str, Any]] = [{"line_id": ln.id, "quantity": ln.short}
                                   for ln in order.lines if ln.short > 0]
    if not short:
        return redirect(_back(form, order_id),
                        flash=f"Order #{order.number} has no short units.")
    service.cancel(session, order_id, CancelIn.model_validate(
        {"lines": short, "reason": "oversold", "restock": False}))
    units = sum(s["quantity"] for s in short)
    return redirect(_back(form, order_id),
                    flash=f"Order #{order.number}: {units} short unit(s) cancelled.")
