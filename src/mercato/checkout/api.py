"""Storefront carts and checkout; the admin routes of pricing, tax and shipping are mounted here."""

from __future__ import annotations

from fastapi import APIRouter

from mercato.checkout import api_pricing, api_tax_shipping
from mercato.core.uow import MercatoRoute

router = APIRouter(prefix="/api/v1", route_class=MercatoRoute, tags=["checkout"])
store_router = APIRouter(prefix="/store/v1/{store}", route_class=MercatoRoute, tags=["storefront"])

router.include_router(api_pricing.router)
router.include_router(api_tax_shipping.router)
