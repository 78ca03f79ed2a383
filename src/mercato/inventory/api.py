"""HTTP surface of inventory: locations, levels, adjustments, the ledger, reservations and
channels. Transfers, counts and purchase orders mount their own routers here."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response, status
from sqlalchemy.orm import Session

from mercato.catalog.service import StockItem
from mercato.core.auth import require
from mercato.core.etag import check_if_match, set_etag
from mercato.core.pagination import Page, PageParams
from mercato.core.principal import Principal
from mercato.core.query import page_params
from mercato.core.uow import DbSession, MercatoRoute
from mercato.inventory import reservations, sales_channels, service
from mercato.inventory.models import Reservation, SalesChannel
from mercato.inventory.schemas import (
    AdjustmentIn,
    AvailabilityOut,
    BufferOut,
    BuffersIn,
    BuffersOut,
    ChannelCreate,
    ChannelOut,
    ChannelUpdate,
    LevelList,
    LevelOut,
    LevelSet,
    LocationCreate,
    LocationOut,
    LocationUpdate,
    MovementOut,
    ReservationIn,
    ReservationLineOut,
    ReservationOut,
)
from mercato.inventory.stock import Level

router = APIRouter(prefix="/api/v1", route_class=MercatoRoute, tags=["inventory"])
READ, WRITE = require("inventory:read"), require("inventory:write")
CHANNELS_READ, CHANNELS_WRITE = require("channels:read"), require("channels:write")
SHORT: dict[int | str, dict[str, Any]] = {409: {"description": (
    "Not enough stock (`insufficient_stock`, with the short lines in `errors`), or a "
    "compare-and-set mismatch (`conflict`)")}}


def level_out(level: Level, item: StockItem) -> LevelOut:
    return LevelOut(sku=item.sku, variant_id=level.variant_id, location_id=level.location_id,
                    on_hand=level.on_hand, reserved=level.reserved, available=level.available,
                    safety_stock=level.safety_stock, reorder_point=level.reorder_point,
                    reorder_quantity=level.reorder_quantity, updated_at=level.updated_at)


# -- locations ---------------------------------------------------------------------------------

@router.post("/locations", response_model=LocationOut, status_code=status.HTTP_201_CREATED,
             summary="Add a store, warehouse or virtual location")
def create_location(body: LocationCreate, response: Response, *, _: Principal = Depends(WRITE),
                    session: DbSession) -> LocationOut:
    location = service.create_location(session, body)
    set_etag(response, location)
    return LocationOut.model_validate(location)


@router.get("/locations", response_model=Page[LocationOut])
def list_locations(*, params: PageParams = Depends(page_params), _: Principal = Depends(READ),
                   session: DbSession) -> Page[LocationOut]:
    return service.list_locations(session, params).to_page(LocationOut)


@router.get("/locations/{location_id}", response_model=LocationOut)
def get_location(location_id: str, response: Response, *, _: Principal = Depends(READ),
                 session: DbSession) -> LocationOut:
    location = service.get_location(session, location_id)
    set_etag(response, location)
    return LocationOut.model_validate(location)


@router.patch("/locations/{location_id}", response_model=LocationOut)
def update_location(location_id: str, body: LocationUpdate, request: Request,
                    response: Response, *, _: Principal = Depends(WRITE),
                    session: DbSession) -> LocationOut:
    location = service.get_location(session, location_id)
    check_if_match(request, location)
    service.update_location(session, location, body)
    session.flush()
    set_etag(response, location)
    return LocationOut.model_validate(location)


# -- levels, adjustments, ledger ----------------------------------------------------------------

@router.get("/inventory/levels", response_model=LevelList,
            summary="Stock per location for a SKU, or every SKU at a location")
def get_levels(*, sku: str | None = Query(None, max_length=100),
               location: str | None = Query(None, max_length=50,
                                            description="Location id or code."),
               _: Principal = Depends(READ),
               session: DbSession) -> LevelList:
    return LevelList(data=[level_out(lv, item) for lv, item in
                           service.list_levels(session, sku=sku, location=location)])


@router.get("/inventory/low-stock", response_model=LevelList,
            summary="Levels at or below their reorder point")
def get_low_stock(*, location: str | None = Query(None, max_length=50),
                  _: Principal = Depends(READ),
                  session: DbSession) -> LevelList:
    return LevelList(data=[level_out(lv, item) for lv, item in
                           service.low_stock(session, location)])


@router.put("/inventory/levels", response_model=LevelOut, responses=SHORT,
            summary="Set on hand (compare-and-set with expected_on_hand), safety stock and "
                    "reorder settings")
def set_level(body: LevelSet, *, _: Principal = Depends(WRITE),
              session: DbSession) -> LevelOut:
    return level_out(*service.set_level(session, body))


@router.post("/inventory/adjustments", response_model=LevelList,
             status_code=status.HTTP_201_CREATED, responses=SHORT,
             summary="Adjust stock: every line or none")
def adjust(body: AdjustmentIn, *, _: Principal = Depends(WRITE),
           session: DbSession) -> LevelList:
    return LevelList(data=[level_out(lv, item) for lv, item in service.adjust(session, body)])


@router.get("/inventory/ledger", response_model=Page[MovementOut],
            summary="Every stock movement, newest first")
def get_ledger(*, sku: str | None = Query(None, max_length=100),
               location: str | None = Query(None, max_length=50),
               reason: str | None = Query(None, max_length=20),
               reference: str | None = Query(None, max_length=200),
               params: PageParams = Depends(page_params), _: Principal = Depends(READ),
               session: DbSession) -> Page[MovementOut]:
    return service.ledger(session, params, sku=sku, location=location, reason=reason,
                          reference=reference).to_page(MovementOut)


# -- reservations ------------------------------------------------------------------------------

def reservation_out(reservation: Reservation) -> ReservationOut:
    return ReservationOut(
        id=reservation.id, reference=reservation.reference, channel_id=reservation.channel_id,
        status=reservations.effective_status(reservation),
        expires_at=reservation.expires_at, created_at=reservation.created_at,
        closed_at=reservation.closed_at,
        lines=[ReservationLineOut.model_validate(line) for line in reservation.lines])


@router.post("/inventory/reservations", response_model=ReservationOut,
             status_code=status.HTTP_201_CREATED,
             responses={**SHORT, 200: {"description": "The reference was used before for the "
                                                      "same lines: that reservation"}},
             summary="Hold stock: every line or none")
def reserve(body: ReservationIn, response: Response, *, _: Principal = Depends(WRITE),
            session: DbSession) -> ReservationOut:
    reservation, created = reservations.reserve(session, body)
    if not created:
        response.status_code = status.HTTP_200_OK
    return reservation_out(reservation)


@router.get("/inventory/reservations", response_model=Page[ReservationOut])
def list_reservations(*, reference: str | None = Query(None, max_length=200),
                      status_: Literal["active", "committed", "released", "expired"] | None =
                      Query(None, alias="status"),
                      params: PageParams = Depends(page_params), _: Principal = Depends(READ),
                      session: DbSession) -> Page[ReservationOut]:
    return reservations.list_reservations(session, params, reference=reference,
                                          status=status_).to_page(ReservationOut,
                                                                  reservation_out)


@router.get("/inventory/reservations/{reservation_id}", response_model=ReservationOut)
def get_reservation(reservation_id: str, *, _: Principal = Depends(READ),
                    session: DbSession) -> ReservationOut:
    return reservation_out(reservations.get_reservation(session, reservation_id))


@router.post("/inventory/reservations/{reservation_id}/commit", response_model=ReservationOut,
             responses=SHORT, summary="The held units are sold")
def commit_reservation(reservation_id: str, *, _: Principal = Depends(WRITE),
                       session: DbSession) -> ReservationOut:
    reservation = reservations.get_reservation(session, reservation_id)
    return reservation_out(reservations.commit(session, reservation))


@router.post("/inventory/reservations/{reservation_id}/release", response_model=ReservationOut,
             responses=SHORT, summary="Give the held units back")
def release_reservation(reservation_id: str, *, _: Principal = Depends(WRITE),
                        session: DbSession) -> ReservationOut:
    reservation = reservations.get_reservation(session, reservation_id)
    return reservation_out(reservations.release(session, reservation))


# -- channels ----------------------------------------------------------------------------------

def channel_out(channel: SalesChannel) -> ChannelOut:
    return ChannelOut(id=channel.id, name=channel.name, kind=channel.kind,
                      locations=[link.location_id for link in channel.locations],
                      default_buffer=channel.default_buffer,
                      email_buyers=channel.email_buyers, created_at=channel.created_at,
                      updated_at=channel.updated_at)


@router.post("/channels", response_model=ChannelOut, status_code=status.HTTP_201_CREATED,
             summary="Add a sales channel: its locations (in priority order) and buffer")
def create_channel(body: ChannelCreate, response: Response,
                   *, _: Principal = Depends(CHANNELS_WRITE),
                   session: DbSession) -> ChannelOut:
    channel = sales_channels.create_channel(session, body)
    set_etag(response, channel)
    return channel_out(channel)


@router.get("/channels", response_model=Page[ChannelOut])
def list_channels(*, params: PageParams = Depends(page_params),
                  _: Principal = Depends(CHANNELS_READ),
                  session: DbSession) -> Page[ChannelOut]:
    return sales_channels.list_channels(session, params).to_page(ChannelOut, channel_out)


@router.get("/channels/{channel_id}", response_model=ChannelOut)
def get_channel(channel_id: str, response: Response, *, _: Principal = Depends(CHANNELS_READ),
                session: DbSession) -> ChannelOut:
    channel = sales_channels.get_channel(session, channel_id)
    set_etag(response, channel)
    return channel_out(channel)


@router.patch("/channels/{channel_id}", response_model=ChannelOut)
def update_channel(channel_id: str, body: ChannelUpdate, request: Request, response: Response,
                   *, _: Principal = Depends(CHANNELS_WRITE),
                   session: DbSession) -> ChannelOut:
    channel = sales_channels.get_channel(session, channel_id)
    check_if_match(request, channel)
    sales_channels.update_channel(session, channel, body)
    set_etag(response, channel)
    return channel_out(channel)


@router.put("/channels/{channel_id}/buffers", response_model=BuffersOut,
            summary="Per-SKU buffers (null removes one)")
def set_buffers(channel_id: str, body: BuffersIn, *, _: Principal = Depends(CHANNELS_WRITE),
                session: DbSession) -> BuffersOut:
    channel = sales_channels.get_channel(session, channel_id)
    sales_channels.set_buffers(session, channel, body.buffers)
    return get_buffers_of(channel, session)


@router.get("/channels/{channel_id}/buffers", response_model=BuffersOut)
def get_buffers(channel_id: str, *, _: Principal = Depends(CHANNELS_READ),
                session: DbSession) -> BuffersOut:
    return get_buffers_of(sales_channels.get_channel(session, channel_id), session)


def get_buffers_of(channel: SalesChannel, session: Session) -> BuffersOut:
    return BuffersOut(channel_id=channel.id, default_buffer=channel.default_buffer,
                      buffers=[BufferOut(sku=sku, buffer=buffer)
                               for sku, buffer in sales_channels.buffers_of(session, channel)])


@router.get("/channels/{channel_id}/availability", response_model=AvailabilityOut,
            summary="Available to sell on this channel, for one SKU")
def get_availability(channel_id: str, *, sku: str = Query(max_length=100),
                     _: Principal = Depends(CHANNELS_READ),
                     session: DbSession) -> AvailabilityOut:
    channel = sales_channels.get_channel(session, channel_id)
    return AvailabilityOut.model_validate(sales_channels.available_to_sell(session, channel, sku))


from mercato.inventory import (  # noqa: E402 - after this router
    api_locator,
    api_movements,
)
from mercato.inventory.purchasing import api as api_purchasing  # noqa: E402

router.include_router(api_movements.router)
router.include_router(api_purchasing.router)
store_router = api_locator.store_router
