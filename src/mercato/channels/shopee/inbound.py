"""What Shopee tells Mercato: its orders (from ``order_pull``) applied through the orders face,
and its pushes at ``/webhooks/shopee/{store}``.

A push is ``{shop_id, code, data, timestamp}`` with ``Authorization`` = hex HMAC-SHA256, keyed
with the partner key, of ``<callback URL>|<raw body>``; the callback URL is the connection's
``webhook_url``, else ``MERCATO_PUBLIC_URL`` + ``/webhooks/shopee/{store}``. The connection is
the one whose account is the push's ``shop_id``. A verified push is recorded once (by code,
shop, order and status and update time, else a hash of the body; on the inbound framework,
``core.inbound``, its signed ``timestamp`` within 5 minutes of now) and answered at once with
an empty 200, as Shopee asks; the worker then handles it: an order status push (code 3)
queues an ``order_pull``, which reads the order itself (the push carries only its number and
status).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Mapping as MappingType
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from mercato import catalog
from mercato.channels.jobs import create_job
from mercato.channels.models import Connection, Mapping, SyncJob
from mercato.channels.registry import cancelled_on
from mercato.channels.service import (
    SignatureRefused,
    config_of,
    connection_of,
    connections_of,
    map_one,
    record_webhook_verified,
    webhook_endpoint,
)
from mercato.core import inbound
from mercato.core.errors import NotFound
from mercato.identity import Address
from mercato.orders import CustomerRef, OrderIn, OrderLineIn, PaymentIn
from mercato.orders import service as orders

CANCELLED_ON_SHOPEE = cancelled_on("shopee")
CANCELLED = "CANCELLED"
UNPAID = "UNPAID"
ORDER_STATUS_PUSH = 3
SIGNATURE_REFUSED = ("A Shopee push was refused: its Authorization is not the HMAC-SHA256 of "
                     "'<callback URL>|<body>' with this connection's partner key (callback "
                     "URL {}).")


def remote_id(item_id: Any, model_id: Any) -> str:
    """A variant's mapping on Shopee: ``<item_id>:<model_id>`` (model 0: no variations)."""
    return f"{int(item_id)}:{int(model_id or 0)}"


def _money(raw: Any) -> Decimal | None:
    if raw in (None, ""):
        return None
    try:
        return Decimal(str(raw)).quantize(Decimal("0.01"))
    except InvalidOperation:
        return None


def line_sku(item: MappingType[str, Any]) -> str:
    """The seller's SKU of an order line: the model's, else the item's."""
    if int(item.get("model_id") or 0) and item.get("model_sku"):
        return str(item["model_sku"])
    return str(item.get("item_sku") or item.get("model_sku") or "")


def _address(raw: MappingType[str, Any]) -> Address | None:
    if not raw:
        return None
    first, _, last = str(raw.get("name") or "").strip().rpartition(" ")
    if not first:
        first, last = last, ""
    fields = {"first_name": first, "last_name": last, "phone": raw.get("phone"),
              "line1": raw.get("full_address"), "city": raw.get("city") or raw.get("town"),
              "region": raw.get("state") or raw.get("district"),
              "postal_code": raw.get("zipcode"), "country": raw.get("region")}
    try:
        return Address.model_validate({k: str(v) for k, v in fields.items() if v})
    except ValueError:
        return None  # an address Mercato cannot hold does not lose the order


