"""Returns against a past receipt: look the sale up by its order number, choose the units
coming back, and give the money back in cash or as the customer's store credit.

The return is the orders module's (``create_return``, received now, restocked at this
register's location unless the cashier says the goods cannot be sold again) and the money its
refund (``refund``, by lines: their share of what was charged); store credit goes through
payments' ledger. An exchange is a return followed by a new sale at the register.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from mercato import payments
from mercato.core.errors import MercatoError, ValidationFailed
from mercato.core.pagination import PageParams
from mercato.core.uow import DbSession, MercatoRoute
from mercato.orders import RefundIn
from mercato.orders.schemas import LineQuantity, ReturnIn, ReturnLineIn
from mercato.orders.service import create_return, get_order, list_orders, refund
from mercato.web.admin.orders import returnable
from mercato.web.pos.sell import SELL, TENDER_NAMES, form_of, register_of, text
from mercato.web.session import StaffSession, staff_page
from mercato.web.templating import errors_of, form_errors, redirect, render

router = APIRouter(route_class=MercatoRoute, include_in_schema=False)
REFUND_METHODS = (("cash", "Cash"), ("store_credit", "Store credit"), ("none", "No refund"))


def find_sale(session: Session, number: str) -> Any | None:
    digits = number.strip().lstrip("#")
    if not (digits.isascii() and digits.isdigit() and len(digits) < 10):
        return None
    found = list_orders(session, PageParams(limit=20, cursor=None), q=digits).items
    return next((o for o in found if o.number == int(digits)), None)


def returns_page(request: Request, session: Session, *, number: str = "", order: Any = None,
                 status: int = 200, errors: list[dict[str, Any]] | None = None,
                 values: dict[str, str] | None = None) -> HTMLResponse:
    by_field, listed = form_errors(list(errors or []))
    register = register_of(request, session)
    return render(request, "pos/returns.html", {
        "number": number, "order": order,
        "returnable": returnable(order) if order is not None else {},
        "refund_methods": REFUND_METHODS, "tender_names": TENDER_NAMES,
        "register": register, "errors": by_field, "error_list": listed,
        "values": values or {}}, status=status)


@router.get("/pos/returns", response_class=HTMLResponse)
def returns(request: Request, session: DbSession, number: str = "",
            staff: StaffSession = Depends(staff_page(SELL))) -> Response:
    number = number.strip()[:20]
    if not number:
        return returns_page(request, session)
    order = find_sale(session, number)
    if order is None:
        return returns_page(request, session, number=number, status=404, errors=[
            {"field": "number", "message": f"No sale has the order number {number}."}])
    return returns_page(request, session, number=number, order=order)


@router.post("/pos/returns/{order_id}", response_class=HTMLResponse)
def make_return(order_id: str, request: Request, session: DbSession,
                form: FormData = Depends(form_of),
                staff: StaffSession = Depends(staff_page(SELL))) -> Response:
    order = get_order(session, order_id)
    register = register_of(request, session)
    left = returnable(order)
    entered = {k: text(form, k) for k in form}
    errors: list[dict[str, Any]] = []
    lines: list[ReturnLineIn] = []
    for line in order.lines:
        raw = text(form, f"qty.{line.id}", 6)
        if not raw or raw == "0":
            continue
        if not raw.isdigit() or int(raw) > left.get(line.id, 0):
            errors.append({"field": f"qty.{line.id}", "message": (
                f"Enter a whole number from 0 to {left.get(line.id, 0)}.")})
            continue
        lines.append(ReturnLineIn(line_id=line.id, quantity=int(raw)))
    method = text(form, "refund", 20) or "cash"
    if method not in dict(REFUND_METHODS):
        errors.append({"field": "refund", "message": "Choose how the money goes back."})
    if method == "store_credit" and not order.customer_id:
        errors.append({"field": "refund", "message": (
            "Store credit needs a customer on the sale; refund in cash instead.")})
    if register.location is None:
        errors.append({"field": "", "message": "Choose this register's location on the "
                                               "register page first."})
    if not lines and not errors:
        errors.append({"field": "", "message": "Enter how many of a line come back."})
    if errors:
        return returns_page(request, session, number=str(order.number), order=order,
                            status=422, errors=errors, values=entered)
    assert register.location is not None
    restock = form.get("restock") == "true"
    try:
        with session.begin_nested() as savepoint:
            try:
                create_return(session, staff.principal.organization_id, order.id, ReturnIn(
                    lines=lines, restock=restock, received=True,
                    location=register.location.id, note="Returned at the register"))
                amount = None
                if method != "none" and order.paid_total > order.refunded_total:
                    refunded = refund(session, order.id, RefundIn(
                        lines=[LineQuantity(line_id=ln.line_id, quantity=ln.quantity)
                               for ln in lines], reason=f"POS return ({method})"))
                    amount = refunded.refunds[-1].amount
                    if method == "store_credit" and order.customer_id:
                        payments.move_store_credit(
                            session, order.customer_id, order.currency,
                            payments.to_cents(amount), kind="refund",
                            reason=f"Return of order #{order.number}",
                            reference=f"order:{order.id}",
                            idempotency_key=f"pos-return:{refunded.refunds[-1].id}")
            except (MercatoError, ValidationError):
                savepoint.rollback()
                raise
    except (ValidationError, ValidationFailed, MercatoError) as exc:
        if isinstance(exc, MercatoError) and exc.status in (401, 403, 404):
            raise
        return returns_page(request, session, number=str(order.number),
                            order=get_order(session, order_id), status=422,
                            errors=errors_of(exc), values=entered)
    units = sum(ln.quantity for ln in lines)
    money = "" if amount is None else (
        f"; {amount} back as {'store credit' if method == 'store_credit' else 'cash'}")
    return redirect(f"/pos/receipts/{order.id}",
                    flash=f"Returned {units} item(s){money}"
                          f"{' and put back in stock' if restock else ''}.")
