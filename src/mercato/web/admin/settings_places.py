"""Settings: locations (inventory's), tax rates, shipping zones and methods (checkout's).

Same services, schemas and permissions as ``inventory.api`` (``inventory:read`` /
``inventory:write``) and checkout's tax and shipping routes (``checkout:read`` /
``checkout:write``).
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError
from starlette.datastructures import FormData

from mercato import checkout
from mercato.checkout.schemas import (
    ShippingMethodIn,
    ShippingMethodUpdate,
    ShippingZoneIn,
    ShippingZoneUpdate,
    TaxRateIn,
    TaxRateUpdate,
)
from mercato.core.errors import MercatoError
from mercato.core.pagination import PageParams
from mercato.core.uow import DbSession, MercatoRoute
from mercato.inventory import LocationCreate, service
from mercato.inventory.schemas import LocationUpdate
from mercato.web.admin.settings import (
    available,
    errors_of,
    failed,
    flag,
    next_url,
    optional,
    posted,
    raw,
    text,
    words,
)
from mercato.web.session import StaffSession, staff_page
from mercato.web.templating import redirect, render

router = APIRouter(route_class=MercatoRoute, include_in_schema=False)
available.update({"/admin/settings/locations", "/admin/settings/tax-rates",
                  "/admin/settings/shipping"})

PAGE_SIZE = 50
Cursor = Annotated[str | None, Query(max_length=500)]
Form = Annotated[FormData, Depends(posted)]
KINDS = [("store", "Store"), ("warehouse", "Warehouse"), ("virtual", "Virtual")]
ADDRESS = ("line1", "line2", "city", "region", "postal_code", "country")


# -- locations ---------------------------------------------------------------------------------

def _location_values(location: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "name": location.name, "code": location.code, "kind": location.kind,
        "fulfills_online": location.fulfills_online, "pickup": location.pickup,
        "public": location.public, "active": location.active, "phone": location.phone or "",
        "latitude": "" if location.latitude is None else str(location.latitude),
        "longitude": "" if location.longitude is None else str(location.longitude)}
    for part in ADDRESS:
        values[f"address.{part}"] = (location.address or {}).get(part, "")
    return values


def _location_body(form: FormData, *, new: bool) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": text(form, "name"), "kind": text(form, "kind") or "store",
        "address": {part: text(form, f"address.{part}") for part in ADDRESS},
        "fulfills_online": flag(form, "fulfills_online"), "pickup": flag(form, "pickup"),
        "public": flag(form, "public"), "phone": optional(form, "phone"),
        "latitude": optional(form, "latitude"), "longitude": optional(form, "longitude")}
    if new:
        body["code"] = optional(form, "code")
    else:
        body["active"] = flag(form, "active")
    return body


def _locations(session: Any, staff: StaffSession, cursor: str | None) -> dict[str, Any]:
    page = service.list_locations(session, PageParams(limit=PAGE_SIZE, cursor=cursor))
    return {"locations": page.items, "kinds": KINDS,
            "next_url": next_url("/admin/settings/locations", page.next_cursor),
            "first_url": "/admin/settings/locations" if cursor else None,
            "can_write": staff.can("inventory:write")}


@router.get("/admin/settings/locations", response_class=HTMLResponse)
def locations(request: Request, session: DbSession, cursor: Cursor = None,
              staff: StaffSession = Depends(staff_page("inventory:read"))) -> Response:
    return render(request, "admin/settings/locations.html", {
        **_locations(session, staff, cursor),
        "values": {"kind": "store", "fulfills_online": True}})


@router.post("/admin/settings/locations", response_class=HTMLResponse)
def create_location(request: Request, session: DbSession, form: Form,
                    staff: StaffSession = Depends(staff_page("inventory:write"))) -> Response:
    try:
        body = LocationCreate.model_validate(_location_body(form, new=True))
        location = service.create_location(session, body)
        session.flush()
    except (ValidationError, MercatoError) as exc:
        return failed(request, "admin/settings/locations.html",
                      _locations(session, staff, None), exc,
                      form={**raw(form), **{k: flag(form, k) for k in
                                           ("fulfills_online", "pickup", "public")}})
    return redirect("/admin/settings/locations", flash=f"{location.name} is added.")


@router.get("/admin/settings/locations/{location_id}", response_class=HTMLResponse)
def location_page(request: Request, location_id: str, session: DbSession,
                  staff: StaffSession = Depends(staff_page("inventory:read"))) -> Response:
    location = service.get_location(session, location_id)
    return render(request, "admin/settings/location.html", {
        "location": location, "kinds": KINDS, "can_write": staff.can("inventory:write"),
        "values": _location_values(location)})


@router.post("/admin/settings/locations/{location_id}", response_class=HTMLResponse)
def update_location(request: Request, location_id: str, session: DbSession, form: Form,
                    staff: StaffSession = Depends(staff_page("inventory:write"))) -> Response:
    location = service.get_location(session, location_id)
    try:
        body = LocationUpdate.model_validate(_location_body(form, new=False))
        service.update_location(session, location, body)
        session.flush()
    except (ValidationError, MercatoError) as exc:
        session.refresh(location)
        return failed(request, "admin/settings/location.html", {
            "location": location, "kinds": KINDS, "can_write": True}, exc,
            form={**raw(form), **{k: flag(form, k) for k in
                                  ("fulfills_online", "pickup", "public", "active")}})
    return redirect(f"/admin/settings/locations/{location.id}",
                    flash=f"{location.name} is saved.")


# -- tax rates ---------------------------------------------------------------------------------

def _rate_body(form: FormData) -> dict[str, Any]:
    return {"country": text(form, "country"), "region": optional(form, "region"),
            "postal_prefix": optional(form, "postal_prefix"), "title": text(form, "title"),
            "rate": _fraction(text(form, "rate_percent"))}


def _fraction(percent: str) -> str:
    """The page asks for a percentage (7.25); the API takes a fraction ("0.0725")."""
    try:
        return f"{(Decimal(percent) / 100).normalize():f}" if percent else ""
    except InvalidOperation:
        return percent


def _percent(rate: Decimal) -> str:
    return f"{(rate * 100).normalize():f}"


def _rates(session: Any, staff: StaffSession, cursor: str | None,
           country: str | None) -> dict[str, Any]:
    page = checkout.list_tax_rates(session, PageParams(limit=PAGE_SIZE, cursor=cursor),
                                   country=country)
    return {"rates": [{"row": r, "percent": _percent(r.rate)} for r in page.items],
            "country_filter": country or "",
            "next_url": next_url("/admin/settings/tax-rates", page.next_cursor,
                                 country=country),
            "first_url": "/admin/settings/tax-rates" if cursor else None,
            "can_write": staff.can("checkout:write")}


def _rate_failed(exc: Exception) -> list[dict[str, Any]]:
    """The form asks for ``rate_percent``: the rate's errors show beside it."""
    return [{**e, "field": "rate_percent" if e["field"] == "rate" else e["field"]}
            for e in errors_of(exc)]


