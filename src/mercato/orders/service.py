"""Orders: ingestion with dedupe, the stock an order takes, and everything after it.

Every action that changes an order first locks its row (``SELECT ... FOR UPDATE`` on
PostgreSQL; SQLite's write transactions are serialized already), so two requests on one order
run one after the other and each sees what the other did: a line can never ship, cancel or
return more units than it has, and refunds never pass what was paid. The tables' CHECK
constraints say the same thing once more, in the database.

Stock: an ingested order takes its units through inventory (a hold, then a sale, in the
same transaction, reference ``order:<number>``). A channel's order is a sale that already
happened: units Mercato no longer has are recorded as ``short`` and the order is flagged
``oversold`` for someone to resolve, never refused.
"""

from __future__ import annotations

import datetime as dt
import io
import re
from collections import defaultdict
from collections.abc import Callable, Collection, Iterator, Sequence
from decimal import Decimal
from typing import Any

from sqlalchemy import Select, exists, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from mercato import inventory
from mercato.catalog import ports as catalog_ports
from mercato.catalog.service import SaleItem, sale_items
from mercato.core import csvcells
from mercato.core.db import table_of, utcnow
from mercato.core.errors import Conflict, NotFound, ValidationFailed
from mercato.core.hooks import run_before_model
from mercato.core.like import like_contains
from mercato.core.outbox import record_event
from mercato.core.pagination import PageParams, Slice, paginate
from mercato.identity import audit_action, customer_id_for_email, record_audit
from mercato.inventory import (
    Reservation,
    SalesChannel,
    candidates,
    commit,
    get_channel,
    take_what_is_free,
)
from mercato.orders import states
from mercato.orders.models import (
    Allocation,
    Fulfillment,
    Order,
    OrderLine,
    OrderNumber,
    Refund,
    Return,
    ShippingLine,
)
from mercato.orders.schemas import (
    CancelIn,
    FulfillmentIn,
    LineQuantity,
    OrderIn,
    OrderLineIn,
    OrderUpdate,
    PaymentIn,
    RefundIn,
    ReturnIn,
    TaxLineIn,
)
from mercato.orders.totals import ZERO, LineIn, ShippingIn, TaxIn, cents, order_totals
from mercato.payments import Payment

numbers_t = table_of(OrderNumber)
CHANNEL_ID = re.compile(r"[0-9A-Z]{26}")
FIRST_NUMBER = 1000


# -- reading ------------------------------------------------------------------------------------

def get_order(session: Session, order_id: str, *, lock: bool = False) -> Order:
    """An order; with ``lock``, its row is locked for the rest of the transaction and read
    fresh (what a concurrent request committed while we waited is seen)."""
    stmt = select(Order).where(Order.id == order_id)
    if lock:
        stmt = stmt.with_for_update().execution_options(populate_existing=True)
    order = session.scalar(stmt)
    if order is None:
        raise NotFound(f"No order {order_id!r}.")
    return order


@catalog_ports.has_purchased.provide
def has_purchased(session: Session, customer_id: str, variant_ids: Collection[str]) -> bool:
    """The customer has an order (not cancelled) with a line of one of these variants (what
    catalog's verified-purchase reviews ask, through ``catalog.ports``)."""
    if not variant_ids:
        return False
    found = session.scalar(
        select(OrderLine.id).join(Order, OrderLine.order_id == Order.id)
        .where(Order.customer_id == customer_id, Order.status != "cancelled",
               OrderLine.variant_id.in_(sorted(set(variant_ids))))
        .limit(1))
    return found is not None


def _filtered(stmt: Select[Any], *, status: str | None = None,
              financial_status: str | None = None, fulfillment_status: str | None = None,
              channel: str | None = None, customer: str | None = None,
              created_after: dt.datetime | None = None,
              created_before: dt.datetime | None = None, flag: str | None = None,
              sku: str | None = None, q: str | None = None) -> Select[Any]:
    if status:
        stmt = stmt.where(Order.status == status)
    if financial_status:
        stmt = stmt.where(Order.financial_status == financial_status)
    if fulfillment_status:
        stmt = stmt.where(Order.fulfillment_status == fulfillment_status)
    if channel:
        stmt = stmt.where(or_(Order.channel == channel, Order.source == channel))
    if customer:
        stmt = stmt.where(Order.customer_id == customer)
    if created_after:
        stmt = stmt.where(Order.created_at >= created_after)
    if created_before:
        stmt = stmt.where(Order.created_at < created_before)
    if flag == "oversold":
        stmt = stmt.where(Order.oversold.is_(True))
    if sku:
        stmt = stmt.where(exists().where(OrderLine.order_id == Order.id, OrderLine.sku == sku))
    if q:
        text = q.strip().lower()
        number = text.lstrip("#")
        conditions = [like_contains(func.lower(Order.email), text),
                      like_contains(func.lower(Order.customer_name), text),
                      Order.external_number == q.strip()]
        if number.isascii() and number.isdigit() and len(number) < 10:
            conditions.append(Order.number == int(number))
        stmt = stmt.where(or_(*conditions))
    return stmt


