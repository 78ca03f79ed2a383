"""Periodic maintenance: expired idempotency keys and old login failures are purged."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select

from mercato.core.db import Database, utcnow
from mercato.core.idempotency_keys import IdempotencyKey, purge_expired
from mercato.core.ids import new_id
from mercato.identity.models import LoginFailure
from mercato.identity.service import purge_login_failures
from mercato.settings import Settings


def test_idempotency_keys_are_kept_for_their_ttl_then_purged(db: Database) -> None:
    scope = f"purge-{new_id()}"
    with db.transaction() as session:
        for age_hours in (1, 23, 25, 48):
            session.add(IdempotencyKey(scope=scope, key=str(age_hours), fingerprint="f",
                                       created_at=utcnow() - dt.timedelta(hours=age_hours)))
    with db.transaction() as session:
        purge_expired(session, older_than=dt.timedelta(hours=24))
    with db.session() as session:
        kept = set(session.scalars(select(IdempotencyKey.key)
                                   .where(IdempotencyKey.scope == scope)))
    assert kept == {"1", "23"}


def test_login_failures_older_than_two_windows_are_purged(
    db: Database, settings: Settings
) -> None:
    email = f"purge-{new_id().lower()}@x.test"
    window = dt.timedelta(seconds=settings.login_failure_window_seconds)
    with db.transaction() as session:
        for age in (window / 2, window * 3):
            session.add(LoginFailure(email=email, client="c", created_at=utcnow() - age))
    purge_login_failures(db, settings)
    with db.session() as session:
        left = session.scalar(select(func.count()).where(LoginFailure.email == email))
    assert left == 1
