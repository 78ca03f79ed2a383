"""Checkout as explicit steps: a cart becomes an order, its stock held first and its payment
taken. Each step takes a session (or none) and plain data, so the storefront's API, web pages,
the POS and the payment webhook can run the same steps; ``start`` (the storefront's
``POST .../checkout``) is their composition.

1. ``prepare``, in one transaction: the cart is locked; what pricing needs is read once
   (``cart.service.fetch``: lines and sale items, the storefront's sales channel, promotions
   in force, shipping method, tax settings and rates) and the cart priced from it; anything
   that stops it (a line no longer for sale, no shipping method, no email) is a 422 and
   changes nothing. Stock for every line is then reserved, all or nothing (409
   ``insufficient_stock`` otherwise), under the reference ``cart:<id>:<attempt>``, and the
   attempt is recorded on the cart with the priced order, so what the shopper is charged is
   what the order says even if prices change meanwhile. Returns a ``Prepared``.
2. ``charge``: the payment, keyed by the reference (a retry never charges twice). A remote
   gateway (Stripe) is called after prepare's transaction is committed, with no session and
   no lock held. A local one (manual, store credit, gift card) writes to the database, so it
   is charged inside the transaction that prepared and completes: its decline rolls that
   whole transaction back, reservation and attempt included.
3. ``complete``: the order is ingested through the orders module with the reservation (its
   units are sold, not taken again), external id = the cart id (one cart can never make two
   orders), and the promotions' uses counted. Or ``compensate`` when the charge failed or
   was abandoned: the hold is released and the cart reopened.

A payment that needs the shopper (3-D Secure) leaves the cart ``checking_out`` with its hold;
the provider's webhook ends the attempt with the same steps (``on_payment``: ``complete`` on
success, ``compensate`` on failure), and a hold nobody completes is compensated by the
sweeper (``reopen_abandoned``) when it expires.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import structlog
from sqlalchemy import select
from sqlalchemy.orm import Session

from mercato.checkout.cart.models import Cart
from mercato.checkout.cart.service import CartView, fetch, get_cart, price, public_payment
from mercato.checkout.promotions import service as promotions
from mercato.core.db import SYSTEM, Database, get_owned, set_tenant, utcnow
from mercato.core.errors import Conflict, MercatoError, PaymentFailed, ValidationFailed
from mercato.core.hooks import hooked, run_before
from mercato.identity import Shopper
from mercato.inventory import (
    Reservation,
    ReservationIn,
    ReservationLineIn,
    SalesChannel,
    release,
    reserve,
)
from mercato.orders import Order, OrderIn
from mercato.orders.service import get_order, ingest
from mercato.payments import (
    ChargeRequest,
    ChargeResult,
    Gateway,
    PaymentUpdate,
    gateway_for,
    on_payment_update,
)
from mercato.settings import Settings

log = structlog.get_logger(__name__)
TAKEN = ("paid", "authorized")
"""Charge results whose money the provider holds: the order is made whatever happens."""


@dataclass
class Outcome:
    """What a checkout call ended in: an order (``created`` now or earlier), or a payment
    still waiting for the shopper."""

    cart: Cart
    order: Order | None
    created: bool
    payment: dict[str, Any]


@dataclass
class Prepared:
    """An attempt ``prepare`` recorded: what ``charge`` and ``complete`` (or ``compensate``)
    need. ``cart`` and ``reservation`` are rows of prepare's session: the same transaction
    (a local payment) uses them as they are, a later one (after a remote charge) locks the
    cart again by ``cart_id``."""

    organization_id: str
    cart_id: str
    attempt: int
    reference: str                  # cart:<id>:<attempt>: the hold's and the charge's key
    shopper: Shopper | None
    cart: Cart
    reservation: Reservation
    gateway: Gateway
    request: ChargeRequest          # amount, currency, reference, idempotency key, details
    channel: SalesChannel | None = None
    """The storefront's sales channel as prepare read it: held here so that the completing
    step in the same transaction finds it in the session (the order's ``ingest`` names it)
    instead of reading it again."""

    @property
    def remote(self) -> bool:
        """Whether the payment is taken by a provider, outside any transaction."""
        return self.gateway.remote


def prepare(session: Session, organization_id: str, cart_id: str, shopper: Shopper | None,
            *, method: str, details: dict[str, Any], settings: Settings) -> Prepared | Outcome:
    """Step 1, in the caller's transaction: lock, price, check, hold the stock, record the
    attempt (see the module docstring). An ``Outcome`` instead when the cart made its order
    before (the same answer again); 409 while another attempt waits for its payment or when
    the cart is no longer open."""
    cart = get_cart(session, cart_id, shopper, lock=True)
    if cart.status == "completed" and cart.order_id:
        return Outcome(cart, get_order(session, cart.order_id), False, cart.payment or {})
    if cart.status == "checking_out":
        raise Conflict("This cart's checkout is waiting for its payment.",
                       extra={"cart_status": cart.status,
                              "payment": public_payment(cart.payment)})
    if cart.status != "open":
        raise Conflict(f"The cart is {cart.status}; it cannot be checked out.",
                       extra={"cart_status": cart.status})
    info = fetch(session, cart, stock=False)  # stock is the reservation's to decide
    current = price(session, info)
    _problems(current)
    gateway = gateway_for(session, method, settings=settings)
    attempt = cart.attempt + 1
    reference = f"cart:{cart.id}:{attempt}"
    channel = info.channel
    body = _before_checkout(session, cart, current,
                            _order_body(cart, current, channel.id if channel else "web"))
    details = _before_payment(session, cart, current, method, reference, details)
    pickup = current.shipping.pickup_location_id if current.shipping else None
    reservation, _ = reserve(session, ReservationIn(
        reference=reference, channel=channel.id if channel and not pickup else None,
        expires_in_seconds=settings.checkout_hold_minutes * 60,
        lines=[ReservationLineIn(sku=lv.line.sku, quantity=lv.line.quantity,
                                 location=None if lv.item and lv.item.digital else pickup)
               for lv in current.lines]))
    request = ChargeRequest(method=method, amount=current.totals.total,
                            currency=cart.currency, reference=reference,
                            idempotency_key=reference, customer_id=cart.customer_id,
                            email=cart.email, details=details)
    cart.attempt, cart.reservation_id = attempt, reservation.id
    cart.payment = {"method": method, "status": "processing", "amount": str(request.amount),
                    "reference": None, "attempt": attempt, "order": body,
                    "promotions": _applied(current)}
    if gateway.remote:
        cart.status = "checking_out"  # kept, with the hold, while the provider is asked
    return Prepared(organization_id, cart.id, attempt, reference, shopper, cart, reservation,
                    gateway, request, channel)


def charge(prepared: Prepared, session: Session | None = None) -> ChargeResult:
    """Step 2: take the payment, keyed by the attempt's reference (a retry never charges
    twice). A declined payment is a ``failed`` result, not an exception; a provider that does
    not answer raises (``ServiceUnavailable``).

    Remote gateway (Stripe): call with no session, after prepare's transaction is committed,
    so that no transaction or lock is held while the provider is asked. Local gateway
    (manual, store credit, gift card): it writes to the database, so pass the session of
    prepare, in the same transaction as ``complete``: its decline makes ``complete`` raise
    ``PaymentFailed``, which rolls that whole transaction back (hold and attempt included),
    so a local checkout is one transaction, as it always was."""
    if prepared.remote:
        if session is not None:
            raise ValueError("a remote payment is taken outside any transaction")
        return prepared.gateway.charge(None, prepared.request)
    if session is None:
        raise ValueError("a local payment is taken in the transaction that prepared it")
    return prepared.gateway.charge(session, prepared.request)


def complete(session: Session, target: Prepared | Cart, result: ChargeResult) -> Outcome:
    """Step 3: make the order of an attempt whose charge did not fail.

    ``target`` is this request's ``Prepared``, or a cart its caller has locked and checked
    (the webhook, ``on_payment``). For a local payment (same transaction as prepare) a
    ``failed`` result raises ``PaymentFailed`` (the transaction rolls back whole) and a
    promotion whose limit was reached meanwhile fails the checkout. After a remote charge the
    cart is locked again in this transaction: if the webhook completed it first, that order
    is the answer (``created`` False); ``requires_action`` records what the shopper must
    confirm and leaves the order to the webhook; a payment the provider holds makes the order
    even past a promotion's limit (tagged ``promotion-over-limit``: the shopper paid that
    price). Compensate a failed remote charge instead (``start`` does)."""
    if isinstance(target, Cart):
        order = _make_order(session, target.organization_id, target, result,
                            strict_limits=False)
        return Outcome(target, order, True, target.payment or {})
    if not target.remote:
        if result.status == "failed":
            raise PaymentFailed(f"The payment was declined: {result.failure}.",
                                extra={"failure": result.failure})
        order = _make_order(session, target.organization_id, target.cart, result,
                            strict_limits=True)
        return Outcome(target.cart, order, True, target.cart.payment or {})
    cart = get_cart(session, target.cart_id, target.shopper, lock=True)
    if cart.status == "completed" and cart.order_id:  # the webhook was faster
        return Outcome(cart, get_order(session, cart.order_id), False, cart.payment or {})
    if result.status in TAKEN:
        order = _make_order(session, target.organization_id, cart, result,
                            strict_limits=False)
        return Outcome(cart, order, True, cart.payment or {})
    if result.status == "requires_action":
        cart.payment = {**(cart.payment or {}), **_payment_state(result)}
        return Outcome(cart, None, False, cart.payment)
    raise ValueError(f"a {result.status} charge is compensated, not completed")


def compensate(session: Session, attempt: Prepared | str, *, why: str) -> bool:
    """Step 3 when the charge failed or was abandoned: the attempt's hold is released and the
    cart can be checked out again (its payment state says ``failed`` and why). ``attempt``:
    the ``Prepared``, or its reference ``cart:<id>:<attempt>``. Nothing happens (False) if
    another attempt or a completion came first."""
    reference = attempt.reference if isinstance(attempt, Prepared) else attempt
    cart_id = reference.split(":")[1]
    cart = session.scalar(select(Cart).where(Cart.id == cart_id).with_for_update()
                          .execution_options(populate_existing=True))
    if cart is None or cart.status != "checking_out" \
            or f"cart:{cart.id}:{cart.attempt}" != reference:
        return False
    if cart.reservation_id:
        reservation = get_owned(session, Reservation, cart.reservation_id)
        if reservation is not None:
            release(session, reservation, note=why)
    cart.status = "open"
    cart.payment = {**(cart.payment or {}), "status": "failed", "failure": why}
    session.flush()
    return True


def start(session: Session, organization_id: str, cart_id: str, shopper: Shopper | None, *,
          method: str, details: dict[str, Any], settings: Settings) -> Outcome:
    """Check out the cart: ``prepare``, ``charge``, then ``complete`` or ``compensate``.
    With a remote gateway the session is committed after prepare (the hold and the attempt
    are kept while the provider is asked) and after a compensation (which the 402 that
    follows must not roll back)."""
    ready = prepare(session, organization_id, cart_id, shopper, method=method,
                    details=details, settings=settings)
    if isinstance(ready, Outcome):
        return ready
    if not ready.remote:
        return complete(session, ready, charge(ready, session))
    session.commit()
    try:
        result = charge(ready)
    except MercatoError:
        compensate(session, ready, why="the provider did not answer")
        session.commit()
        raise
    if result.status not in (*TAKEN, "requires_action"):
        compensate(session, ready, why=result.failure or "declined")
        session.commit()
        raise PaymentFailed(f"The payment was declined: {result.failure}.",
                            extra={"failure": result.failure})
    return complete(session, ready, result)


def _make_order(session: Session, organization_id: str, cart: Cart, result: ChargeResult,
                *, strict_limits: bool) -> Order:
    """Make the order from the priced body kept on the cart, selling the held stock, and
    count the promotions used. ``strict_limits``: a promotion whose limit was reached
    meanwhile fails the checkout (local payments, rolled back whole); for a payment already
    taken by a provider the order is made anyway and tagged, since the shopper paid that
    price."""
    state = cart.payment or {}
    body = dict(state["order"])
    if result.status in TAKEN:
        body["payments"] = [{"method": result.method, "amount": str(result.amount),
                             "status": result.status, "reference": result.reference}]
    reservation = get_owned(session, Reservation, cart.reservation_id) \
        if cart.reservation_id else None
    order, _ = ingest(session, organization_id, OrderIn.model_validate(body),
                      reservation=reservation, account_id=cart.account_id,
                      customer_id=cart.customer_id)
    applied = _result_of(state.get("promotions", []))
    if applied.applied:
        try:
            with session.begin_nested():
                promotions.redeem(session, applied, customer_id=cart.customer_id,
                                  email=cart.email, order_id=order.id)
        except Conflict:
            if strict_limits:
                raise
            order.tags = sorted({*order.tags, "promotion-over-limit"})
            log.warning("promotion_over_limit", cart_id=cart.id, order_id=order.id)
    cart.status, cart.order_id = "completed", order.id
    cart.payment = {**state, **_payment_state(result)}
    session.flush()
    return order


# -- what the steps share ---------------------------------------------------------------------

def _problems(current: CartView) -> None:
    """422 for what the shopper must fix; too few in stock is left to the reservation, whose
    409 ``insufficient_stock`` names the lines (and is the answer a race ends in too)."""
    problems = current.problems_but_stock
    if not current.cart.email:
        problems.append({"field": "email", "message": "an email for the receipt is required"})
    if problems:
        raise ValidationFailed("The cart cannot be bought as it stands.", errors=problems)


def _order_body(cart: Cart, current: CartView, channel: str) -> dict[str, Any]:
    """The order exactly as priced now, as the orders module takes it (JSON-safe)."""
    lines = []
    for lv, totals in zip(current.lines, current.totals.lines, strict=True):
        lines.append({
            "sku": lv.line.sku, "quantity": lv.line.quantity,
            "unit_price": str(lv.unit_price),
            "discounts": [{"title": title, "amount": str(amount)}
                          for title, amount in lv.discounts if amount > 0],
            "tax_lines": [{"title": t["title"], "rate": str(t["rate"])}
                          for t in totals.tax_lines if t.get("rate") is not None]})
    shipping_lines = []
    if current.shipping is not None and current.totals.shipping:
        priced = current.totals.shipping[0]
        shipping_lines.append({
            "title": current.shipping.title, "code": current.shipping.code,
            "price": str(priced.base),
            "tax_lines": [{"title": t["title"], "rate": str(t["rate"])}
                          for t in priced.tax_lines if t.get("rate") is not None]})
    address = cart.shipping_address
    name = {"first_name": address.get("first_name") or None,
            "last_name": address.get("last_name") or None} if address else {}
    pickup = current.shipping.pickup_location_id if current.shipping else None
    return {
        "channel": channel, "external_id": cart.id, "currency": cart.currency,
        "taxes_included": current.taxes_included, "lines": lines,
        "shipping_lines": shipping_lines,
        "customer": {"email": cart.email, **{k: v for k, v in name.items() if v}},
        "shipping_address": address if address and not pickup else None,
        "billing_address": cart.billing_address or (address if not pickup else None),
        "pickup_location": pickup, "note": cart.note, "tags": ["storefront"],
    }


def _before_checkout(session: Session, cart: Cart, current: CartView,
                     body: dict[str, Any]) -> dict[str, Any]:
    """The organization's plugins' ``before_checkout`` hooks (``core.hooks``): they see the
    priced cart and may refuse it, or change the order's ``note`` and ``tags``."""
    if not hooked("before_checkout"):
        return body
    result = run_before(session, "before_checkout", {
        "cart_id": cart.id, "currency": cart.currency, "email": cart.email,
        "subtotal": str(current.totals.subtotal), "total": str(current.totals.total),
        "lines": [{"sku": ln["sku"], "quantity": ln["quantity"], "unit_price": ln["unit_price"]}
                  for ln in body["lines"]],
        "order": {"note": body["note"], "tags": body["tags"]}})
    order = result.get("order") or {}
    note, tags = order.get("note"), order.get("tags")
    if (note is not None and not isinstance(note, str)) or not isinstance(tags, list) \
            or not all(isinstance(t, str) for t in tags):
        raise ValidationFailed("A plugin changed the checkout into something that is not "
                               "valid.", errors=[{"field": "order", "message": (
                                   "note must be text or null, tags a list of text")}])
    return {**body, "note": note, "tags": tags}


