"""The store locator's ranking: a store's public, active locations, nearest first from a
point (great-circle), or from a postal code matched against the locations' own postal codes
(no geocoder is reachable: the best-matching prefix stands in for the shopper's position),
else by name. The storefront API (``api_locator``) and the locator page both call this.

A store has tens of locations, not millions: they are ranked here, exactly and the same way on
both databases, rather than with database-specific geometry.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from sqlalchemy import select
from sqlalchemy.orm import Session

from mercato.core.errors import ValidationFailed
from mercato.inventory.models import Location

EARTH_RADIUS_KM = 6371.0088
"""The mean Earth radius (IUGG): a sphere is within 0.5 % of the ellipsoid everywhere."""


@dataclass(frozen=True)
class Point:
    latitude: Decimal
    longitude: Decimal


@dataclass(frozen=True)
class Found:
    """One location in the answer: its sort key (for cursors), and its distance from the
    point asked about (None without one, and for a postal code: that origin is a guess)."""

    key: tuple[float | str, str]
    location: Location
    distance_km: float | None


@dataclass(frozen=True)
class Located:
    """The ranked locations, and whether a postal code asked about matched any of them."""

    found: list[Found]
    postal_matched: bool | None = None


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
    if not (lat.is_finite() and lng.is_finite()):
        raise ValidationFailed("lat and lng are numbers in degrees.", errors=[{
            "field": "lat", "message": "expected a number"}])
    return _point(lat, lng, "lat")


def ranked(locations: list[Location], point: Point) -> list[tuple[float, Location]]:
    """Located ones, nearest first (ties by id, so pages are stable)."""
    located = [(haversine_km(point, Point(loc.latitude, loc.longitude)), loc)
               for loc in locations if loc.latitude is not None and loc.longitude is not None]
    return sorted(located, key=lambda pair: (pair[0], pair[1].id))


def _postal(value: object) -> str:
    return "".join(ch for ch in str(value or "").upper() if ch.isalnum())


def _shared(a: str, b: str) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


def by_postal_code(locations: list[Location], postal_code: str) -> tuple[list[Location], bool]:
    """Locations for a postal code: the ones whose own postal code shares the longest prefix
    with it are where the shopper is taken to be; located ones follow by distance from there
    (their mean position), then the rest by how much of the code they share, then by name.
    No shared prefix at all: every location by name, and False."""
    wanted = _postal(postal_code)
    shared = {loc.id: _shared(_postal((loc.address or {}).get("postal_code")), wanted)
              for loc in locations}
    best = max(shared.values(), default=0)
    by_name = sorted(locations, key=lambda loc: (loc.name, loc.id))
    if best == 0:
        return by_name, False
    anchors = [Point(loc.latitude, loc.longitude) for loc in locations
               if shared[loc.id] == best
               and loc.latitude is not None and loc.longitude is not None]
    if not anchors:
        return sorted(by_name, key=lambda loc: -shared[loc.id]), True
    origin = Point(sum((a.latitude for a in anchors), Decimal(0)) / len(anchors),
                   sum((a.longitude for a in anchors), Decimal(0)) / len(anchors))
    near = [loc for _, loc in ranked(locations, origin)]
    rest = sorted((loc for loc in by_name if loc.latitude is None or loc.longitude is None),
                  key=lambda loc: -shared[loc.id])
    return near + rest, True


def find_public_locations(session: Session, *, point: Point | None = None,
                          postal_code: str | None = None) -> Located:
    """The store's public, active locations: nearest first from ``point`` (located ones only,
    with their distance), ordered for ``postal_code`` (``by_postal_code``), else by name."""
    locations = list(session.scalars(select(Location).where(
        Location.public.is_(True), Location.active.is_(True))))
    if point is not None:
        return Located([Found((distance, loc.id), loc, distance)
                        for distance, loc in ranked(locations, point)])
    if postal_code is not None and _postal(postal_code):
        ordered, matched = by_postal_code(locations, postal_code)
        return Located([Found((float(i), loc.id), loc, None)
                        for i, loc in enumerate(ordered)], matched)
    return Located([Found((loc.name, loc.id), loc, None)
                    for loc in sorted(locations, key=lambda loc: (loc.name, loc.id))])