def list_orders(session: Session, params: PageParams, **filters: Any) -> Slice[Order]:
    """Newest first."""
    stmt = _filtered(select(Order), **filters)
    return paginate(session, stmt, [(Order.created_at, True), (Order.id, True)], params)


def _shopper_orders(customer_id: str, account_id: str, verified: bool) -> Select[Order]:
    """A shopper's orders: the customer record's when the account's email is verified, else
    only those the account placed itself."""
    stmt = select(Order).where(Order.customer_id == customer_id)
    return stmt if verified else stmt.where(Order.account_id == account_id)


def shopper_orders(session: Session, params: PageParams, *, customer_id: str, account_id: str,
                   verified: bool) -> Slice[Order]:
    """Newest first (see ``_shopper_orders`` for which)."""
    return paginate(session, _shopper_orders(customer_id, account_id, verified),
                    [(Order.created_at, True), (Order.id, True)], params)


def shopper_order(session: Session, order_id: str, *, customer_id: str, account_id: str,
                  verified: bool) -> Order:
    """One of the shopper's orders; anyone else's is a 404."""
    order = session.scalar(_shopper_orders(customer_id, account_id, verified)
                           .where(Order.id == order_id))
    if order is None:
        raise NotFound(f"No order {order_id!r}.")
    return order


EXPORT_COLUMNS = ("number", "id", "channel", "source", "external_id", "external_number",
                  "created_at", "placed_at", "status", "financial_status",
                  "fulfillment_status", "oversold", "email", "customer_name", "currency",
                  "subtotal", "discount_total", "shipping_total", "tax_total", "total",
                  "paid_total", "refunded_total", "line_sku", "line_title", "line_quantity",
                  "line_unit_price", "line_total", "line_fulfilled", "line_cancelled",
                  "line_returned", "line_short")


def export_csv(session: Session, filters: dict[str, Any], *, batch: int = 500) -> Iterator[str]:
    """CSV, one row per order line, newest order first, read in batches."""
    out = io.StringIO()
    writer = csvcells.Writer(out)
    writer.writerow(EXPORT_COLUMNS)
    yield out.getvalue()
    cursor: str | None = None
    while True:
        page = list_orders(session, PageParams(limit=batch, cursor=cursor), **filters)
        out.seek(0)
        out.truncate()
        for order in page.items:
            head = [order.number, order.id, order.channel, order.source,
                    order.external_id or "", order.external_number or "",
                    order.created_at.isoformat(), order.placed_at.isoformat(), order.status,
                    order.financial_status, order.fulfillment_status, order.oversold,
                    order.email or "", order.customer_name or "", order.currency,
                    order.subtotal, order.discount_total, order.shipping_total,
                    order.tax_total, order.total, order.paid_total, order.refunded_total]
            for line in order.lines:
                writer.writerow([*head, line.sku, line.title, line.quantity, line.unit_price,
                                 line.total, line.fulfilled, line.cancelled, line.returned,
                                 line.short])
        yield out.getvalue()
        session.expunge_all()
        if page.next_cursor is None:
            return
        cursor = page.next_cursor


# -- events -------------------------------------------------------------------------------------

def summary(order: Order) -> dict[str, Any]:
    return {"id": order.id, "number": order.number, "channel": order.channel,
            "external_id": order.external_id, "status": order.status,
            "financial_status": order.financial_status,
            "fulfillment_status": order.fulfillment_status, "oversold": order.oversold,
            "currency": order.currency, "total": f"{order.total:.2f}",
            "customer_id": order.customer_id}


def emit(session: Session, order: Order, event_type: str, **data: Any) -> None:
    record_event(session, event_type, resource_type="order", resource_id=order.id,
                 data={"order": summary(order), **data})


def short_lines(order: Order) -> list[dict[str, Any]]:
    return [{"line_id": line.id, "sku": line.sku, "quantity": line.quantity,
             "short": line.short} for line in order.lines if line.short > 0]


AUDITED_AS = {
    "allocate": "order.allocated", "close": "order.closed", "reopen": "order.reopened",
    "fulfil": "order.fulfilled", "cancel": "order.cancelled", "refund": "order.refunded",
    "take a payment": "order.payment_added", "capture a payment": "order.payment_captured",
    "void a payment": "order.payment_voided", "request a return": "order.returned",
    "receive a return": "order.return_received",
}
"""The audit log's name for the order's change by each action (else ``order.updated``)."""


def _settled(session: Session, order: Order, *, action: str, changes: dict[str, Any],
             audited_as: str | None = None) -> None:
    """Bring derived states up to date (checking each edge), then record what happened:
    ``order.updated`` always, plus ``order.paid`` / ``order.fulfilled`` on reaching them.
    The order's audit entry names the action (``AUDITED_AS``, or ``audited_as``)."""
    changed = states.settle(order, action=action)
    order.oversold = any(line.short > 0 for line in order.lines)
    order.updated_at = utcnow()
    with audit_action(session, order, audited_as or AUDITED_AS.get(action, "order.updated")):
        session.flush()
    emit(session, order, "order.updated", action=action, changes=changes)
    if "financial_status" in changed and order.financial_status == "paid":
        emit(session, order, "order.paid")
    if "fulfillment_status" in changed and order.fulfillment_status == "fulfilled":
        emit(session, order, "order.fulfilled")


