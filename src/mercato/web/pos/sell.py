"""The register: choose the location, scan or search, the ticket's lines and discounts, the
customer, tenders, "Complete sale" and the receipt.

Every route needs ``pos:sell``; discounts also ``pos:discount``. A completed sale is an
order ingested through ``orders.service.ingest`` on the POS sales channel (or the ``pos``
source) with the register's location as where the goods are collected, so it takes stock there
at once through the same rules as every channel (and its stock events reach the other channels
like any sale), then fulfilled on the spot. A sale the register's stock cannot cover is refused
and nothing is kept.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from mercato import inventory, payments
from mercato.catalog import sale_items, sku_for_code
from mercato.core.errors import MercatoError, NotFound, ValidationFailed
from mercato.core.pagination import PageParams
from mercato.core.uow import DbSession, MercatoRoute
from mercato.identity import CustomerIn, create_customer, get_customer, list_customers
from mercato.inventory.service import browse_levels, list_locations
from mercato.notifications import email_receipt
from mercato.orders import CustomerRef, OrderIn, PaymentIn
from mercato.orders.schemas import FulfillmentIn
from mercato.orders.service import fulfill, get_order, ingest
from mercato.web.pos.ticket import (
    MAX_TICKET_LINES,
    PATH,
    REGISTER_COOKIE,
    ZERO,
    Priced,
    Tender,
    Ticket,
    TicketLine,
    order_lines,
    parse_discount,
    price,
    read_ticket,
    ticket_fits,
    write_ticket,
)
from mercato.web.session import StaffSession, cookie_secure, staff_page
from mercato.web.templating import errors_of, form_errors, formats_of, redirect, render

router = APIRouter(route_class=MercatoRoute, include_in_schema=False)
SELL, DISCOUNT = "pos:sell", "pos:discount"
TENDERS = (("cash", "Cash"), ("card", "Card"), ("store_credit", "Store credit"),
           ("gift_card", "Gift card"))
TENDER_NAMES = dict(TENDERS)
CASH_NOTE = "received "
"""A cash payment's reference on the order: what was handed over (the change is the rest)."""


async def form_of(request: Request) -> FormData:
    return await request.form()


def text(form: FormData, name: str, limit: int = 200) -> str:
    value = form.get(name)
    return value.strip()[:limit] if isinstance(value, str) else ""


def currency_of(request: Request) -> str:
    return formats_of(request).currency


def organization_of(staff: StaffSession) -> str:
    return staff.principal.organization_id


# -- the register's location ---------------------------------------------------------------------

@dataclass
class Register:
    location: inventory.Location | None
    choices: list[inventory.Location]

    @property
    def address(self) -> dict[str, Any] | None:
        """Where the register hands goods over: what its sales are taxed by."""
        return dict(self.location.address or {}) if self.location is not None else None


def register_of(request: Request, session: Session) -> Register:
    """The location this register sells from: the one remembered (a cookie), else the only
    one it could be (the only active location; or the only one the store's point-of-sale
    channel sells from; or the only shop among warehouses); None until the cashier chooses
    among several."""
    listed = list_locations(session, PageParams(limit=200, cursor=None)).items
    active = [loc for loc in listed if loc.active]
    active.sort(key=lambda loc: (loc.name.lower(), loc.code))
    chosen = request.cookies.get(REGISTER_COOKIE, "")
    found = next((loc for loc in active if loc.id == chosen), None)
    if found is None:
        channel = inventory.channel_of_kind(session, "pos")
        linked = {link.location_id for link in channel.locations} if channel else set()
        for candidates in (active, [loc for loc in active if loc.id in linked],
                           [loc for loc in active if loc.kind == "store"]):
            if len(candidates) == 1:
                found = candidates[0]
                break
    return Register(found, active)


# -- the register page ---------------------------------------------------------------------------

