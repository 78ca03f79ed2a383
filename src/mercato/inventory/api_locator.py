"""The store locator: a store's public locations, nearest first.

Public, active locations only (``public`` is set by staff on the location). With a point
(``near=<lat>,<lng>`` or ``lat=&lng=``) the answer holds the located ones ordered by
great-circle distance, each with ``distance_km``; with ``postal_code``, every public location,
the ones matching the code (and those nearest them) first; without either, every public
location by name. The ranking is ``inventory.locator``'s, which the locator page calls too.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field

from mercato.core.errors import BadRequest, ValidationFailed
from mercato.core.pagination import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    Page,
    decode_cursor,
    encode_cursor,
)
from mercato.core.uow import DbSession, MercatoRoute
from mercato.inventory.locator import (
    EARTH_RADIUS_KM,
    Point,
    find_public_locations,
    haversine_km,
    parse_point,
    ranked,
)
from mercato.inventory.models import Location
from mercato.inventory.schemas import Latitude, Longitude
from mercato.tenancy import Store
from mercato.tenancy.deps import current_store

__all__ = ["EARTH_RADIUS_KM", "Point", "haversine_km", "parse_point", "ranked",
           "store_router"]

store_router = APIRouter(prefix="/store/v1/{store}", route_class=MercatoRoute, tags=["storefront"])


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
    summary="The store's public locations: nearest first from a point or a postal code, "
            "else by name")
def find_locations(
    *, store: Store = Depends(current_store),
    near: str | None = Query(None, max_length=60, examples=["51.5072,-0.1276"],
                             description="`<latitude>,<longitude>` in degrees."),
    lat: Decimal | None = Query(None, ge=-90, le=90, description="Latitude (with `lng`)."),
    lng: Decimal | None = Query(None, ge=-180, le=180, description="Longitude (with `lat`)."),
    postal_code: str | None = Query(None, max_length=20, examples=["97401"], description=(
        "Instead of a point: locations whose postal code shares the longest prefix with "
        "this one first, then the located ones nearest them (no `distance_km`).")),
    limit: int = Query(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT),
    cursor: str | None = Query(None, description="`next_cursor` from the previous page."),
    session: DbSession,
) -> Page[StoreLocation]:
    point = parse_point(near, lat, lng)
    if postal_code is not None and point is not None:
        raise ValidationFailed("Give a point or a postal code, not both.", errors=[{
            "field": "postal_code", "message": "not together with near or lat/lng"}])
    if postal_code is not None and not postal_code.strip():
        raise ValidationFailed("The postal code is empty.", errors=[{
            "field": "postal_code", "message": "enter a postal code"}])
    found = find_public_locations(session, point=point, postal_code=postal_code).found
    if cursor:
        after = tuple(decode_cursor(cursor, 2))
        kinds = (str, str) if point is None and postal_code is None else (float, str)
        if not all(isinstance(v, k) for v, k in zip(after, kinds, strict=True)):
            raise BadRequest("The cursor is not valid.",
                             errors=[{"field": "cursor", "message": "from another search"}])
        found = [f for f in found if f.key > after]
    page, more = found[:limit], len(found) > limit
    return Page[StoreLocation](
        data=[_out(f.location, f.distance_km) for f in page],
        next_cursor=encode_cursor(list(page[-1].key)) if more and page else None)
