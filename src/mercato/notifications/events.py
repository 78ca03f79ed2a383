"""Order events to customer emails: placed, paid, shipped.

Each handler reads the order as it is now (through the orders service) and queues one email
with reference ``order:<id>``; the unique (kind, reference) makes a redelivered event a no-op.
Orders without an email address get no email, and neither do orders of a sales channel whose
``email_buyers`` is off (a platform such as Shopify emails its own buyers).
"""

from __future__ import annotations

from typing import Any

import structlog
from sqlalchemy.orm import Session

from mercato.core.errors import NotFound, ValidationFailed
from mercato.core.outbox import Event, subscribe
from mercato.inventory import emails_buyers
from mercato.notifications.service import queue
from mercato.orders import Order
from mercato.orders.service import get_order
from mercato.tenancy.service import get_organization

log = structlog.get_logger("mercato.notifications")
ADDRESS_FIELDS = (("first_name", "last_name"), ("company",), ("line1",), ("line2",),
                  ("city", "region", "postal_code"), ("country",))


def _address_lines(address: dict[str, Any] | None) -> list[str]:
    if not address:
        return []
    lines = [" ".join(str(address.get(k) or "").strip() for k in keys).strip()
             for keys in ADDRESS_FIELDS]
    return [" ".join(line.split()) for line in lines if line]


def order_context(order: Order, store_name: str) -> dict[str, Any]:
    """What the order templates see: the order's figures (Decimals), lines and shipments."""
    titles = {line.id: line.title for line in order.lines}
    shipments = [{"carrier": f.carrier, "tracking_number": f.tracking_number,
                  "pickup": f.pickup,
                  "lines": [{"title": titles.get(str(entry.get("line_id")), ""),
                             "quantity": entry.get("quantity")} for entry in f.lines]}
                 for f in order.fulfillments]
    snapshot = order.customer_snapshot or {}
    name = order.customer_name or " ".join(
        str(snapshot.get(k) or "") for k in ("first_name", "last_name")).strip() or None
    return {
        "store_name": store_name,
        "customer_name": name,
        "order": {
            "id": order.id, "number": order.number, "currency": order.currency,
            "lines": [{"title": line.title, "variant_title": line.variant_title,
                       "sku": line.sku, "quantity": line.quantity,
                       "unit_price": line.unit_price, "total": line.total}
                      for line in order.lines],
            "subtotal": order.subtotal, "discount_total": order.discount_total,
            "shipping_total": order.shipping_total, "tax_total": order.tax_total,
            "total": order.total, "paid_total": order.paid_total,
            "shipping_address": order.shipping_address,
            "shipping_address_lines": _address_lines(order.shipping_address),
        },
        "shipments": shipments,
    }


def _queue_for_order(session: Session, event: Event, kind: str) -> None:
    try:
        order = get_order(session, event.resource_id)
    except NotFound:
        return  # deleted since: nothing to tell anyone
    if not order.email or not emails_buyers(session, order.channel_id, order.source):
        return
    store_name = get_organization(session, event.organization_id).name
    try:
        queue(session, kind=kind, to=order.email, context=order_context(order, store_name),
              reference=f"order:{order.id}", customer_id=order.customer_id)
    except ValidationFailed:
        log.warning("notification_bad_address", order=order.id, kind=kind)


@subscribe("order.created", name="notifications.order_placed")
def on_order_created(session: Session, event: Event) -> None:
    _queue_for_order(session, event, "order_placed")


@subscribe("order.paid", name="notifications.order_paid")
def on_order_paid(session: Session, event: Event) -> None:
    _queue_for_order(session, event, "order_paid")


@subscribe("order.fulfilled", name="notifications.order_shipped")
def on_order_fulfilled(session: Session, event: Event) -> None:
    _queue_for_order(session, event, "order_shipped")
