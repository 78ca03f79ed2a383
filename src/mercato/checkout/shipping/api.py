"""Admin routes: shipping zones and methods, and a preview of the quotes an address gets (the
same function the checkout calls)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response, status

from mercato.checkout.shipping import service as shipping
from mercato.checkout.shipping.schemas import (
    MethodKind,
    QuoteList,
    QuoteOut,
    ShippingMethodIn,
    ShippingMethodOut,
    ShippingMethodUpdate,
    ShippingZoneIn,
    ShippingZoneOut,
    ShippingZoneUpdate,
)
from mercato.checkout.tax import service as tax
from mercato.core.auth import require
from mercato.core.etag import check_if_match, set_etag
from mercato.core.money import Money
from mercato.core.pagination import Page, PageParams
from mercato.core.principal import Principal
from mercato.core.query import page_params
from mercato.core.uow import DbSession, MercatoRoute

# mounted under checkout.api's /api/v1 router, after tax's routes (same tag and permissions)
router = APIRouter(route_class=MercatoRoute, tags=["tax and shipping"])
READ, WRITE = require("checkout:read"), require("checkout:write")
IN_USE: dict[int | str, dict[str, Any]] = {409: {"description": (
    "The name or code is taken (`conflict`), or the zone still has methods")}}


def _address(country: str | None, region: str | None,
             postal_code: str | None) -> tax.TaxAddress | None:
    return tax.TaxAddress(country, region, postal_code) if country else None


# -- shipping zones -----------------------------------------------------------------------------

@router.post("/shipping/zones", response_model=ShippingZoneOut,
             status_code=status.HTTP_201_CREATED, responses=IN_USE,
             summary="Add a shipping zone: countries, optionally regions and postal prefixes")
def create_zone(body: ShippingZoneIn, response: Response, *, _: Principal = Depends(WRITE),
                session: DbSession) -> ShippingZoneOut:
    zone = shipping.create_zone(session, body)
    set_etag(response, zone)
    return ShippingZoneOut.model_validate(zone)


@router.get("/shipping/zones", response_model=Page[ShippingZoneOut])
def list_zones(*, params: PageParams = Depends(page_params), _: Principal = Depends(READ),
               session: DbSession) -> Page[ShippingZoneOut]:
    return shipping.list_zones(session, params).to_page(ShippingZoneOut)


@router.get("/shipping/zones/{shipping_zone_id}", response_model=ShippingZoneOut)
def get_zone(shipping_zone_id: str, response: Response, *, _: Principal = Depends(READ),
             session: DbSession) -> ShippingZoneOut:
    zone = shipping.get_zone(session, shipping_zone_id)
    set_etag(response, zone)
    return ShippingZoneOut.model_validate(zone)


@router.patch("/shipping/zones/{shipping_zone_id}", response_model=ShippingZoneOut,
              responses=IN_USE, summary="Change a shipping zone (If-Match supported)")
def update_zone(shipping_zone_id: str, body: ShippingZoneUpdate, request: Request,
                response: Response, *, _: Principal = Depends(WRITE),
                session: DbSession) -> ShippingZoneOut:
    zone = shipping.get_zone(session, shipping_zone_id)
    check_if_match(request, zone)
    shipping.update_zone(session, zone, body)
    set_etag(response, zone)
    return ShippingZoneOut.model_validate(zone)


@router.delete("/shipping/zones/{shipping_zone_id}", status_code=status.HTTP_204_NO_CONTENT,
               responses=IN_USE, summary="Delete a zone that has no methods left")
def delete_zone(shipping_zone_id: str, *, _: Principal = Depends(WRITE),
                session: DbSession) -> Response:
    shipping.delete_zone(session, shipping.get_zone(session, shipping_zone_id))
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# -- shipping methods ---------------------------------------------------------------------------

@router.post("/shipping/methods", response_model=ShippingMethodOut,
             status_code=status.HTTP_201_CREATED, responses=IN_USE,
             summary="Add a flat, weight-based, price-based or pickup method")
def create_method(body: ShippingMethodIn, response: Response, *, _: Principal = Depends(WRITE),
                  session: DbSession) -> ShippingMethodOut:
    method = shipping.create_method(session, body)
    set_etag(response, method)
    return ShippingMethodOut.model_validate(method)


@router.get("/shipping/methods", response_model=Page[ShippingMethodOut])
def list_methods(*, params: PageParams = Depends(page_params),
                 zone_id: str | None = Query(None, max_length=26),
                 kind: MethodKind | None = Query(None),
                 active: bool | None = Query(None),
                 _: Principal = Depends(READ),
                 session: DbSession) -> Page[ShippingMethodOut]:
    return shipping.list_methods(session, params, zone_id=zone_id, kind=kind,
                                 active=active).to_page(ShippingMethodOut)


@router.get("/shipping/methods/{shipping_method_id}", response_model=ShippingMethodOut)
def get_method(shipping_method_id: str, response: Response, *, _: Principal = Depends(READ),
               session: DbSession) -> ShippingMethodOut:
    method = shipping.get_method(session, shipping_method_id)
    set_etag(response, method)
    return ShippingMethodOut.model_validate(method)


@router.patch("/shipping/methods/{shipping_method_id}", response_model=ShippingMethodOut,
              responses=IN_USE, summary="Change a shipping method (If-Match supported)")
def update_method(shipping_method_id: str, body: ShippingMethodUpdate, request: Request,
                  response: Response, *, _: Principal = Depends(WRITE),
                  session: DbSession) -> ShippingMethodOut:
    method = shipping.get_method(session, shipping_method_id)
    check_if_match(request, method)
    shipping.update_method(session, method, body)
    set_etag(response, method)
    return ShippingMethodOut.model_validate(method)


@router.delete("/shipping/methods/{shipping_method_id}",
               status_code=status.HTTP_204_NO_CONTENT)
def delete_method(shipping_method_id: str, *, _: Principal = Depends(WRITE),
                  session: DbSession) -> Response:
    shipping.delete_method(session, shipping.get_method(session, shipping_method_id))
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/shipping/quotes", response_model=QuoteList,
            summary="The methods a cart could choose, cheapest first, as the checkout offers "
                    "them")
def list_quotes(subtotal: Annotated[Money, Query(description="The cart's subtotal.")],
                *, currency: str = Query(pattern=r"^[A-Z]{3}$"),
                weight_grams: int = Query(0, ge=0, le=100_000_000),
                country: str | None = Query(None, max_length=2, description=(
                    "Omit for no address: only pickup methods.")),
                region: str | None = Query(None, max_length=100),
                postal_code: str | None = Query(None, max_length=20),
                _: Principal = Depends(READ),
                session: DbSession) -> QuoteList:
    address = _address(country, region, postal_code)
    zone = shipping.winning_zone(session, address)
    found = shipping.quotes(session, address=address, currency=currency, subtotal=subtotal,
                            weight_grams=weight_grams)
    return QuoteList(zone_id=zone.id if zone else None,
                     data=[QuoteOut.model_validate(q) for q in found])