# -- ingestion ----------------------------------------------------------------------------------

def _channel(session: Session, ref: str) -> tuple[str, str, SalesChannel | None]:
    """(dedupe key, source name, the sales channel if ``ref`` is one)."""
    if CHANNEL_ID.fullmatch(ref):
        channel = get_channel(session, ref, field="channel")
        return channel.id, channel.kind, channel
    return ref, ref, None


def _location(session: Session, field: str, ref: str | None) -> str | None:
    """The id of a location a request body names (422 on ``field`` when unknown)."""
    if ref is None:
        return None
    return inventory.location_id(session, ref, field=field)


def _taxes(lines: Sequence[TaxLineIn]) -> list[TaxIn]:
    return [TaxIn(t.title, t.rate, t.amount) for t in lines]


def _next_number(session: Session, organization_id: str) -> int:
    """One more than the organization's last order number. The counter row is locked until
    commit, so numbers are gapless and never repeat."""
    number = session.scalar(update(numbers_t).where(
        numbers_t.c.organization_id == organization_id)
        .values(last=numbers_t.c.last + 1).returning(numbers_t.c.last))
    if number is None:
        try:
            with session.begin_nested():
                session.execute(numbers_t.insert().values(organization_id=organization_id,
                                                          last=FIRST_NUMBER + 1))
            return FIRST_NUMBER + 1
        except IntegrityError:  # a concurrent first order made the row
            return _next_number(session, organization_id)
    return int(number)


def _existing(session: Session, key: str, external_id: str | None) -> Order | None:
    if external_id is None:
        return None
    return session.scalar(select(Order).where(Order.channel == key,
                                              Order.external_id == external_id))


def find_external(session: Session, channel: str, external_id: str) -> Order | None:
    """The order a channel knows by ``external_id`` (what ``ingest`` dedupes on)."""
    key, _, _ = _channel(session, channel)
    return _existing(session, key, external_id)


def ingest(session: Session, organization_id: str, data: OrderIn, *,
           reservation: Reservation | None = None, account_id: str | None = None,
           customer_id: str | None = None) -> tuple[Order, bool]:
    """The order and whether it was made now. The same (channel, external_id) again returns
    the first order and moves no stock: the unique key decides between concurrent twins.

    ``reservation``: stock a checkout already holds for this order; it is committed (sold)
    and its units are the lines' allocations. Should it have expired meanwhile, the order
    takes what is free like any other, and what is not is short (the sale happened).
    ``account_id``/``customer_id``: the signed-in shopper who placed it, whatever the email.
    An archived variant's SKU is refused (422) unless the order has an ``external_id``."""
    key, source, channel = _channel(session, data.channel)
    existing = _existing(session, key, data.external_id)
    if existing is not None:
        return existing, False
    data = run_before_model(session, "before_order_create", data, key="order",
                            keep=("channel", "external_id"))  # what it was deduplicated on
    items = _items(session, data.lines, recorded=data.external_id is not None)
    pickup = _location(session, "pickup_location", data.pickup_location)
    totals = order_totals(
        [LineIn(ln.quantity, _price(ln, items[ln.sku]),
                [(d.title, d.amount) for d in ln.discounts], _taxes(ln.tax_lines))
         for ln in data.lines],
        [ShippingIn(s.price, _taxes(s.tax_lines)) for s in data.shipping_lines],
        included=data.taxes_included)
    errors = list(totals.errors)
    for i, ln in enumerate(data.lines):
        currency = items[ln.sku].currency
        if ln.unit_price is None and currency != data.currency:
            errors.append({"field": f"lines.{i}.unit_price", "message": (
                f"the catalog price is in {currency}; give the price in {data.currency}")})
    payments = [(p, p.amount if p.amount is not None else totals.total)
                for p in data.payments]
    if sum((amount for _, amount in payments), ZERO) > totals.total:
        errors.append({"field": "payments", "message": f"more than the total {totals.total}"})
    if errors:
        raise ValidationFailed("The order is not valid.", errors=errors)

    customer = data.customer
    email = customer.email if customer else None
    name = " ".join(x for x in (customer.first_name, customer.last_name) if x) \
        if customer else ""
    order = Order(
        channel=key, channel_id=channel.id if channel else None, source=source,
        external_id=data.external_id, external_number=data.external_number,
        customer_id=customer_id or _customer_for(session, email), account_id=account_id,
        email=email,
        customer_name=name or None,
        customer_snapshot=customer.model_dump(exclude_none=True) if customer else {},
        shipping_address=data.shipping_address.model_dump() if data.shipping_address else None,
        billing_address=data.billing_address.model_dump() if data.billing_address else None,
        pickup_location_id=pickup, currency=data.currency,
        taxes_included=data.taxes_included, subtotal=totals.subtotal,
        discount_total=totals.discount_total, shipping_total=totals.shipping_total,
        tax_total=totals.tax_total, total=totals.total, note=data.note,
        tags=sorted(set(data.tags)), placed_at=data.placed_at or utcnow(),
        payments=[], fulfillments=[], refunds=[], returns=[])
    order.lines = [
        OrderLine(position=i, variant_id=items[ln.sku].id, sku=ln.sku,
                  title=ln.title or items[ln.sku].product_title,
                  variant_title=items[ln.sku].variant_title or None, quantity=ln.quantity,
                  unit_price=_price(ln, items[ln.sku]), subtotal=t.subtotal,
                  discount_total=t.discount_total,
                  discounts=[d.model_dump(mode="json", exclude_none=True)
                             for d in ln.discounts],
                  tax_lines=t.tax_lines, tax_total=t.tax_total, total=t.total,
                  allocations=[])
        for i, (ln, t) in enumerate(zip(data.lines, totals.lines, strict=True))]
    order.shipping_lines = [
        ShippingLine(title=s.title, code=s.code, price=s.price, tax_lines=p.tax_lines,
                     tax_total=p.tax_total)
        for s, p in zip(data.shipping_lines, totals.shipping, strict=True)]
    try:
        with session.begin_nested():  # the (channel, external_id) key decides between twins
            session.add(order)
            session.flush()
    except IntegrityError:
        twin = _existing(session, key, data.external_id)
        if twin is None:
            raise
        return twin, False

    # where a unit not held already may come from: read only if one is wanted (a checkout's
    # order is all held, so it never reads the candidates again)
    _take_stock(session, order, [(line, line.quantity) for line in order.lines],
                lambda: [pickup] if pickup else candidates(session, channel),
                held=_committed(session, reservation))
    for payment, amount in payments:
        order.payments.append(Payment(method=payment.method, status=payment.status,
                                      amount=amount, refunded=ZERO,
                                      reference=payment.reference))
    order.paid_total = sum((amount for p, amount in payments if p.status == "paid"), ZERO)
    order.financial_status = states.derive_financial(order)
    order.oversold = any(line.short > 0 for line in order.lines)
    # numbered last: the counter row stays locked until commit, so taking it here keeps
    # concurrent orders waiting for the commit only, not for all the work above
    order.number = _next_number(session, organization_id)
    session.flush()
    emit(session, order, "order.created")
    if order.financial_status == "paid":
        emit(session, order, "order.paid")
    if order.oversold:
        emit(session, order, "order.oversold", short_lines=short_lines(order))
    return order, True