def _before_payment(session: Session, cart: Cart, current: CartView, method: str,
                    reference: str, details: dict[str, Any]) -> dict[str, Any]:
    """The organization's plugins' ``before_payment`` hooks: they see the payment about to
    be asked for and may refuse it, or change the ``details`` handed to the gateway."""
    if not hooked("before_payment"):
        return details
    result = run_before(session, "before_payment", {
        "cart_id": cart.id, "reference": reference, "method": method,
        "amount": str(current.totals.total), "currency": cart.currency, "details": details})
    changed = result.get("details")
    if not isinstance(changed, dict):
        raise ValidationFailed("A plugin changed the payment into something that is not "
                               "valid.", errors=[{"field": "details",
                                                  "message": "must be an object"}])
    return changed


def _applied(current: CartView) -> list[dict[str, Any]]:
    return [{"promotion_id": a.promotion_id, "code": a.code, "title": a.title, "kind": a.kind,
             "amount": str(a.amount)} for a in current.promo.applied]


def _result_of(applied: list[dict[str, Any]]) -> promotions.PromoResult:
    return promotions.PromoResult(
        line_discounts={}, shipping_discount=Decimal("0"), rejected={},
        applied=[promotions.AppliedPromotion(
            promotion_id=a["promotion_id"], code=a["code"], title=a["title"], kind=a["kind"],
            amount=Decimal(a["amount"])) for a in applied])


