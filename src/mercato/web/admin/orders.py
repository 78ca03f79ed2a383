"""The admin's orders pages."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from mercato.core.uow import MercatoRoute
from mercato.web.session import StaffSession, staff_page
from mercato.web.templating import render

router = APIRouter(route_class=MercatoRoute, include_in_schema=False)


@router.get("/admin/orders", response_class=HTMLResponse)
def orders_index(request: Request,
                  staff: StaffSession = Depends(staff_page("orders:read"))) -> Response:
    return render(request, "admin/orders/index.html", {})
