"""Money goes back where it came from when an order is refunded in Mercato.

``order.refunded`` lists the payments the refund was taken from. Stripe payments are refunded
at Stripe (idempotency key from the refund and payment ids, so a redelivered event or a retry
after a crash never refunds twice); gift-card and store-credit payments are credited back to the
card or the customer's ledger under a unique key, in the handler's transaction. A Stripe outage
raises, and the outbox retries with backoff.
"""

from __future__ import annotations

from decimal import Decimal

import structlog
from sqlalchemy.orm import Session

from mercato.core.db import get_owned
from mercato.core.outbox import Event, subscribe
from mercato.payments import gateways
from mercato.payments.models import Payment

log = structlog.get_logger("mercato.payments.events")

REFUNDABLE = ("stripe", "gift_card", "store_credit")


def refund_key(refund_id: str, payment_id: str) -> str:
    """One key per refunded payment: a refund spread over two Stripe payments makes two
    Stripe refunds, which must not share a key."""
    return f"mercato-refund:{refund_id}:{payment_id}"


@subscribe("order.refunded", name="payments.send_refunds")
def send_refunds(session: Session, event: Event) -> None:
    refund = event.data.get("refund") or {}
    currency = str((event.data.get("order") or {}).get("currency") or "")
    for part in refund.get("payments") or []:
        payment = get_owned(session, Payment, str(part.get("payment_id")))
        if payment is None or payment.method not in REFUNDABLE or not payment.reference:
            continue
        amount = Decimal(str(part["amount"]))
        if amount <= 0:
            continue
        key = refund_key(str(refund.get("id")), payment.id)
        try:
            gateway = gateways.gateway_for(session, payment.method)
        except Exception:
            # the method was switched off since: the money must still go back
            gateway = _direct(session, payment.method)
        made = gateway.refund(None if gateway.remote else session, reference=payment.reference,
                              amount=amount, currency=currency, idempotency_key=key)
        log.info("refund_sent", method=payment.method, payment=payment.id, provider_refund=made,
                 amount=str(amount))


def _direct(session: Session, method: str) -> gateways.Gateway:
    if method == "gift_card":
        return gateways.GiftCardGateway()
    if method == "store_credit":
        return gateways.StoreCreditGateway()
    from mercato.core.db import tenant_of
    from mercato.payments.stripe_gateway import StripeGateway

    config = gateways.stripe_config(session, str(tenant_of(session)))
    if not config.secret_key:
        raise RuntimeError("a Stripe payment was refunded but no Stripe key is configured")
    return StripeGateway(config.secret_key, api_base=config.api_base)
