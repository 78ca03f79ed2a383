"""Admin routes: tax settings and rates, and a preview of the rates an address is charged (the
same function the checkout calls)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Depends, Query, Request, Response, status

from mercato.checkout.tax import service as tax
from mercato.checkout.tax.models import TaxSettings
from mercato.checkout.tax.schemas import (
    AppliedRate,
    TaxLookupOut,
    TaxRateIn,
    TaxRateOut,
    TaxRateUpdate,
    TaxSettingsIn,
    TaxSettingsOut,
)
from mercato.core.auth import require
from mercato.core.etag import check_if_match, set_etag
from mercato.core.pagination import Page, PageParams
from mercato.core.principal import Principal
from mercato.core.query import page_params
from mercato.core.uow import DbSession, MercatoRoute

# mounted under checkout.api's /api/v1 router (a prefix here would make /api/v1/api/v1/...)
router = APIRouter(route_class=MercatoRoute, tags=["tax and shipping"])
READ, WRITE = require("checkout:read"), require("checkout:write")
IN_USE: dict[int | str, dict[str, Any]] = {409: {"description": (
    "The name or code is taken (`conflict`), or the zone still has methods")}}


@dataclass
class SettingsTag:
    """The settings' ETag: one row per organization, version 0 while the defaults apply."""

    id: str
    version: int


def _settings_tag(row: TaxSettings | None) -> SettingsTag:
    return SettingsTag("tax-settings", row.version if row is not None else 0)


def _settings_out(response: Response, row: TaxSettings | None) -> TaxSettingsOut:
    set_etag(response, _settings_tag(row))
    if row is None:
        return TaxSettingsOut(prices_include_tax=tax.DEFAULTS.prices_include_tax,
                              tax_shipping=tax.DEFAULTS.tax_shipping, updated_at=None)
    return TaxSettingsOut(prices_include_tax=row.prices_include_tax,
                          tax_shipping=row.tax_shipping, updated_at=row.updated_at)


# -- tax settings -------------------------------------------------------------------------------

@router.get("/tax/settings", response_model=TaxSettingsOut,
            summary="Whether prices include tax and whether shipping is taxed")
def get_tax_settings(response: Response, *, _: Principal = Depends(READ),
                     session: DbSession) -> TaxSettingsOut:
    return _settings_out(response, tax.settings_row(session))


@router.put("/tax/settings", response_model=TaxSettingsOut,
            summary="Replace the tax settings (If-Match supported)")
def put_tax_settings(body: TaxSettingsIn, request: Request, response: Response,
                     *, _: Principal = Depends(WRITE),
                     session: DbSession) -> TaxSettingsOut:
    check_if_match(request, _settings_tag(tax.settings_row(session, lock=True)))
    return _settings_out(response, tax.put_settings(session, body))


@router.get("/tax/lookup", response_model=TaxLookupOut,
            summary="The rates that apply at an address, as the checkout will charge them")
def lookup_tax(*, country: str = Query(min_length=2, max_length=2),
               region: str | None = Query(None, max_length=100),
               postal_code: str | None = Query(None, max_length=20),
               _: Principal = Depends(READ),
               session: DbSession) -> TaxLookupOut:
    address = tax.normalized(tax.TaxAddress(country, region, postal_code))
    settings = tax.tax_settings(session)
    return TaxLookupOut(country=address.country, region=address.region,
                        postal_code=address.postal_code,
                        prices_include_tax=settings.prices_include_tax,
                        tax_shipping=settings.tax_shipping,
                        rates=[AppliedRate(title=t, rate=r)
                               for t, r in tax.rates_for(session, address)])


# -- tax rates ----------------------------------------------------------------------------------

@router.post("/tax/rates", response_model=TaxRateOut, status_code=status.HTTP_201_CREATED,
             responses=IN_USE, summary="Add a tax rate for a country, region or postal prefix")
def create_tax_rate(body: TaxRateIn, response: Response, *, _: Principal = Depends(WRITE),
                    session: DbSession) -> TaxRateOut:
    rate = tax.create_rate(session, body)
    set_etag(response, rate)
    return TaxRateOut.model_validate(rate)


@router.get("/tax/rates", response_model=Page[TaxRateOut])
def list_tax_rates(*, params: PageParams = Depends(page_params),
                   country: str | None = Query(None, max_length=2),
                   _: Principal = Depends(READ),
                   session: DbSession) -> Page[TaxRateOut]:
    return tax.list_rates(session, params, country=country).to_page(TaxRateOut)


@router.get("/tax/rates/{tax_rate_id}", response_model=TaxRateOut)
def get_tax_rate(tax_rate_id: str, response: Response, *, _: Principal = Depends(READ),
                 session: DbSession) -> TaxRateOut:
    rate = tax.get_rate(session, tax_rate_id)
    set_etag(response, rate)
    return TaxRateOut.model_validate(rate)


@router.patch("/tax/rates/{tax_rate_id}", response_model=TaxRateOut, responses=IN_USE,
              summary="Change a tax rate (If-Match supported)")
def update_tax_rate(tax_rate_id: str, body: TaxRateUpdate, request: Request,
                    response: Response, *, _: Principal = Depends(WRITE),
                    session: DbSession) -> TaxRateOut:
    rate = tax.get_rate(session, tax_rate_id)
    check_if_match(request, rate)
    tax.update_rate(session, rate, body)
    set_etag(response, rate)
    return TaxRateOut.model_validate(rate)


@router.delete("/tax/rates/{tax_rate_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_tax_rate(tax_rate_id: str, *, _: Principal = Depends(WRITE),
                    session: DbSession) -> Response:
    tax.delete_rate(session, tax.get_rate(session, tax_rate_id))
    return Response(status_code=status.HTTP_204_NO_CONTENT)

