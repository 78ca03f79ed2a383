"""What Amazon tells Mercato: its orders (from ``order_pull``) applied through the orders
face. Amazon has no webhooks a seller's server receives (its notifications go through
Amazon SQS or EventBridge), so orders come by pull only and there is no inbound route."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping as MappingType
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy.orm import Session

from mercato import catalog
from mercato.channels.models import Connection
from mercato.channels.registry import cancelled_on
from mercato.channels.service import map_one
from mercato.identity import Address
from mercato.orders import CustomerRef, OrderIn, OrderLineIn, PaymentIn
from mercato.orders import service as orders

CANCELLED_ON_AMAZON = cancelled_on("amazon")
INGESTED = frozenset({"Unshipped", "PartiallyShipped", "Shipped", "InvoiceUnconfirmed"})
"""Statuses of an order Amazon has the money for: ``Pending`` (payment not yet authorized)
and ``PendingAvailability`` (a pre-order) are taken when they move on."""


def _money(raw: Any) -> Decimal | None:
    value = raw.get("Amount") if isinstance(raw, dict) else None
    try:
        return Decimal(str(value)) if value not in (None, "") else None
    except InvalidOperation:
        return None


def _address(raw: MappingType[str, Any]) -> Address | None:
    if not raw:
        return None
    first, _, last = str(raw.get("Name") or "").strip().rpartition(" ")
    fields = {"first_name": first or None, "last_name": last or None,
              "phone": raw.get("Phone"), "company": raw.get("CompanyName"),
              "line1": raw.get("AddressLine1"), "line2": raw.get("AddressLine2"),
              "city": raw.get("City"), "region": raw.get("StateOrRegion"),
              "postal_code": raw.get("PostalCode"), "country": raw.get("CountryCode")}
    try:
        return Address.model_validate({k: v for k, v in fields.items() if v})
    except ValueError:
        return None  # an address Mercato cannot hold does not lose the order


def needs_items(session: Session, connection: Connection, order: MappingType[str, Any]) -> bool:
    """Whether the order is new to Mercato and ready to take (its lines are read then)."""
    if str(order.get("OrderStatus") or "") not in INGESTED:
        return False
    return orders.find_external(session, connection.channel_id,
                                str(order["AmazonOrderId"])) is None


def order_in(order: MappingType[str, Any], items: list[dict[str, Any]], channel_id: str,
             known: set[str]) -> tuple[OrderIn | None, list[str]]:
    """An Amazon order (Orders API v0) and its items as an order to ingest, and the lines
    left out (no SKU Mercato knows), named in the note (tagged ``unmatched-lines``)."""
    lines: list[OrderLineIn] = []
    skipped: list[str] = []
    currency = (order.get("OrderTotal") or {}).get("CurrencyCode")
    shipping = Decimal("0")
    for item in items:
        sku = str(item.get("SellerSKU") or "")
        quantity = int(item.get("QuantityOrdered") or 0)
        if not sku or sku not in known or quantity < 1:
            skipped.append(f"{quantity} x {item.get('Title') or item.get('ASIN')}"
                           + (f" (SKU {sku})" if sku else ""))
            continue
        price = _money(item.get("ItemPrice"))  # the line's total, not a unit price
        shipping += _money(item.get("ShippingPrice")) or Decimal("0")
        lines.append(OrderLineIn(
            sku=sku, quantity=quantity, title=(item.get("Title") or None),
            unit_price=(price / quantity).quantize(Decimal("0.01")) if price is not None
            else None))
        currency = currency or (item.get("ItemPrice") or {}).get("CurrencyCode")
    if not lines:
        return None, skipped
    buyer = order.get("BuyerInfo") or {}
    address = order.get("ShippingAddress") or {}
    name = str(buyer.get("BuyerName") or address.get("Name") or "").strip()
    first, _, last = name.rpartition(" ")
    email = buyer.get("BuyerEmail") or None
    placed = order.get("PurchaseDate")
    data = OrderIn.model_validate({
        "channel": channel_id, "external_id": str(order["AmazonOrderId"]),
        "external_number": str(order["AmazonOrderId"]),
        "currency": str(currency or "USD").upper(), "lines": lines,
        "shipping_lines": [{"title": "Amazon shipping", "price": shipping}] if shipping else [],
        "customer": CustomerRef(email=email, first_name=(first or None),
                                last_name=(last or None)) if email else None,
        "shipping_address": _address(address),
        "payments": [PaymentIn(method="amazon", amount=None, status="paid",
                               reference=str(order["AmazonOrderId"]))],
        "tags": ["amazon", "unmatched-lines"] if skipped else ["amazon"],
        "note": ("Lines Mercato could not match to a variant (not in this order): "
                 + "; ".join(skipped) + f". Amazon's total: "
                 f"{_money(order.get('OrderTotal'))}.")[:5000] if skipped else None,
        "placed_at": dt.datetime.fromisoformat(str(placed).replace("Z", "+00:00"))
        if placed else None})
    return data, skipped


def apply_order(session: Session, connection: Connection, order: dict[str, Any],
                items: list[dict[str, Any]] | None) -> str:
    """Ingest (deduplicated on channel + Amazon order id) and follow a cancellation made on
    Amazon (the Mercato order is cancelled, its units restocked); ``created``, ``exists``,
    ``cancelled``, ``waiting`` (not yet paid) or ``skipped`` (no line Mercato knows)."""
    external = str(order["AmazonOrderId"])
    status = str(order.get("OrderStatus") or "")
    existing = orders.find_external(session, connection.channel_id, external)
    if existing is None:
        if status not in INGESTED:
            return "waiting" if status != "Canceled" else "exists"
        wanted = [str(i.get("SellerSKU")) for i in items or [] if i.get("SellerSKU")]
        known = {i.sku for i in catalog.stock_items(session, skus=wanted)}
        data, _ = order_in(order, items or [], connection.channel_id, known)
        if data is None:
            return "skipped"
        existing, made = orders.ingest(session, connection.organization_id, data)
        map_one(session, connection.id, "order", existing.id, external)
        return "created" if made else "exists"
    if status == "Canceled" and existing.status != "cancelled" \
            and orders.cancel_if_open(session, existing.id, CANCELLED_ON_AMAZON):
        return "cancelled"
    return "exists"
