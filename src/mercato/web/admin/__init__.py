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
    settings_audit,
    settings_payments,
    settings_places,
    settings_pricing,
    settings_staff,
)

router = APIRouter()
for part in (auth, dashboard, reports, products, imports, inventory, orders, customers, channels,
             settings, settings_staff, settings_places, settings_payments, settings_pricing,
             settings_audit):
    router.include_router(part.router)
