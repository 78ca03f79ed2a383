"""Inventory work the worker runs: releasing expired reservations, publishing availability."""

from __future__ import annotations

from mercato.core.db import Database
from mercato.core.outbox import periodic
from mercato.inventory.reservations import release_all_expired
from mercato.inventory.sales_channels import publish_availability


@periodic(every_seconds=1, name="inventory.release_expired")
def release_expired_reservations(db: Database) -> None:
    """An expired reservation holds nothing: its units go back within about a second."""
    release_all_expired(db)


@periodic(every_seconds=1, name="inventory.publish_availability")
def publish_channel_availability(db: Database) -> None:
    """What changed since the last round, as one ``inventory.availability_changed`` per
    (channel, SKU) whose number moved."""
    publish_availability(db)