def customer_context(session: Session, ticket: Ticket, currency: str) -> dict[str, Any] | None:
    if ticket.customer_id is None:
        return None
    try:
        customer = get_customer(session, ticket.customer_id)
    except NotFound:
        return None
    credit = sum((payments.from_cents(b.balance_cents) for b in
                  payments.store_credit_balances(session, customer.id)
                  if b.currency == currency), ZERO)
    name = " ".join(x for x in (customer.first_name, customer.last_name) if x)
    return {"id": customer.id, "name": name or customer.email or "Customer",
            "email": customer.email, "credit": credit}


def register_page(request: Request, session: Session, staff: StaffSession, ticket: Ticket, *,
                  status: int = 200, errors: list[dict[str, Any]] | None = None,
                  template: str = "pos/register.html",
                  extra: dict[str, Any] | None = None) -> HTMLResponse:
    currency = currency_of(request)
    register = register_of(request, session)
    priced = price(session, ticket, currency, register.address)
    q = request.query_params.get("q", "").strip()[:200]
    results: list[dict[str, Any]] = []
    if q and register.location is not None:
        found = browse_levels(session, PageParams(limit=20, cursor=None), q=q,
                              location=register.location.id).items
        named = titles(session, [s.sku for _, s in found])
        results = [{"sku": s.sku, "title": named.get(s.sku, s.sku),
                    "available": level.available} for level, s in found]
    who_q = request.query_params.get("customer_q", "").strip()[:200]
    people: list[dict[str, Any]] = []
    if who_q:
        found_people = list_customers(session, PageParams(limit=10, cursor=None), q=who_q,
                                      tag=None).items
        for c in found_people:
            name = " ".join(x for x in (c.first_name, c.last_name) if x)
            people.append({"id": c.id, "name": name or c.email or c.id, "email": c.email})
    by_field, listed = form_errors(list(errors or []))
    due = priced.total - ticket.paid()
    values = {"register": register, "ticket": ticket, "priced": priced, "q": q,
              "results": results, "customer_q": who_q, "people": people,
              "customer": customer_context(session, ticket, currency),
              "can_discount": staff.can(DISCOUNT), "tenders": TENDERS,
              "tender_names": TENDER_NAMES, "due": due, "currency": currency,
              "errors": by_field, "error_list": listed,
              "values": dict(extra.pop("values", {})) if extra else {}, **(extra or {})}
    return render(request, template, values, status=status)


def titles(session: Session, skus: list[str]) -> dict[str, str]:
    """Each SKU's product and variant title, read once through the catalog's face."""
    found = sale_items(session, skus)
    return {sku: " — ".join(x for x in (item.product_title, item.variant_title) if x)
            for sku, item in found.items()}


def saved(request: Request, staff: StaffSession, ticket: Ticket | None, url: str = PATH, *,
          flash: str | None = None) -> Response:
    response = redirect(url, flash=flash)
    write_ticket(request, response, staff, ticket)
    return response


@router.get("/pos", response_class=HTMLResponse)
def register(request: Request, session: DbSession,
             staff: StaffSession = Depends(staff_page(SELL))) -> Response:
    return register_page(request, session, staff, read_ticket(request, staff))


@router.post("/pos/register", response_class=HTMLResponse)
def choose_register(request: Request, session: DbSession, form: FormData = Depends(form_of),
                          staff: StaffSession = Depends(staff_page(SELL))) -> Response:
    wanted = text(form, "location", 50)
    found = inventory.find_location(session, wanted) if wanted else None
    if found is None or not found.active:
        return register_page(request, session, staff, read_ticket(request, staff), status=422,
                             errors=[{"field": "location",
                                      "message": "Choose one of the store's locations."}])
    response = redirect(PATH, flash=f"This register sells from {found.name}.")
    response.set_cookie(REGISTER_COOKIE, found.id, path=PATH, max_age=400 * 24 * 3600,
                        httponly=True, samesite="lax", secure=cookie_secure(request))
    return response


