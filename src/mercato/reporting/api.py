"""HTTP surface of the reports: ``GET /api/v1/reports/sales`` (JSON or CSV)."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from fastapi import APIRouter, Depends, Query, Request, Response

from mercato.core.auth import require
from mercato.core.principal import Principal
from mercato.core.query import CSV_FORMAT, CSV_RESPONSES, csv_response, wants_csv
from mercato.core.uow import DbSession, MercatoRoute
from mercato.reporting import service
from mercato.reporting.schemas import SalesReportOut, SalesRowOut

router = APIRouter(prefix="/api/v1", route_class=MercatoRoute, tags=["reports"])
READ = require("reports:read")


def _row(row: service.SalesRow) -> SalesRowOut:
    return SalesRowOut(key=row.key, label=row.label, orders=row.orders, units=row.units,
                       amount=row.amount)


@router.get(
    "/reports/sales", response_model=SalesReportOut,
    responses=CSV_RESPONSES, summary="Net sales by day, channel or product",
    description="Sales of the orders placed from `from` to `to` (both included, days in the "
    "organization's time zone; default: the 30 days ending today), in its default currency: "
    "after discounts, cancellations and refunds, before tax and shipping; cancelled orders "
    "left out. `group_by=day` answers every day of the range, those without sales too; "
    "`channel` and `product` the biggest first. `from` after `to`, or more than 366 days: "
    "422. As CSV with `Accept: text/csv` or `format=csv` (one line per row, then `total`).")
def sales_report(
    request: Request,
    *, from_: dt.date | None = Query(None, alias="from", description="First day (YYYY-MM-DD)."),
    to: dt.date | None = Query(None, description="Last day, included (YYYY-MM-DD)."),
    group_by: Literal["day", "channel", "product"] = Query("day"),
    format: Literal["json", "csv"] | None = CSV_FORMAT,
    principal: Principal = Depends(READ),
    session: DbSession,
) -> SalesReportOut | Response:
    report = service.sales(session, principal.organization_id, start=from_, end=to,
                           group_by=group_by)
    if wants_csv(request, format):
        return csv_response(service.sales_csv(report), service.csv_name(report))
    return SalesReportOut(
        from_=report.start, to=report.end, group_by=report.group_by, currency=report.currency,
        time_zone=report.time_zone, rows=[_row(r) for r in report.rows],
        totals=_row(report.totals), other_currencies=report.other_currencies)
