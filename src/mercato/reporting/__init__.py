"""Reporting: sales by day, channel and product, in the organization's time zone and currency,
and the numbers the admin's dashboard shows. It owns no tables: its rows come from orders'
face (``orders.sales_lines``), names from inventory's and catalog's.

This package is reporting's face:

- ``sales(session, organization_id, start=, end=, group_by=)`` -> ``SalesReport`` (``rows``
  of ``SalesRow``: key, label, orders, units, amount; ``totals``): the sales report that
  ``GET /api/v1/reports/sales`` serves.
- ``dashboard(session, organization_id, today=)`` -> ``Dashboard``: sales today, and over the
  30 days ending today by channel and by day (plain data for the admin's page).
- ``sales_csv(report)``, ``csv_name(report)``: the report as the CSV file both the API and
  the admin's download give.
- ``GROUPS``, ``MAX_DAYS``: the groupings and the longest range a report takes.
"""

from __future__ import annotations

from mercato.reporting.service import (
    GROUPS,
    MAX_DAYS,
    Dashboard,
    SalesReport,
    SalesRow,
    csv_name,
    dashboard,
    sales,
    sales_csv,
)

__all__ = ["GROUPS", "MAX_DAYS", "Dashboard", "SalesReport", "SalesRow", "csv_name", "dashboard",
           "sales", "sales_csv"]
