"""The admin's settings pages."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from mercato.core.uow import MercatoRoute
from mercato.web.session import StaffSession, staff_page
from mercato.web.templating import render

router = APIRouter(route_class=MercatoRoute, include_in_schema=False)


@router.get("/admin/settings", response_class=HTMLResponse)
def settings_index(request: Request,
                  staff: StaffSession = Depends(staff_page("organization:read"))) -> Response:
    return render(request, "admin/settings/index.html", {})