@router.get("/admin/settings/tax-rates", response_class=HTMLResponse)
def tax_rates(request: Request, session: DbSession, cursor: Cursor = None,
              country: Annotated[str | None, Query(max_length=2)] = None,
              staff: StaffSession = Depends(staff_page("checkout:read"))) -> Response:
    return render(request, "admin/settings/tax_rates.html",
                  _rates(session, staff, cursor, country), block="rows")


@router.post("/admin/settings/tax-rates", response_class=HTMLResponse)
def create_tax_rate(request: Request, session: DbSession, form: Form,
                    staff: StaffSession = Depends(staff_page("checkout:write"))) -> Response:
    try:
        rate = checkout.create_tax_rate(session, TaxRateIn.model_validate(_rate_body(form)))
        session.flush()
    except (ValidationError, MercatoError) as exc:
        return failed(request, "admin/settings/tax_rates.html",
                      _rates(session, staff, None, None), _rate_failed(exc), form=raw(form))
    return redirect("/admin/settings/tax-rates", flash=f"The rate {rate.title} is added.")


@router.get("/admin/settings/tax-rates/{rate_id}", response_class=HTMLResponse)
def tax_rate_page(request: Request, rate_id: str, session: DbSession,
                  staff: StaffSession = Depends(staff_page("checkout:read"))) -> Response:
    rate = checkout.get_tax_rate(session, rate_id)
    return render(request, "admin/settings/tax_rate.html", {
        "rate": rate, "can_write": staff.can("checkout:write"),
        "values": {"country": rate.country, "region": rate.region or "",
                   "postal_prefix": rate.postal_prefix or "", "title": rate.title,
                   "rate_percent": _percent(rate.rate)}})


@router.post("/admin/settings/tax-rates/{rate_id}", response_class=HTMLResponse)
def update_tax_rate(request: Request, rate_id: str, session: DbSession, form: Form,
                    staff: StaffSession = Depends(staff_page("checkout:write"))) -> Response:
    rate = checkout.get_tax_rate(session, rate_id)
    try:
        checkout.update_tax_rate(session, rate, TaxRateUpdate.model_validate(_rate_body(form)))
        session.flush()
    except (ValidationError, MercatoError) as exc:
        session.refresh(rate)
        return failed(request, "admin/settings/tax_rate.html",
                      {"rate": rate, "can_write": True}, _rate_failed(exc), form=raw(form))
    return redirect("/admin/settings/tax-rates", flash=f"The rate {rate.title} is saved.")


