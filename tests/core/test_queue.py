"""core.queue on both databases: claims are disjoint, leases lapse, only the owner records."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, insert, select

from mercato.core import queue
from mercato.core.db import SYSTEM, Database, UTCDateTime, utcnow

work = Table("queue_test_work", MetaData(), Column("id", Integer, primary_key=True),
             Column("status", String(10), nullable=False),
             Column("lease_owner", String(50)), Column("lease_until", UTCDateTime()),
             Column("attempts", Integer, nullable=False, default=0))
LEASE = dt.timedelta(seconds=60)


@pytest.fixture
def rows(db: Database) -> Iterator[Database]:
    work.create(db.engine)
    with db.transaction(tenant=SYSTEM) as session:
        session.execute(insert(work), [{"id": i, "status": "pending"} for i in range(1, 6)])
    yield db
    work.drop(db.engine)


def _claim(db: Database, owner: str, now: dt.datetime, limit: int = 2) -> list[int]:
    with db.transaction(tenant=SYSTEM) as session:
        return queue.claim(session, work, where=[work.c.status == "pending",
                                                 queue.lapsed(work.c.lease_until, now)],
                           order_by=[work.c.id], limit=limit, until=now + LEASE, owner=owner,
                           values={"attempts": work.c.attempts + 1})


def test_claims_are_disjoint_and_a_lapsed_lease_is_claimed_again(rows: Database) -> None:
    now = utcnow()
    assert _claim(rows, "a", now) == [1, 2]
    assert _claim(rows, "b", now) == [3, 4]
    assert _claim(rows, "c", now, limit=5) == [5]
    assert _claim(rows, "d", now) == []
    later = now + LEASE + dt.timedelta(seconds=1)  # every worker died: their leases lapse
    assert _claim(rows, "e", later, limit=5) == [1, 2, 3, 4, 5]
    with rows.session(write=False, tenant=SYSTEM) as session:
        assert set(session.execute(select(work.c.lease_owner, work.c.attempts))) == {("e", 2)}


def test_only_the_lease_holder_records_the_outcome(rows: Database) -> None:
    now = utcnow()
    assert _claim(rows, "a", now) == [1, 2]
    assert _claim(rows, "b", now + LEASE * 2) == [1, 2]  # a stalled past its lease
    with rows.transaction(tenant=SYSTEM) as session:
        assert not queue.release(session, work, 1, owner="a", values={"status": "done"})
        assert queue.release(session, work, 1, owner="b", values={"status": "done"})
    with rows.session(write=False, tenant=SYSTEM) as session:
        assert session.execute(select(work.c.status, work.c.lease_owner, work.c.lease_until)
                               .where(work.c.id == 1)).one() == ("done", None, None)


def test_a_single_row_lease_is_taken_renewed_and_refused(rows: Database) -> None:
    now = utcnow()
    with rows.transaction(tenant=SYSTEM) as session:
        assert queue.take_lease(session, work, 1, owner="a", until=now + LEASE, now=now)
        assert queue.take_lease(session, work, 1, owner="a", until=now + LEASE * 2, now=now)
        assert not queue.take_lease(session, work, 1, owner="b", until=now + LEASE, now=now)
        assert not queue.take_lease(session, work, 2, owner="b", until=now + LEASE, now=now,
                                    where=[work.c.status == "done"])
        later = now + LEASE * 3
        assert queue.take_lease(session, work, 1, owner="b", until=later + LEASE, now=later)