def order_in(payload: MappingType[str, Any], channel_id: str, sku_of: MappingType[str, str],
             known: set[str]) -> tuple[OrderIn | None, list[str]]:
    """A Shopee order (``get_order_detail``) as an order to ingest, and the lines left out (no
    SKU Mercato knows: named in the note, the order tagged ``unmatched-lines``). ``sku_of``:
    Mercato SKU by ``<item_id>:<model_id>``, from the mappings."""
    lines: list[OrderLineIn] = []
    skipped: list[str] = []
    subtotal = Decimal("0")
    for item in payload.get("item_list") or []:
        quantity = int(item.get("model_quantity_purchased") or 0)
        sku = sku_of.get(remote_id(item.get("item_id") or 0, item.get("model_id"))) \
            or line_sku(item)
        if not sku or sku not in known or quantity < 1:
            skipped.append(f"{quantity} x {item.get('item_name') or item.get('item_id')}"
                           + (f" (SKU {line_sku(item)})" if line_sku(item) else ""))
            continue
        price = _money(item.get("model_discounted_price")) or _money(
            item.get("model_original_price"))
        if price is not None:
            subtotal += price * quantity
        lines.append(OrderLineIn(sku=sku, quantity=quantity, unit_price=price,
                                 title=str(item.get("item_name") or "") or None))
    if not lines:
        return None, skipped
    order_sn = str(payload["order_sn"])
    total = _money(payload.get("total_amount"))
    shipping = total - subtotal if total is not None and not skipped and total > subtotal \
        else None
    buyer = str(payload.get("buyer_username") or "").strip()
    status = str(payload.get("order_status") or "")
    paid = status not in (UNPAID, "")
    notes = [f"Shopee buyer: {buyer}."] if buyer else []
    if skipped:
        notes.append("Lines Mercato could not match to a variant (not in this order): "
                     + "; ".join(skipped) + f". Shopee's total: {total}.")
    created = payload.get("create_time")
    address = _address(payload.get("recipient_address") or {})
    order = OrderIn.model_validate({
        "channel": channel_id, "external_id": order_sn, "external_number": order_sn,
        "currency": str(payload.get("currency") or "USD").upper(), "lines": lines,
        "shipping_lines": [{"title": "Shopee shipping", "price": shipping}]
        if shipping else [],
        # Shopee shares no buyer email: the buyer is the recipient (their username is in
        # the note and on the order's mapping)
        "customer": CustomerRef(first_name=address.first_name, last_name=address.last_name)
        if address is not None and address.first_name else None,
        "shipping_address": address,
        "payments": [PaymentIn(method="shopee", amount=None, status="paid",
                               reference=order_sn)] if paid else [],
        "tags": ["shopee", "unmatched-lines"] if skipped else ["shopee"],
        "note": " ".join(notes)[:5000] or None,
        "placed_at": dt.datetime.fromtimestamp(int(created), dt.UTC) if created else None})
    return order, skipped


def _sku_by_remote(session: Session, connection: Connection) -> dict[str, str]:
    rows = session.execute(select(Mapping.remote_id, Mapping.local_id).where(
        Mapping.connection_id == connection.id, Mapping.resource == "variant")).all()
    skus = {i.id: i.sku for i in catalog.stock_items(session, ids=[local for _, local in rows])}
    return {str(remote): skus[local] for remote, local in rows if local in skus}


def apply_order(session: Session, connection: Connection, payload: dict[str, Any]) -> str:
    """Ingest (deduped on channel + order_sn) and follow a cancellation made on Shopee:
    ``created``, ``exists``, ``cancelled``, ``ignored`` (first seen already cancelled) or
    ``skipped`` (no line Mercato knows)."""
    order_sn = str(payload["order_sn"])
    status = str(payload.get("order_status") or "")
    existing = orders.find_external(session, connection.channel_id, order_sn)
    outcome = "exists"
    if existing is None:
        if status == CANCELLED:
            return "ignored"
        sku_of = _sku_by_remote(session, connection)
        wanted = {sku_of.get(remote_id(i.get("item_id") or 0, i.get("model_id")))
                  or line_sku(i) for i in payload.get("item_list") or []}
        known = {i.sku for i in catalog.stock_items(session, skus=[s for s in wanted if s])}
        data, _ = order_in(payload, connection.channel_id, sku_of, known)
        if data is None:
            return "skipped"
        existing, made = orders.ingest(session, connection.organization_id, data)
        outcome = "created" if made else "exists"
        buyer = str(payload.get("buyer_username") or "")[:255] or None
        map_one(session, connection.id, "order", existing.id, order_sn, buyer)
    if status == CANCELLED and existing.status != "cancelled" \
            and orders.cancel_if_open(session, existing.id, CANCELLED_ON_SHOPEE):
        outcome = "cancelled"
    return outcome


