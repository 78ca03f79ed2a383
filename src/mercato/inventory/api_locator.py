"""The store locator: a store's public locations, nearest first."""

from __future__ import annotations

from fastapi import APIRouter

from mercato.core.uow import MercatoRoute

store_router = APIRouter(prefix="/store/v1/{store}", route_class=MercatoRoute, tags=["storefront"])
