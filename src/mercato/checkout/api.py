"""The checkout module's routers: storefront carts and checkout (``cart.api``) and, under
``/api/v1``, the admin routes of pricing, promotions, tax and shipping, in that order."""

from __future__ import annotations

from fastapi import APIRouter

from mercato.checkout.cart.api import store_router
from mercato.checkout.pricing import api as pricing
from mercato.checkout.promotions import api as promotions
from mercato.checkout.shipping import api as shipping
from mercato.checkout.tax import api as tax
from mercato.core.uow import MercatoRoute

__all__ = ["router", "store_router"]

router = APIRouter(prefix="/api/v1", route_class=MercatoRoute, tags=["checkout"])
router.include_router(pricing.router)
router.include_router(promotions.router)
router.include_router(tax.router)
router.include_router(shipping.router)
