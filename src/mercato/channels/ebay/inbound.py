"""What eBay tells Mercato: its orders (from ``order_pull``) applied through the orders
face, and its notifications at ``/webhooks/ebay/{store}`` (the endpoint challenge, signed
POSTs, marketplace account deletion)."""

from __future__ import annotations

import asyncio
import base64
import binascii
import datetime as dt
import hashlib
import json
from collections.abc import Mapping as MappingType
from decimal import Decimal, InvalidOperation
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import select
from sqlalchemy.orm import Session

from mercato import catalog
from mercato.channels.ebay.client import EbayClient
from mercato.channels.models import Connection, Mapping
from mercato.channels.registry import cancelled_on
from mercato.channels.service import (
    SignatureRefused,
    config_of,
    connection_of,
    connections_of,
    map_one,
    record_health,
    record_webhook_verified,
    webhook_endpoint,
)
from mercato.channels.toolkit import ChannelError
from mercato.core import inbound
from mercato.core.errors import NotFound
from mercato.identity import Address
from mercato.orders import CustomerRef, Order, OrderIn, OrderLineIn, PaymentIn
from mercato.orders import service as orders
from mercato.settings import Settings

CANCELLED_ON_EBAY = cancelled_on("ebay")
PAID = {"PAID", "PARTIALLY_REFUNDED", "FULLY_REFUNDED"}
ACCOUNT_DELETION = "MARKETPLACE_ACCOUNT_DELETION"


def _money(raw: Any) -> Decimal | None:
    value = (raw or {}).get("value") if isinstance(raw, dict) else None
    try:
        return Decimal(str(value)) if value not in (None, "") else None
    except InvalidOperation:
        return None


def ship_to(order: MappingType[str, Any]) -> dict[str, Any]:
    steps = order.get("fulfillmentStartInstructions") or []
    return dict(((steps[0] if steps else {}).get("shippingStep") or {}).get("shipTo") or {})


def _address(raw: MappingType[str, Any]) -> Address | None:
    contact = raw.get("contactAddress") or {}
    if not contact:
        return None
    first, _, last = str(raw.get("fullName") or "").strip().rpartition(" ")
    fields = {"first_name": first or None, "last_name": last or None,
              "phone": (raw.get("primaryPhone") or {}).get("phoneNumber"),
              "line1": contact.get("addressLine1"), "line2": contact.get("addressLine2"),
              "city": contact.get("city"), "region": contact.get("stateOrProvince"),
              "postal_code": contact.get("postalCode"), "country": contact.get("countryCode")}
    try:
        return Address.model_validate({k: v for k, v in fields.items() if v})
    except ValueError:
        return None  # an address Mercato cannot hold does not lose the order


def order_in(payload: MappingType[str, Any], channel_id: str, sku_of: MappingType[str, str],
             known: set[str]) -> tuple[OrderIn | None, list[str]]:
    """An eBay order (Fulfillment API shape) as an order to ingest, and the lines left out
    (no SKU Mercato knows): those are named in the note and the order is tagged
    ``unmatched-lines``; an order with no line left is not made. ``sku_of``: Mercato SKU by
    eBay listing id (``legacyItemId``), from the mappings, for a line without a SKU."""
    lines: list[OrderLineIn] = []
    skipped: list[str] = []
    currency = ((payload.get("pricingSummary") or {}).get("total") or {}).get("currency")
    for item in payload.get("lineItems") or []:
        sku = item.get("sku") or sku_of.get(str(item.get("legacyItemId") or ""))
        quantity = int(item.get("quantity") or 0)
        if not sku or sku not in known or quantity < 1:
            skipped.append(f"{quantity} x {item.get('title') or item.get('lineItemId')}"
                           + (f" (SKU {item['sku']})" if item.get("sku") else ""))
            continue
        cost = _money(item.get("lineItemCost"))
        lines.append(OrderLineIn(
            sku=sku, quantity=quantity, title=item.get("title") or None,
            unit_price=(cost / quantity).quantize(Decimal("0.01")) if cost is not None
            else None))
        currency = currency or (item.get("lineItemCost") or {}).get("currency")
    if not lines:
        return None, skipped
    to = ship_to(payload)
    email = to.get("email") or None
    first, _, last = str(to.get("fullName") or "").strip().rpartition(" ")
    shipping = _money((payload.get("pricingSummary") or {}).get("deliveryCost"))
    paid = str(payload.get("orderPaymentStatus") or "") in PAID
    total = _money((payload.get("pricingSummary") or {}).get("total"))
    placed = payload.get("creationDate")
    order = OrderIn.model_validate({
        "channel": channel_id, "external_id": str(payload["orderId"]),
        "external_number": str(payload.get("legacyOrderId") or payload["orderId"]),
        "currency": str(currency or "USD").upper(), "lines": lines,
        "shipping_lines": [{"title": "eBay shipping", "price": shipping}]
        if shipping else [],
        "customer": CustomerRef(email=email, first_name=first or None,
                                last_name=last or None) if email else None,
        "shipping_address": _address(to),
        "payments": [PaymentIn(method="ebay", amount=None, status="paid",
                               reference=str(payload["orderId"]))] if paid else [],
        "tags": ["ebay", "unmatched-lines"] if skipped else ["ebay"],
        "note": ("Lines Mercato could not match to a variant (not in this order): "
                 + "; ".join(skipped) + f". eBay's total: {total}.")[:5000]
        if skipped else None,
        "placed_at": dt.datetime.fromisoformat(str(placed).replace("Z", "+00:00"))
        if placed else None})
    return order, skipped


