"""Delivery starts when an order is paid."""

from __future__ import annotations

from sqlalchemy.orm import Session

from mercato.core.outbox import Event, subscribe
from mercato.digital.service import start_deliveries
from mercato.settings import get_settings


@subscribe("order.paid", name="digital.start_deliveries")
def on_paid(session: Session, event: Event) -> None:
    """The order's digital lines get their deliveries; keys are drawn for good here."""
    start_deliveries(session, event.resource_id, get_settings())
