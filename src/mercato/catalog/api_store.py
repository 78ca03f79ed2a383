"""The published catalog for shoppers: products the web channel sells, with price and whether
they can be bought now."""

from __future__ import annotations

from fastapi import APIRouter

from mercato.core.uow import MercatoRoute

store_router = APIRouter(prefix="/store/v1/{store}", route_class=MercatoRoute, tags=["storefront"])
