"""HTTP surface of inventory transfers and cycle counts (mounted by ``inventory.api``)."""

from __future__ import annotations

from fastapi import APIRouter

from mercato.core.uow import MercatoRoute

router = APIRouter(prefix="/api/v1", route_class=MercatoRoute, tags=["inventory"])