def _add(session: Session, ticket: Ticket, sku: str, quantity: int) -> str:
    """Add units of a SKU to the ticket; the line's title, for the cashier's message."""
    item = sale_items(session, [sku]).get(sku)
    if item is None or item.archived or item.status != "active":
        raise ValidationFailed("Not for sale.", errors=[
            {"field": "code", "message": f"No product for sale with SKU {sku!r}."}])
    line = ticket.line(sku)
    if line is None:
        if len(ticket.lines) >= MAX_TICKET_LINES:
            raise ValidationFailed("The sale is full.", errors=[
                {"field": "code", "message": f"At most {MAX_TICKET_LINES} lines per sale."}])
        ticket.lines.append(TicketLine(sku, quantity))
        if not ticket_fits(ticket):
            ticket.lines.pop()
            raise ValidationFailed("The sale is full.", errors=[
                {"field": "code", "message": "This sale holds no more lines: complete it and "
                                             "start another."}])
    else:
        line.quantity = min(line.quantity + quantity, inventory.MAX_UNITS)
    ticket.tenders = []  # the total changed: tenders are taken again
    return item.product_title


@router.post("/pos/scan", response_class=HTMLResponse)
def scan(request: Request, session: DbSession, form: FormData = Depends(form_of),
               staff: StaffSession = Depends(staff_page(SELL))) -> Response:
    """What the "Scan or search" field sends (a scanner types then presses Enter): an exact
    SKU or barcode adds one unit; anything else searches by name at this register."""
    code = text(form, "code")
    ticket = read_ticket(request, staff)
    if not code:
        return register_page(request, session, staff, ticket, status=422, errors=[
            {"field": "code", "message": "Scan a barcode or type a SKU or name."}])
    sku = sku_for_code(session, code)
    if sku is None:
        return redirect(PATH + "?" + urlencode({"q": code}))
    return _add_one(request, session, staff, ticket, sku)


def _add_one(request: Request, session: Session, staff: StaffSession, ticket: Ticket,
             sku: str) -> Response:
    """One unit of ``sku`` on the sale (a scan, or a search result's "Add"), or the register
    with the refusal beside the field."""
    try:
        title = _add(session, ticket, sku, 1)
    except ValidationFailed as exc:
        return register_page(request, session, staff, ticket, status=422,
                             errors=errors_of(exc))
    return saved(request, staff, ticket, flash=f"Added {title}.")


@router.post("/pos/lines", response_class=HTMLResponse)
def add_line(request: Request, session: DbSession, form: FormData = Depends(form_of),
                   staff: StaffSession = Depends(staff_page(SELL))) -> Response:
    """A search result's "Add" button."""
    return _add_one(request, session, staff, read_ticket(request, staff),
                    text(form, "sku", 100))


@router.post("/pos/lines/update", response_class=HTMLResponse)
def update_line(request: Request, session: DbSession, form: FormData = Depends(form_of),
                      staff: StaffSession = Depends(staff_page(SELL))) -> Response:
    """A line's quantity (0 removes it)."""
    ticket = read_ticket(request, staff)
    line = ticket.line(text(form, "sku", 100))
    if line is None:
        raise NotFound("That line is no longer on the sale.")
    raw = text(form, "quantity", 10)
    if not raw.isdigit() or int(raw) > inventory.MAX_UNITS:
        return register_page(request, session, staff, ticket, status=422, errors=[
            {"field": f"quantity-{line.sku}",
             "message": f"Enter a whole number from 0 to {inventory.MAX_UNITS}."}])
    if int(raw) == 0:
        ticket.lines.remove(line)
    else:
        line.quantity = int(raw)
    ticket.tenders = []
    return saved(request, staff, ticket)


@router.post("/pos/lines/remove", response_class=HTMLResponse)
def remove_line(request: Request, session: DbSession, form: FormData = Depends(form_of),
                      staff: StaffSession = Depends(staff_page(SELL))) -> Response:
    ticket = read_ticket(request, staff)
    line = ticket.line(text(form, "sku", 100))
    if line is not None:
        ticket.lines.remove(line)
        ticket.tenders = []
    return saved(request, staff, ticket, flash="Line removed.")