# -- pushes -------------------------------------------------------------------------------------

def push_signature(partner_key: str, url: str, body: bytes) -> str:
    return inbound.hmac_sha256(partner_key, url.encode() + b"|" + body).hex()


def push_verified(partner_key: str, url: str, body: bytes, given: str | None) -> bool:
    """``Authorization`` is the push's signature (hex, either case), compared in constant
    time."""
    return inbound.signatures_match((given or "").strip().lower(),
                                    push_signature(partner_key, url, body))


def delivery_id(body: MappingType[str, Any], raw: bytes) -> str:
    """A push's stable id: code, shop and the order's number, status and update time; a hash
    of the body for a push without them."""
    raw_data = body.get("data")
    data: MappingType[str, Any] = raw_data if isinstance(raw_data, dict) else {}
    order_sn = data.get("ordersn") or data.get("order_sn")
    if order_sn:
        return (f"{body.get('code')}:{body.get('shop_id')}:{order_sn}:{data.get('status')}:"
                f"{data.get('update_time')}")
    return f"{body.get('code')}:sha256:{hashlib.sha256(raw).hexdigest()}"


def _queue_pull(session: Session, connection: Connection) -> None:
    """An ``order_pull`` unless one is waiting to start (it will read this change too)."""
    waiting = session.scalar(select(SyncJob.id).where(
        SyncJob.connection_id == connection.id, SyncJob.kind == "order_pull",
        SyncJob.status == "queued").limit(1))
    if waiting is None:
        create_job(session, connection, "order_pull", trigger="webhook", exclusive=False)


def verify(session: Session, delivery: inbound.Delivery) -> inbound.Verified:
    """One push: the connection by ``shop_id``, the signature checked (401 otherwise, counted
    in the health), its signed ``timestamp`` the framework's replay window."""
    try:
        body = json.loads(delivery.body)
    except ValueError:
        body = None
    shop_id = str(body.get("shop_id") or "") if isinstance(body, dict) else ""
    every = connections_of(session, "shopee")
    # the connection of the shop the push names; a push naming none (not Shopee's) is checked
    # against the store's only one, whose key refuses it (401)
    found = [c for c in every if c.account == shop_id] if shop_id else (
        every if len(every) == 1 else [])
    if not found:
        raise NotFound("This store has no Shopee connection for that shop.")
    connection = found[0]
    url = webhook_endpoint(connection, delivery.settings, delivery.store)
    key = str(config_of(session, connection, delivery.settings).secrets.get("partner_key")
              or "")
    if not push_verified(key, url, delivery.body, delivery.headers.get("authorization")):
        raise SignatureRefused(connection, SIGNATURE_REFUSED.format(url))
    record_webhook_verified(session, connection.id)
    if not isinstance(body, dict):
        raise inbound.Unusable("not a JSON object")
    code = int(body.get("code") or 0) if str(body.get("code") or "0").isdigit() else 0
    return inbound.Verified(
        event_id=delivery_id(body, delivery.body), event_type=f"shopee:{code}",
        occurred_at=inbound.from_unix(body.get("timestamp")), payload=body,
        resource=connection.id,
        context={"connection_id": connection.id, "handled": code == ORDER_STATUS_PUSH})


def handle(session: Session, event: inbound.InboundEvent) -> None:
    """The worker's half: an order status push (code 3) queues an ``order_pull``."""
    connection = connection_of(session, str(event.context.get("connection_id")))
    if connection is None or not connection.enabled or not event.context.get("handled"):
        return
    _queue_pull(session, connection)


PROVIDER = inbound.Provider(name="shopee", verify=verify, handle=handle)
"""Shopee at ``/webhooks/shopee/{store}`` (``channels.registry``); answered with an empty 200."""
