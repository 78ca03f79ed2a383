"""Admin routes of promotions and their redemptions."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Request, Response, status

from mercato.checkout.pricing.schemas import ScopeOut
from mercato.checkout.promotions import service as promotions
from mercato.checkout.promotions.models import Promotion
from mercato.checkout.promotions.schemas import (
    PromotionIn,
    PromotionOut,
    PromotionUpdate,
    RedemptionOut,
)
from mercato.core.auth import require
from mercato.core.etag import check_if_match, set_etag
from mercato.core.pagination import Page, PageParams
from mercato.core.principal import Principal
from mercato.core.query import page_params
from mercato.core.uow import DbSession, MercatoRoute

# under checkout.api's /api/v1, after pricing's routes (same tag and permissions)
router = APIRouter(route_class=MercatoRoute, tags=["pricing"])
READ, WRITE = require("pricing:read"), require("pricing:write")
NO_CONTENT = status.HTTP_204_NO_CONTENT


def promotion_out(promotion: Promotion) -> PromotionOut:
    return PromotionOut(
        id=promotion.id, title=promotion.title, kind=promotion.kind,
        value=promotion.value, currency=promotion.currency,
        codes=[c.code for c in promotion.codes], automatic=not promotion.codes,
        scope=ScopeOut(kind=promotion.scope_kind,
                       values=promotion.scope_values),
        buy_quantity=promotion.buy_quantity, get_quantity=promotion.get_quantity,
        min_subtotal=promotion.min_subtotal, starts_at=promotion.starts_at,
        ends_at=promotion.ends_at, usage_limit=promotion.usage_limit,
        per_customer_limit=promotion.per_customer_limit, used=promotion.used,
        stacking=promotion.stacking, priority=promotion.priority,
        active=promotion.active, created_at=promotion.created_at,
        updated_at=promotion.updated_at)


# -- promotions ---------------------------------------------------------------------------------

@router.post("/promotions", response_model=PromotionOut, status_code=status.HTTP_201_CREATED,
             responses={409: {"description": "A code belongs to another promotion"}})
def create_promotion(body: PromotionIn, response: Response, *, _: Principal = Depends(WRITE),
                     session: DbSession) -> PromotionOut:
    promotion = promotions.create_promotion(session, body)
    set_etag(response, promotion)
    return promotion_out(promotion)


@router.get("/promotions", response_model=Page[PromotionOut])
def list_promotions(*, params: PageParams = Depends(page_params),
                    active: bool | None = Query(None),
                    code: str | None = Query(None, max_length=50,
                                             description="Has this code (any case)."),
                    _: Principal = Depends(READ),
                    session: DbSession) -> Page[PromotionOut]:
    return promotions.list_promotions(session, params, active=active, code=code).to_page(
        PromotionOut, promotion_out)


@router.get("/promotions/{promotion_id}", response_model=PromotionOut)
def get_promotion(promotion_id: str, response: Response, *, _: Principal = Depends(READ),
                  session: DbSession) -> PromotionOut:
    promotion = promotions.get_promotion(session, promotion_id)
    set_etag(response, promotion)
    return promotion_out(promotion)


@router.patch("/promotions/{promotion_id}", response_model=PromotionOut,
              responses={409: {"description": "A code belongs to another promotion"}})
def update_promotion(promotion_id: str, body: PromotionUpdate, request: Request,
                     response: Response, *, _: Principal = Depends(WRITE),
                     session: DbSession) -> PromotionOut:
    promotion = promotions.get_promotion(session, promotion_id)
    check_if_match(request, promotion)
    promotions.update_promotion(session, promotion, body)
    set_etag(response, promotion)
    return promotion_out(promotion)


@router.delete("/promotions/{promotion_id}", status_code=NO_CONTENT,
               responses={409: {"description": "It has been redeemed: deactivate it instead"}})
def delete_promotion(promotion_id: str, request: Request, *, _: Principal = Depends(WRITE),
                     session: DbSession) -> Response:
    promotion = promotions.get_promotion(session, promotion_id)
    check_if_match(request, promotion)
    promotions.delete_promotion(session, promotion)
    return Response(status_code=NO_CONTENT)


@router.get("/promotions/{promotion_id}/redemptions", response_model=Page[RedemptionOut],
            summary="The orders that used the promotion, newest first")
def list_redemptions(promotion_id: str, *, params: PageParams = Depends(page_params),
                     _: Principal = Depends(READ),
                     session: DbSession) -> Page[RedemptionOut]:
    promotion = promotions.get_promotion(session, promotion_id)
    return promotions.list_redemptions(session, promotion, params).to_page(RedemptionOut)
