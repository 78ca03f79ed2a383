"""Stripe's webhooks on the shared inbound framework (``core.inbound``): verify, record each
event once, and tell the listeners from the worker.

``on_payment_update(listener)`` registers, at import time, a function called with every payment
update, in the worker's transaction that handles the event (checkout completes or releases a
cart there). The event id is recorded under the framework's unique key in the request: a
second delivery, even one racing the first on another process, finds it and queues nothing.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from mercato.core import inbound
from mercato.core.db import tenant_of
from mercato.core.errors import BadRequest, Unauthorized
from mercato.core.outbox import record_event
from mercato.core.ports import Listeners
from mercato.payments.gateways import stripe_config
from mercato.payments.stripe_gateway import from_minor


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


def parse_signature_header(header: str) -> tuple[int | None, list[str]]:
    """``Stripe-Signature``: ``t=<unix seconds>,v1=<hex>[,v1=<hex>...]`` (other schemes, such
    as ``v0``, are ignored, as Stripe's libraries do)."""
    stamp: int | None = None
    signatures: list[str] = []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t" and value.isdigit():
            stamp = int(value)
        elif key == "v1" and value:
            signatures.append(value)
    return stamp, signatures


def stripe_signature(secret: str, stamp: int, payload: bytes) -> str:
    """What Stripe signs: hex HMAC-SHA256 of ``<t>.<raw body>`` with the endpoint's secret."""
    return inbound.hmac_sha256(secret, f"{stamp}.".encode() + payload).hex()


def verify_stripe_signature(secret: str, payload: bytes, header: str | None) -> int:
    """The signed timestamp of a delivery whose ``Stripe-Signature`` verifies (any of its
    ``v1`` signatures, compared in constant time); 401 otherwise. The replay window is the
    framework's."""
    if not header:
        raise Unauthorized("Missing Stripe-Signature header.", headers={})
    stamp, signatures = parse_signature_header(header)
    if stamp is None or not signatures:
        raise Unauthorized("Bad Stripe signature: the header has no timestamp or no v1 "
                           "signature.", headers={})
    expected = stripe_signature(secret, stamp, payload)
    if not any(inbound.signatures_match(given, expected) for given in signatures):
        raise Unauthorized("Bad Stripe signature: no v1 signature matches the body with this "
                           "store's signing secret.", headers={})
    return stamp


def _verify(session: Session, delivery: inbound.Delivery) -> inbound.Verified:
    """A Stripe delivery checked with the store's signing secret (401 when it has none)."""
    secret = stripe_config(session, str(tenant_of(session)), delivery.settings).webhook_secret
    if not secret:
        raise Unauthorized("Stripe webhooks are not configured for this store.", headers={})
    stamp = verify_stripe_signature(secret, delivery.body,
                                    delivery.headers.get("stripe-signature"))
    signed_at = inbound.from_unix(stamp)
    if signed_at is None:
        raise Unauthorized("Bad Stripe signature: its timestamp is not a time.", headers={})
    try:
        data = json.loads(delivery.body)
    except ValueError:
        raise BadRequest("The body is not a Stripe event.") from None
    if not isinstance(data, dict):
        raise BadRequest("The body is not a Stripe event.")
    event_id, event_type = str(data.get("id") or ""), str(data.get("type") or "")
    if not event_id:
        raise BadRequest("The Stripe event has no id.")
    obj = (data.get("data") or {}).get("object") or {}
    reference = (obj.get("payment_intent") or obj.get("id")) if isinstance(obj, dict) else None
    return inbound.Verified(event_id=event_id, event_type=event_type,
                            occurred_at=signed_at, payload=data,
                            resource=str(reference or "")[:80])


def _handle(session: Session, event: inbound.InboundEvent) -> None:
    """The worker's half: the payment update the event means, published and told to the
    listeners (checkout completes or releases a waiting cart), once per event id."""
    update = stripe_update(event.payload if isinstance(event.payload, dict) else {})
    if update is None:
        return
    record_event(session, "payment.provider_update", resource_type="payment_intent",
                 resource_id=update.reference, data={
                     "provider": "stripe", "event_id": event.event_id, "kind": update.kind,
                     "reference": update.reference, "amount": f"{update.amount}",
                     "currency": update.currency, "metadata": dict(update.metadata)})
    _listeners(session, update)


STRIPE = inbound.register(inbound.Provider(name="stripe", verify=_verify, handle=_handle))
"""Stripe at ``/webhooks/stripe/{store}``: ``Stripe-Signature`` checked, ``t=`` within the
replay window, each event id once, the work from the outbox."""


def receive_stripe(session: Session, delivery: inbound.Delivery) -> inbound.Receipt:
    """One Stripe delivery, in the request's transaction: see ``core.inbound.receive``."""
    return inbound.receive(session, STRIPE, delivery)
