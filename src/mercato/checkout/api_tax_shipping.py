"""Admin routes: tax settings and rates, shipping zones and methods."""

from __future__ import annotations

from fastapi import APIRouter

from mercato.core.uow import MercatoRoute

router = APIRouter(prefix="/api/v1", route_class=MercatoRoute, tags=["tax and shipping"])