def buyer_of(payload: MappingType[str, Any]) -> str | None:
    """The buyer's eBay username, lowercased (eBay compares them so)."""
    name = (payload.get("buyer") or {}).get("username")
    return str(name).strip().lower()[:255] if name else None


def _sku_by_listing(session: Session, connection: Connection) -> dict[str, str]:
    rows = session.execute(select(Mapping.remote_extra, Mapping.local_id).where(
        Mapping.connection_id == connection.id, Mapping.resource == "variant",
        Mapping.remote_extra.is_not(None))).all()
    skus = {i.id: i.sku for i in catalog.stock_items(session, ids=[local for _, local in rows])}
    return {str(listing): skus[local] for listing, local in rows if local in skus}


def apply_order(session: Session, connection: Connection, payload: dict[str, Any]) -> str:
    """Ingest (deduped on channel + eBay order id), follow a payment and a cancellation made
    on eBay; ``created``, ``exists``, ``paid``, ``cancelled`` or ``skipped``."""
    existing = orders.find_external(session, connection.channel_id, str(payload["orderId"]))
    outcome = "exists"
    if existing is None:
        sku_of = _sku_by_listing(session, connection)
        wanted = {item.get("sku") or sku_of.get(str(item.get("legacyItemId") or ""))
                  for item in payload.get("lineItems") or []}
        known = {i.sku for i in catalog.stock_items(session, skus=[s for s in wanted if s])}
        data, _ = order_in(payload, connection.channel_id, sku_of, known)
        if data is None:
            return "skipped"
        existing, made = orders.ingest(session, connection.organization_id, data)
        outcome = "created" if made else "exists"
        map_one(session, connection.id, "order", existing.id, str(payload["orderId"]),
                buyer_of(payload))
    elif _follow_payment(session, existing, payload):
        outcome = "paid"
    cancelled = (payload.get("cancelStatus") or {}).get("cancelState") == "CANCELED"
    if cancelled and existing.status != "cancelled" \
            and orders.cancel_if_open(session, existing.id, CANCELLED_ON_EBAY):
        outcome = "cancelled"
    return outcome


def _follow_payment(session: Session, order: Order, payload: MappingType[str, Any]) -> bool:
    """eBay took the money of an order Mercato has as unpaid: recorded as at ingestion."""
    if str(payload.get("orderPaymentStatus") or "") not in PAID \
            or order.status == "cancelled" or order.financial_status != "pending":
        return False
    owed = order.total - sum((p.amount for p in order.payments if p.status != "voided"),
                             Decimal("0"))
    if owed <= 0:
        return False
    orders.add_payment(session, order.id, PaymentIn(method="ebay", amount=owed, status="paid",
                                                    reference=str(payload["orderId"])))
    return True


# -- notifications ------------------------------------------------------------------------------

def _choose(session: Session, settings: Settings, store: str, url: str,
            need_token: bool) -> Connection:
    """The store's eBay connection this endpoint is for: when several, the one whose
    endpoint is the URL asked."""
    found = [c for c in connections_of(session, "ebay")
             if not need_token or (c.settings or {}).get("verification_token")]
    if not found:
        raise NotFound("This store has no eBay connection with a verification token.")
    if len(found) == 1:
        return found[0]
    same = [c for c in found if webhook_endpoint(c, settings, store) == url]
    return (same or found)[0]


def challenge(session: Session, settings: Settings, store: str, request_url: str,
              code: str) -> dict[str, str]:
    """eBay's endpoint check: hex SHA-256 of challenge code + verification token + the
    endpoint's URL."""
    connection = _choose(session, settings, store, request_url, need_token=True)
    token = str(connection.settings["verification_token"])
    endpoint = webhook_endpoint(connection, settings, store)
    digest = hashlib.sha256((code + token + endpoint).encode()).hexdigest()
    return {"challengeResponse": digest}


def parse_signature(header: str | None) -> dict[str, str] | None:
    """``X-EBAY-SIGNATURE``: base64 of ``{alg, kid, signature, digest}``; None when it is
    not that."""
    if not header:
        return None
    try:
        fields = json.loads(base64.b64decode(header.strip(), validate=True))
    except (binascii.Error, ValueError):
        return None
    if not isinstance(fields, dict) or not fields.get("kid") or not fields.get("signature"):
        return None
    return {k: str(v) for k, v in fields.items()}


