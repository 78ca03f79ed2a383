"""Inventory push: the channel's available-to-sell, sent to the platform, latest number only.

Each publishing round's changed numbers (already coalesced by the publisher) are recorded as
wanted on the variants' mappings in the round's own transaction (``want_published``), bumping
``want_version``: one statement per connection, however many changed. The pusher, a worker
loop, takes a connection's due mappings (``pushed_version < want_version``) in batches, sends
each batch in one call outside any transaction, then records ``pushed_version`` as the version
it read. A change that lands meanwhile bumps the version again, so it is sent next round;
twenty changes to one SKU while a call is in flight are one more push, of the last number.

One pusher per connection at a time, across processes: a lease on the connection row.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections import defaultdict
from collections.abc import Callable
from typing import TYPE_CHECKING

from sqlalchemy import and_, bindparam, or_, select, update
from sqlalchemy.orm import Session

from mercato.channels.models import Connection, Mapping
from mercato.channels.registry import (
    ConnectionConfig,
    PushEntry,
    PushResult,
    batch_size,
    breaker_for,
    pusher,
    using_database,
)
from mercato.channels.service import (
    config_of,
    connections_t,
    mappings_t,
    record_health,
)
from mercato.channels.toolkit import ChannelError
from mercato.core import queue as leases
from mercato.core.db import SYSTEM, Database, set_tenant, utcnow
from mercato.inventory import (
    PublishedNumber,
    get_channel,
    on_published,
    sellable,
)
from mercato.settings import Settings
from mercato.tenancy import suspended_organizations

if TYPE_CHECKING:
    from mercato.channels.jobs import JobContext

LEASE = dt.timedelta(seconds=30)


@on_published
def want_published(session: Session, numbers: list[PublishedNumber]) -> None:
    """The publisher's changed numbers, recorded as wanted for connected channels in its own
    transaction: the pusher sends them next."""
    by_channel: dict[str, dict[str, int]] = defaultdict(dict)
    for channel_id, variant_id, quantity in numbers:
        by_channel[channel_id][variant_id] = quantity
    connected = session.execute(select(Connection.channel_id, Connection.id).where(
        Connection.channel_id.in_(sorted(by_channel)), Connection.enabled.is_(True))).all()
    for channel_id, connection_id in sorted(connected):
        _want(session, connection_id, by_channel[channel_id])


def want(session: Session, channel_id: str, quantities: dict[str, int]) -> None:
    """Set the wanted quantity of mapped variants on the channel's connection."""
    connection_id = session.scalar(select(Connection.id).where(
        Connection.channel_id == channel_id, Connection.enabled.is_(True)))
    if connection_id is not None:
        _want(session, connection_id, quantities)


def _want(session: Session, connection_id: str, quantities: dict[str, int]) -> None:
    """One statement for all: rows already wanting that number (and holding it, pushed) are
    left alone, so an unchanged number is never pushed again."""
    if not quantities:
        return
    now = utcnow()
    session.execute(
        update(mappings_t).where(
            mappings_t.c.connection_id == bindparam("c"),
            mappings_t.c.resource == "variant", mappings_t.c.local_id == bindparam("v"),
            or_(mappings_t.c.want_quantity.is_(None),
                mappings_t.c.want_quantity != bindparam("q"),
                mappings_t.c.pushed_version < mappings_t.c.want_version,
                mappings_t.c.remote_quantity.is_(None),
                mappings_t.c.remote_quantity != bindparam("q")))
        .values(want_quantity=bindparam("q"), want_version=mappings_t.c.want_version + 1,
                wanted_at=now),
        [{"c": connection_id, "v": variant_id, "q": quantity}
         for variant_id, quantity in sorted(quantities.items())])


