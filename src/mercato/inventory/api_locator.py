"""The store locator: a store's public locations, nearest first.

Public, active locations only (``public`` is set by staff on the location). With a point
(``near=<lat>,<lng>`` or ``lat=&lng=``) the answer holds the located ones ordered by
great-circle distance, each with ``distance_km``; without one, every public location by name.
A store has tens of locations, not millions: they are ranked here, exactly and the same way on
both databases, rather than with database-specific geometry.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from mercato.core.errors import BadRequest, ValidationFailed
from mercato.core.pagination import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    Page,
    decode_cursor,
    encode_cursor,
)
from mercato.core.uow import DbSession, MercatoRoute
from mercato.inventory.models import Location
from mercato.inventory.schemas import Latitude, Longitude
from mercato.tenancy import Store
from mercato.tenancy.deps import current_store

store_router = APIRouter(prefix="/store/v1/{store}", route_class=MercatoRoute, tags=["storefront"])

EARTH_RADIUS_KM = 6371.0088
"""The mean Earth radius (IUGG): a sphere is within 0.5 % of the ellipsoid everywhere."""


# -- ranking --------------------------------------------------------------------------------

@dataclass(frozen=True)
class Point:
    latitude: Decimal
    longitude: Decimal


def haversine_km(a: Point, b: Point) -> float:
    """Great-circle distance; the atan2 form stays accurate for antipodal points too."""
    lat1, lat2 = math.radians(a.latitude), math.radians(b.latitude)
    dlat = lat2 - lat1
    dlng = math.radians(b.longitude - a.longitude)
    h = math.sin(dlat / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin(dlng / 2) ** 2
    h = min(1.0, max(0.0, h))
    return 2 * EARTH_RADIUS_KM * math.atan2(math.sqrt(h), math.sqrt(1 - h))


def _point(latitude: Decimal, longitude: Decimal, field: str) -> Point:
    if not (-90 <= latitude <= 90) or not (-180 <= longitude <= 180):
        raise ValidationFailed("The point is outside the globe.", errors=[{
            "field": field, "message": "latitude in [-90, 90] and longitude in [-180, 180]"}])
    return Point(latitude, longitude)


def parse_point(near: str | None, lat: Decimal | None, lng: Decimal | None) -> Point | None:
    """The search point from ``near=<lat>,<lng>`` or ``lat=``/``lng=``; 422 naming the field."""
    if near is not None:
        if lat is not None or lng is not None:
            raise ValidationFailed("Give near, or lat and lng, not both.", errors=[{
                "field": "near", "message": "not together with lat/lng"}])
        parts = near.split(",")
        try:
            if len(parts) != 2:
                raise InvalidOperation
            latitude, longitude = (Decimal(p.strip()) for p in parts)
            if not (latitude.is_finite() and longitude.is_finite()):
                raise InvalidOperation
        except InvalidOperation:
            raise ValidationFailed("near is <latitude>,<longitude> in degrees.", errors=[{
                "field": "near", "message": "expected <latitude>,<longitude>"}]) from None
        return _point(latitude, longitude, "near")
    if (lat is None) != (lng is None):
        missing = "lng" if lng is None else "lat"
        raise ValidationFailed("Give lat and lng together.", errors=[{
            "field": missing, "message": "required with the other coordinate"}])
    if lat is None or lng is None:
        return None
    return _point(lat, lng, "lat")


def ranked(locations: list[Location], point: Point) -> list[tuple[float, Location]]:
    """Located ones, nearest first (ties by id, so pages are stable)."""
    located = [(haversine_km(point, Point(loc.latitude, loc.longitude)), loc)
               for loc in locations if loc.latitude is not None and loc.longitude is not None]
    return sorted(located, key=lambda pair: (pair[0], pair[1].id))


# -- HTTP -----------------------------------------------------------------------------------

class StoreLocation(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    name: str
    code: str
    kind: str
    address: dict[str, Any]
    phone: str | None
    hours: dict[str, Any] | None = Field(description=(
        "Opening hours: `mon` ... `sun`, each a list of `{opens, closes}` (local HH:MM); "
        "a missing or empty day is closed. `note` for anything else."))
    pickup: bool = Field(description="Orders can be collected here.")
    latitude: Latitude | None
    longitude: Longitude | None
    distance_km: float | None = Field(description=(
        "Great-circle distance from the point asked about, in km (3 decimals); null "
        "without a point."))


def _out(location: Location, distance: float | None) -> StoreLocation:
    return StoreLocation.model_validate(
        {**{k: getattr(location, k) for k in StoreLocation.model_fields if k != "distance_km"},
         "distance_km": None if distance is None else round(distance, 3)})


@store_router.get(
    "/locations", response_model=Page[StoreLocation],
    summary="The store's public locations: nearest first from a point, else by name")
def find_locations(
    *, store: Store = Depends(current_store),
    near: str | None = Query(None, max_length=60, examples=["51.5072,-0.1276"],
                             description="`<latitude>,<longitude>` in degrees."),
    lat: Decimal | None = Query(None, ge=-90, le=90, description="Latitude (with `lng`)."),
    lng: Decimal | None = Query(None, ge=-180, le=180, description="Longitude (with `lat`)."),
    limit: int = Query(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT),
    cursor: str | None = Query(None, description="`next_cursor` from the previous page."),
    session: DbSession,
) -> Page[StoreLocation]:
    point = parse_point(near, lat, lng)
    locations = list(session.scalars(select(Location).where(
        Location.public.is_(True), Location.active.is_(True))))
    rows: list[tuple[Any, Location, float | None]]
    if point is None:
        rows = [((loc.name, loc.id), loc, None)
                for loc in sorted(locations, key=lambda loc: (loc.name, loc.id))]
    else:
        rows = [((distance, loc.id), loc, distance) for distance, loc in ranked(locations, point)]
    if cursor:
        after = tuple(decode_cursor(cursor, 2))
        kinds = (str, str) if point is None else (float, str)
        if not all(isinstance(v, k) for v, k in zip(after, kinds, strict=True)):
            raise BadRequest("The cursor is not valid.",
                             errors=[{"field": "cursor", "message": "from another search"}])
        rows = [row for row in rows if row[0] > after]
    page, more = rows[:limit], len(rows) > limit
    return Page[StoreLocation](
        data=[_out(loc, distance) for _, loc, distance in page],
        next_cursor=encode_cursor(list(page[-1][0])) if more and page else None)
