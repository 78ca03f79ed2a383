"""Inbound provider webhooks: verify, record each event once, tell the listeners.

``on_payment_update(listener)`` registers, at import time, a function called with every payment
update inside the webhook's transaction (checkout completes or releases a cart there). The
provider event id is inserted under a unique key first: a second delivery, even one racing the
first on another process, finds it and calls nobody.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import stripe
import structlog
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from mercato.core.errors import BadRequest, Unauthorized
from mercato.core.outbox import record_event
from mercato.core.ports import Listeners
from mercato.payments.gateways import stripe_config
from mercato.payments.models import ProviderEvent
from mercato.payments.stripe_gateway import from_minor
from mercato.settings import Settings

log = structlog.get_logger("mercato.payments.hooks")


@dataclass(frozen=True)
class PaymentUpdate:
    provider: str            # "stripe"
    event_id: str
    kind: str                # "succeeded" | "failed" | "refunded"
    reference: str           # the PaymentIntent id
    amount: Decimal          # major units
    currency: str            # upper-case ISO
    metadata: Mapping[str, str] = field(default_factory=dict)


Listener = Callable[[Session, PaymentUpdate], None]
_listeners: Listeners[[Session, PaymentUpdate]] = Listeners("payments.hooks.payment_updates")


def on_payment_update(listener: Listener) -> None:
    """Register ``listener(session, update)`` (at module import time); registering the same
    function twice keeps one."""
    _listeners.add(listener)


def remove_listener(listener: Listener) -> None:
    _listeners.remove(listener)


@dataclass(frozen=True)
class Received:
    event_id: str
    type: str
    duplicate: bool
    update: PaymentUpdate | None


def _metadata(obj: Mapping[str, Any]) -> dict[str, str]:
    raw = obj.get("metadata") or {}
    return {str(k): str(v) for k, v in dict(raw).items()}


def stripe_update(event: Mapping[str, Any]) -> PaymentUpdate | None:
    """The payment update a Stripe event means, or None for events we do not use."""
    kind = {"payment_intent.succeeded": "succeeded",
            "payment_intent.payment_failed": "failed",
            "charge.refunded": "refunded"}.get(str(event.get("type")))
    obj = (event.get("data") or {}).get("object") or {}
    if kind is None or not isinstance(obj, Mapping):
        return None
    currency = str(obj.get("currency") or "").upper()
    if kind == "refunded":
        reference, minor = obj.get("payment_intent"), obj.get("amount_refunded")
    elif kind == "succeeded":
        reference, minor = obj.get("id"), obj.get("amount_received") or obj.get("amount")
    else:
        reference, minor = obj.get("id"), obj.get("amount")
    if not reference or minor is None or not currency:
        return None
    return PaymentUpdate(provider="stripe", event_id=str(event["id"]), kind=kind,
                         reference=str(reference), amount=from_minor(int(minor), currency),
                         currency=currency, metadata=_metadata(obj))


def receive_stripe(session: Session, organization_id: str, payload: bytes,
                   signature: str | None, settings: Settings | None = None) -> Received:
    """Verify a Stripe delivery with the store's signing secret, record it once, notify."""
    secret = stripe_config(session, organization_id, settings).webhook_secret
    if not secret:
        raise Unauthorized("Stripe webhooks are not configured for this store.", headers={})
    if not signature:
        raise Unauthorized("Missing Stripe-Signature header.", headers={})
    try:
        event = stripe.Webhook.construct_event(payload, signature, secret)
    except stripe.SignatureVerificationError as exc:
        raise Unauthorized(f"Bad Stripe signature: {exc.user_message}", headers={}) from None
    except ValueError:
        raise BadRequest("The body is not a Stripe event.") from None
    data: dict[str, Any] = event.to_dict()
    event_id, event_type = str(data.get("id") or ""), str(data.get("type") or "")
    if not event_id:
        raise BadRequest("The Stripe event has no id.")
    obj = (data.get("data") or {}).get("object") or {}
    row = ProviderEvent(provider="stripe", event_id=event_id, type=event_type[:100],
                        object_id=str(obj.get("id"))[:255] if obj.get("id") else None)
    try:
        with session.begin_nested():
            session.add(row)
            session.flush()
    except IntegrityError:
        seen = session.scalar(select(ProviderEvent.id).where(
            ProviderEvent.provider == "stripe", ProviderEvent.event_id == event_id))
        if seen is None:
            raise
        log.info("stripe_event_duplicate", event_id=event_id, type=event_type)
        return Received(event_id, event_type, duplicate=True, update=None)
    update = stripe_update(data)
    if update is not None:
        record_event(session, "payment.provider_update", resource_type="payment_intent",
                     resource_id=update.reference, data={
                         "provider": "stripe", "event_id": event_id, "kind": update.kind,
                         "reference": update.reference, "amount": f"{update.amount}",
                         "currency": update.currency, "metadata": dict(update.metadata)})
        _listeners(session, update)
    return Received(event_id, event_type, duplicate=False, update=update)
