"""Reporting: sales by day, channel and product, in the organization's time zone and currency,
and the numbers the admin's dashboard shows. It owns no tables: its rows come from orders'
face (``orders.sales_lines``), names from inventory's and catalog's.

This package is reporting's face:

- ``sales(session, organization_id, start=, end=, group_by=)`` -> ``SalesReport`` (``rows``
  of ``SalesRow``: key, label, orders, units, amount; ``totals``): the sales report that
  ``GET /api/v1/reports/sales`` serves.
- ``dashboard(session, organization_id, today=)`` -> ``Dashboard``: sales today, and over the
  30 days ending today by channel and by day (plain data for the admin's page).
- ``GROUPS``, ``MAX_DAYS``: the groupings and the longest range a report takes.
"""

from __future__ import annotations

from mercato.reporting.service import (
    GROUPS,
    MAX_DAYS,
    Dashboard,
    SalesReport,
    SalesRow,
    dashboard,
    sales,
)

__all__ = ["GROUPS", "MAX_DAYS", "Dashboard", "SalesReport", "SalesRow", "dashboard", "sales"]
