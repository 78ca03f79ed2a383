"""The admin's sales report: the same report as ``GET /api/v1/reports/sales``, with its CSV."""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from mercato import inventory, reporting
from mercato.core.errors import ValidationFailed
from mercato.core.query import csv_response
from mercato.core.uow import DbSession, MercatoRoute
from mercato.web.session import StaffSession, staff_page
from mercato.web.templating import errors_of, form_errors, formats_of, render

router = APIRouter(route_class=MercatoRoute, include_in_schema=False)


def _date(value: str | None, field: str, errors: list[dict[str, str]]) -> dt.date | None:
    if not value:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        errors.append({"field": field, "message": "Enter a date as YYYY-MM-DD."})
        return None


@router.get("/admin/reports/sales", response_class=HTMLResponse)
def sales_page(request: Request, session: DbSession, group_by: str = "day",
               staff: StaffSession = Depends(staff_page("reports:read"))) -> Response:
    values: dict[str, Any] = {"from": request.query_params.get("from", ""),
                              "to": request.query_params.get("to", ""), "group_by": group_by}
    errors: list[dict[str, str]] = []
    start = _date(values["from"], "from", errors)
    end = _date(values["to"], "to", errors)
    if group_by not in reporting.GROUPS:
        errors.append({"field": "group_by", "message": "Choose day, channel or product."})
    report = None
    if not errors:
        try:
            report = reporting.sales(session, staff.principal.organization_id, start=start,
                                     end=end, group_by=group_by)
        except ValidationFailed as exc:
            errors = errors_of(exc)
    if report is not None and request.query_params.get("format") == "csv":
        return csv_response(reporting.sales_csv(report), reporting.csv_name(report))
    by_field, listed = form_errors(errors)
    fmt = formats_of(request)
    bars = [] if report is None else [
        {"label": row.label, "value": float(row.amount),
         "shown": fmt.money(row.amount, report.currency)} for row in report.rows]
    return render(request, "admin/reports/sales.html", {
        "report": report, "bars": bars, "values": values, "errors": by_field,
        "error_list": listed, "groups": reporting.GROUPS},
        status=422 if errors else 200)


@router.get("/admin/reports/valuation", response_class=HTMLResponse)
def valuation_page(request: Request, session: DbSession, location: str = "",
                   staff: StaffSession = Depends(staff_page("reports:read"))) -> Response:
    """The inventory valuation (``GET /api/v1/inventory/valuation``), with its CSV."""
    try:
        report = inventory.valuation(session, location or None)
    except ValidationFailed as exc:
        by_field, listed = form_errors(errors_of(exc))
        return render(request, "admin/reports/valuation.html", {
            "report": None, "values": {"location": location}, "errors": by_field,
            "error_list": listed}, status=422)
    if request.query_params.get("format") == "csv":
        return csv_response(inventory.valuation_csv(report), "inventory-valuation.csv")
    return render(request, "admin/reports/valuation.html", {
        "report": report, "values": {"location": location}})
