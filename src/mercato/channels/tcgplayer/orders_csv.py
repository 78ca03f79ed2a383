"""TCGplayer's order export (a CSV from the seller portal) ingested as orders of a sales
channel of kind ``tcgplayer``.

Each order goes through orders' ``ingest`` with the channel and the order number as its
external id, which dedupes: importing the same file again creates nothing. The layout is not
verified against a real export (TCGplayer documents none publicly), so the reader is lenient:
column names are matched ignoring case, spaces and punctuation, with aliases (``COLUMNS``);
one row per line item, rows of one order grouped by its number wherever they are in the file.
A malformed row fails its own order, never the others, and is reported with its line.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from pydantic import BaseModel, Field, ValidationError
from sqlalchemy.orm import Session

from mercato import catalog, inventory
from mercato.core.errors import MercatoError, ValidationFailed
from mercato.orders import CustomerRef, OrderIn, OrderLineIn, PaymentIn
from mercato.orders import service as orders

KIND = "tcgplayer"
CURRENCY = "USD"
"""TCGplayer's marketplace sells in US dollars."""
MAX_ROWS = 20_000
COLUMNS: dict[str, tuple[str, ...]] = {
    "order": ("ordernumber", "order", "orderid", "orderno"),
    "date": ("orderdate", "date", "placedat", "createdat"),
    "buyer": ("buyername", "customername", "buyer", "customer"),
    "email": ("buyeremail", "customeremail", "email"),
    "product": ("productname", "cardname", "product", "item"),
    "set": ("setname", "set"),
    "condition": ("condition",),
    "quantity": ("quantity", "qty"),
    "price": ("price", "itemprice", "unitprice", "priceeach", "saleprice"),
    "sku": ("sku", "skuid"),
    "tcgplayer_id": ("tcgplayerid", "tcgplayerskuid"),
    "shipping": ("shippingfee", "shipping", "shippingcost"),
}
"""Field → the header names (lower case, letters and digits only: ``Order #`` is ``order``)
that carry it, the first present winning."""
LABELS = {"order": "Order #", "quantity": "Quantity", "sku": "SKU",
          "tcgplayer_id": "TCGplayer Id", "price": "Price", "date": "Order Date",
          "shipping": "Shipping Fee"}
DATE_FORMATS = ("%m/%d/%Y %I:%M:%S %p", "%m/%d/%Y %H:%M:%S", "%m/%d/%Y %H:%M", "%m/%d/%Y",
                "%Y-%m-%d %H:%M:%S", "%Y-%m-%d")


class OrdersCsvError(ValidationFailed):
    """The file as a whole cannot be read: 422 on ``file``, nothing is imported."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail, errors=[{"field": "file", "message": detail}])


class RowErrorOut(BaseModel):
    line: int = Field(description="Line of the file the row starts on (the header is line 1).")
    order_number: str | None
    field: str = Field(description="Column the error is about (empty: the whole row).")
    message: str


class OrderResultOut(BaseModel):
    order_number: str
    outcome: str = Field(description="`created`, `duplicate` (imported before) or `failed`.")
    order_id: str | None


class OrdersImportOut(BaseModel):
    created: int
    duplicates: int
    failed: int
    orders: list[OrderResultOut]
    errors: list[RowErrorOut]


@dataclass
class _Row:
    line: int
    cells: dict[str, str]


@dataclass
class _Result:
    orders: list[OrderResultOut] = field(default_factory=list)
    errors: list[RowErrorOut] = field(default_factory=list)


def _squash(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def _columns(header: list[str]) -> dict[int, str]:
    """Header position → field; raises when the order number, quantity or both line keys
    are missing, or a field's column is given twice."""
    squashed = [_squash(h) for h in header]
    found: dict[int, str] = {}
    for name, aliases in COLUMNS.items():
        present = next((alias for alias in aliases if alias in squashed), None)
        if present is None:
            continue
        if squashed.count(present) > 1:
            raise OrdersCsvError(f"Repeated column: {header[squashed.index(present)]}.")
        found[squashed.index(present)] = name
    have = set(found.values())
    missing = [LABELS[n] for n in ("order", "quantity") if n not in have]
    if not have & {"sku", "tcgplayer_id"}:
        missing.append("SKU or TCGplayer Id")
    if missing:
        raise OrdersCsvError(f"Not a TCGplayer order file: no {', '.join(missing)} column.")
    return found


