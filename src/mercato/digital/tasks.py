"""Periodic work: deliveries due (webhooks, and retries after a failed attempt)."""

from __future__ import annotations

from mercato.core.db import Database
from mercato.core.outbox import periodic
from mercato.digital.service import deliver_due
from mercato.settings import get_settings


@periodic(every_seconds=2, name="digital.deliver_due")
def deliver(db: Database) -> None:
    """A webhook delivery goes out within seconds of its order's payment; retries follow
    their backoff."""
    deliver_due(db, get_settings())
