"""The admin's customers pages: the list with search, a customer's record with their order
history and lifetime value, editing, and merging duplicates.

Every handler calls what ``/api/v1/customers`` calls (``mercato.identity``'s customer records,
the order figures through ``identity.ports.customer_figures``), with the same permission:
``customers:read`` to read, ``customers:write`` to edit and merge. The order history is
``service.list_orders`` of orders, as ``/api/v1/customers/{id}/orders`` (``orders:read``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from mercato.core.errors import MercatoError
from mercato.core.pagination import PageParams
from mercato.core.uow import DbSession, MercatoRoute
from mercato.identity import (
    CustomerOut,
    CustomerUpdate,
    MergeIn,
    customer_out,
    get_customer,
    list_customers,
    merge_customers,
    ports,
    update_customer,
)
from mercato.orders import service as orders
from mercato.orders.schemas import OrderSummary
from mercato.web.admin.orders import channel_names, form_of, here
from mercato.web.session import StaffSession, staff_page
from mercato.web.templating import errors_of, form_errors, pydantic_errors, redirect, render

router = APIRouter(route_class=MercatoRoute, include_in_schema=False)
READ, WRITE = "customers:read", "customers:write"
PAGE_SIZE = 50
ORDERS_PAGE = 20


class CustomerSearch(BaseModel):
    """The list's filters: those of ``GET /api/v1/customers``."""

    model_config = ConfigDict(extra="ignore")
    q: str | None = Field(default=None, max_length=200)
    tag: str | None = Field(default=None, max_length=100)


def _record(session: Session, customer_id: str) -> CustomerOut:
    customer = get_customer(session, customer_id)
    return customer_out(customer, ports.customer_figures(session, [customer.id])
                        .get(customer.id))


def name_of(customer: CustomerOut) -> str:
    name = " ".join(p for p in (customer.first_name, customer.last_name) if p)
    return name or customer.email or "Unnamed customer"


def _search(session: Session, params: PageParams, q: str | None,
            tag: str | None = None) -> tuple[list[CustomerOut], str | None]:
    page = list_customers(session, params, q=q, tag=tag)
    figures = ports.customer_figures(session, [c.id for c in page.items])
    return [customer_out(c, figures.get(c.id)) for c in page.items], page.next_cursor


# -- the list -----------------------------------------------------------------------------------

@router.get("/admin/customers", response_class=HTMLResponse)
def customers_index(request: Request, session: DbSession, cursor: str | None = None,
                    staff: StaffSession = Depends(staff_page(READ))) -> Response:
    raw = {name: request.query_params.get(name, "").strip() for name in ("q", "tag")}
    values: dict[str, Any] = {"values": raw, "customers": [], "next_url": None,
                              "first_url": None, "name_of": name_of}
    try:
        search = CustomerSearch.model_validate({k: v for k, v in raw.items() if v})
    except ValidationError as exc:
        if request.headers.get("hx-request"):  # htmx swaps no 422: show the whole page
            return Response(status_code=204, headers={"HX-Redirect": here(request)})
        by_field, listed = form_errors(pydantic_errors(exc))
        return render(request, "admin/customers/index.html",
                      {**values, "errors": by_field, "error_list": listed}, status=422)
    found, next_cursor = _search(session, PageParams(limit=PAGE_SIZE, cursor=cursor or None),
                                 search.q, search.tag)
    given = {k: v for k, v in raw.items() if v}
    values["customers"] = found
    if next_cursor:
        values["next_url"] = "/admin/customers?" + urlencode({**given, "cursor": next_cursor})
    if cursor:
        values["first_url"] = "/admin/customers?" + urlencode(given)
    return render(request, "admin/customers/index.html", values, block="rows")


# -- one customer -------------------------------------------------------------------------------

@router.get("/admin/customers/{customer_id}", response_class=HTMLResponse)
def customer_detail(customer_id: str, request: Request, session: DbSession,
                    orders_cursor: str | None = None,
                    staff: StaffSession = Depends(staff_page(READ))) -> Response:
    customer = _record(session, customer_id)
    history: list[OrderSummary] = []
    next_url = first_url = None
    if staff.can("orders:read"):  # the order history is orders' (GET .../orders)
        page = orders.list_orders(session, PageParams(limit=ORDERS_PAGE,
                                                      cursor=orders_cursor or None),
                                  customer=customer.id)
        history = [OrderSummary.model_validate(o) for o in page.items]
        base = f"/admin/customers/{customer.id}"
        if page.next_cursor:
            next_url = base + "?" + urlencode({"orders_cursor": page.next_cursor})
        if orders_cursor:
            first_url = base
    return render(request, "admin/customers/detail.html", {
        "customer": customer, "name": name_of(customer), "orders": history,
        "channel_names": channel_names(session, history),
        "next_url": next_url, "first_url": first_url})


# -- editing ------------------------------------------------------------------------------------

def _lines(text: str) -> list[str]:
    return [part.strip() for part in re.split(r"[\r\n]+", text) if part.strip()]


def _edit_values(customer: CustomerOut, version: int) -> dict[str, Any]:
    return {"first_name": customer.first_name or "", "last_name": customer.last_name or "",
            "email": customer.email or "",
            "emails": "\n".join(e for e in customer.emails if e != customer.email),
            "phones": "\n".join(customer.phones), "tags": ", ".join(customer.tags),
            "note": customer.note or "", "version": version}


