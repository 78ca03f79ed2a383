"""What the channels module does when other modules' events arrive: what Mercato does to a
channel's order (a fulfillment, a cancellation, a refund) goes back to the platform it came
from, as a sync job (retried, recorded in the connection's health, idempotent)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from mercato.channels import push  # noqa: F401  (registers the publisher's listener)
from mercato.channels.jobs import create_job
from mercato.channels.models import Connection
from mercato.channels.registry import cancelled_on, platform_refund, runs
from mercato.core.outbox import Event, subscribe
from mercato.orders import CancelIn
from mercato.orders import service as orders

OVERSOLD = "oversold: nothing left to send"
CANCEL_OVERSOLD_BY_DEFAULT = frozenset({"tcgplayer", "ebay", "amazon", "shopee", "tiktok"})
"""Marketplaces where a sale Mercato cannot cover is cancelled back by default: a one-off
card sold twice is the one outcome a card store cannot leave waiting. A Shopify store
resolves its oversold orders itself (``cancel_oversold`` turns either way on or off)."""


def _connection_for(session: Session, event: Event, setting: str,
                    job: str) -> Connection | None:
    """The enabled connection of the event's order's channel, when the order came from the
    platform (it has an external id), the connection's ``setting`` is on and its connector
    can send this change (``job``)."""
    order = event.data.get("order") or {}
    if not order.get("external_id"):
        return None
    connection = session.scalar(select(Connection).where(
        Connection.channel_id == order.get("channel"), Connection.enabled.is_(True)))
    if connection is None:
        return None
    chosen = (connection.settings or {}).get(setting)
    if chosen is None:  # unset: the kind's default
        chosen = (connection.kind in CANCEL_OVERSOLD_BY_DEFAULT
                  if setting == "cancel_oversold" else True)
    if not chosen:
        return None
    if not runs(connection.kind, job):
        return None
    return connection


@subscribe("order.updated", name="channels.fulfillment_push")
def send_fulfillments(session: Session, event: Event) -> None:
    """A fulfillment made in Mercato for a channel's order goes back to that platform."""
    if event.data.get("action") != "fulfil":
        return
    connection = _connection_for(session, event, "push_fulfillments", "fulfillment_push")
    if connection is None:
        return
    for made in (event.data.get("changes") or {}).get("fulfillments", []):
        create_job(session, connection, "fulfillment_push", trigger="event", exclusive=False,
                   params={"order_id": event.data["order"]["id"], "fulfillment_id": made["id"]})


@subscribe("order.cancelled", name="channels.cancellation_push")
def send_cancellation(session: Session, event: Event) -> None:
    """A channel's order cancelled in Mercato is cancelled on the platform; one the platform
    cancelled (and Mercato followed) is not sent back."""
    connection = _connection_for(session, event, "push_cancellations", "cancellation_push")
    if connection is not None and event.data.get("reason") != cancelled_on(connection.kind):
        create_job(session, connection, "cancellation_push", trigger="event", exclusive=False,
                   params={"order_id": event.data["order"]["id"],
                           "restock": bool(event.data.get("restock", True))})


@subscribe("order.refunded", name="channels.refund_push")
def send_refund(session: Session, event: Event) -> None:
    """A refund made in Mercato for a channel's order is made on the platform; one that came
    from the platform is not sent back."""
    refund = event.data.get("refund") or {}
    if not refund.get("id"):
        return
    connection = _connection_for(session, event, "push_refunds", "refund_push")
    if connection is not None and not str(refund.get("reason") or "").startswith(
            platform_refund(connection.kind)):
        create_job(session, connection, "refund_push", trigger="event", exclusive=False,
                   params={"order_id": event.data["order"]["id"], "refund_id": refund["id"]})


@subscribe("order.oversold", name="channels.cancel_oversold")
def cancel_oversold(session: Session, event: Event) -> None:
    """A platform's order of which not one unit could be covered (another channel sold the
    last copy first) is cancelled, which sends the cancellation back to the platform. An
    order with some units covered stays flagged for someone to resolve."""
    connection = _connection_for(session, event, "cancel_oversold", "cancellation_push")
    if connection is None:
        return
    order = orders.get_order(session, event.data["order"]["id"])
    if order.status == "cancelled" or any(
            line.short < line.quantity - line.cancelled for line in order.lines):
        return
    orders.cancel(session, order.id, CancelIn(reason=OVERSOLD))
