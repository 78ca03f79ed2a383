"""The admin: the pages a store's staff run Mercato from (``/admin``)."""

from __future__ import annotations

from fastapi import APIRouter

from mercato.web.admin import (
    auth,
    channels,
    customers,
    dashboard,
    imports,
    inventory,
    orders,
    products,
    reports,
    settings,
)

router = APIRouter()
for part in (auth, dashboard, reports, products, imports, inventory, orders, customers, channels,
             settings):
    router.include_router(part.router)