@router.post("/pos/lines/discount", response_class=HTMLResponse)
def line_discount(request: Request, session: DbSession, form: FormData = Depends(form_of),
                        staff: StaffSession = Depends(staff_page(SELL, DISCOUNT))) -> Response:
    ticket = read_ticket(request, staff)
    line = ticket.line(text(form, "sku", 100))
    if line is None:
        raise NotFound("That line is no longer on the sale.")
    try:
        line.discount = parse_discount(text(form, "kind", 10), text(form, "value", 20))
    except ValueError as exc:
        return register_page(request, session, staff, ticket, status=422, errors=[
            {"field": f"discount-{line.sku}", "message": str(exc).capitalize() + "."}])
    ticket.tenders = []
    return saved(request, staff, ticket, flash="Line discount set.")


@router.post("/pos/discount", response_class=HTMLResponse)
def order_discount(request: Request, session: DbSession, form: FormData = Depends(form_of),
                         staff: StaffSession = Depends(staff_page(SELL, DISCOUNT))) -> Response:
    ticket = read_ticket(request, staff)
    try:
        ticket.discount = parse_discount(text(form, "kind", 10), text(form, "value", 20))
    except ValueError as exc:
        return register_page(request, session, staff, ticket, status=422, errors=[
            {"field": "order_discount", "message": str(exc).capitalize() + "."}])
    ticket.tenders = []
    return saved(request, staff, ticket, flash="Order discount set.")


@router.post("/pos/clear", response_class=HTMLResponse)
def clear(request: Request, staff: StaffSession = Depends(staff_page(SELL))) -> Response:
    return saved(request, staff, None, flash="Sale cleared.")


# -- the customer --------------------------------------------------------------------------------

@router.post("/pos/customer", response_class=HTMLResponse)
def attach_customer(request: Request, session: DbSession, form: FormData = Depends(form_of),
                          staff: StaffSession = Depends(staff_page(SELL))) -> Response:
    ticket = read_ticket(request, staff)
    customer = get_customer(session, text(form, "customer_id", 26))  # 404 when unknown
    ticket.customer_id = customer.id
    ticket.tenders = []
    return saved(request, staff, ticket, flash="Customer attached.")


@router.post("/pos/customer/new", response_class=HTMLResponse)
def new_customer(request: Request, session: DbSession, form: FormData = Depends(form_of),
                       staff: StaffSession = Depends(staff_page(SELL, "customers:write"))
                       ) -> Response:
    ticket = read_ticket(request, staff)
    first, _, last = text(form, "name", 200).partition(" ")
    entered = {"name": text(form, "name"), "email": text(form, "email", 320)}
    try:
        data = CustomerIn.model_validate({"first_name": first or None,
                                          "last_name": last.strip() or None,
                                          "email": entered["email"] or None})
        if not (first or entered["email"]):
            raise ValidationFailed("Name or email.", errors=[
                {"field": "name", "message": "Enter the customer's name or email."}])
        customer = create_customer(session, data)
    except (ValidationError, MercatoError) as exc:
        if isinstance(exc, MercatoError) and exc.status not in (409, 422):
            raise
        errors = [{"field": {"first_name": "name", "last_name": "name"}.get(
            e["field"], e["field"] or "email"), "message": e["message"]}
            for e in errors_of(exc)]
        return register_page(request, session, staff, ticket, status=422, errors=errors,
                             extra={"values": entered})
    ticket.customer_id = customer.id
    ticket.tenders = []
    return saved(request, staff, ticket, flash="Customer created and attached.")


@router.post("/pos/customer/remove", response_class=HTMLResponse)
def detach_customer(request: Request,
                          staff: StaffSession = Depends(staff_page(SELL))) -> Response:
    ticket = read_ticket(request, staff)
    ticket.customer_id = None
    ticket.tenders = [t for t in ticket.tenders if t.method != "store_credit"]
    return saved(request, staff, ticket, flash="Customer removed from the sale.")


# -- paying --------------------------------------------------------------------------------------

def pay_page(request: Request, session: Session, staff: StaffSession, ticket: Ticket, *,
             status: int = 200, errors: list[dict[str, Any]] | None = None,
             values: dict[str, str] | None = None) -> HTMLResponse:
    return register_page(request, session, staff, ticket, status=status, errors=errors,
                         template="pos/pay.html",
                         extra={"values": values or {"method": "cash"}})