def _payment_state(result: ChargeResult) -> dict[str, Any]:
    return {"method": result.method, "status": result.status, "amount": str(result.amount),
            "reference": result.reference, "client_secret": result.client_secret,
            "failure": result.failure, "redirect_url": result.redirect_url}


# -- the provider's word (webhooks) -------------------------------------------------------------

def on_payment(session: Session, update: PaymentUpdate) -> None:
    """A payment of a checkout succeeded or failed at the provider. Success completes the
    order if the checkout did not already (even after its hold expired: the shopper paid, so
    the order is made and, if the stock went meanwhile, flagged oversold); failure releases
    the hold. Delivered twice, it does nothing the second time."""
    reference = update.metadata.get("reference", "")
    parts = reference.split(":")
    if len(parts) != 3 or parts[0] != "cart" or update.kind not in ("succeeded", "failed"):
        return
    cart = session.scalar(select(Cart).where(Cart.id == parts[1]).with_for_update()
                          .execution_options(populate_existing=True))
    if cart is None or cart.status == "completed" or not cart.payment \
            or str(cart.payment.get("attempt")) != parts[2]:
        return
    if update.kind == "failed":
        compensate(session, reference, why="declined at the provider")
        return
    complete(session, cart, ChargeResult(
        method=str(cart.payment.get("method", update.provider)), status="paid",
        amount=update.amount, reference=update.reference))


on_payment_update(on_payment)


# -- abandoned payments ----------------------------------------------------------------------------

def reopen_abandoned(db: Database, *, hold_minutes: int, limit: int = 200) -> int:
    """Carts whose payment never came back within the hold: the hold is released and the cart
    reopened (a payment completed later still makes its order, see ``on_payment``)."""
    cutoff = utcnow() - dt.timedelta(minutes=hold_minutes)
    with db.transaction(tenant=SYSTEM) as session:
        due = session.execute(select(Cart.organization_id, Cart.id, Cart.attempt).where(
            Cart.status == "checking_out", Cart.updated_at <= cutoff).limit(limit)).all()
        for organization_id, cart_id, attempt in due:
            set_tenant(session, organization_id)
            compensate(session, f"cart:{cart_id}:{attempt}",
                       why="the payment was not completed in time")
        set_tenant(session, SYSTEM)
        return len(due)
