"""The admin: the pages a store's staff run Mercato from (``/admin``)."""

from __future__ import annotations

from fastapi import APIRouter

from mercato.web.admin import (
    auth,
    categories,
    channels,
    collections,
    customers,
    dashboard,
    digital,
    imports,
    inventory,
    media,
    orders,
    plugins,
    product_types,
    products,
    reports,
    settings,
    settings_audit,
    settings_payments,
    settings_places,
    settings_pricing,
    settings_staff,
    workflows,
)
from mercato.web.routing import fenced

routers: list[APIRouter] = [
    fenced(part.router)
    for part in (auth, dashboard, reports, products, product_types, categories, collections,
                 media, imports, inventory, orders, customers, channels, settings,
                 settings_staff, settings_places, settings_payments, settings_pricing,
                 settings_audit, plugins, workflows, digital)]
"""Every area's router, each behind a fence of its own paths (``web.routing``)."""
routers.append(fenced(media.files))
