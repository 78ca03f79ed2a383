"""Sales channels and what each may sell: available-to-sell, and its coalesced publication.

``available_to_sell(channel, sku) = max(0, Σ over the channel's locations (on_hand - reserved -
safety_stock) - buffer)``, the buffer being the SKU's own for the channel or else the
channel's default.

Publication: every stock write bumps its level's ``changes``. The worker's publisher
(``publish_availability``, about once a second) takes the levels whose ``changes`` ran ahead of
``published``, recomputes each affected variant's number for every channel, and records
``inventory.availability_changed`` only where the number differs from the last one published
(``channel_stock``). A burst of a hundred sales between two rounds is one event with the
latest number. ``published`` is then set to the ``changes`` that was read, so a write that
lands meanwhile leaves the level due for the next round: nothing is lost, nothing waits.
One publisher runs at a time (an advisory lock on PostgreSQL, the write lock on SQLite), so
numbers are published in order.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from typing import Any, cast

from sqlalchemy import (
    String,
    and_,
    any_,
    bindparam,
    func,
    literal_column,
    select,
    union_all,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from mercato.catalog import ports as catalog_ports
from mercato.catalog.service import set_available, stock_items
from mercato.core.db import (
    SYSTEM,
    TENANT,
    Database,
    get_owned,
    json_dumps,
    set_tenant,
    table_of,
    tenant_execute,
    utcnow,
)
from mercato.core.errors import NotFound, ValidationFailed
from mercato.core.outbox import NewEvent, record_events
from mercato.core.pagination import PageParams, Slice, paginate
from mercato.core.ports import Listeners
from mercato.identity import annotate_audit
from mercato.inventory import stock
from mercato.inventory.models import (
    ChannelBuffer,
    ChannelLocation,
    ChannelStock,
    Location,
    SalesChannel,
)
from mercato.inventory.schemas import (
    BufferIn,
    ChannelCreate,
    ChannelUpdate,
    email_buyers_by_default,
)

channel_stock_t = table_of(ChannelStock)
channel_locations_t = table_of(ChannelLocation)
buffers_t = table_of(ChannelBuffer)
channels_t = table_of(SalesChannel)
PUBLISH_LOCK = 7295200

PublishedNumber = tuple[str, str, int]
"""(channel id, variant id, available-to-sell) of one published change."""
AvailabilityListener = Callable[[Session, list[PublishedNumber]], None]
_listeners: Listeners[[Session, list[PublishedNumber]]] = Listeners(
    "inventory.published")


DIGITAL_KIND = "digital"
DIGITAL_CODE = "~digital"
"""The code of the location made for digital goods (a ``~`` no merchant's code may hold)."""


def on_published(listener: AvailabilityListener) -> AvailabilityListener:
    """Call ``listener(session, numbers)`` with every round's changed numbers, in the round's
    transaction (scoped to their organization): one call per round and organization, for work
    that must keep up with thousands of changes (channel pushes). Slower, per-number work
    subscribes to ``inventory.availability_changed`` instead."""
    _listeners.add(listener)
    return listener



def get_channel(session: Session, channel_id: str, *, field: str | None = None) -> SalesChannel:
    """A channel by id: 404, or a 422 on ``field`` when a request body named it. A channel
    this session has read already (the checkout's, say) is answered without a query."""
    channel = get_owned(session, SalesChannel, channel_id)
    if channel is None:
        if field is not None:
            raise ValidationFailed(f"No channel {channel_id!r}.",
                                   errors=[{"field": field, "message": "no such channel"}])
        raise NotFound(f"No channel {channel_id!r}.")
    return channel


def channel_of_kind(session: Session, kind: str) -> SalesChannel | None:
    """A sales channel of this kind (``web``, ``pos``, ``shopify``, ...), or None."""
    return session.scalar(select(SalesChannel).where(SalesChannel.kind == kind))


def _location_ids(session: Session, refs: list[str]) -> list[str]:
    """Location ids for ids or codes, in the order given (the channel's priority)."""
    found: dict[str, str] = {}
    for location in session.scalars(select(Location).where(
            Location.id.in_(refs) | Location.code.in_(refs))):
        found[location.id] = found[location.code] = location.id
    errors = [{"field": f"locations.{i}", "message": f"no location {ref!r}"}
              for i, ref in enumerate(refs) if ref not in found]
    ids = [found[ref] for ref in refs if ref in found]
    if len(set(ids)) != len(ids):
        errors.append({"field": "locations", "message": "a location is listed twice"})
    if errors:
        raise ValidationFailed("Invalid channel locations.", errors=errors)
    return ids


def create_channel(session: Session, data: ChannelCreate) -> SalesChannel:
    ids = _location_ids(session, data.locations)
    email_buyers = (data.email_buyers if data.email_buyers is not None
                    else email_buyers_by_default(data.kind))
    channel = SalesChannel(name=data.name, kind=data.kind, default_buffer=data.default_buffer,
                           email_buyers=email_buyers,
                           locations=[ChannelLocation(location_id=loc, priority=i)
                                      for i, loc in enumerate(ids)])
    session.add(channel)
    session.flush()
    stock.mark_changed(session, location_ids=ids)
    return channel


def update_channel(session: Session, channel: SalesChannel, data: ChannelUpdate) -> SalesChannel:
    values = data.model_dump(exclude_unset=True)
    before = [link.location_id for link in channel.locations]
    for name in ("name", "kind", "default_buffer", "email_buyers"):
        if name in values:
            if values[name] is None:
                raise ValidationFailed(f"{name} cannot be null.",
                                       errors=[{"field": name, "message": "cannot be null"}])
            if name == "kind" and "email_buyers" not in values \
                    and values["kind"] != channel.kind:
                channel.email_buyers = email_buyers_by_default(values["kind"])
            setattr(channel, name, values[name])
    after = before
    if values.get("locations") is not None:
        after = _location_ids(session, values["locations"])
        channel.locations = [ChannelLocation(location_id=loc, priority=i)
                             for i, loc in enumerate(after)]
        if after != before:  # the links are rows of their own: the channel's entry shows them
            channel.updated_at = utcnow()
            annotate_audit(session, channel, before={"locations": before},
                           after={"locations": after})
    session.flush()
    if "default_buffer" in values or after != before:
        stock.mark_changed(session, location_ids=set(before) | set(after))
    return channel


def list_channels(session: Session, params: PageParams) -> Slice[SalesChannel]:
    return paginate(session, select(SalesChannel), [(SalesChannel.id, False)], params)


def set_buffers(session: Session, channel: SalesChannel, buffers: list[BufferIn]) -> None:
    """Per-SKU buffers for the channel; a ``null`` buffer falls back to the default."""
    items = {i.sku: i for i in stock_items(session, skus=[b.sku for b in buffers])}
    unknown = [{"field": f"buffers.{i}.sku", "message": f"no variant with SKU {b.sku!r}"}
               for i, b in enumerate(buffers) if b.sku not in items]
    if unknown:
        raise ValidationFailed("Unknown SKU.", errors=unknown)
    for entry in buffers:
        variant_id = items[entry.sku].id
        current = session.get(ChannelBuffer, (channel.id, variant_id))
        if entry.buffer is None:
            if current is not None:
                session.delete(current)
        elif current is None:
            session.add(ChannelBuffer(channel_id=channel.id, variant_id=variant_id,
                                      buffer=entry.buffer))
        else:
            current.buffer = entry.buffer
    session.flush()
    stock.mark_changed(session, variant_ids=[items[b.sku].id for b in buffers])


def buffers_of(session: Session, channel: SalesChannel) -> list[tuple[str, int]]:
    """(sku, buffer) of the channel's per-SKU buffers."""
    rows = session.execute(select(ChannelBuffer.variant_id, ChannelBuffer.buffer)
                           .where(ChannelBuffer.channel_id == channel.id)).all()
    skus = {i.id: i.sku for i in stock_items(session, ids=[v for v, _ in rows])}
    return sorted((skus[v], b) for v, b in rows if v in skus)


def _numbers(levels: list[stock.Level], locations: set[str], buffer: int) -> int:
    total = sum(lv.on_hand - lv.reserved - lv.safety_stock for lv in levels
                if lv.location_id in locations)
    return max(0, total - buffer)


def available_to_sell(session: Session, channel: SalesChannel, sku: str) -> dict[str, Any]:
    """The channel's number for one SKU, computed now from the levels."""
    items = stock_items(session, skus=[sku])
    if not items:
        raise NotFound(f"No variant with SKU {sku!r}.")
    item = items[0]
    locations = {link.location_id for link in channel.locations}
    levels = stock.read_levels(session, variant_ids=[item.id], location_ids=locations)
    own = session.get(ChannelBuffer, (channel.id, item.id))
    buffer = own.buffer if own is not None else channel.default_buffer
    return {"channel_id": channel.id, "sku": sku, "variant_id": item.id,
            "available_to_sell": _numbers(levels, locations, buffer), "buffer": buffer,
            "locations": [{"location_id": lv.location_id, "on_hand": lv.on_hand,
                           "reserved": lv.reserved, "safety_stock": lv.safety_stock}
                          for lv in levels]}


def emails_buyers(session: Session, channel_id: str | None, source: str) -> bool:
    """Whether Mercato emails the buyer of an order of this channel: the channel's setting,
    or for an order with no sales channel (``channel`` given as a source name such as
    ``web``), the default of that name as a kind."""
    if channel_id is not None:
        setting = session.scalar(select(SalesChannel.email_buyers)
                                 .where(SalesChannel.id == channel_id))
        if setting is not None:
            return bool(setting)
    return email_buyers_by_default(source)


def web_channel(session: Session) -> SalesChannel | None:
    """The storefront's channel: the oldest channel of kind ``web``, or None, in which case the
    storefront sells from every active location that fulfills online."""
    return session.scalar(select(SalesChannel).where(SalesChannel.kind == "web")
                          .order_by(SalesChannel.id).limit(1))


def sellable(session: Session, channel: SalesChannel | None,
             variant_ids: list[str]) -> dict[str, int]:
    """Units of each variant the channel may sell now (its available-to-sell, computed from
    the levels; expired holds do not count): one read for a page of products or a cart."""
    ids = sorted(set(variant_ids))
    if not ids:
        return {}
    if channel is not None:
        locations = {link.location_id for link in channel.locations}
        if channel.kind == "web":
            locations.update(digital_ids(session))
        buffers = {v: b for v, b in session.execute(  # noqa: C416 - a Result has keys()
            select(buffers_t.c.variant_id, buffers_t.c.buffer)
            .where(buffers_t.c.channel_id == channel.id, buffers_t.c.variant_id.in_(ids)))}
    else:
        locations = set(candidates_online(session))
        buffers = {}
    by_variant: dict[str, list[stock.Level]] = defaultdict(list)
    for level in stock.read_levels(session, variant_ids=ids, location_ids=locations):
        by_variant[level.variant_id].append(level)
    default = channel.default_buffer if channel is not None else 0
    return {v: _numbers(by_variant[v], locations, buffers.get(v, default)) for v in ids}


def _web_units_statement(dialect: str) -> Any:
    """``sellable`` for the web channel as one statement, built once per dialect: the channel
    (the oldest of kind ``web``), its locations (or, with none, the active locations that
    fulfil online), the levels there with expired holds added back, and the buffer per
    variant. A storefront page asks it once for all of its variants; it took five reads
    before. The page's variant ids are one parameter (an array on PostgreSQL, a JSON array
    read by ``json_each`` on SQLite), not one per id: binding 250 ids twice cost more than
    the query."""
    locations_t = table_of(Location)
    lines_t, holds_t = stock.reservation_lines_t, stock.reservations_t
    levels_t = stock.levels_t
    web = (select(channels_t.c.id)
           .where(channels_t.c.organization_id == TENANT, channels_t.c.kind == "web")
           .order_by(channels_t.c.id).limit(1).scalar_subquery())
    where = union_all(
        select(channel_locations_t.c.location_id)
        .where(channel_locations_t.c.organization_id == TENANT,
               channel_locations_t.c.channel_id == web),
        select(locations_t.c.id)
        .where(locations_t.c.organization_id == TENANT, locations_t.c.active.is_(True),
               locations_t.c.fulfills_online.is_(True), web.is_(None)),
        select(locations_t.c.id)  # digital goods sell on the storefront, channel or not
        .where(locations_t.c.organization_id == TENANT, locations_t.c.active.is_(True),
               locations_t.c.kind == DIGITAL_KIND))
    ids: Any
    if dialect == "postgresql":
        ids = any_(bindparam("ids", type_=postgresql.ARRAY(String)))
    else:
        ids = select(literal_column("value")).select_from(
            func.json_each(bindparam("ids", type_=String))).scalar_subquery()
    parts = union_all(
        select(levels_t.c.variant_id.label("variant_id"),
               (levels_t.c.on_hand - levels_t.c.reserved - levels_t.c.safety_stock)
               .label("units"))
        .where(levels_t.c.organization_id == TENANT, _one_of(levels_t.c.variant_id, ids, dialect),
               levels_t.c.location_id.in_(where)),
        select(lines_t.c.variant_id, lines_t.c.quantity)
        .join(holds_t, holds_t.c.id == lines_t.c.reservation_id)
        .where(lines_t.c.organization_id == TENANT, holds_t.c.organization_id == TENANT,
               holds_t.c.status == "active", holds_t.c.expires_at <= bindparam("now"),
               _one_of(lines_t.c.variant_id, ids, dialect), lines_t.c.location_id.in_(where)),
    ).subquery()
    totals = (select(parts.c.variant_id, func.sum(parts.c.units).label("units"))
              .group_by(parts.c.variant_id).subquery())
    default = (select(channels_t.c.default_buffer)
               .where(channels_t.c.organization_id == TENANT, channels_t.c.id == web)
               .scalar_subquery())
    return (select(totals.c.variant_id, totals.c.units,
                   func.coalesce(buffers_t.c.buffer, default, 0))
            .select_from(totals)
            .outerjoin(buffers_t, and_(buffers_t.c.organization_id == TENANT,
                                       buffers_t.c.channel_id == web,
                                       buffers_t.c.variant_id == totals.c.variant_id)))


def _one_of(column: Any, ids: Any, dialect: str) -> Any:
    return column == ids if dialect == "postgresql" else column.in_(ids)


_WEB_UNITS = {dialect: _web_units_statement(dialect) for dialect in ("postgresql", "sqlite")}


@catalog_ports.units_for_sale.provide
def web_units(session: Session, variant_ids: list[str]) -> dict[str, int]:
    """Units of each variant the storefront may sell now: the web channel's ``sellable``
    (catalog's storefront listing asks through ``catalog.ports``, exact at every read), in
    one read (``_WEB_UNITS``)."""
    ids = sorted(set(variant_ids))
    if not ids:
        return {}
    units = dict.fromkeys(ids, 0)
    dialect = session.get_bind().dialect.name
    rows = tenant_execute(session, _WEB_UNITS[dialect], {
        "ids": ids if dialect == "postgresql" else json_dumps(ids), "now": utcnow()}).all()
    for variant_id, total, buffer in cast("list[tuple[str, int, int]]", rows):
        units[variant_id] = max(0, int(total) - int(buffer))
    return units


@catalog_ports.sales_channel.provide
def channel_for(session: Session, channel_id: str | None, kind: str) -> str:
    """The channel a catalog export is for: the one named (422 on ``channel`` when there is
    none such), else the oldest of ``kind`` (422 when there is none)."""
    if channel_id:
        return get_channel(session, channel_id, field="channel").id
    found = session.scalar(select(SalesChannel.id).where(SalesChannel.kind == kind)
                           .order_by(SalesChannel.id).limit(1))
    if found is None:
        raise ValidationFailed(
            f"No sales channel of kind {kind!r}: name one with channel, or create one "
            f"(POST /api/v1/channels with kind {kind!r} and its locations).",
            errors=[{"field": "channel", "message": f"no channel of kind {kind!r}"}])
    return found


@catalog_ports.channel_units.provide
def channel_units(session: Session, channel_id: str, variant_ids: list[str]) -> dict[str, int]:
    """The channel's ``sellable`` units (buffers and safety stock taken off), for an export."""
    return sellable(session, get_channel(session, channel_id), variant_ids)


def candidates_online(session: Session) -> list[str]:
    """Active locations that fulfill online orders, and the digital goods' location, by id:
    where a channel-less sale takes stock from."""
    return list(session.scalars(select(Location.id).where(
        Location.active.is_(True),
        Location.fulfills_online.is_(True) | (Location.kind == DIGITAL_KIND))
        .order_by(Location.id)))


# -- digital goods ------------------------------------------------------------------------------

def digital_ids(session: Session) -> list[str]:
    """The digital goods' location, if made: the web storefront sells from it whatever its
    channel's locations are."""
    return list(session.scalars(select(Location.id).where(
        Location.kind == DIGITAL_KIND, Location.active.is_(True))))


def digital_location(session: Session) -> Location:
    """The organization's location for digital goods (``mercato.digital`` keeps a key pool's
    size there as stock, so checkout holds a key as it holds any unit), made on first use;
    it ships nothing and belongs to no channel but the web storefront's."""
    found = session.scalar(select(Location).where(Location.kind == DIGITAL_KIND))
    if found is not None:
        return found
    made = Location(name="Digital delivery", code=DIGITAL_CODE, kind=DIGITAL_KIND, address={},
                    fulfills_online=False, pickup=False, active=True, public=False)
    try:
        with session.begin_nested():  # the code's unique key decides between twins
            session.add(made)
    except IntegrityError:
        found = session.scalar(select(Location).where(Location.kind == DIGITAL_KIND))
        if found is None:
            raise
        return found
    return made


# -- publication --------------------------------------------------------------------------------

def publish_availability(db: Database, *, limit: int = 500) -> int:
    """One round of publication over every organization; events recorded."""
    with db.transaction(tenant=SYSTEM) as session:
        session.info["actor_label"] = "worker:availability"
        if db.dialect == "postgresql" and not session.scalar(
                select(func.pg_try_advisory_xact_lock(PUBLISH_LOCK))):
            return 0  # another worker is publishing; it will see these changes too
        due = session.execute(
            select(stock.levels_t.c.organization_id, stock.levels_t.c.variant_id)
            .where(stock.levels_t.c.changes > stock.levels_t.c.published)
            .distinct().limit(limit)).all()
        by_org: dict[str, list[str]] = defaultdict(list)
        for org, variant_id in due:
            by_org[org].append(variant_id)
        published = 0
        for org, variant_ids in sorted(by_org.items()):
            set_tenant(session, org)
            published += _publish(session, org, sorted(variant_ids))
        set_tenant(session, SYSTEM)
        return published


def _publish(session: Session, org: str, variant_ids: list[str]) -> int:
    rows = session.execute(select(stock.levels_t).where(
        stock.levels_t.c.organization_id == org,
        stock.levels_t.c.variant_id.in_(variant_ids))).all()
    read = stock.levels_of(session, rows)  # in the order of ``rows``
    levels: dict[str, list[stock.Level]] = defaultdict(list)
    for level in read:
        levels[level.variant_id].append(level)
    items = {i.id: i for i in stock_items(session, ids=variant_ids)}
    events: list[NewEvent] = []

    # channels
    channel_rows = session.execute(select(channels_t.c.id, channels_t.c.name,
                                          channels_t.c.kind, channels_t.c.default_buffer)
                                   .where(channels_t.c.organization_id == org)).all()
    places: dict[str, set[str]] = defaultdict(set)
    for channel_id, location_id in session.execute(
            select(channel_locations_t.c.channel_id, channel_locations_t.c.location_id)
            .where(channel_locations_t.c.organization_id == org)):
        places[channel_id].add(location_id)
    own_buffers = {(c, v): b for c, v, b in session.execute(
        select(buffers_t.c.channel_id, buffers_t.c.variant_id, buffers_t.c.buffer)
        .where(buffers_t.c.organization_id == org, buffers_t.c.variant_id.in_(variant_ids)))}
    last = {(c, v): q for c, v, q in session.execute(
        select(channel_stock_t.c.channel_id, channel_stock_t.c.variant_id,
               channel_stock_t.c.quantity)
        .where(channel_stock_t.c.organization_id == org,
               channel_stock_t.c.variant_id.in_(variant_ids)))}
    upserts = []
    now = utcnow()
    for channel_id, name, kind, default_buffer in channel_rows:
        for variant_id in variant_ids:
            if variant_id not in items:
                continue  # the variant was deleted
            buffer = own_buffers.get((channel_id, variant_id), default_buffer)
            # a sum over locations can pass what one 32-bit column holds; no channel sells more
            number = min(_numbers(levels[variant_id], places[channel_id], buffer),
                         stock.MAX_STOCK)
            before = last.get((channel_id, variant_id))
            if number == (before if before is not None else 0):
                continue  # unchanged (or nothing ever published, and nothing to sell)
            upserts.append({"organization_id": org, "channel_id": channel_id,
                            "variant_id": variant_id, "quantity": number,
                            "published_at": now})
            events.append(NewEvent(
                "inventory.availability_changed", "channel_availability",
                f"{channel_id}:{variant_id}", {
                    "channel_id": channel_id, "channel": name, "channel_kind": kind,
                    "sku": items[variant_id].sku, "variant_id": variant_id,
                    "available_to_sell": number, "previous": before}))
    if upserts:
        make = postgresql.insert if session.get_bind().dialect.name == "postgresql" \
            else sqlite.insert
        statement = make(channel_stock_t)
        session.execute(statement.on_conflict_do_update(
            index_elements=["channel_id", "variant_id"],
            set_={"quantity": statement.excluded.quantity,
                  "published_at": statement.excluded.published_at}), upserts)

    # low stock, and the catalog's total
    flags = []
    for r, level in zip(rows, read, strict=True):
        low = level.reorder_point is not None and level.available <= level.reorder_point
        if low and not r.low and r.variant_id in items:
            events.append(NewEvent("inventory.low_stock", "stock_level",
                                   f"{r.variant_id}:{r.location_id}", {
                                       "sku": items[r.variant_id].sku,
                                       "variant_id": r.variant_id,
                                       "location_id": r.location_id,
                                       "available": level.available,
                                       "on_hand": level.on_hand,
                                       "reorder_point": level.reorder_point,
                                       "reorder_quantity": level.reorder_quantity}))
        flags.append({"v": r.variant_id, "l": r.location_id, "seen": r.changes, "is_low": low})
    record_events(session, org, events)
    if upserts:
        numbers = [(u["channel_id"], u["variant_id"], u["quantity"]) for u in upserts]
        _listeners(session, numbers)
    set_available(session, {v: min(sum(max(0, lv.available) for lv in levels[v]),
                                   stock.MAX_STOCK)  # a 32-bit column, as a level's
                            for v in variant_ids if v in items})
    session.execute(update(stock.levels_t).where(and_(
        stock.levels_t.c.variant_id == bindparam("v"),
        stock.levels_t.c.location_id == bindparam("l")))
        .values(published=bindparam("seen"), low=bindparam("is_low")), flags)
    return sum(1 for e in events if e.type == "inventory.availability_changed")