def _items(session: Session, lines: Sequence[OrderLineIn], *,
           recorded: bool) -> dict[str, SaleItem]:
    """The lines' variants. An archived variant is not for sale: an order made here is
    refused it, while one ``recorded`` from elsewhere (an ``external_id``: a channel's order,
    a checkout that was checked when it began) happened already and is taken as it is."""
    items = sale_items(session, [ln.sku for ln in lines])
    errors = [{"field": f"lines.{i}.sku", "message": f"no variant with SKU {ln.sku!r}"}
              for i, ln in enumerate(lines) if ln.sku not in items]
    if errors:
        raise ValidationFailed("Unknown SKU.", errors=errors)
    archived = [{"field": f"lines.{i}.sku", "message": f"no product for sale with SKU "
                 f"{ln.sku!r} (the variant is archived)"}
                for i, ln in enumerate(lines) if items[ln.sku].archived]
    if archived and not recorded:
        raise ValidationFailed("This product is not for sale here.", errors=archived)
    return items


def _price(line: OrderLineIn, item: SaleItem) -> Decimal:
    return line.unit_price if line.unit_price is not None else item.price


def _customer_for(session: Session, email: str | None) -> str | None:
    if not email:
        return None
    return customer_id_for_email(session, email)


def reference_of(order: Order) -> str:
    """The ledger reference of an order's stock movements."""
    return f"order:{order.id}"


def _committed(session: Session,
               reservation: Reservation | None) -> dict[str, list[tuple[str, int]]]:
    """The units a checkout's reservation held, now sold, by variant: {} when there is none
    or it can no longer be committed (expired or released)."""
    if reservation is None:
        return {}
    try:
        with session.begin_nested():
            commit(session, reservation)
    except Conflict:
        return {}
    held: dict[str, list[tuple[str, int]]] = {}
    for line in reservation.lines:
        held.setdefault(line.variant_id, []).append((line.location_id, line.quantity))
    return held


def _from_held(held: dict[str, list[tuple[str, int]]], variant_id: str,
               quantity: int) -> list[tuple[str, int]]:
    """Up to ``quantity`` of the variant's already-sold units, consumed from ``held``."""
    taken: list[tuple[str, int]] = []
    pool = held.get(variant_id, [])
    while quantity > 0 and pool:
        location_id, units = pool[0]
        use = min(units, quantity)
        taken.append((location_id, use))
        quantity -= use
        if use == units:
            pool.pop(0)
        else:
            pool[0] = (location_id, units - use)
    return taken


