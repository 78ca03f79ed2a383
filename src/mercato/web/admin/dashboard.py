"""The dashboard: what a store's staff look at first."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from mercato.core.uow import MercatoRoute
from mercato.web.session import StaffSession, optional_staff, staff_page
from mercato.web.templating import redirect, render

router = APIRouter(route_class=MercatoRoute, include_in_schema=False)


@router.get("/admin", response_class=HTMLResponse)
def dashboard(request: Request, staff: StaffSession = Depends(staff_page())) -> Response:
    if not staff.can("reports:read"):  # a role without reports starts where it works
        for _label, href, permission in (("orders", "/admin/orders", "orders:read"),
                                        ("products", "/admin/products", "catalog:read")):
            if staff.can(permission):
                return redirect(href)
    return render(request, "admin/dashboard.html", {})


@router.get("/admin/", include_in_schema=False)
async def dashboard_slash(staff: StaffSession | None = Depends(optional_staff)) -> Response:
    return redirect("/admin")


@router.get("/", include_in_schema=False)
async def root() -> Response:
    """The address a new user opens first: the admin (the storefront lives under ``/s/``)."""
    return redirect("/admin")
