"""What the channels module does when other modules' events arrive."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from mercato.channels import push  # noqa: F401  (registers the publisher's listener)
from mercato.channels.jobs import create_job
from mercato.channels.models import Connection
from mercato.core.outbox import Event, subscribe


@subscribe("order.updated", name="channels.fulfillment_push")
def send_fulfillments(session: Session, event: Event) -> None:
    """A fulfillment made in Mercato for a channel's order goes back to that platform."""
    if event.data.get("action") != "fulfil":
        return
    channel = (event.data.get("order") or {}).get("channel")
    connection = session.scalar(select(Connection).where(Connection.channel_id == channel,
                                                         Connection.enabled.is_(True)))
    if connection is None or not (connection.settings or {}).get("push_fulfillments", True):
        return
    if not (event.data.get("order") or {}).get("external_id"):
        return
    for made in (event.data.get("changes") or {}).get("fulfillments", []):
        create_job(session, connection, "fulfillment_push", trigger="event", exclusive=False,
                   params={"order_id": event.data["order"]["id"], "fulfillment_id": made["id"]})