def _take_stock(session: Session, order: Order, wanted: Sequence[tuple[OrderLine, int]],
                places: Callable[[], list[str]], *,
                held: dict[str, list[tuple[str, int]]] | None = None) -> None:
    """Hold then sell up to ``n`` units for each (line, n), from the locations ``places()``
    answers in order (asked once, and only if a unit is not held already); what cannot be
    had is left ``short``. Lines go in variant order so that concurrent orders lock stock
    rows in one order. Units in ``held`` (sold already, by a checkout's reservation) are used
    first."""
    reference = reference_of(order)
    where: list[str] | None = None
    sales: list[tuple[str, str, int]] = []
    for line, quantity in sorted(wanted, key=lambda w: (w[0].variant_id, w[0].position)):
        done = _from_held(held, line.variant_id, quantity) if held else []
        for location_id, units in done:
            line.allocated += units
            line.allocations.append(Allocation(location_id=location_id, quantity=units,
                                               fulfilled=0, cancelled=0))
        quantity -= sum(units for _, units in done)
        line.short = line.quantity - line.allocated - _cancelled_short(line)
        if quantity <= 0:
            continue
        if where is None:
            where = places()
        taken = take_what_is_free(session, reference, line.variant_id, where, quantity)
        got = sum(units for _, units in taken)
        line.allocated += got
        line.short = line.quantity - line.allocated - _cancelled_short(line)
        for location_id, units in taken:
            line.allocations.append(Allocation(location_id=location_id, quantity=units,
                                               fulfilled=0, cancelled=0))
            sales.append((line.variant_id, location_id, units))
    if sales:
        inventory.sell(session, sales, reference=reference)


def _cancelled_short(line: OrderLine) -> int:
    """Cancelled units that had never been taken from stock."""
    return line.cancelled - sum(a.cancelled for a in line.allocations)


def allocate(session: Session, order_id: str) -> Order:
    """Try again to take stock for the order's short units (after a restock, say)."""
    order = get_order(session, order_id, lock=True)
    states.require_open(order, action="allocate stock")
    wanted = [(line, line.short) for line in order.lines if line.short > 0]
    if not wanted:
        return order
    before = {line.id: line.short for line, _ in wanted}
    pickup = order.pickup_location_id
    _take_stock(session, order, wanted,
                lambda: [pickup] if pickup else inventory.places(session, order.channel_id))
    _settled(session, order, action="allocate", changes={"allocated": [
        {"line_id": line.id, "quantity": before[line.id] - line.short}
        for line, _ in wanted]})
    return order


# -- editing ------------------------------------------------------------------------------------

def update_order(session: Session, order: Order, data: OrderUpdate) -> Order:
    changes = data.model_dump(exclude_unset=True, mode="json")
    for name in ("note", "shipping_address", "billing_address"):
        if name in changes:
            setattr(order, name, changes[name])
    if data.tags is not None:
        order.tags = sorted(set(data.tags))
    if "email" in changes:
        order.email = data.email
        order.customer_id = _customer_for(session, data.email)
    _settled(session, order, action="update", changes=changes)
    return order


def tag_order(session: Session, order_id: str, tag: str, *, remove: bool = False) -> bool:
    """Add (or remove) one tag, for callers without the API's body (a workflow's step); True
    when the tags changed. Nothing changes, and no ``order.updated`` is recorded, when the
    order already is as asked, so a workflow reacting to ``order.updated`` cannot loop on it."""
    tag = tag.strip()
    if not tag or len(tag) > 100:
        raise ValidationFailed("A tag is 1 to 100 characters.",
                               errors=[{"field": "tag", "message": "1 to 100 characters"}])
    order = get_order(session, order_id, lock=True)
    tags = set(order.tags)
    if (tag in tags) != remove:
        return False
    tags = tags - {tag} if remove else tags | {tag}
    if len(tags) > 50:
        raise ValidationFailed("An order has at most 50 tags.",
                               errors=[{"field": "tag", "message": "at most 50 tags"}])
    order.tags = sorted(tags)
    _settled(session, order, action="update", changes={"tags": order.tags})
    return True


def set_status(session: Session, order_id: str, target: str) -> Order:
    """Close or reopen."""
    order = get_order(session, order_id, lock=True)
    verb = {"closed": "close", "open": "reopen"}[target]
    states.require(order, "status", target, action=f"{verb} the order")
    order.status = target
    order.closed_at = utcnow() if target == "closed" else None
    _settled(session, order, action=verb, changes={"status": target})
    return order


# -- lines and quantities -----------------------------------------------------------------------

def _lines_named(order: Order, asked: Sequence[LineQuantity]) -> list[tuple[int, OrderLine, int]]:
    """(index in the request, line, quantity); a line of another order is a 422."""
    by_id = {line.id: line for line in order.lines}
    errors = [{"field": f"lines.{i}.line_id", "message": "not a line of this order"}
              for i, a in enumerate(asked) if a.line_id not in by_id]
    seen: dict[str, int] = {}
    for i, a in enumerate(asked):
        if a.line_id in seen:
            errors.append({"field": f"lines.{i}.line_id",
                           "message": f"repeats line {seen[a.line_id]}"})
        seen.setdefault(a.line_id, i)
    if errors:
        raise ValidationFailed("The lines are not valid.", errors=errors)
    return [(i, by_id[a.line_id], a.quantity) for i, a in enumerate(asked)]


def _too_many(errors: list[dict[str, Any]], what: str) -> None:
    if errors:
        raise Conflict(f"More units than the order has left to {what}; nothing was changed.",
                       errors=errors)


# -- fulfillment --------------------------------------------------------------------------------

