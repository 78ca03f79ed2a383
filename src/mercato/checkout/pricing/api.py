"""Admin routes: price lists and pricing rules."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Request, Response, status
from sqlalchemy.orm import Session

from mercato.checkout.pricing import service as pricing
from mercato.checkout.pricing.models import PriceList, PricingRule
from mercato.checkout.pricing.schemas import (
    EntriesIn,
    EntriesOut,
    EntryOut,
    PriceListIn,
    PriceListOut,
    PriceListUpdate,
    PricingRuleIn,
    PricingRuleOut,
    PricingRuleUpdate,
    ScopeOut,
)
from mercato.core.auth import require
from mercato.core.etag import check_if_match, set_etag
from mercato.core.pagination import Page, PageParams
from mercato.core.principal import Principal
from mercato.core.query import page_params
from mercato.core.uow import DbSession, MercatoRoute

# under checkout.api's /api/v1 (as inventory.api_movements is under inventory.api's)
router = APIRouter(route_class=MercatoRoute, tags=["pricing"])
READ, WRITE = require("pricing:read"), require("pricing:write")
NO_CONTENT = status.HTTP_204_NO_CONTENT


# -- shaping ------------------------------------------------------------------------------------

def price_list_out(session: Session, price_list: PriceList,
                   count: int | None = None) -> PriceListOut:
    out = PriceListOut.model_validate(price_list)
    out.entries_count = count if count is not None else \
        pricing.entry_counts(session, [price_list.id]).get(price_list.id, 0)
    return out


def rule_out(rule: PricingRule) -> PricingRuleOut:
    return PricingRuleOut(
        id=rule.id, title=rule.title, adjustment=rule.adjustment,
        value=rule.value, market_field=rule.market_field, currency=rule.currency,
        scope=ScopeOut(kind=rule.scope_kind, values=rule.scope_values),
        min_quantity=rule.min_quantity, customer_groups=rule.customer_groups,
        channel_kinds=rule.channel_kinds, starts_at=rule.starts_at, ends_at=rule.ends_at,
        priority=rule.priority, active=rule.active, created_at=rule.created_at,
        updated_at=rule.updated_at)


# -- price lists --------------------------------------------------------------------------------

@router.post("/price-lists", response_model=PriceListOut, status_code=status.HTTP_201_CREATED,
             summary="Create a price list, optionally with its prices")
def create_price_list(body: PriceListIn, response: Response, *, _: Principal = Depends(WRITE),
                      session: DbSession) -> PriceListOut:
    price_list = pricing.create_price_list(session, body)
    set_etag(response, price_list)
    return price_list_out(session, price_list)


@router.get("/price-lists", response_model=Page[PriceListOut])
def list_price_lists(*, params: PageParams = Depends(page_params),
                     currency: str | None = Query(None, pattern=r"^[A-Z]{3}$"),
                     active: bool | None = Query(None), _: Principal = Depends(READ),
                     session: DbSession) -> Page[PriceListOut]:
    page = pricing.list_price_lists(session, params, currency=currency, active=active)
    counts = pricing.entry_counts(session, [p.id for p in page.items])
    return Page[PriceListOut](data=[price_list_out(session, p, counts.get(p.id, 0))
                                    for p in page.items], next_cursor=page.next_cursor)


@router.get("/price-lists/{price_list_id}", response_model=PriceListOut)
def get_price_list(price_list_id: str, response: Response, *, _: Principal = Depends(READ),
                   session: DbSession) -> PriceListOut:
    price_list = pricing.get_price_list(session, price_list_id)
    set_etag(response, price_list)
    return price_list_out(session, price_list)


@router.patch("/price-lists/{price_list_id}", response_model=PriceListOut,
              summary="Change a price list (If-Match supported)")
def update_price_list(price_list_id: str, body: PriceListUpdate, request: Request,
                      response: Response, *, _: Principal = Depends(WRITE),
                      session: DbSession) -> PriceListOut:
    price_list = pricing.get_price_list(session, price_list_id)
    check_if_match(request, price_list)
    pricing.update_price_list(session, price_list, body)
    set_etag(response, price_list)
    return price_list_out(session, price_list)


@router.delete("/price-lists/{price_list_id}", status_code=NO_CONTENT)
def delete_price_list(price_list_id: str, request: Request, *, _: Principal = Depends(WRITE),
                      session: DbSession) -> Response:
    price_list = pricing.get_price_list(session, price_list_id)
    check_if_match(request, price_list)
    pricing.delete_price_list(session, price_list)
    return Response(status_code=NO_CONTENT)


@router.get("/price-lists/{price_list_id}/entries", response_model=Page[EntryOut],
            summary="The list's prices, by SKU and quantity break")
def list_entries(price_list_id: str, *, params: PageParams = Depends(page_params),
                 sku: str | None = Query(None, max_length=100), _: Principal = Depends(READ),
                 session: DbSession) -> Page[EntryOut]:
    price_list = pricing.get_price_list(session, price_list_id)
    return pricing.list_entries(session, price_list, params, sku=sku).to_page(EntryOut)


@router.put("/price-lists/{price_list_id}/entries", response_model=EntriesOut,
            summary="Set many prices by SKU at once (all or none)")
def set_entries(price_list_id: str, body: EntriesIn, *, _: Principal = Depends(WRITE),
                session: DbSession) -> EntriesOut:
    price_list = pricing.get_price_list(session, price_list_id)
    changed, removed = pricing.set_entries(session, price_list, body.entries,
                                           replace=body.replace)
    return EntriesOut(set=changed, removed=removed)


@router.delete("/price-lists/{price_list_id}/entries/{price_list_entry_id}",
               status_code=NO_CONTENT)
def delete_entry(price_list_id: str, price_list_entry_id: str, *, _: Principal = Depends(WRITE),
                 session: DbSession) -> Response:
    price_list = pricing.get_price_list(session, price_list_id)
    pricing.delete_entry(session, price_list, price_list_entry_id)
    return Response(status_code=NO_CONTENT)


# -- pricing rules ------------------------------------------------------------------------------

@router.post("/pricing-rules", response_model=PricingRuleOut,
             status_code=status.HTTP_201_CREATED)
def create_rule(body: PricingRuleIn, response: Response, *, _: Principal = Depends(WRITE),
                session: DbSession) -> PricingRuleOut:
    rule = pricing.create_rule(session, body)
    set_etag(response, rule)
    return rule_out(rule)


@router.get("/pricing-rules", response_model=Page[PricingRuleOut])
def list_rules(*, params: PageParams = Depends(page_params), active: bool | None = Query(None),
               _: Principal = Depends(READ),
               session: DbSession) -> Page[PricingRuleOut]:
    return pricing.list_rules(session, params, active=active).to_page(PricingRuleOut, rule_out)


@router.get("/pricing-rules/{pricing_rule_id}", response_model=PricingRuleOut)
def get_rule(pricing_rule_id: str, response: Response, *, _: Principal = Depends(READ),
             session: DbSession) -> PricingRuleOut:
    rule = pricing.get_rule(session, pricing_rule_id)
    set_etag(response, rule)
    return rule_out(rule)


@router.patch("/pricing-rules/{pricing_rule_id}", response_model=PricingRuleOut)
def update_rule(pricing_rule_id: str, body: PricingRuleUpdate, request: Request,
                response: Response, *, _: Principal = Depends(WRITE),
                session: DbSession) -> PricingRuleOut:
    rule = pricing.get_rule(session, pricing_rule_id)
    check_if_match(request, rule)
    pricing.update_rule(session, rule, body)
    set_etag(response, rule)
    return rule_out(rule)


@router.delete("/pricing-rules/{pricing_rule_id}", status_code=NO_CONTENT)
def delete_rule(pricing_rule_id: str, request: Request, *, _: Principal = Depends(WRITE),
                session: DbSession) -> Response:
    rule = pricing.get_rule(session, pricing_rule_id)
    check_if_match(request, rule)
    pricing.delete_rule(session, rule)
    return Response(status_code=NO_CONTENT)