@router.get("/pos/pay", response_class=HTMLResponse)
def pay(request: Request, session: DbSession,
        staff: StaffSession = Depends(staff_page(SELL))) -> Response:
    ticket = read_ticket(request, staff)
    if not ticket.lines:
        return redirect(PATH, flash="Scan something to sell first.")
    return pay_page(request, session, staff, ticket)


def _amount(raw: str, field: str) -> Decimal | None:
    if not raw:
        return None
    try:
        value = Decimal(raw.replace(",", "").lstrip("$€£"))
    except InvalidOperation:
        value = Decimal(-1)
    if not value.is_finite() or value < 0 or value != value.quantize(Decimal("0.01")):
        raise ValidationFailed("Not an amount.", errors=[
            {"field": field, "message": "Enter an amount such as 20 or 12.50."}])
    return value


def tender_of(form: FormData, due: Decimal, *, final: bool) -> Tender:
    """The tender the pay form describes. Cash may be more than is due (the rest is change);
    any other tender is at most what is due, and all of it when no amount is given."""
    method = text(form, "method", 20)
    if method not in TENDER_NAMES:
        raise ValidationFailed("Choose a tender.", errors=[
            {"field": "method", "message": "Choose how the customer pays."}])
    if method == "cash":
        received = _amount(text(form, "received", 20), "received")
        if received is None:
            if final:
                raise ValidationFailed("Amount received.", errors=[
                    {"field": "received", "message": "Enter the cash received."}])
            received = due
        return Tender("cash", received)
    amount = _amount(text(form, "amount", 20), "amount")
    amount = due if amount is None else amount
    if amount > due:
        raise ValidationFailed("More than is due.", errors=[
            {"field": "amount", "message": f"At most {due} is due; only cash gives change."}])
    if amount <= 0:
        raise ValidationFailed("Nothing due.", errors=[
            {"field": "amount", "message": "Nothing is left to pay."}])
    if method == "card":
        reference = text(form, "reference", 200)
        if not reference:
            raise ValidationFailed("Card reference.", errors=[
                {"field": "reference", "message": "Enter the reference the terminal printed."}])
        return Tender("card", amount, reference=reference)
    if method == "gift_card":
        code = text(form, "code", 100)
        if not code:
            raise ValidationFailed("Gift card code.", errors=[
                {"field": "code_gift", "message": "Enter the gift card's code."}])
        return Tender("gift_card", amount, code=code)
    return Tender("store_credit", amount)


@router.post("/pos/tenders", response_class=HTMLResponse)
def add_tender(request: Request, session: DbSession, form: FormData = Depends(form_of),
                     staff: StaffSession = Depends(staff_page(SELL))) -> Response:
    """Part of the total on one tender (a split payment); the rest is taken next."""
    ticket = read_ticket(request, staff)
    due = price(session, ticket, currency_of(request),
                register_of(request, session).address).total - ticket.paid()
    entered = {k: text(form, k) for k in ("method", "received", "amount", "reference", "code")}
    try:
        tender = tender_of(form, due, final=False)
        if tender.method == "cash" and tender.amount >= due:
            raise ValidationFailed("Complete the sale.", errors=[
                {"field": "received", "message": "That covers the sale: press Complete sale."}])
        if tender.amount <= 0:
            raise ValidationFailed("Nothing.", errors=[
                {"field": "received", "message": "Enter an amount above 0."}])
    except ValidationFailed as exc:
        return pay_page(request, session, staff, ticket, status=422, errors=errors_of(exc),
                        values=entered)
    ticket.tenders.append(tender)
    return saved(request, staff, ticket, PATH + "/pay",
                 flash=f"{TENDER_NAMES[tender.method]} {tender.amount} taken.")


@router.post("/pos/tenders/remove", response_class=HTMLResponse)
def remove_tender(request: Request, form: FormData = Depends(form_of),
                        staff: StaffSession = Depends(staff_page(SELL))) -> Response:
    ticket = read_ticket(request, staff)
    index = text(form, "index", 3)
    if index.isdigit() and int(index) < len(ticket.tenders):
        ticket.tenders.pop(int(index))
    return saved(request, staff, ticket, PATH + "/pay")


