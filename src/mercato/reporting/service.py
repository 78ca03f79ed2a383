"""Sales reports: what orders sold, by day in the organization's time zone, by channel or by
product, in its default currency; and the few numbers the admin's dashboard shows.

The rows come from orders' face (``orders.sales_lines``: per order line, net of discounts,
cancellations and refunds, cancelled orders left out); days are bucketed here, in Python, by
converting each order's UTC ``placed_at`` to the organization's zone (``zoneinfo``), so a day
is exactly midnight to midnight there, on SQLite and PostgreSQL alike, across DST changes.
Orders in other currencies than the organization's default are not added in (there is no rate
to convert them with); ``other_currencies`` names those met.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Callable, Iterable, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Literal, get_args
from zoneinfo import ZoneInfo

from babel.dates import format_date
from sqlalchemy.orm import Session

from mercato import inventory, orders, tenancy
from mercato.catalog.service import sale_items
from mercato.core import csvcells
from mercato.core.errors import NotFound, ValidationFailed

GroupBy = Literal["day", "channel", "product"]
GROUPS: tuple[str, ...] = get_args(GroupBy)
MAX_DAYS = 366
"""The longest range a report covers, in days (both ends counted)."""
DEFAULT_DAYS = 30
"""A report without dates covers this many days, ending today."""
EARLIEST, LATEST = dt.date(1900, 1, 1), dt.date(9999, 12, 30)
"""The days a report may name (the day after ``LATEST`` still has a start in every zone)."""
ZERO = Decimal("0.00")
_CHUNK = 500  # ids per catalog lookup


@dataclass
class SalesRow:
    """One bucket: distinct orders with a line in it, units sold and their net amount."""

    key: str
    label: str
    orders: int = 0
    units: int = 0
    amount: Decimal = ZERO


@dataclass
class SalesReport:
    start: dt.date
    end: dt.date
    group_by: str
    currency: str
    time_zone: str
    rows: list[SalesRow]
    totals: SalesRow
    other_currencies: list[str] = field(default_factory=list)


@dataclass
class Dashboard:
    """What the admin's dashboard shows of sales: today, and the last 30 days by channel and
    by day (every day, oldest first), in the organization's currency and time zone."""

    today: dt.date
    currency: str
    time_zone: str
    locale: str
    sales_today: SalesRow
    by_channel: list[SalesRow]
    by_day: list[SalesRow]
    totals: SalesRow
    other_currencies: list[str] = field(default_factory=list)


def local_today(zone: ZoneInfo) -> dt.date:
    return dt.datetime.now(zone).date()


def window(start: dt.date, end: dt.date, zone: ZoneInfo) -> tuple[dt.datetime, dt.datetime]:
    """The UTC instants from the start of local day ``start`` to the start of the day after
    ``end`` (a midnight a DST change skips is taken as the first instant of that day)."""
    def begin(day: dt.date) -> dt.datetime:
        return dt.datetime.combine(day, dt.time(), zone).astimezone(dt.UTC)
    return begin(start), begin(end + dt.timedelta(days=1))


def dates(start: dt.date | None, end: dt.date | None, today: dt.date) -> tuple[dt.date, dt.date]:
    """The range asked: ``to`` defaults to today and ``from`` to 30 days ending ``to``; 422
    when ``from`` is after ``to``, the range is longer than ``MAX_DAYS`` or a day is outside
    ``EARLIEST`` .. ``LATEST``."""
    end = end or today
    _within("to", end)
    start = start or end - dt.timedelta(days=DEFAULT_DAYS - 1)
    _within("from", start)
    if start > end:
        raise ValidationFailed("The range starts after it ends.", errors=[
            {"field": "from", "message": f"{start.isoformat()} is after to "
                                         f"({end.isoformat()})"}])
    if (end - start).days + 1 > MAX_DAYS:
        raise ValidationFailed(f"A report covers at most {MAX_DAYS} days.", errors=[
            {"field": "to", "message": f"the range has {(end - start).days + 1} days, at most "
                                       f"{MAX_DAYS}"}])
    return start, end


def _within(field_name: str, day: dt.date) -> None:
    if not EARLIEST <= day <= LATEST:
        raise ValidationFailed(f"Reports cover {EARLIEST.isoformat()} to {LATEST.isoformat()}.",
                               errors=[{"field": field_name, "message": f"{day.isoformat()} "
                                        f"is not between {EARLIEST.isoformat()} and "
                                        f"{LATEST.isoformat()}"}])


class _Buckets:
    def __init__(self) -> None:
        self.rows: dict[str, SalesRow] = {}
        self.orders: dict[str, set[str]] = {}

    def add(self, key: str, label: str, line: orders.SalesLine) -> None:
        row = self.rows.get(key)
        if row is None:
            row = self.rows[key] = SalesRow(key, label)
            self.orders[key] = set()
        self.orders[key].add(line.order_id)
        row.units += line.units
        row.amount += line.amount

    def done(self) -> dict[str, SalesRow]:
        for key, row in self.rows.items():
            row.orders = len(self.orders[key])
        return self.rows


def _channel_labels(session: Session, lines: Iterable[orders.SalesLine]) -> dict[str, str]:
    """A sales channel's name for each channel id met (a source name stands for itself)."""
    labels: dict[str, str] = {}
    for line in lines:
        if line.channel in labels:
            continue
        labels[line.channel] = line.channel
        if line.channel_id is not None:
            with suppress(NotFound):  # a channel deleted since keeps its id as its name
                labels[line.channel] = inventory.get_channel(session, line.channel_id).name
    return labels