def verify(key: MappingType[str, Any], signature: MappingType[str, str], body: bytes) -> bool:
    """An ECDSA signature over the raw body with eBay's public key (``key``: the
    ``getPublicKey`` answer; its PEM may come on one line)."""
    if str(key.get("algorithm", "ECDSA")).upper() != "ECDSA" \
            or str(signature.get("alg", "ECDSA")).upper() != "ECDSA":
        return False
    digest = str(signature.get("digest") or key.get("digest") or "SHA1").upper()
    algorithm: hashes.HashAlgorithm = hashes.SHA256() if digest == "SHA256" else hashes.SHA1()  # noqa: S303
    pem = str(key.get("key") or "")
    inner = pem.replace("-----BEGIN PUBLIC KEY-----", "").replace(
        "-----END PUBLIC KEY-----", "")
    try:
        public = serialization.load_der_public_key(base64.b64decode("".join(inner.split())))
        raw = base64.b64decode(signature["signature"])
    except (ValueError, binascii.Error):
        return False
    if not isinstance(public, ec.EllipticCurvePublicKey):
        return False
    try:
        public.verify(raw, body, ec.ECDSA(algorithm))
    except InvalidSignature:
        return False
    return True


def verify_delivery(session: Session, delivery: inbound.Delivery) -> inbound.Verified:
    """One notification: its signature checked with eBay's public key (fetched with the
    connection's application token, cached; 401 otherwise, counted in the health), its
    ``notificationId`` the event id. The signature carries no timestamp, and eBay retries a
    notification for a long time, so no replay window applies (``publishDate`` is kept as
    when it happened): the dedupe by notification id is what stops a replay."""
    connection = _choose(session, delivery.settings, delivery.store, delivery.url,
                         need_token=False)
    signature = parse_signature(delivery.headers.get("x-ebay-signature"))
    if signature is None:
        raise SignatureRefused(connection, "A notification was refused: its X-EBAY-SIGNATURE "
                                           "is missing or malformed.")
    config = config_of(session, connection, delivery.settings)

    async def fetch() -> dict[str, Any]:
        async with EbayClient(config) as client:
            return await client.public_key(signature["kid"])

    try:
        key = asyncio.run(fetch())
    except ChannelError as exc:
        raise SignatureRefused(connection, f"A notification was refused: eBay's public key "
                                           f"{signature['kid']} could not be read "
                                           f"({exc.message}).") from None
    if not verify(key, signature, delivery.body):
        raise SignatureRefused(connection, "A notification was refused: its X-EBAY-SIGNATURE "
                                           "does not verify with eBay's public key.")
    record_webhook_verified(session, connection.id)
    try:
        body = json.loads(delivery.body)
        topic = str(body["metadata"]["topic"])
        notification = body["notification"]
        notification_id = str(notification["notificationId"])
    except (ValueError, KeyError, TypeError):
        raise inbound.Unusable("malformed notification") from None
    published = notification.get("publishDate") if isinstance(notification, dict) else None
    return inbound.Verified(
        event_id=notification_id, event_type=topic, occurred_at=_instant(published),
        payload=body, resource=connection.id,
        context={"connection_id": connection.id, "handled": topic == ACCOUNT_DELETION})


def _instant(raw: Any) -> dt.datetime | None:
    try:
        value = dt.datetime.fromisoformat(str(raw).replace("Z", "+00:00")) if raw else None
    except ValueError:
        return None
    return value if value is None or value.tzinfo else value.replace(tzinfo=dt.UTC)


def handle(session: Session, event: inbound.InboundEvent) -> str:
    """The worker's half: a marketplace account deletion erases the buyer's data."""
    connection = connection_of(session, str(event.context.get("connection_id")))
    if connection is None or event.event_type != ACCOUNT_DELETION:
        return "topic not handled"
    data = ((event.payload or {}).get("notification") or {}).get("data") or {}
    erased = erase_buyer(session, str(data.get("username") or ""))
    record_health(session, connection.id)
    return f"{erased} order(s) anonymised"


PROVIDER = inbound.register(inbound.Provider(name="ebay", verify=verify_delivery,
                                             handle=handle, signs_timestamp=False))
"""eBay at ``/webhooks/ebay/{store}``."""


def erase_buyer(session: Session, username: str) -> int:
    """An eBay user asked eBay to delete their data: the buyer's name, email, phone and
    addresses on the orders Mercato took from them on any eBay connection of the
    organization are erased (the orders' lines and money stay: the books need them), and
    their username is dropped from the order mappings. How many orders."""
    name = username.strip().lower()
    if not name:
        return 0
    rows = list(session.scalars(select(Mapping).where(
        Mapping.resource == "order", Mapping.remote_extra == name,
        Mapping.connection_id.in_([c.id for c in connections_of(session, "ebay", enabled=False)]))))
    erased = orders.anonymise_buyer(session, [m.local_id for m in rows],
                                    reason="eBay marketplace account deletion")
    for mapping in rows:
        mapping.remote_extra = None
    session.flush()
    return erased
