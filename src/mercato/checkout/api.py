"""The checkout module's routers: storefront carts (``cart.api``) and checkout itself (here,
after the carts' routes, since checkout's steps sit above the cart) and, under ``/api/v1``,
the admin routes of pricing, promotions, tax and shipping, in that order."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request, Response, status
from fastapi.responses import JSONResponse

from mercato.checkout import complete
from mercato.checkout.cart import service
from mercato.checkout.cart.api import editable, settings_of, store_router
from mercato.checkout.cart.schemas import CheckoutIn, CheckoutOut, CheckoutPending
from mercato.checkout.cart.service import public_payment
from mercato.checkout.pricing import api as pricing
from mercato.checkout.promotions import api as promotions
from mercato.checkout.shipping import api as shipping
from mercato.checkout.tax import api as tax
from mercato.core.uow import DbSession, MercatoRoute
from mercato.identity import Shopper
from mercato.identity.deps import optional_customer
from mercato.orders import ShopperOrderOut
from mercato.tenancy import Store
from mercato.tenancy.deps import current_store

__all__ = ["router", "store_router"]

router = APIRouter(prefix="/api/v1", route_class=MercatoRoute, tags=["checkout"])
router.include_router(pricing.router)
router.include_router(promotions.router)
router.include_router(tax.router)
router.include_router(shipping.router)


@store_router.post("/carts/{cart_id}/checkout", response_model=CheckoutOut, status_code=201,
                   responses={200: {"model": CheckoutOut,
                                    "description": "The order this cart made earlier"},
                              202: {"model": CheckoutPending}},
                   summary="Buy the cart: stock held, order made, payment taken")
def checkout(cart_id: str, body: CheckoutIn, request: Request, response: Response,
             *, store: Store = Depends(current_store),
             shopper: Shopper | None = Depends(optional_customer),
             session: DbSession) -> Any:
    if body.email is not None:
        cart = editable(request, session, cart_id, shopper)
        service.set_email(cart, body.email)
        session.flush()
    details = body.payment.model_dump(exclude={"method"})
    outcome = complete.start(session, store.organization_id, cart_id, shopper,
                             method=body.payment.method, details=details,
                             settings=settings_of(request))
    if outcome.order is None:
        pending = CheckoutPending(status="requires_action", cart_id=outcome.cart.id,
                                  payment=public_payment(outcome.payment))
        return JSONResponse(pending.model_dump(mode="json"), status_code=202)
    if not outcome.created:
        response.status_code = status.HTTP_200_OK
    return CheckoutOut(**ShopperOrderOut.model_validate(outcome.order).model_dump(),
                       payment=public_payment(outcome.payment))