def _edit_page(request: Request, session: Session, customer_id: str, *,
               values: Mapping[str, Any] | None = None, status: int = 200,
               errors: Sequence[dict[str, Any]] = ()) -> HTMLResponse:
    customer = _record(session, customer_id)
    version = get_customer(session, customer_id).version
    by_field, listed = form_errors(list(errors))
    return render(request, "admin/customers/edit.html", {
        "customer": customer, "name": name_of(customer),
        "values": dict(values or _edit_values(customer, version)),
        "errors": by_field, "error_list": listed}, status=status)


@router.get("/admin/customers/{customer_id}/edit", response_class=HTMLResponse)
def edit_form(customer_id: str, request: Request, session: DbSession,
              staff: StaffSession = Depends(staff_page(WRITE))) -> Response:
    return _edit_page(request, session, customer_id)


def _field_of(error: dict[str, Any]) -> dict[str, Any]:
    """``emails.1`` is the field ``emails`` (one address per line), and so on."""
    return {"field": str(error.get("field") or "").split(".")[0],
            "message": error.get("message") or "is invalid"}


@router.post("/admin/customers/{customer_id}/edit", response_class=HTMLResponse)
def edit(customer_id: str, request: Request, session: DbSession,
         form: FormData = Depends(form_of),
         staff: StaffSession = Depends(staff_page(WRITE))) -> Response:
    names = ("first_name", "last_name", "email", "emails", "phones", "tags", "note", "version")
    raw = {name: str(form.get(name) or "").strip() for name in names}
    customer = get_customer(session, customer_id)
    errors: list[dict[str, Any]] = []
    if raw["version"] and raw["version"] != str(customer.version):
        errors = [{"field": "", "message": (
            "Someone changed this customer after you opened this page: reload it to see "
            "their changes, then edit again.")}]
    else:
        try:
            body = CustomerUpdate.model_validate({
                "first_name": raw["first_name"] or None, "last_name": raw["last_name"] or None,
                "email": raw["email"] or None, "emails": _lines(raw["emails"]),
                "phones": _lines(raw["phones"]),
                "tags": [t.strip() for t in raw["tags"].split(",") if t.strip()],
                "note": raw["note"] or None})
            update_customer(session, customer, body)
        except ValidationError as exc:
            errors = [_field_of(e) for e in pydantic_errors(exc)]
        except MercatoError as exc:
            if exc.status in (401, 403, 404):
                raise
            errors = [_field_of(e) for e in errors_of(exc)]
    if not errors:
        return redirect(f"/admin/customers/{customer_id}", flash="Customer saved.")
    return _edit_page(request, session, customer_id, values=raw, status=422, errors=errors)


# -- merging ------------------------------------------------------------------------------------

def _merge_page(request: Request, session: Session, customer_id: str, *, q: str,
                chosen: Sequence[str] = (), status: int = 200,
                errors: Sequence[dict[str, Any]] = ()) -> HTMLResponse:
    customer = _record(session, customer_id)
    candidates: list[CustomerOut] = []
    if q:
        found, _ = _search(session, PageParams(limit=PAGE_SIZE, cursor=None), q)
        candidates = [c for c in found if c.id != customer.id]
    by_field, listed = form_errors(list(errors))
    return render(request, "admin/customers/merge.html", {
        "customer": customer, "name": name_of(customer), "candidates": candidates,
        "name_of": name_of, "values": {"q": q, "duplicates": list(chosen)},
        "errors": by_field, "error_list": listed}, status=status)


@router.get("/admin/customers/{customer_id}/merge", response_class=HTMLResponse)
def merge_form(customer_id: str, request: Request, session: DbSession, q: str = "",
               staff: StaffSession = Depends(staff_page(WRITE))) -> Response:
    """Find the duplicates to fold into this customer (nothing changes until the merge)."""
    q = q.strip()
    if len(q) > 200:
        return _merge_page(request, session, customer_id, q="", status=422, errors=[
            {"field": "q", "message": "at most 200 characters"}])
    return _merge_page(request, session, customer_id, q=q)


@router.post("/admin/customers/{customer_id}/merge", response_class=HTMLResponse)
def merge(customer_id: str, request: Request, session: DbSession,
          form: FormData = Depends(form_of),
          staff: StaffSession = Depends(staff_page(WRITE))) -> Response:
    chosen = [v for v in form.getlist("duplicates") if isinstance(v, str) and v]
    q = str(form.get("q") or "").strip()[:200]
    customer = get_customer(session, customer_id)
    errors: list[dict[str, Any]] = []
    try:
        body = MergeIn.model_validate({"duplicates": chosen})
        merge_customers(session, customer, body.duplicates)
    except ValidationError as exc:
        errors = [{"field": "duplicates", "message": (
            "choose the customer to merge into this one" if not chosen else e["message"])}
            for e in pydantic_errors(exc)][:1]
    except MercatoError as exc:
        if exc.status in (401, 403, 404):
            raise
        errors = [_field_of(e) for e in errors_of(exc)]
    if not errors:
        return redirect(f"/admin/customers/{customer_id}",
                        flash=f"{len(chosen)} customer(s) merged into this one.")
    return _merge_page(request, session, customer_id, q=q, chosen=chosen, status=422,
                       errors=errors)