def fulfill(session: Session, order_id: str, data: FulfillmentIn) -> Order:
    """Ship units, from the locations they were taken at (one fulfillment per location)."""
    order = get_order(session, order_id, lock=True)
    states.require_open(order, action="fulfil")
    location = _location(session, "location", data.location)
    def in_stock(line: OrderLine) -> int:
        return sum(a.quantity - a.fulfilled - a.cancelled for a in line.allocations
                   if location is None or a.location_id == location)

    asked = (_lines_named(order, data.lines) if data.lines is not None else
             [(i, line, in_stock(line)) for i, line in enumerate(order.lines)
              if in_stock(line) > 0])
    if not asked:
        raise Conflict("Nothing taken from stock is left to fulfil on this order"
                       + (" (its short units must be allocated first)." if order.oversold
                          else "."))
    errors: list[dict[str, Any]] = []
    plan: dict[str, list[tuple[OrderLine, Allocation, int]]] = defaultdict(list)
    for i, line, quantity in asked:
        left = line.quantity - line.cancelled - line.fulfilled
        if quantity > left:
            errors.append({"field": f"lines.{i}.quantity",
                           "message": f"{quantity} asked, {left} left to fulfil"})
            continue
        need = quantity
        for allocation in line.allocations:
            if location is not None and allocation.location_id != location:
                continue
            units = min(need, allocation.quantity - allocation.fulfilled - allocation.cancelled)
            if units > 0:
                plan[allocation.location_id].append((line, allocation, units))
                need -= units
        if need > 0:
            where = "at that location" if location else "in stock for it"
            errors.append({"field": f"lines.{i}.quantity", "message": (
                f"{quantity} asked, {quantity - need} taken {where}"
                + (f"; {line.short} unit(s) are short (oversold)" if line.short else ""))})
    _too_many(errors, "fulfil")
    made = []
    for location_id, parts in plan.items():
        merged: dict[str, int] = defaultdict(int)
        for line, allocation, units in parts:
            allocation.fulfilled += units
            line.fulfilled += units
            merged[line.id] += units
        fulfillment = Fulfillment(
            location_id=location_id, carrier=data.carrier,
            tracking_number=data.tracking_number,
            pickup=data.pickup or order.pickup_location_id is not None,
            lines=[{"line_id": lid, "quantity": q} for lid, q in merged.items()])
        order.fulfillments.append(fulfillment)
        made.append(fulfillment)
    session.flush()
    _settled(session, order, action="fulfil", changes={"fulfillments": [
        {"id": f.id, "location_id": f.location_id, "carrier": f.carrier,
         "tracking_number": f.tracking_number, "lines": f.lines} for f in made]})
    return order


# -- cancellation -------------------------------------------------------------------------------

def cancel(session: Session, order_id: str, data: CancelIn) -> Order:
    """Cancel units not yet shipped: owed-but-short units first, then units taken from stock,
    which go back on hand where they were taken (unless ``restock`` is false). Without
    ``lines`` the whole order is cancelled."""
    order = get_order(session, order_id, lock=True)
    whole = data.lines is None
    if whole:
        states.require(order, "status", "cancelled", action="cancel the order")
        asked = [(i, line, line.quantity - line.cancelled - line.fulfilled)
                 for i, line in enumerate(order.lines)]
    else:
        states.require_open(order, action="cancel lines")
        asked = _lines_named(order, data.lines or [])
    errors = [{"field": f"lines.{i}.quantity",
               "message": f"{q} asked, {line.quantity - line.cancelled - line.fulfilled} "
                          "not yet shipped"}
              for i, line, q in asked if q > line.quantity - line.cancelled - line.fulfilled]
    _too_many(errors, "cancel")
    reference = reference_of(order)
    moves: list[tuple[str, str, int, str | None]] = []
    cancelled = []
    for _, line, quantity in asked:
        if quantity <= 0:
            continue
        from_short = min(line.short, quantity)
        line.short -= from_short
        need = quantity - from_short
        for allocation in line.allocations:
            units = min(need, allocation.quantity - allocation.fulfilled - allocation.cancelled)
            if units <= 0:
                continue
            allocation.cancelled += units
            need -= units
            if data.restock:
                moves.append((line.variant_id, allocation.location_id, units,
                              "order cancelled"))
        line.cancelled += quantity
        cancelled.append({"line_id": line.id, "quantity": quantity})
    if moves:
        inventory.restock(session, moves, reference=reference)
    if whole:
        order.status = "cancelled"
        order.cancelled_at = utcnow()
        order.cancel_reason = data.reason
    _settled(session, order, action="cancel", changes={
        "cancelled": cancelled, "restock": data.restock, "reason": data.reason})
    if whole:
        emit(session, order, "order.cancelled", reason=data.reason, cancelled=cancelled,
             restock=data.restock)
    return order


def cancel_if_open(session: Session, order_id: str, reason: str) -> bool:
    """Cancel the whole order as a channel reports it has been: idempotent. The order is
    locked first, so a cancellation another request (a second webhook, a redelivery) made
    while this one waited is seen, and is not an error; True when this call cancelled it."""
    if get_order(session, order_id, lock=True).status == "cancelled":
        return False
    cancel(session, order_id, CancelIn(reason=reason))
    return True


