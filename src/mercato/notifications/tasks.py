"""Periodic work: sending the emails queued since the last pass."""

from __future__ import annotations

from mercato.core.db import Database
from mercato.core.outbox import periodic
from mercato.notifications.service import send_pending
from mercato.settings import get_settings


@periodic(every_seconds=2, name="notifications.send_pending")
def send_notifications(db: Database) -> None:
    """Emails go out within seconds of the commit that queued them."""
    send_pending(db, get_settings())