def resend(session: Session, connection_id: str, variant_ids: list[str]) -> None:
    """The platform changed these variants' quantities itself (a cancellation there puts
    the units back on its listing): what it holds is forgotten and Mercato's number is sent
    again."""
    if variant_ids:
        session.execute(update(mappings_t).where(
            mappings_t.c.connection_id == connection_id, mappings_t.c.resource == "variant",
            mappings_t.c.local_id.in_(sorted(set(variant_ids))),
            mappings_t.c.want_quantity.is_not(None))
            .values(remote_quantity=None, want_version=mappings_t.c.want_version + 1,
                    wanted_at=utcnow()))


def want_all(session: Session, connection: Connection) -> int:
    """Every mapped variant's current number, wanted again (a full inventory push). What the
    platform holds is forgotten, so it is read again: a full push corrects drift Mercato did
    not hear about."""
    variant_ids = list(session.scalars(select(Mapping.local_id).where(
        Mapping.connection_id == connection.id, Mapping.resource == "variant")))
    channel = get_channel(session, connection.channel_id)
    numbers = sellable(session, channel, variant_ids)
    now = utcnow()
    for variant_id in variant_ids:
        session.execute(update(mappings_t).where(
            mappings_t.c.connection_id == connection.id, mappings_t.c.resource == "variant",
            mappings_t.c.local_id == variant_id)
            .values(want_quantity=numbers.get(variant_id, 0), remote_quantity=None,
                    want_version=mappings_t.c.want_version + 1, wanted_at=now))
    return len(variant_ids)


def due_connections(db: Database, organization_id: str | None = None) -> list[str]:
    with db.transaction(tenant=SYSTEM) as session:
        stmt = select(mappings_t.c.connection_id).where(
            mappings_t.c.resource == "variant",
            mappings_t.c.pushed_version < mappings_t.c.want_version)
        if organization_id is not None:
            stmt = stmt.where(mappings_t.c.organization_id == organization_id)
        paused = suspended_organizations(session)  # suspended by the operator: pushes wait
        if paused:
            stmt = stmt.where(mappings_t.c.organization_id.notin_(sorted(paused)))
        return list(session.scalars(stmt.distinct()))


def _lease(db: Database, connection_id: str, owner: str) -> bool:
    with db.transaction(tenant=SYSTEM) as session:
        now = utcnow()
        return leases.take_lease(
            session, connections_t, connection_id, owner=owner, until=now + LEASE, now=now,
            where=[connections_t.c.enabled.is_(True)],
            lease_column="push_lease_until", owner_column="push_lease_owner")


def _release(db: Database, connection_id: str, owner: str) -> None:
    with db.transaction(tenant=SYSTEM) as session:
        leases.release(session, connections_t, connection_id, owner=owner,
                       lease_column="push_lease_until", owner_column="push_lease_owner")


def _due(session: Session, connection_id: str, limit: int) -> list[PushEntry]:
    rows = session.execute(
        select(mappings_t.c.id, mappings_t.c.local_id, mappings_t.c.remote_id,
               mappings_t.c.remote_extra, mappings_t.c.want_quantity,
               mappings_t.c.want_version, mappings_t.c.remote_quantity)
        .where(mappings_t.c.connection_id == connection_id, mappings_t.c.resource == "variant",
               mappings_t.c.pushed_version < mappings_t.c.want_version)
        .order_by(mappings_t.c.wanted_at, mappings_t.c.id).limit(limit)).all()
    return [PushEntry(r.id, r.local_id, r.remote_id, r.remote_extra, r.want_quantity or 0,
                      r.want_version, r.remote_quantity) for r in rows]


def _record(session: Session, entries: list[PushEntry], results: list[PushResult]) -> None:
    by_id = {e.mapping_id: e for e in entries}
    now = utcnow()
    done = [{"m": r.mapping_id, "v": by_id[r.mapping_id].version, "q": r.remote_quantity,
             "now": now} for r in results if r.error is None]
    if done:
        session.execute(update(mappings_t).where(and_(
            mappings_t.c.id == bindparam("m"))).values(
            pushed_version=bindparam("v"), remote_quantity=bindparam("q"),
            pushed_at=bindparam("now"), push_error=None), done)
    # an item the platform refused is not retried until its number changes again (the error
    # shows on the mapping and in the connection's health); a whole-batch failure is retried
    failed = [{"m": r.mapping_id, "v": by_id[r.mapping_id].version, "e": (r.error or "")[:2000]}
              for r in results if r.error is not None]
    if failed:
        session.execute(update(mappings_t).where(mappings_t.c.id == bindparam("m")).values(
            pushed_version=bindparam("v"), push_error=bindparam("e")), failed)