class SaleRefused(Exception):
    def __init__(self, status: int, errors: list[dict[str, Any]]) -> None:
        super().__init__(errors)
        self.status = status
        self.errors = errors


def _charge(session: Session, ticket: Ticket, tender: Tender, index: int, currency: str,
            email: str | None) -> str | None:
    """Take a gift card or store credit tender through its payments gateway (in this
    transaction: undone with the sale if the sale fails); the gateway's reference."""
    gateway = payments.gateway_for(session, tender.method)
    result = gateway.charge(session, payments.ChargeRequest(
        method=tender.method, amount=tender.amount, currency=currency,
        reference=f"pos:{ticket.id}", idempotency_key=f"pos:{ticket.id}:{index}",
        customer_id=ticket.customer_id, email=email,
        details={"code": tender.code} if tender.code else {}))
    if result.status != "paid":
        raise SaleRefused(422, [{"field": "method", "message": (
            f"{TENDER_NAMES[tender.method]} refused: {result.failure or result.status}.")}])
    return result.reference


def complete(session: Session, organization_id: str, location: inventory.Location,
             ticket: Ticket, priced: Priced, currency: str) -> tuple[str, Decimal]:
    """Make the sale (the order, its payments, its fulfilment) in a savepoint: the order id
    and the change due; ``SaleRefused`` leaves nothing behind."""
    customer = None
    email = None
    if ticket.customer_id:
        found = get_customer(session, ticket.customer_id)
        email = found.email
        customer = CustomerRef(email=found.email, first_name=found.first_name,
                               last_name=found.last_name)
    total = priced.total
    non_cash = sum((t.amount for t in ticket.tenders if t.method != "cash"), ZERO)
    cash_in = sum((t.amount for t in ticket.tenders if t.method == "cash"), ZERO)
    kept_cash = total - non_cash
    change = cash_in - kept_cash
    channel = inventory.channel_of_kind(session, "pos")
    with session.begin_nested() as savepoint:
        paid = []
        for i, tender in enumerate(ticket.tenders):
            if tender.method == "cash":
                continue
            reference = tender.reference
            if tender.method in ("gift_card", "store_credit"):
                reference = _charge(session, ticket, tender, i, currency, email)
            paid.append(PaymentIn(method=tender.method, amount=tender.amount,
                                  reference=reference))
        if kept_cash > 0:
            paid.append(PaymentIn(method="cash", amount=kept_cash,
                                  reference=f"{CASH_NOTE}{cash_in}"))
        try:
            order, _ = ingest(session, organization_id, OrderIn(
                channel=channel.id if channel else "pos", currency=currency,
                lines=order_lines(priced), taxes_included=priced.taxes_included,
                customer=customer, pickup_location=location.id,
                payments=paid, tags=["pos"]), customer_id=ticket.customer_id)
        except ValidationFailed as exc:
            savepoint.rollback()
            raise SaleRefused(422, errors_of(exc)) from exc
        short = [f"{line.title} ({line.sku}): {line.short} of {line.quantity} not in stock "
                 f"at {location.name}" for line in order.lines if line.short > 0]
        if short:
            savepoint.rollback()
            raise SaleRefused(409, [{"field": "", "message": "Not enough stock; nothing was "
                                     "sold. " + "; ".join(short) + "."}])
        fulfill(session, order.id, FulfillmentIn(location=location.id, pickup=True))
        order_id = order.id
    return order_id, change