def read_rows(content: bytes) -> list[_Row]:
    """The file's data rows with their fields (``COLUMNS``) and starting lines."""
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise OrdersCsvError(f"The file is not UTF-8 (byte {exc.start}).") from None
    if "\x00" in text:
        raise OrdersCsvError("The file holds the NUL character.")
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except StopIteration:
        raise OrdersCsvError("The file is empty.") from None
    except csv.Error as exc:
        raise OrdersCsvError(f"Not readable as CSV: {exc}.") from None
    columns = _columns([h.strip() for h in header])
    rows: list[_Row] = []
    line = reader.line_num
    try:
        for values in reader:
            start, line = line + 1, reader.line_num
            if not any(v.strip() for v in values):
                continue
            if len(rows) >= MAX_ROWS:
                raise OrdersCsvError(f"More than {MAX_ROWS} rows; split the file.")
            rows.append(_Row(start, {name: values[i].strip() if i < len(values) else ""
                                     for i, name in columns.items()}))
    except csv.Error as exc:
        raise OrdersCsvError(f"Not readable as CSV at line {reader.line_num}: {exc}.") from None
    return rows


def _money(text: str) -> Decimal:
    value = Decimal(text.replace("$", "").replace(",", "").strip())
    if not value.is_finite() or value < 0 or value != value.quantize(Decimal("0.01")):
        raise InvalidOperation
    return value


def _date(text: str) -> dt.datetime | None:
    if not text:
        return None
    try:
        parsed = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        for pattern in DATE_FORMATS:
            try:
                parsed = dt.datetime.strptime(text, pattern)
                break
            except ValueError:
                continue
        else:
            raise ValueError(text) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def _candidates(cells: dict[str, str]) -> list[str]:
    """The Mercato SKUs a row may mean, in order: ``TCG-<TCGplayer Id>``, the SKU cell as
    written, and for a numeric SKU cell (TCGplayer's own SKU id) ``TCG-<it>``."""
    found = []
    if cells.get("tcgplayer_id"):
        found.append(f"TCG-{cells['tcgplayer_id']}")
    sku = cells.get("sku", "")
    if sku:
        found.append(sku)
        if sku.isdigit():
            found.append(f"TCG-{sku}")
    return found


def tcgplayer_channel(session: Session, channel_id: str) -> None:
    """404 for no such channel, 422 on ``channel`` for one not of kind ``tcgplayer``."""
    channel = inventory.get_channel(session, channel_id)
    if channel.kind != KIND:
        raise ValidationFailed(
            f"Channel {channel_id!r} is of kind {channel.kind!r}: TCGplayer orders go to a "
            "channel of kind 'tcgplayer'.",
            errors=[{"field": "channel", "message": f"kind {channel.kind!r}, not 'tcgplayer'"}])


def import_orders(session: Session, organization_id: str, channel_id: str,
                  content: bytes) -> OrdersImportOut:
    """Ingest the file's orders for the channel (kind ``tcgplayer``, else 422 on
    ``channel``), each order in a savepoint of its own: one that fails leaves the others."""
    tcgplayer_channel(session, channel_id)
    rows = read_rows(content)
    by_order: dict[str, list[_Row]] = defaultdict(list)
    result = _Result()
    for row in rows:
        number = row.cells.get("order", "")
        if not number:
            result.errors.append(RowErrorOut(line=row.line, order_number=None,
                                             field=LABELS["order"], message="required"))
            continue
        by_order[number[:200]].append(row)
    wanted = {sku for row in rows for sku in _candidates(row.cells)}
    known = {i.sku for i in catalog.stock_items(session, skus=sorted(wanted))}
    for number, group in by_order.items():
        result.orders.append(_one_order(session, organization_id, channel_id, number, group,
                                        known, result.errors))
    result.errors.sort(key=lambda e: e.line)
    outcomes = [o.outcome for o in result.orders]
    return OrdersImportOut(created=outcomes.count("created"),
                           duplicates=outcomes.count("duplicate"),
                           failed=outcomes.count("failed") + sum(
                               1 for e in result.errors if e.order_number is None),
                           orders=result.orders, errors=result.errors)


