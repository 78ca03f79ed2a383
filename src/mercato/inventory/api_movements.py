"""HTTP surface of inventory transfers and cycle counts (mounted by ``inventory.api``)."""

from __future__ import annotations

from fastapi import APIRouter

from mercato.core.uow import MercatoRoute

router = APIRouter(route_class=MercatoRoute, tags=["inventory"])  # under inventory.api's /api/v1
