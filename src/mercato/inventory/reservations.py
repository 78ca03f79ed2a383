"""Reservations: hold stock for a checkout or a channel's order, then commit (a sale) or
release it. Expired reservations are released by the worker and never counted as held.

Where a line's units come from (documented in docs/inventory.md):

1. the line's own ``location``, if given;
2. else the reservation's channel's locations, in the channel's priority order;
3. else every active location that fulfils online orders, oldest first.

A line is taken whole from the first of those locations that has enough; if none has, it is
split over them in that order. Every hold is one conditional UPDATE (``stock.apply``), so two
requests can never both take the last unit. A channel's reservation also leaves each
location's safety stock alone.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Sequence

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from mercato.core.db import SYSTEM, Database, require_owned, table_of, utcnow
from mercato.core.errors import Conflict, IdempotencyMismatch, ValidationFailed
from mercato.core.pagination import PageParams, Slice, paginate
from mercato.inventory import stock
from mercato.inventory.lookup import Resolved, resolve, short_errors
from mercato.inventory.models import Reservation, ReservationLine, SalesChannel
from mercato.inventory.sales_channels import candidates_online, digital_ids, get_channel
from mercato.inventory.schemas import ReservationIn
from mercato.inventory.stock import InsufficientStock, Move, Short

reservations_t = table_of(Reservation)
SPLIT_ATTEMPTS = 3


def effective_status(reservation: Reservation, now: dt.datetime | None = None) -> str:
    """``expired`` for an active reservation past its expiry that the worker has not released
    yet: it holds nothing any more."""
    if reservation.status == "active" and reservation.expires_at <= (now or utcnow()):
        return "expired"
    return reservation.status


def _same_request(existing: Reservation, channel_id: str | None,
                  lines: list[tuple[str, str | None, int]]) -> bool:
    """Whether a reservation already made under this reference is the one asked for again.
    Lines are compared by SKU and quantity (and location where the request named one)."""
    explicit = {sku for sku, loc, _ in lines if loc is not None}
    mine: dict[tuple[str, str | None], int] = defaultdict(int)
    for line in existing.lines:
        mine[(line.sku, line.location_id if line.sku in explicit else None)] += line.quantity
    asked: dict[tuple[str, str | None], int] = defaultdict(int)
    for sku, loc, quantity in lines:
        asked[(sku, loc)] += quantity
    return existing.channel_id == channel_id and mine == asked


def candidates(session: Session, channel: SalesChannel | None) -> list[str]:
    """Location ids a line without its own location may take from, in order."""
    if channel is not None:
        linked = [link.location_id for link in channel.locations]
        if channel.kind == "web":  # digital goods sell on the storefront from their location
            linked += [i for i in digital_ids(session) if i not in linked]
        return linked
    return candidates_online(session)


def places(session: Session, channel_id: str | None) -> list[str]:
    """``candidates`` for a sales channel given by id (None: the online locations)."""
    return candidates(session, session.get(SalesChannel, channel_id) if channel_id else None)


def reserve(session: Session, data: ReservationIn) -> tuple[Reservation, bool]:
    """Hold every line or none; the reservation and whether it was made now (False: the
    reference was used before, for the same lines)."""
    validate_lines(data)
    found = resolve(session, [(f"lines.{i}.sku", line.sku) for i, line in enumerate(data.lines)],
                    [(f"lines.{i}.location", line.location)
                     for i, line in enumerate(data.lines) if line.location is not None])
    channel = get_channel(session, data.channel, field="channel") if data.channel else None
    channel_id = channel.id if channel is not None else None
    asked = [(line.sku, found.locations[line.location].id if line.location else None,
              line.quantity) for line in data.lines]
    existing = session.scalar(select(Reservation).where(Reservation.reference == data.reference))
    if existing is None:
        reservation = Reservation(reference=data.reference, channel_id=channel_id,
                                  expires_at=utcnow() + dt.timedelta(
                                      seconds=data.expires_in_seconds))
        try:
            with session.begin_nested():  # the reference's unique key decides between twins
                session.add(reservation)
        except IntegrityError:
            existing = session.scalar(select(Reservation)
                                      .where(Reservation.reference == data.reference))
            if existing is None:
                raise
    if existing is not None:
        if not _same_request(existing, channel_id, asked):
            raise IdempotencyMismatch(
                f"Reference {data.reference!r} was used for a different reservation.",
                errors=[{"field": "reference", "message": "already used with other lines"}])
        return existing, False
    _hold(session, reservation, found, channel, data)
    session.flush()
    return reservation, True


def _hold(session: Session, reservation: Reservation, found: Resolved,
          channel: SalesChannel | None, data: ReservationIn) -> None:
    order = sorted(range(len(data.lines)), key=lambda i: (
        found.item(data.lines[i].sku).id, data.lines[i].location or ""))
    fallback = candidates(session, channel)
    shorts: list[tuple[str, str, int, int]] = []
    for i in order:
        line = data.lines[i]
        item = found.item(line.sku)
        places = [found.locations[line.location].id] if line.location else fallback
        if shorts:  # nothing will be held: only find which other lines are short too
            free = _free(session, item.id, places, channel is not None)
            if free < line.quantity:
                shorts.append((f"lines.{i}.quantity", line.sku, line.quantity, free))
            continue
        taken = _take(session, reservation.reference, item.id, places, line.quantity,
                      channel is not None)
        if taken is None:
            shorts.append((f"lines.{i}.quantity", line.sku, line.quantity,
                           _free(session, item.id, places, channel is not None)))
            continue
        for location_id, quantity in taken:
            session.add(ReservationLine(reservation_id=reservation.id, variant_id=item.id,
                                        sku=item.sku, location_id=location_id,
                                        quantity=quantity))
    if shorts:
        raise InsufficientStock("Not enough stock for every line; nothing was reserved.",
                                errors=short_errors(sorted(
                                    shorts, key=lambda s: int(s[0].split(".")[1]))))


def _free(session: Session, variant_id: str, places: list[str], channel: bool) -> int:
    """Units a line could take from these locations now."""
    levels = {lv.location_id: lv for lv in stock.read_levels(
        session, variant_ids=[variant_id], location_ids=places)}
    return sum(max(0, lv.available - (lv.safety_stock if channel else 0))
               for lv in levels.values())


def _take(session: Session, reference: str, variant_id: str, places: list[str],
          quantity: int, channel: bool) -> list[tuple[str, int]] | None:
    """Hold ``quantity`` units of a variant from ``places``; what came from where, or None."""
    def move(location_id: str, units: int) -> Move:
        return Move(variant_id, location_id, reserved=units, reason="reservation",
                    reference=reference, keep_safety_stock=channel)

    def whole() -> list[tuple[str, int]] | None:
        for location_id in places:  # whole from one place: one UPDATE, the common case
            try:
                if len(places) == 1:
                    stock.apply(session, [move(location_id, quantity)])
                else:
                    # PostgreSQL keeps the row lock of an UPDATE that waited for another
                    # writer and then found too little; with that lock held, trying (or
                    # splitting onto) a later place would lock rows out of order and can
                    # deadlock. Rolling back the savepoint lets the lock go.
                    with session.begin_nested():
                        stock.apply(session, [move(location_id, quantity)])
                return [(location_id, quantity)]
            except Short:
                continue
        return None

    taken = whole()
    # expired holds still sit in ``reserved`` (reads merely ignore them), so the UPDATE
    # could not take their units: release them, then try again
    if taken is None and release_expired(session, variant_ids=[variant_id]):
        taken = whole()
    if taken is not None:
        return taken
    for _ in range(SPLIT_ATTEMPTS):  # split over places, in order
        plan = _split(session, variant_id, places, quantity, channel)
        if plan is None:
            return None
        try:
            with session.begin_nested():
                stock.apply(session, [move(loc, units) for loc, units in plan])
            return plan
        except Short:
            continue  # someone took stock between reading and holding: read again
    return None


def take_what_is_free(session: Session, reference: str, variant_id: str, places: list[str],
                      quantity: int) -> list[tuple[str, int]]:
    """Hold up to ``quantity`` units from ``places`` (what came from where, possibly nothing).

    For a sale that has already happened elsewhere (a channel's order): it takes what there
    is, safety stock included, and the caller records the rest as oversold."""
    taken = _take(session, reference, variant_id, places, quantity, False)
    for _ in range(SPLIT_ATTEMPTS):
        if taken is not None:
            return taken
        free = min(quantity, _free(session, variant_id, places, False))
        if free <= 0:
            return []
        taken = _take(session, reference, variant_id, places, free, False)
    return taken or []


def _split(session: Session, variant_id: str, places: list[str], quantity: int,
           channel: bool) -> list[tuple[str, int]] | None:
    levels = {lv.location_id: lv for lv in stock.read_levels(
        session, variant_ids=[variant_id], location_ids=places)}
    plan, left = [], quantity
    for location_id in places:
        level = levels.get(location_id)
        free = 0 if level is None else level.available - (level.safety_stock if channel else 0)
        if free > 0 and left > 0:
            plan.append((location_id, min(free, left)))
            left -= min(free, left)
    return plan if left == 0 else None


def get_reservation(session: Session, reservation_id: str) -> Reservation:
    return require_owned(session, Reservation, reservation_id, "Reservation")


def list_reservations(session: Session, params: PageParams, *, reference: str | None,
                      status: str | None) -> Slice[Reservation]:
    stmt = select(Reservation)
    if reference is not None:
        stmt = stmt.where(Reservation.reference == reference)
    if status is not None:
        now = utcnow()
        if status == "expired":
            stmt = stmt.where((Reservation.status == "expired") | (
                (Reservation.status == "active") & (Reservation.expires_at <= now)))
        elif status == "active":
            stmt = stmt.where(Reservation.status == "active", Reservation.expires_at > now)
        else:
            stmt = stmt.where(Reservation.status == status)
    return paginate(session, stmt, [(Reservation.id, True)], params)


def _close(session: Session, reservation: Reservation, status: str, *,
           unexpired: bool) -> bool:
    """Move an active reservation to ``status``; False when another request got there first."""
    conditions = [reservations_t.c.id == reservation.id, reservations_t.c.status == "active"]
    if unexpired:
        conditions.append(reservations_t.c.expires_at > utcnow())
    done = session.execute(update(reservations_t).where(*conditions)
                           .values(status=status, closed_at=utcnow()))
    session.expire(reservation, ["status", "closed_at"])
    return getattr(done, "rowcount", 0) == 1


def commit(session: Session, reservation: Reservation) -> Reservation:
    """The held units are sold: they leave on hand and reserved together. Committing twice
    is harmless; committing a released or expired reservation is a 409."""
    if reservation.status == "committed":
        return reservation
    if not _close(session, reservation, "committed", unexpired=True):
        state = effective_status(reservation)
        if state == "committed":
            return reservation
        raise Conflict(f"The reservation is {state}; only an active one can be committed.",
                       extra={"reservation_status": state})
    stock.apply(session, [Move(line.variant_id, line.location_id, on_hand=-line.quantity,
                               reserved=-line.quantity, reason="sale",
                               reference=reservation.reference) for line in reservation.lines])
    return reservation


def release(session: Session, reservation: Reservation, *, status: str = "released",
            note: str | None = None) -> Reservation:
    """Give the held units back. Releasing twice (or after expiry) is harmless; releasing a
    committed reservation is a 409 (that is a return, in orders)."""
    if reservation.status in ("released", "expired"):
        return reservation
    if not _close(session, reservation, status, unexpired=False):
        if reservation.status in ("released", "expired"):
            return reservation
        raise Conflict(f"The reservation is {reservation.status}; it cannot be released.",
                       extra={"reservation_status": reservation.status})
    stock.apply(session, [Move(line.variant_id, line.location_id, reserved=-line.quantity,
                               reason="release", reference=reservation.reference, note=note)
                          for line in reservation.lines])
    return reservation


def release_expired(session: Session, *, variant_ids: Sequence[str] | None = None,
                    limit: int = 200) -> int:
    """Release this organization's expired reservations (those holding these variants, if
    given); how many were released."""
    stmt = select(Reservation).where(Reservation.status == "active",
                                     Reservation.expires_at <= utcnow())
    if variant_ids is not None:
        stmt = stmt.where(Reservation.id.in_(
            select(ReservationLine.reservation_id)
            .where(ReservationLine.variant_id.in_(variant_ids))))
    released = 0
    for reservation in session.scalars(stmt.order_by(Reservation.expires_at).limit(limit)):
        if reservation.status == "active":
            release(session, reservation, status="expired", note="expired")
            released += reservation.status == "expired"
    return released


def release_all_expired(db: Database, *, limit: int = 200) -> int:
    """The worker's sweep over every organization."""
    with db.session(write=False, tenant=SYSTEM) as session:
        orgs = session.scalars(select(Reservation.organization_id).where(
            Reservation.status == "active", Reservation.expires_at <= utcnow()).distinct()
        ).all()
    released = 0
    for org in orgs:
        with db.transaction(tenant=org) as session:
            session.info["actor_label"] = "worker:reservation-expiry"
            released += release_expired(session, limit=limit)
    return released


def validate_lines(data: ReservationIn) -> None:
    """Two lines for the same SKU and location would be one line: refuse the ambiguity."""
    seen: dict[tuple[str, str | None], int] = {}
    for i, line in enumerate(data.lines):
        key = (line.sku, line.location)
        if key in seen:
            raise ValidationFailed(
                "Each SKU (and location) once per reservation.",
                errors=[{"field": f"lines.{i}.sku", "message": f"repeats line {seen[key]}"}])
        seen[key] = i