def _one_order(session: Session, organization_id: str, channel_id: str, number: str,
               rows: list[_Row], known: set[str], errors: list[RowErrorOut]
               ) -> OrderResultOut:
    existing = orders.find_external(session, channel_id, number)
    if existing is not None:
        return OrderResultOut(order_number=number, outcome="duplicate", order_id=existing.id)
    problems: list[RowErrorOut] = []

    def fail(row: _Row, column: str, message: str) -> None:
        problems.append(RowErrorOut(line=row.line, order_number=number, field=column,
                                    message=message))

    lines: list[OrderLineIn] = []
    for row in rows:
        cells = row.cells
        sku = next((s for s in _candidates(cells) if s in known), None)
        if sku is None:
            named = _candidates(cells)
            fail(row, "TCGplayer Id" if cells.get("tcgplayer_id") else "SKU",
                 f"no variant with SKU {' or '.join(map(repr, named))}" if named
                 else "required: the SKU or TCGplayer Id of the line")
        try:
            quantity = int(cells.get("quantity", ""))
            if not 1 <= quantity <= inventory.MAX_UNITS:
                raise ValueError
        except ValueError:
            fail(row, "Quantity", f"{cells.get('quantity', '')!r} is not a whole number from 1 "
                                  f"to {inventory.MAX_UNITS}")
            quantity = 0
        price = None
        if cells.get("price"):
            try:
                price = _money(cells["price"])
            except (InvalidOperation, ValueError):
                fail(row, "Price", f"{cells['price']!r} is not an amount with at most two "
                                   "decimals")
        if sku is not None and quantity:
            title = " - ".join(x for x in (cells.get("product"), cells.get("set"),
                                           cells.get("condition")) if x) or None
            lines.append(OrderLineIn(sku=sku, quantity=quantity, unit_price=price,
                                     title=title[:500] if title else None))
    first = rows[0].cells
    try:
        placed_at = _date(first.get("date", ""))
    except ValueError:
        fail(rows[0], "Order Date", f"{first.get('date')!r} is not a date")
        placed_at = None
    shipping = None
    if first.get("shipping"):
        try:
            shipping = _money(first["shipping"])
        except (InvalidOperation, ValueError):
            fail(rows[0], "Shipping Fee", f"{first['shipping']!r} is not an amount")
    if problems:
        return _failed(number, rows, problems, errors)
    names = first.get("buyer", "").split(None, 1)
    try:
        data = OrderIn.model_validate({
            "channel": channel_id, "external_id": number, "external_number": number[:100],
            "currency": CURRENCY, "lines": lines,
            "shipping_lines": [{"title": "TCGplayer shipping", "price": shipping}]
            if shipping else [],
            "customer": CustomerRef(first_name=names[0][:100] if names else None,
                                    last_name=names[1][:100] if len(names) > 1 else None,
                                    email=first.get("email") or None)
            if names or first.get("email") else None,
            "payments": [PaymentIn(method="tcgplayer", status="paid",
                                   reference=number[:200])],
            "tags": ["tcgplayer"], "placed_at": placed_at})
    except ValidationError as exc:
        for err in exc.errors():
            fail(rows[0], ".".join(str(p) for p in err["loc"]), err["msg"])
        return _failed(number, rows, problems, errors)
    try:
        with session.begin_nested():
            order, made = orders.ingest(session, organization_id, data)
    except MercatoError as exc:
        found = [e.get("message", "") for e in exc.errors] or [exc.detail]
        for message in found:
            fail(rows[0], "", str(message))
        return _failed(number, rows, problems, errors)
    return OrderResultOut(order_number=number, outcome="created" if made else "duplicate",
                          order_id=order.id)


def _failed(number: str, rows: list[_Row], problems: list[RowErrorOut],
            errors: list[RowErrorOut]) -> OrderResultOut:
    """The order is not imported: its own problems, and a note on each of its other rows."""
    errors += problems
    failing = {p.line for p in problems}
    first = min(failing)
    errors += [RowErrorOut(line=row.line, order_number=number, field="",
                           message=f"not imported: line {first} of the same order failed")
               for row in rows if row.line not in failing]
    return OrderResultOut(order_number=number, outcome="failed", order_id=None)
