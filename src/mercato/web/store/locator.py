"""The store locator page (``/s/{store}/locations``): the store's public locations with their
address, phone and opening hours, nearest first from a postal code or the browser's position,
over the same ranking as ``GET /store/v1/{store}/locations`` (``inventory.find_public_locations``).

The form is a GET ("Postal code", works without JavaScript); "Use my location" is a small
progressive enhancement (``static/store-locator.js``) that fills ``lat`` and ``lng`` from the
browser's position and submits. No geocoder is reachable: a postal code is matched against the
locations' own postal codes.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from mercato import inventory
from mercato.core.errors import MercatoError
from mercato.core.uow import DbSession, MercatoRoute
from mercato.web.store.common import Shop, cart_count, load, page, shop_page

router = APIRouter(route_class=MercatoRoute, include_in_schema=False)

DAYS = (("mon", "Monday"), ("tue", "Tuesday"), ("wed", "Wednesday"), ("thu", "Thursday"),
        ("fri", "Friday"), ("sat", "Saturday"), ("sun", "Sunday"))


def opening_hours(hours: dict[str, Any] | None) -> list[tuple[str, str]]:
    """Each weekday's hours as a row ("10:00 to 19:00", several joined), "Closed" for a missing
    or empty day; no rows when the location has no hours at all."""
    if not hours:
        return []
    rows = []
    for key, name in DAYS:
        spans = [f"{s.get('opens', '')} to {s.get('closes', '')}" for s in hours.get(key) or []
                 if isinstance(s, dict)]
        rows.append((name, ", ".join(spans) if spans else "Closed"))
    return rows


def _decimal(value: str) -> Decimal | None:
    if not value.strip():
        return None
    try:
        return Decimal(value.strip())
    except InvalidOperation:
        return Decimal("NaN")  # refused by parse_point, beside the field


@router.get("/s/{store}/locations", response_class=HTMLResponse)
def locations(request: Request, session: DbSession, postal_code: str = "", lat: str = "",
              lng: str = "", shop: Shop = Depends(shop_page)) -> Response:
    load(request, session, shop)
    cart_count(session, shop)
    postal = " ".join(postal_code.split())[:20]
    values = {"postal_code": postal, "lat": lat[:30], "lng": lng[:30]}
    try:
        point = inventory.parse_point(None, _decimal(lat[:30]), _decimal(lng[:30]))
        located = inventory.find_public_locations(
            session, point=point, postal_code=postal if point is None and postal else None)
    except MercatoError:  # a position out of range or not a number
        message = "We could not read your position; enter a postal code instead."
        located = inventory.find_public_locations(session)
        return page(request, shop, "store/locations.html", {
            "values": values, "found": _rows(located), "point": False,
            "errors": {"postal_code": message},
            "error_list": [{"field": "postal_code", "message": message}], "matched": None},
            status=422)
    return page(request, shop, "store/locations.html", {
        "values": values, "found": _rows(located), "point": point is not None,
        "errors": {}, "matched": located.postal_matched})


def _rows(located: inventory.Located) -> list[dict[str, Any]]:
    out = []
    for found in located.found:
        loc = found.location
        address = loc.address or {}
        out.append({"id": loc.id, "name": loc.name, "phone": loc.phone, "pickup": loc.pickup,
                    "lines": [part for part in (
                        address.get("line1"), address.get("line2"),
                        " ".join(p for p in (address.get("city"), address.get("region"),
                                             address.get("postal_code")) if p),
                        address.get("country")) if part],
                    "hours": opening_hours(loc.hours),
                    "note": (loc.hours or {}).get("note"),
                    "distance_km": found.distance_km})
    return out
