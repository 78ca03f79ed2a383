"""The admin's channels pages."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from mercato.core.uow import MercatoRoute
from mercato.web.session import StaffSession, staff_page
from mercato.web.templating import render

router = APIRouter(route_class=MercatoRoute, include_in_schema=False)


@router.get("/admin/channels", response_class=HTMLResponse)
def channels_index(request: Request,
                  staff: StaffSession = Depends(staff_page("channels:read"))) -> Response:
    return render(request, "admin/channels/index.html", {})