ANONYMISED_FIELDS = ("email", "customer_name", "customer_snapshot", "shipping_address",
                     "billing_address", "customer_id")


def anonymise_buyer(session: Session, order_ids: Collection[str], *, reason: str) -> int:
    """Erase the buyer's personal data (name, email, phone, addresses, the link to a
    customer) from these orders, as a platform asks when its user deletes their account;
    lines, money and stock stay (the books need them). One audit entry per order names the
    fields and the reason, never the values. Written as one statement, so the change itself
    leaves no copy of the data in the audit log. How many orders changed."""
    ids = sorted(set(order_ids))
    if not ids:
        return 0
    found = list(session.execute(select(Order.id, Order.organization_id).where(
        Order.id.in_(ids))).all())
    if not found:
        return 0
    session.flush()
    session.execute(
        update(Order).where(Order.id.in_([row.id for row in found])).values(
            email=None, customer_name=None, customer_snapshot={}, shipping_address=None,
            billing_address=None, customer_id=None, version=Order.version + 1,
            updated_at=utcnow()).execution_options(synchronize_session=False))
    for order_id, organization_id in found:
        record_audit(session, action="order.anonymised", resource_type="order",
                     resource_id=order_id, organization_id=organization_id,
                     after={"anonymised": list(ANONYMISED_FIELDS), "reason": reason})
    for obj in list(session.identity_map.values()):
        if isinstance(obj, Order) and obj.id in ids:
            session.expire(obj)
    return len(found)


# -- payments and refunds -----------------------------------------------------------------------

def add_payment(session: Session, order_id: str, data: PaymentIn) -> Order:
    order = get_order(session, order_id, lock=True)
    if order.status == "cancelled":
        raise Conflict("Cannot take a payment for a cancelled order.",
                       extra={"machine": "status", "from": "cancelled", "to": "cancelled"})
    amount = data.amount if data.amount is not None else order.total - _covered(order)
    if amount <= 0 or _covered(order) + amount > order.total:
        raise Conflict(f"The payment would take more than the order's {order.total}: "
                       f"{_covered(order)} is paid or authorized already.",
                       errors=[{"field": "amount", "message": "more than is owed"}])
    order.payments.append(Payment(method=data.method, status=data.status, amount=amount,
                                  refunded=ZERO, reference=data.reference))
    if data.status == "paid":
        order.paid_total += amount
    _settled(session, order, action="take a payment",
             changes={"payment": {"method": data.method, "amount": f"{amount:.2f}",
                                  "status": data.status}})
    return order


def _covered(order: Order) -> Decimal:
    return sum((p.amount for p in order.payments if p.status != "voided"), ZERO)


def _payment(order: Order, payment_id: str) -> Payment:
    for payment in order.payments:
        if payment.id == payment_id:
            return payment
    raise NotFound(f"No payment {payment_id!r} on this order.")


def settle_payment(session: Session, order_id: str, payment_id: str, target: str) -> Order:
    """Capture (authorized -> paid) or void (authorized -> voided) a payment."""
    order = get_order(session, order_id, lock=True)
    payment = _payment(order, payment_id)
    verb = {"paid": "capture", "voided": "void"}[target]
    if payment.status != "authorized":
        raise Conflict(f"Cannot {verb} a payment that is {payment.status}; only an "
                       "authorized one.", extra={"machine": "payment", "from": payment.status,
                                                 "to": target})
    payment.status = target
    if target == "paid":
        order.paid_total += payment.amount
    _settled(session, order, action=f"{verb} a payment",
             changes={"payment": {"id": payment.id, "status": target}})
    return order


def _line_share(line: OrderLine, quantity: int) -> Decimal:
    """What ``quantity`` units of a line were charged: its total split evenly per unit,
    rounded half-even to the cent."""
    return cents(line.total * quantity / line.quantity)