@router.post("/admin/settings/tax-rates/{rate_id}/delete", response_class=HTMLResponse)
def delete_tax_rate(request: Request, rate_id: str, session: DbSession,
                    staff: StaffSession = Depends(staff_page("checkout:write"))) -> Response:
    rate = checkout.get_tax_rate(session, rate_id)
    title = rate.title
    checkout.delete_tax_rate(session, rate)
    return redirect("/admin/settings/tax-rates", flash=f"The rate {title} is deleted.")


# -- shipping zones and methods ----------------------------------------------------------------

METHOD_KINDS = [("flat", "Flat price"), ("weight", "By weight"), ("price", "By cart subtotal"),
                ("pickup", "Pickup")]


def _brackets(value: str, first: str) -> list[dict[str, Any]] | None:
    """Brackets typed one a line, ``<bound> <price>`` (``500 4.00``; ``* 9.00`` for the last
    weight bracket: any weight). The API's model checks them."""
    rows: list[dict[str, Any]] = []
    for line in value.splitlines():
        parts = line.replace("=", " ").split()
        if not parts:
            continue
        bound: str | None = parts[0]
        if bound in ("*", "-", "any"):
            bound = None
        rows.append({first: bound, "price": parts[1] if len(parts) > 1 else ""})
    return rows or None


def _brackets_text(rows: list[dict[str, Any]] | None, first: str) -> str:
    return "\n".join(f"{'*' if r.get(first) is None else r.get(first)} {r.get('price')}"
                     for r in rows or [])


def _zone_body(form: FormData) -> dict[str, Any]:
    return {"name": text(form, "name"), "countries": words(form, "countries"),
            "regions": words(form, "regions"),
            "postal_prefixes": words(form, "postal_prefixes")}


def _method_body(form: FormData) -> dict[str, Any]:
    kind = text(form, "kind")
    return {"zone_id": optional(form, "zone_id"), "title": text(form, "title"),
            "code": text(form, "code"), "kind": kind, "currency": text(form, "currency"),
            "price": optional(form, "price"),
            "weight_brackets": _brackets(text(form, "weight_brackets"), "up_to_grams")
            if kind == "weight" else None,
            "price_brackets": _brackets(text(form, "price_brackets"), "from_subtotal")
            if kind == "price" else None,
            "min_subtotal": optional(form, "min_subtotal"),
            "max_subtotal": optional(form, "max_subtotal"),
            "pickup_location": optional(form, "pickup_location") if kind == "pickup" else None,
            "active": flag(form, "active")}


def _shipping(session: Any, staff: StaffSession, cursor: str | None) -> dict[str, Any]:
    zones = checkout.list_shipping_zones(session, PageParams(limit=250, cursor=None)).items
    page = checkout.list_shipping_methods(session, PageParams(limit=PAGE_SIZE, cursor=cursor))
    names = {z.id: z.name for z in zones}
    return {"zones": zones, "methods": page.items, "zone_names": names,
            "zone_options": [(z.id, z.name) for z in zones], "method_kinds": METHOD_KINDS,
            "next_url": next_url("/admin/settings/shipping", page.next_cursor),
            "first_url": "/admin/settings/shipping" if cursor else None,
            "can_write": staff.can("checkout:write")}


@router.get("/admin/settings/shipping", response_class=HTMLResponse)
def shipping(request: Request, session: DbSession, cursor: Cursor = None,
             staff: StaffSession = Depends(staff_page("checkout:read"))) -> Response:
    return render(request, "admin/settings/shipping.html", {
        **_shipping(session, staff, cursor), "values": {"kind": "flat", "active": True}})


@router.post("/admin/settings/shipping/zones", response_class=HTMLResponse)
def create_zone(request: Request, session: DbSession, form: Form,
                staff: StaffSession = Depends(staff_page("checkout:write"))) -> Response:
    try:
        zone = checkout.create_shipping_zone(session,
                                             ShippingZoneIn.model_validate(_zone_body(form)))
        session.flush()
    except (ValidationError, MercatoError) as exc:
        return failed(request, "admin/settings/shipping.html", _shipping(session, staff, None),
                      exc, form={**raw(form), "form": "zone", "kind": "flat", "active": True})
    return redirect("/admin/settings/shipping", flash=f"The zone {zone.name} is added.")


@router.get("/admin/settings/shipping/zones/{zone_id}", response_class=HTMLResponse)
def zone_page(request: Request, zone_id: str, session: DbSession,
              staff: StaffSession = Depends(staff_page("checkout:read"))) -> Response:
    zone = checkout.get_shipping_zone(session, zone_id)
    return render(request, "admin/settings/zone.html", {
        "zone": zone, "can_write": staff.can("checkout:write"),
        "values": {"name": zone.name, "countries": " ".join(zone.countries),
                   "regions": " ".join(zone.regions),
                   "postal_prefixes": " ".join(zone.postal_prefixes)}})