@router.post("/pos/sale", response_class=HTMLResponse)
def complete_sale(request: Request, session: DbSession, form: FormData = Depends(form_of),
                        staff: StaffSession = Depends(staff_page(SELL))) -> Response:
    """"Complete sale": the last tender covers what is left, and the sale is made."""
    ticket = read_ticket(request, staff)
    entered = {k: text(form, k) for k in ("method", "received", "amount", "reference", "code")}
    register_ = register_of(request, session)
    currency = currency_of(request)
    priced = price(session, ticket, currency, register_.address)
    due = priced.total - ticket.paid()
    try:
        if register_.location is None:
            raise SaleRefused(422, [{"field": "location",
                                     "message": "Choose this register's location first."}])
        if not ticket.lines:
            raise SaleRefused(422, [{"field": "code", "message": "The sale has no lines."}])
        if priced.problems:
            raise SaleRefused(422, [{"field": "", "message": p} for p in priced.problems])
        if due > 0 or entered["method"] == "cash":
            try:
                last = tender_of(form, max(due, ZERO), final=True)
            except ValidationFailed as exc:
                raise SaleRefused(422, errors_of(exc)) from exc
            if last.amount < due:
                fmt = formats_of(request)
                field = "received" if last.method == "cash" else "amount"
                raise SaleRefused(422, [{"field": field, "message": (
                    f"{fmt.money(last.amount, currency)} is less than the "
                    f"{fmt.money(due, currency)} due.")}])
            if last.amount:
                ticket.tenders.append(last)
        order_id, _change = complete(session, organization_of(staff), register_.location,
                                    ticket, priced, currency)
    except SaleRefused as refused:
        return pay_page(request, session, staff, read_ticket(request, staff),
                        status=refused.status, errors=refused.errors, values=entered)
    except MercatoError as exc:
        if exc.status in (401, 403, 404):
            raise
        return pay_page(request, session, staff, read_ticket(request, staff),
                        status=exc.status if exc.status in (409, 422) else 422,
                        errors=errors_of(exc), values=entered)
    # the receipt shows the change due (once on the page: the flash does not repeat it)
    response = redirect(f"{PATH}/receipts/{order_id}", flash="Sale complete.")
    write_ticket(request, response, staff, None)
    return response


# -- the receipt ---------------------------------------------------------------------------------

def change_of(order: Any) -> Decimal:
    """The change given: cash handed over (a cash payment's reference) less the cash kept."""
    change = ZERO
    for payment in order.payments:
        ref = payment.reference or ""
        if payment.method == "cash" and ref.startswith(CASH_NOTE):
            try:
                change += Decimal(ref.removeprefix(CASH_NOTE)) - payment.amount
            except InvalidOperation:
                continue
    return change


def receipt_page(request: Request, session: Session, order_id: str, *, status: int = 200,
                 errors: list[dict[str, Any]] | None = None,
                 values: dict[str, str] | None = None) -> HTMLResponse:
    order = get_order(session, order_id)
    if order.source != "pos" and "pos" not in (order.tags or []):
        raise NotFound("No receipt of this register's sales has that number.")
    location = inventory.find_location(session, order.pickup_location_id or "")
    by_field, listed = form_errors(list(errors or []))
    return render(request, "pos/receipt.html", {
        "order": order, "change": change_of(order), "location": location,
        "tender_names": TENDER_NAMES, "errors": by_field, "error_list": listed,
        "values": values or {"email": order.email or ""}}, status=status)


@router.get("/pos/receipts/{order_id}", response_class=HTMLResponse)
def receipt(order_id: str, request: Request, session: DbSession,
            staff: StaffSession = Depends(staff_page(SELL))) -> Response:
    return receipt_page(request, session, order_id)


@router.post("/pos/receipts/{order_id}/email", response_class=HTMLResponse)
def email(order_id: str, request: Request, session: DbSession, form: FormData = Depends(form_of),
                staff: StaffSession = Depends(staff_page(SELL))) -> Response:
    to = text(form, "email", 320)
    if not to or "@" not in to:
        return receipt_page(request, session, order_id, status=422, values={"email": to},
                            errors=[{"field": "email", "message": "Enter an email address."}])
    receipt_page(request, session, order_id)  # 404 for an order that is not a POS sale
    try:
        sent = email_receipt(session, organization_of(staff), order_id, to)
    except ValidationFailed as exc:
        return receipt_page(request, session, order_id, status=422, values={"email": to},
                            errors=[{"field": "email", "message": exc.detail}])
    message = f"Receipt emailed to {to}." if sent else f"The receipt was sent to {to} before."
    return redirect(f"{PATH}/receipts/{order_id}", flash=message)
