"""Product reviews: shoppers write them, staff moderate them."""

from __future__ import annotations

from fastapi import APIRouter

from mercato.core.uow import MercatoRoute

router = APIRouter(prefix="/api/v1", route_class=MercatoRoute, tags=["reviews"])
store_router = APIRouter(prefix="/store/v1/{store}", route_class=MercatoRoute, tags=["storefront"])