@router.post("/admin/settings/shipping/zones/{zone_id}", response_class=HTMLResponse)
def update_zone(request: Request, zone_id: str, session: DbSession, form: Form,
                staff: StaffSession = Depends(staff_page("checkout:write"))) -> Response:
    zone = checkout.get_shipping_zone(session, zone_id)
    try:
        checkout.update_shipping_zone(session, zone,
                                      ShippingZoneUpdate.model_validate(_zone_body(form)))
        session.flush()
    except (ValidationError, MercatoError) as exc:
        session.refresh(zone)
        return failed(request, "admin/settings/zone.html", {"zone": zone, "can_write": True},
                      exc, form=raw(form))
    return redirect("/admin/settings/shipping", flash=f"The zone {zone.name} is saved.")


@router.post("/admin/settings/shipping/zones/{zone_id}/delete", response_class=HTMLResponse)
def delete_zone(request: Request, zone_id: str, session: DbSession,
                staff: StaffSession = Depends(staff_page("checkout:write"))) -> Response:
    zone = checkout.get_shipping_zone(session, zone_id)
    name = zone.name
    checkout.delete_shipping_zone(session, zone)
    return redirect("/admin/settings/shipping", flash=f"The zone {name} is deleted.")


@router.post("/admin/settings/shipping/methods", response_class=HTMLResponse)
def create_method(request: Request, session: DbSession, form: Form,
                  staff: StaffSession = Depends(staff_page("checkout:write"))) -> Response:
    try:
        method = checkout.create_shipping_method(
            session, ShippingMethodIn.model_validate(_method_body(form)))
        session.flush()
    except (ValidationError, MercatoError) as exc:
        return failed(request, "admin/settings/shipping.html", _shipping(session, staff, None),
                      exc, form={**raw(form), "form": "method", "active": flag(form, "active")})
    return redirect("/admin/settings/shipping", flash=f"The method {method.title} is added.")


def _method_values(method: Any) -> dict[str, Any]:
    return {"zone_id": method.zone_id or "", "title": method.title, "code": method.code,
            "kind": method.kind, "currency": method.currency,
            "price": "" if method.price is None else str(method.price),
            "weight_brackets": _brackets_text(method.weight_brackets, "up_to_grams"),
            "price_brackets": _brackets_text(method.price_brackets, "from_subtotal"),
            "min_subtotal": "" if method.min_subtotal is None else str(method.min_subtotal),
            "max_subtotal": "" if method.max_subtotal is None else str(method.max_subtotal),
            "pickup_location": method.pickup_location_id or "", "active": method.active}


def _method_page(session: Any, staff: StaffSession, method: Any) -> dict[str, Any]:
    zones = checkout.list_shipping_zones(session, PageParams(limit=250, cursor=None)).items
    return {"method": method, "zone_options": [(z.id, z.name) for z in zones],
            "method_kinds": METHOD_KINDS, "can_write": staff.can("checkout:write")}


@router.get("/admin/settings/shipping/methods/{method_id}", response_class=HTMLResponse)
def method_page(request: Request, method_id: str, session: DbSession,
                staff: StaffSession = Depends(staff_page("checkout:read"))) -> Response:
    method = checkout.get_shipping_method(session, method_id)
    return render(request, "admin/settings/method.html", {
        **_method_page(session, staff, method), "values": _method_values(method)})


@router.post("/admin/settings/shipping/methods/{method_id}", response_class=HTMLResponse)
def update_method(request: Request, method_id: str, session: DbSession, form: Form,
                  staff: StaffSession = Depends(staff_page("checkout:write"))) -> Response:
    method = checkout.get_shipping_method(session, method_id)
    try:
        checkout.update_shipping_method(
            session, method, ShippingMethodUpdate.model_validate(_method_body(form)))
        session.flush()
    except (ValidationError, MercatoError) as exc:
        session.refresh(method)
        return failed(request, "admin/settings/method.html",
                      _method_page(session, staff, method), exc,
                      form={**raw(form), "active": flag(form, "active")})
    return redirect("/admin/settings/shipping", flash=f"The method {method.title} is saved.")


@router.post("/admin/settings/shipping/methods/{method_id}/delete",
             response_class=HTMLResponse)
def delete_method(request: Request, method_id: str, session: DbSession,
                  staff: StaffSession = Depends(staff_page("checkout:write"))) -> Response:
    method = checkout.get_shipping_method(session, method_id)
    title = method.title
    checkout.delete_shipping_method(session, method)
    return redirect("/admin/settings/shipping", flash=f"The method {title} is deleted.")
