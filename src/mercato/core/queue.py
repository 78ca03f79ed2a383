"""Work queues in database tables: claim due rows under a lease, the one way Mercato does it.

Every queue (outbox deliveries, notifications, channel sync jobs, catalog import jobs, and the
per-connection stock pusher) keeps its work in rows with a lease: a time until which one worker
owns the row (``lease_until``), often with the worker's name (``lease_owner``). A worker

1. **claims** due rows (``claim``): selects them and sets the lease in one write transaction.
   On PostgreSQL the select is ``FOR UPDATE SKIP LOCKED``, so workers claiming at once take
   disjoint rows without waiting on each other; on SQLite the transaction already holds the
   database's single write lock (``Database.transaction`` begins ``IMMEDIATE``), so claims run
   one after another and the second sees the first's lease;
2. works outside that transaction, and
3. records the outcome only while it still holds the lease (``release``: an update whose
   ``WHERE`` names the owner), so a worker that stalled past its lease cannot overwrite the
   work of the one that took the row over.

A worker that dies leaves its lease to lapse; the row is then due again (the queue's ``where``
says so, usually with ``lapsed``) and the next claim takes it. Nothing is lost; a row may run
twice, so the work must be safe to repeat (at least once, exactly once for database effects).

``take_lease`` is the single-row form: lease one known row (the stock pusher leases its
connection), or renew a lease this owner holds.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import ColumnElement, Table, or_, select, update
from sqlalchemy.orm import Session

Target = Any
"""A mapped model class or a Core ``Table`` with an ``id`` primary key column."""


def _column(target: Target, name: str) -> Any:
    return target.c[name] if isinstance(target, Table) else getattr(target, name)


def _postgresql(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def lapsed(lease_until: Any, now: dt.datetime) -> ColumnElement[bool]:
    """No lease on the row, or its lease ran out before ``now``."""
    return or_(lease_until.is_(None), lease_until < now)


def claim(session: Session, target: Target, *, where: Iterable[ColumnElement[bool]],
          order_by: Iterable[Any], limit: int, until: dt.datetime, owner: str | None = None,
          values: Mapping[str, Any] | None = None, lease_column: str = "lease_until",
          owner_column: str = "lease_owner") -> list[Any]:
    """Lease up to ``limit`` rows of ``target`` matching ``where``, first in ``order_by``, until
    ``until``; their ids, in that order.

    Sets ``lease_column`` to ``until``, ``owner_column`` to ``owner`` (when given) and whatever
    else ``values`` says (``status``, ``attempts + 1``, …) on the claimed rows. Call it in a
    write transaction (``Database.transaction``) and commit right after: the lease is what
    keeps the rows from other workers once the transaction ends.
    """
    ident = _column(target, "id")
    stmt = select(ident).where(*where).order_by(*order_by).limit(limit)
    if _postgresql(session):
        stmt = stmt.with_for_update(skip_locked=True, of=target)
    ids = list(session.scalars(stmt))
    if ids:
        lease = {lease_column: until, **({owner_column: owner} if owner is not None else {}),
                 **(values or {})}
        session.execute(update(target).where(ident.in_(ids)).values(**lease),
                        execution_options={"synchronize_session": False})
    return ids


def take_lease(session: Session, target: Target, row_id: Any, *, owner: str,
               until: dt.datetime, now: dt.datetime,
               where: Iterable[ColumnElement[bool]] = (), lease_column: str = "lease_until",
               owner_column: str = "lease_owner") -> bool:
    """Lease the row ``row_id`` to ``owner`` until ``until`` when nobody holds it (no lease, or a
    lapsed one) or ``owner`` already does (a renewal), and ``where`` holds; True if it did.

    One conditional ``UPDATE``: on both databases the row's write lock decides between two
    owners trying at once, and the loser's update matches no row."""
    lease, holder = _column(target, lease_column), _column(target, owner_column)
    result = session.execute(
        update(target)
        .where(_column(target, "id") == row_id, *where,
               or_(lapsed(lease, now), holder == owner))
        .values({lease_column: until, owner_column: owner}),
        execution_options={"synchronize_session": False})
    return getattr(result, "rowcount", 0) == 1


def release(session: Session, target: Target, row_id: Any, *, owner: str,
            where: Iterable[ColumnElement[bool]] = (), values: Mapping[str, Any] | None = None,
            lease_column: str = "lease_until", owner_column: str = "lease_owner") -> bool:
    """End ``owner``'s lease on row ``row_id`` and write ``values`` (the outcome), only if
    ``owner`` still holds it and ``where`` holds; False when the lease passed to another worker
    meanwhile (then nothing is written)."""
    result = session.execute(
        update(target)
        .where(_column(target, "id") == row_id, _column(target, owner_column) == owner, *where)
        .values({lease_column: None, owner_column: None, **(values or {})}),
        execution_options={"synchronize_session": False})
    return getattr(result, "rowcount", 0) == 1
