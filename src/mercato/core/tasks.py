"""Kernel maintenance the worker runs periodically."""

from __future__ import annotations

import datetime as dt

from mercato.core.db import Database
from mercato.core.idempotency_keys import purge_expired
from mercato.core.outbox import periodic
from mercato.settings import get_settings


@periodic(every_seconds=3600, name="core.purge_idempotency_keys")
def purge_idempotency_keys(db: Database) -> None:
    """Idempotency keys are promised for at least ``MERCATO_IDEMPOTENCY_TTL_HOURS`` (24 h)."""
    ttl = dt.timedelta(hours=get_settings().idempotency_ttl_hours)
    with db.transaction() as session:
        purge_expired(session, older_than=ttl)
