"""The dashboard: what a store's staff look at first — sales, orders needing action, low stock,
channel connections and their health, recent imports.

Each panel is one face call (reporting, orders, inventory, channels, catalog); a role sees only
the panels its permissions open, and a role without ``reports:read`` starts on the page it works
on.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from mercato import catalog, channels, reporting
from mercato.channels import service as channels_service
from mercato.core.pagination import PageParams
from mercato.core.uow import DbSession, MercatoRoute
from mercato.inventory import service as inventory
from mercato.orders import service as orders
from mercato.web.session import StaffSession, staff_page
from mercato.web.templating import formats_of, redirect, render

router = APIRouter(route_class=MercatoRoute, include_in_schema=False)

PANEL_ROWS = 5


def _bars(rows: list[reporting.SalesRow], money: Any, head: str) -> list[dict[str, Any]]:
    return [{"label": row.label, "value": float(row.amount), "shown": money(row.amount),
             "head": head, "orders": row.orders, "units": row.units} for row in rows]


@router.get("/admin", response_class=HTMLResponse)
def dashboard(request: Request, session: DbSession,
              staff: StaffSession = Depends(staff_page())) -> Response:
    if not staff.can("reports:read"):  # a role without reports starts where it works
        for href, permission in (("/admin/orders", "orders:read"),
                                 ("/admin/products", "catalog:read")):
            if staff.can(permission):
                return redirect(href)
        return render(request, "admin/dashboard.html", {"sales": None, "panels": {}})
    fmt = formats_of(request)
    sales = reporting.dashboard(session, staff.principal.organization_id)
    money = lambda amount: fmt.money(amount, sales.currency)  # noqa: E731
    panels: dict[str, Any] = {}
    if staff.can("orders:read"):
        first = PageParams(limit=PANEL_ROWS, cursor=None)
        panels["unfulfilled"] = orders.list_orders(session, first, status="open",
                                                   fulfillment_status="unfulfilled")
        panels["oversold"] = orders.list_orders(session, first, flag="oversold",
                                                status="open")
    if staff.can("inventory:read"):
        panels["low_stock"] = inventory.low_stock(session, None)[:PANEL_ROWS * 2]
    if staff.can("channels:read"):
        panels["channels"] = [
            {"channel_id": channel_id, "platform": c.platform, "account": c.account,
             "health": channels_service.health_of(c)}
            for channel_id, c in channels.connections_by_channel(session).items()]
    if staff.can("catalog:read"):
        panels["imports"] = catalog.list_import_jobs(
            session, PageParams(limit=PANEL_ROWS, cursor=None)).items
    return render(request, "admin/dashboard.html", {
        "sales": sales, "panels": panels,
        "by_channel": _bars(sales.by_channel, money, "Channel"),
        "by_day": _bars(sales.by_day, money, "Day"), "money": money})


@router.get("/admin/", include_in_schema=False)
async def dashboard_slash() -> Response:
    return redirect("/admin")


@router.get("/", include_in_schema=False)
async def root() -> Response:
    """The address a new user opens first: the admin (the storefront lives under ``/s/``)."""
    return redirect("/admin")