def _products(session: Session,
              lines: Sequence[orders.SalesLine]) -> dict[str, tuple[str, str]]:
    """(key, label) for each variant id: its product's id and current title; a variant no
    longer in the catalog stands for itself, under the title the order recorded."""
    ids = sorted({line.variant_id for line in lines})
    found: dict[str, tuple[str, str]] = {}
    for i in range(0, len(ids), _CHUNK):
        for variant_id, item in sale_items(session, ids=ids[i:i + _CHUNK]).items():
            found[variant_id] = (item.product_id, item.product_title)
    for line in lines:
        found.setdefault(line.variant_id, (f"variant:{line.variant_id}", line.title))
    return found


def _split(lines: Iterable[orders.SalesLine],
           currency: str) -> tuple[list[orders.SalesLine], list[str]]:
    kept, others = [], set()
    for line in lines:
        if line.currency == currency:
            kept.append(line)
        else:
            others.add(line.currency)
    return kept, sorted(others)


def _by_day(lines: Iterable[orders.SalesLine], start: dt.date, end: dt.date, zone: ZoneInfo,
            locale: str) -> list[SalesRow]:
    buckets = _Buckets()
    for line in lines:
        day = line.placed_at.astimezone(zone).date()
        if start <= day <= end:
            buckets.add(day.isoformat(), "", line)
    found = buckets.done()
    rows = []
    for offset in range((end - start).days + 1):
        day = start + dt.timedelta(days=offset)
        row = found.get(day.isoformat()) or SalesRow(day.isoformat(), "")
        row.label = format_date(day, format="medium", locale=locale)
        rows.append(row)
    return rows


def _grouped(lines: Iterable[orders.SalesLine],
             key: Callable[[orders.SalesLine], tuple[str, str]]) -> list[SalesRow]:
    """Rows by ``key`` (key, label), the biggest amount first."""
    buckets = _Buckets()
    for line in lines:
        buckets.add(*key(line), line)
    return sorted(buckets.done().values(), key=lambda r: (-r.amount, r.label, r.key))


def _totals(lines: Sequence[orders.SalesLine]) -> SalesRow:
    buckets = _Buckets()
    for line in lines:
        buckets.add("total", "Total", line)
    return buckets.done().get("total") or SalesRow("total", "Total")


def _in_range(lines: Iterable[orders.SalesLine], start: dt.date, end: dt.date,
              zone: ZoneInfo) -> list[orders.SalesLine]:
    return [line for line in lines if start <= line.placed_at.astimezone(zone).date() <= end]


def sales(session: Session, organization_id: str, *, start: dt.date | None = None,
          end: dt.date | None = None, group_by: str = "day",
          today: dt.date | None = None) -> SalesReport:
    """Net sales from local day ``start`` to local day ``end`` (both included; defaults: the
    30 days ending today), grouped by ``day`` (every day of the range, those without sales
    too), ``channel`` or ``product`` (biggest first). 422 on a bad range or grouping."""
    if group_by not in GROUPS:
        raise ValidationFailed(f"Cannot group by {group_by!r}.", errors=[
            {"field": "group_by", "message": f"one of {', '.join(GROUPS)}"}])
    settings = tenancy.organization_settings(session, organization_id)
    zone = ZoneInfo(settings.time_zone)
    start, end = dates(start, end, today or local_today(zone))
    lines, others = _split(orders.sales_lines(session, *window(start, end, zone)),
                           settings.currency)
    lines = _in_range(lines, start, end, zone)
    if group_by == "day":
        rows = _by_day(lines, start, end, zone, settings.locale)
    elif group_by == "channel":
        labels = _channel_labels(session, lines)
        rows = _grouped(lines, lambda line: (line.channel, labels[line.channel]))
    else:
        products = _products(session, lines)
        rows = _grouped(lines, lambda line: products[line.variant_id])
    return SalesReport(start=start, end=end, group_by=group_by, currency=settings.currency,
                       time_zone=settings.time_zone, rows=rows, totals=_totals(lines),
                       other_currencies=others)


def dashboard(session: Session, organization_id: str, *,
              today: dt.date | None = None) -> Dashboard:
    """Sales today and over the 30 days ending today (by channel, and by day), in the
    organization's time zone and currency; ``today`` defaults to the local date now. Reads the
    organization, the orders (two queries) and the names of the sales channels met."""
    settings = tenancy.organization_settings(session, organization_id)
    zone = ZoneInfo(settings.time_zone)
    today = today or local_today(zone)
    start = today - dt.timedelta(days=DEFAULT_DAYS - 1)
    lines, others = _split(orders.sales_lines(session, *window(start, today, zone)),
                           settings.currency)
    lines = _in_range(lines, start, today, zone)
    labels = _channel_labels(session, lines)
    todays = [line for line in lines if line.placed_at.astimezone(zone).date() == today]
    sold_today = _totals(todays)
    sold_today.key, sold_today.label = today.isoformat(), "Today"
    return Dashboard(
        today=today, currency=settings.currency, time_zone=settings.time_zone,
        locale=settings.locale, sales_today=sold_today,
        by_channel=_grouped(lines, lambda line: (line.channel, labels[line.channel])),
        by_day=_by_day(lines, start, today, zone, settings.locale), totals=_totals(lines),
        other_currencies=others)


CSV_COLUMNS = ("key", "label", "orders", "units", "amount", "currency")


def sales_csv(report: SalesReport) -> str:
    """One line per row, then the totals (key ``total``); amounts as decimal strings. The
    API and the admin's download are this same file."""
    out = io.StringIO()
    writer = csvcells.Writer(out)
    writer.writerow(CSV_COLUMNS)
    for row in [*report.rows, report.totals]:
        writer.writerow([row.key, row.label, row.orders, row.units, f"{row.amount:.2f}",
                         report.currency])
    return out.getvalue()


def csv_name(report: SalesReport) -> str:
    return f"sales-{report.group_by}-{report.start.isoformat()}-{report.end.isoformat()}.csv"