async def drain(db: Database, config: ConnectionConfig, *, until: float,
                after_batch: Callable[[int], None] | None = None) -> int:
    """Push a connection's due quantities in batches until none are due or ``until``
    (monotonic time) passes; how many were pushed. A failing platform ends the round (the
    entries stay due)."""
    push = pusher(config.kind)
    if push is None:
        return 0
    pushed = 0
    while time.monotonic() < until:
        with db.transaction(tenant=config.organization_id) as session:
            entries = _due(session, config.id, batch_size(config.kind))
        if not entries:
            break
        try:
            with using_database(db):
                results = await push(config, entries)
        except ChannelError as exc:
            _note(db, config, exc)
            if after_batch is None:
                break
            raise
        with db.transaction(tenant=config.organization_id) as session:
            _record(session, entries, results)
            record_health(session, config.id, circuit=breaker_for(config.id).snapshot())
        pushed += len(entries)
        if after_batch is not None:
            after_batch(len(entries))
    return pushed


def _leased_config(db: Database, connection_id: str, owner: str,
                   settings: Settings | None) -> ConnectionConfig | None:
    """The connection, its lease taken for ``owner``; None when another pusher has it."""
    if not _lease(db, connection_id, owner):
        return None
    with db.transaction(tenant=SYSTEM) as session:
        connection = session.get(Connection, connection_id)
        if connection is not None:
            set_tenant(session, connection.organization_id)
            return config_of(session, connection, settings)
    _release(db, connection_id, owner)
    return None


def push_connection(db: Database, connection_id: str, owner: str, *, budget: float = 2.0,
                    settings: Settings | None = None) -> int:
    """Push a connection's due quantities for up to ``budget`` seconds, holding its lease."""
    config = _leased_config(db, connection_id, owner, settings)
    if config is None:
        return 0
    try:
        return asyncio.run(drain(db, config, until=time.monotonic() + budget))
    finally:
        _release(db, connection_id, owner)


def _note(db: Database, config: ConnectionConfig, exc: ChannelError) -> None:
    with db.transaction(tenant=config.organization_id) as session:
        record_health(session, config.id, error=exc.message, error_kind=str(exc.kind),
                      circuit=breaker_for(config.id).snapshot())


def push_due(db: Database, owner: str, *, budget: float = 2.0,
             settings: Settings | None = None, organization_id: str | None = None) -> int:
    """One round over every connection (of one organization) with quantities to push, all
    at once: a platform that answers slowly or throttles (TCGplayer's ten calls a second)
    never holds up another's numbers."""
    configs = [config for connection_id in due_connections(db, organization_id)
               if (config := _leased_config(db, connection_id, owner, settings)) is not None]
    if not configs:
        return 0
    until = time.monotonic() + budget

    async def round_() -> list[int]:
        return await asyncio.gather(*(drain(db, config, until=until) for config in configs))

    try:
        return sum(asyncio.run(round_()))
    finally:
        for config in configs:
            _release(db, config.id, owner)


async def inventory_push(ctx: JobContext) -> None:
    """The ``inventory_push`` job of a connector whose pusher does the sending: every linked
    variant's number wanted again (once: a later slice of the job only goes on), then pushed
    batch by batch with the job's progress."""
    if not ctx.state.get("wanted"):
        with ctx.session() as session:
            total = want_all(session, ctx.connection(session))
            ctx.progress(total=total, state={"wanted": True}, session=session)
    await drain(ctx.db, ctx.config, until=time.monotonic() + 3600,
                after_batch=lambda n: ctx.progress(add=n))
