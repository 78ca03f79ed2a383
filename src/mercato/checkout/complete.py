"""Checkout: a cart becomes an order, with its stock held first and its payment taken.

1. The cart is locked and priced; anything that stops it (a line no longer for sale, too few
   in stock, no shipping method, no email) is a 422 and changes nothing.
2. Stock for every line is reserved, all or nothing (409 ``insufficient_stock`` otherwise),
   under the reference ``cart:<id>:<attempt>``; the priced order is kept on the cart, so what
   the shopper is charged is what the order says even if prices change meanwhile.
3. Payment. A local gateway (manual, store credit, gift card) is charged in the same
   transaction: a decline rolls everything back, reservation included. A remote one (Stripe)
   is charged after the hold is committed and outside any transaction, keyed by the same
   reference so a retry never charges twice; a decline releases the hold and reopens the cart.
4. The order is ingested through the orders module with the reservation (its units are
   sold, not taken again), external id = the cart id: one cart can never make two orders.

A payment that needs the shopper (3-D Secure) leaves the cart ``checking_out`` with its hold;
the provider's webhook completes the order (``on_payment``), a failure there releases it, and
a hold nobody completes is released by the sweeper when it expires.
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
from mercato.checkout.cart.service import CartView, get_cart, view
from mercato.checkout.promotions import service as promotions
from mercato.core.db import SYSTEM, Database, set_tenant, utcnow
from mercato.core.errors import Conflict, MercatoError, PaymentFailed, ValidationFailed
from mercato.identity.shoppers import Shopper
from mercato.inventory import (
    Reservation,
    ReservationIn,
    ReservationLineIn,
    release,
    reserve,
    web_channel,
)
from mercato.orders.models import Order
from mercato.orders.schemas import OrderIn
from mercato.orders.service import get_order, ingest
from mercato.payments.gateways import ChargeRequest, ChargeResult, gateway_for
from mercato.payments.hooks import PaymentUpdate, on_payment_update
from mercato.settings import Settings

log = structlog.get_logger(__name__)


@dataclass
class Outcome:
    """What a checkout call ended in: an order (``created`` now or earlier), or a payment
    still waiting for the shopper."""

    cart: Cart
    order: Order | None
    created: bool
    payment: dict[str, Any]


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
            "failure": result.failure}


def start(session: Session, organization_id: str, cart_id: str, shopper: Shopper | None, *,
          method: str, details: dict[str, Any], settings: Settings) -> Outcome:
    """Check out the cart (see the module docstring). Commits the session part-way for a
    remote gateway, so that no lock is held while the provider is called."""
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
    current = view(session, cart)
    _problems(current)
    gateway = gateway_for(session, method, settings=settings)
    cart.attempt += 1
    reference = f"cart:{cart.id}:{cart.attempt}"
    channel = web_channel(session)
    pickup = current.shipping.pickup_location_id if current.shipping else None
    reservation, _ = reserve(session, ReservationIn(
        reference=reference, channel=channel.id if channel and not pickup else None,
        expires_in_seconds=settings.checkout_hold_minutes * 60,
        lines=[ReservationLineIn(sku=lv.line.sku, quantity=lv.line.quantity, location=pickup)
               for lv in current.lines]))
    body = _order_body(cart, current, channel.id if channel else "web")
    request = ChargeRequest(method=method, amount=current.totals.total,
                            currency=cart.currency, reference=reference,
                            idempotency_key=reference, customer_id=cart.customer_id,
                            email=cart.email, details=details)
    cart.reservation_id = reservation.id
    cart.payment = {"method": method, "status": "processing", "amount": str(request.amount),
                    "reference": None, "attempt": cart.attempt, "order": body,
                    "promotions": _applied(current)}
    if not gateway.remote:
        result = gateway.charge(session, request)
        if result.status == "failed":
            raise PaymentFailed(f"The payment was declined: {result.failure}.",
                                extra={"failure": result.failure})
        order = _complete(session, organization_id, cart, result, strict_limits=True)
        return Outcome(cart, order, True, cart.payment)
    cart.status = "checking_out"
    session.commit()  # the hold and the attempt are kept while the provider is asked

    try:
        result = gateway.charge(None, request)
    except MercatoError:
        _reopen(session, cart_id, attempt=request.reference, why="the provider did not answer")
        session.commit()
        raise
    cart = get_cart(session, cart_id, shopper, lock=True)
    if cart.status == "completed" and cart.order_id:  # the webhook was faster
        return Outcome(cart, get_order(session, cart.order_id), False, cart.payment or {})
    if result.status in ("paid", "authorized"):
        order = _complete(session, organization_id, cart, result, strict_limits=False)
        return Outcome(cart, order, True, cart.payment or {})
    if result.status == "requires_action":
        cart.payment = {**(cart.payment or {}), **_payment_state(result)}
        return Outcome(cart, None, False, cart.payment)
    _reopen(session, cart_id, attempt=reference, why=result.failure or "declined")
    session.commit()
    raise PaymentFailed(f"The payment was declined: {result.failure}.",
                        extra={"failure": result.failure})


def public_payment(payment: dict[str, Any] | None) -> dict[str, Any]:
    """A payment state as the shopper may see it (not the priced order kept with it)."""
    return {k: v for k, v in (payment or {}).items() if k not in ("order", "promotions")}


def _complete(session: Session, organization_id: str, cart: Cart, result: ChargeResult, *,
              strict_limits: bool) -> Order:
    """Make the order from the priced body kept on the cart, selling the held stock, and
    count the promotions used. ``strict_limits``: a promotion whose limit was reached
    meanwhile fails the checkout (local payments, rolled back whole); for a payment already
    taken by a provider the order is made anyway and tagged, since the shopper paid that
    price."""
    state = cart.payment or {}
    body = dict(state["order"])
    if result.status in ("paid", "authorized"):
        body["payments"] = [{"method": result.method, "amount": str(result.amount),
                             "status": result.status, "reference": result.reference}]
    reservation = session.get(Reservation, cart.reservation_id) if cart.reservation_id \
        else None
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


def _reopen(session: Session, cart_id: str, *, attempt: str, why: str) -> None:
    """The attempt failed or was abandoned: its hold is released and the cart can be checked
    out again. Nothing happens if another attempt (or a completion) came first."""
    cart = session.scalar(select(Cart).where(Cart.id == cart_id).with_for_update()
                          .execution_options(populate_existing=True))
    if cart is None or cart.status != "checking_out" \
            or f"cart:{cart.id}:{cart.attempt}" != attempt:
        return
    if cart.reservation_id:
        reservation = session.get(Reservation, cart.reservation_id)
        if reservation is not None:
            release(session, reservation, note=why)
    cart.status = "open"
    cart.payment = {**(cart.payment or {}), "status": "failed", "failure": why}
    session.flush()


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
        _reopen(session, cart.id, attempt=reference, why="declined at the provider")
        return
    organization_id = cart.organization_id
    _complete(session, organization_id, cart, ChargeResult(
        method=str(cart.payment.get("method", update.provider)), status="paid",
        amount=update.amount, reference=update.reference), strict_limits=False)


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
            _reopen(session, cart_id, attempt=f"cart:{cart_id}:{attempt}",
                    why="the payment was not completed in time")
        set_tenant(session, SYSTEM)
        return len(due)
