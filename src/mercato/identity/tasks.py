"""Identity maintenance the worker runs periodically."""

from __future__ import annotations

from mercato.core.db import Database
from mercato.core.outbox import periodic
from mercato.identity.service import purge_login_failures, purge_sign_ins
from mercato.settings import get_settings


@periodic(every_seconds=900, name="identity.purge_login_failures")
def purge_old_login_failures(db: Database) -> None:
    purge_login_failures(db, get_settings())


@periodic(every_seconds=3600, name="identity.purge_sign_ins")
def purge_ended_sign_ins(db: Database) -> None:
    purge_sign_ins(db)