def refund(session: Session, order_id: str, data: RefundIn) -> Order:
    """Give money back, by amount or by lines, against the payments; never more than paid."""
    order = get_order(session, order_id, lock=True)
    lines = _lines_named(order, data.lines) if data.lines else []
    done: dict[str, int] = defaultdict(int)  # units of each line refunded before
    for earlier in order.refunds:
        for entry in earlier.lines:
            done[entry["line_id"]] += int(entry["quantity"])
    errors = [{"field": f"lines.{i}.quantity",
               "message": f"{q} asked, {line.quantity - done[line.id]} of the line's "
                          f"{line.quantity} not refunded yet"}
              for i, line, q in lines if q > line.quantity - done[line.id]]
    if errors:
        raise ValidationFailed("The refund's lines are not valid.", errors=errors)
    if data.amount is None and not lines:
        raise ValidationFailed("Give an amount or lines.", errors=[
            {"field": "amount", "message": "an amount or lines are required"}])
    amount = data.amount if data.amount is not None else sum(
        (_line_share(line, q) for _, line, q in lines), ZERO)
    if amount <= 0:
        raise ValidationFailed("A refund gives back something.",
                               errors=[{"field": "amount", "message": "must be above 0"}])
    refundable = order.paid_total - order.refunded_total
    if amount > refundable:
        raise Conflict(f"Cannot refund {amount}: {refundable} of what was paid is left to "
                       "refund.", errors=[{"field": "amount",
                                           "message": f"at most {refundable}"}],
                       extra={"refundable": f"{refundable:.2f}"})
    paid = [p for p in reversed(order.payments) if p.status == "paid" and p.amount > p.refunded]
    if data.payment_id is not None:
        chosen = _payment(order, data.payment_id)
        if chosen not in paid or chosen.amount - chosen.refunded < amount:
            raise Conflict("That payment cannot cover the refund.", errors=[{
                "field": "payment_id",
                "message": f"{chosen.amount - chosen.refunded} refundable on it"}])
        paid = [chosen]
    left, parts = amount, []
    for payment in paid:
        part = min(left, payment.amount - payment.refunded)
        if part > 0:
            payment.refunded += part
            parts.append({"payment_id": payment.id, "amount": f"{part:.2f}"})
            left -= part
    order.refunded_total += amount
    made = Refund(amount=amount, reason=data.reason, payments=parts,
                  lines=[{"line_id": line.id, "quantity": q} for _, line, q in lines])
    order.refunds.append(made)
    _settled(session, order, action="refund",
             changes={"refund": {"amount": f"{amount:.2f}", "reason": data.reason}})
    emit(session, order, "order.refunded", refund={
        "id": made.id, "amount": f"{amount:.2f}", "reason": data.reason, "payments": parts,
        "lines": made.lines})
    return order


# -- returns ------------------------------------------------------------------------------------

def _requested(order: Order) -> dict[str, int]:
    """Units of each line in returns not yet received."""
    out: dict[str, int] = defaultdict(int)
    for ret in order.returns:
        if ret.status == "requested":
            for entry in ret.lines:
                out[entry["line_id"]] += int(entry["quantity"])
    return out


def create_return(session: Session, organization_id: str, order_id: str,
                  data: ReturnIn) -> Order:
    """Open a return (RMA) for shipped units; with ``received`` the goods are back now."""
    order = get_order(session, order_id, lock=True)
    location = _location(session, "location", data.location)
    asked = _lines_named(order, [LineQuantity(line_id=ln.line_id, quantity=ln.quantity)
                                 for ln in data.lines])
    pending = _requested(order)
    errors = []
    for i, line, quantity in asked:
        left = line.fulfilled - line.returned - pending[line.id]
        if quantity > left:
            errors.append({"field": f"lines.{i}.quantity",
                           "message": f"{quantity} asked, {left} shipped and not returned"})
    _too_many(errors, "return")
    entries = []
    for (_, line, quantity), given in zip(asked, data.lines, strict=True):
        restock = data.restock if given.restock is None else given.restock
        entries.append({"line_id": line.id, "sku": line.sku, "quantity": quantity,
                        "restock": restock, "reason": given.reason})
    made = Return(lines=entries, note=data.note)
    order.returns.append(made)
    session.flush()
    if data.exchange:
        made.exchange_order_id = _exchange(session, organization_id, order, data).id
    if data.received:
        _receive(session, order, made, location, audited_as="order.returned")
    else:
        _settled(session, order, action="request a return",
                 changes={"return": {"id": made.id, "lines": entries}})
    return order


def _exchange(session: Session, organization_id: str, order: Order, data: ReturnIn) -> Order:
    """The new order of an exchange: same channel, customer and addresses, no payment."""
    snapshot = order.customer_snapshot or {}
    new, _ = ingest(session, organization_id, OrderIn(
        channel=order.channel, currency=order.currency, lines=data.exchange or [],
        customer=snapshot or None, shipping_address=order.shipping_address,
        billing_address=order.billing_address, taxes_included=order.taxes_included,
        note=f"Exchange for order {order.number}", tags=["exchange"]))
    return new


def receive_return(session: Session, order_id: str, return_id: str,
                   location_ref: str | None) -> Order:
    order = get_order(session, order_id, lock=True)
    made = next((r for r in order.returns if r.id == return_id), None)
    if made is None:
        raise NotFound(f"No return {return_id!r} on this order.")
    if made.status == "received":
        return order
    _receive(session, order, made, _location(session, "location", location_ref))
    return order


def _receive(session: Session, order: Order, made: Return, location: str | None, *,
             audited_as: str | None = None) -> None:
    """The goods are back: count them returned, and put restocked units back on hand where
    they shipped from (or at ``location``)."""
    by_id = {line.id: line for line in order.lines}
    moves: list[tuple[str, str, int, str | None]] = []
    for entry in made.lines:
        line = by_id[entry["line_id"]]
        quantity = int(entry["quantity"])
        line.returned += quantity
        if entry["restock"]:
            shipped = [a for a in line.allocations if a.fulfilled > 0]
            where = location or (shipped[0].location_id if shipped
                                 else line.allocations[0].location_id)
            moves.append((line.variant_id, where, quantity, entry.get("reason")))
    if moves:
        inventory.restock(session, moves, reference=reference_of(order), reason="return",
                          create_levels=True)
    made.status = "received"
    made.received_at = utcnow()
    _settled(session, order, action="receive a return", audited_as=audited_as,
             changes={"return": {"id": made.id, "lines": made.lines, "status": "received"}})
