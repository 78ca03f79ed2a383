"""Admin routes: price lists, pricing rules, promotions."""

from __future__ import annotations

from fastapi import APIRouter

from mercato.core.uow import MercatoRoute

router = APIRouter(prefix="/api/v1", route_class=MercatoRoute, tags=["pricing"])
