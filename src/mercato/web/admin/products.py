"""The admin's products pages."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from mercato.core.uow import MercatoRoute
from mercato.web.session import StaffSession, staff_page
from mercato.web.templating import render

router = APIRouter(route_class=MercatoRoute, include_in_schema=False)


@router.get("/admin/products", response_class=HTMLResponse)
def products_index(request: Request,
                  staff: StaffSession = Depends(staff_page("catalog:read"))) -> Response:
    return render(request, "admin/products/index.html", {})
