"""What TikTok Shop tells Mercato: its orders (from ``order_pull``) applied through the orders
face, and its webhooks at ``/webhooks/tiktok/{store}``.

A TikTok order has one line item per unit: lines of the same seller SKU are counted into one
Mercato line. UNPAID orders are left until they are paid (their next change brings them); a
CANCELLED order Mercato has is cancelled (the units go back), one it never had is not made.

Webhooks (on the inbound framework, ``core.inbound``): ``Authorization`` is
``hex(HMAC-SHA256(app_secret, app_key + raw body))``; the body is ``{type, tts_notification_id,
shop_id, timestamp, data}`` (the signed ``timestamp`` must be within 5 minutes of now). The
connection is the one whose ``settings.shop_id`` is the body's ``shop_id`` (else the store's
only TikTok connection). Each ``tts_notification_id`` is taken once and answered at once; the
worker then handles it: an ORDER_STATUS_CHANGE (type 1) queues an ``order_pull`` for the
connection, and the order is read through the API (the webhook's data is never trusted for
the order's contents). A
SELLER_DEAUTHORIZATION (type 6) shows in the connection's health as needing
re-authorization.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from collections.abc import Mapping as MappingType
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from mercato import catalog
from mercato.channels import jobs
from mercato.channels.models import Connection, SyncJob
from mercato.channels.registry import cancelled_on
from mercato.channels.service import (
    SignatureRefused,
    config_of,
    connection_of,
    connections_of,
    map_one,
    record_health,
    record_webhook_verified,
)
from mercato.core import inbound
from mercato.core.errors import NotFound
from mercato.identity import Address
from mercato.orders import CustomerRef, OrderIn, OrderLineIn, PaymentIn
from mercato.orders import service as orders

CANCELLED_ON_TIKTOK = cancelled_on("tiktok")
ORDER_STATUS_CHANGE = 1
SELLER_DEAUTHORIZATION = 6
WEBHOOK_TOPICS = {1: "ORDER_STATUS_CHANGE", 5: "PRODUCT_STATUS_CHANGE",
                  6: "SELLER_DEAUTHORIZATION", 7: "UPCOMING_AUTHORIZATION_EXPIRATION"}
NOT_YET = frozenset({"UNPAID"})


def _money(raw: Any) -> Decimal | None:
    try:
        return Decimal(str(raw)) if raw not in (None, "") else None
    except InvalidOperation:
        return None


def _district(raw: MappingType[str, Any], *levels: str) -> str | None:
    for part in raw.get("district_info") or []:
        if str(part.get("address_level_name") or "").lower() in levels:
            return str(part.get("address_name") or "") or None
    return None


def _address(raw: MappingType[str, Any]) -> Address | None:
    if not raw:
        return None
    first, last = raw.get("first_name"), raw.get("last_name")
    if not first and not last:
        first, _, last = str(raw.get("name") or "").strip().rpartition(" ")
    fields = {"first_name": first or None, "last_name": last or None,
              "phone": raw.get("phone_number"), "line1": raw.get("address_line1")
              or raw.get("address_detail") or raw.get("full_address"),
              "line2": raw.get("address_line2"),
              "city": _district(raw, "city", "county") or raw.get("post_town"),
              "region": _district(raw, "state", "province", "region"),
              "postal_code": raw.get("postal_code"), "country": raw.get("region_code")}
    try:
        return Address.model_validate({k: str(v).strip() for k, v in fields.items()
                                       if v and str(v).strip()})
    except ValueError:
        return None  # an address Mercato cannot hold does not lose the order


def order_in(payload: MappingType[str, Any], channel_id: str,
             known: set[str]) -> tuple[OrderIn | None, list[str]]:
    """A TikTok order as an order to ingest, and the units left out (no SKU Mercato knows):
    those are named in the note and the order is tagged ``unmatched-lines``."""
    counts: Counter[str] = Counter()
    prices: dict[str, Decimal | None] = {}
    titles: dict[str, str] = {}
    skipped: Counter[str] = Counter()
    payment = payload.get("payment") or {}
    currency = payment.get("currency")
    for item in payload.get("line_items") or []:
        if item.get("display_status") == "CANCELLED":
            continue
        sku = str(item.get("seller_sku") or "").strip()
        quantity = int(item.get("quantity") or 1)
        if not sku or sku not in known:
            skipped[f"{item.get('product_name') or item.get('sku_id')}"
                    + (f" (seller SKU {sku})" if sku else "")] += quantity
            continue
        counts[sku] += quantity
        prices.setdefault(sku, _money(item.get("sale_price")))
        titles.setdefault(sku, str(item.get("product_name") or ""))
        currency = currency or item.get("currency")
    if not counts:
        return None, [f"{n} x {name}" for name, n in skipped.items()]
    lines = [OrderLineIn(sku=sku, quantity=n, title=titles[sku] or None, unit_price=prices[sku])
             for sku, n in counts.items()]
    left_out = [f"{n} x {name}" for name, n in skipped.items()]
    to = payload.get("recipient_address") or {}
    email = payload.get("buyer_email") or None
    first, last = to.get("first_name"), to.get("last_name")
    if not first and not last:
        first, _, last = str(to.get("name") or "").strip().rpartition(" ")
    shipping = _money(payment.get("shipping_fee"))
    placed = payload.get("create_time")
    order = OrderIn.model_validate({
        "channel": channel_id, "external_id": str(payload["id"]),
        "external_number": str(payload["id"]),
        "currency": str(currency or "USD").upper(), "lines": lines,
        "shipping_lines": [{"title": "TikTok Shop shipping", "price": shipping}]
        if shipping else [],
        "customer": CustomerRef(email=email, first_name=first or None, last_name=last or None)
        if email else None,
        "shipping_address": _address(to),
        "payments": [PaymentIn(method="tiktok", amount=None, status="paid",
                               reference=str(payload["id"]))]
        if payload.get("paid_time") or payload.get("status") not in NOT_YET else [],
        "tags": ["tiktok", "unmatched-lines"] if left_out else ["tiktok"],
        "note": ("Units Mercato could not match to a variant (not in this order): "
                 + "; ".join(left_out) + f". TikTok's total: {payment.get('total_amount')}."
                 )[:5000] if left_out else None,
        "placed_at": dt.datetime.fromtimestamp(int(placed), dt.UTC) if placed else None})
    return order, left_out


def apply_order(session: Session, connection: Connection, payload: dict[str, Any]) -> str:
    """Ingest (deduped on channel + TikTok order id) or follow a cancellation made on TikTok;
    ``created``, ``exists``, ``cancelled``, ``waiting`` (unpaid, or cancelled before Mercato
    saw it) or ``skipped`` (no line Mercato knows)."""
    external = str(payload["id"])
    status = str(payload.get("status") or "")
    existing = orders.find_external(session, connection.channel_id, external)
    if existing is None:
        if status in NOT_YET or status == "CANCELLED":
            return "waiting"
        wanted = {str(i.get("seller_sku") or "").strip() for i in payload.get("line_items") or []}
        known = {i.sku for i in catalog.stock_items(session, skus=[s for s in wanted if s])}
        data, _ = order_in(payload, connection.channel_id, known)
        if data is None:
            return "skipped"
        existing, made = orders.ingest(session, connection.organization_id, data)
        map_one(session, connection.id, "order", existing.id, external,
                str(payload.get("user_id") or "") or None)
        return "created" if made else "exists"
    if status == "CANCELLED" and existing.status != "cancelled" \
            and orders.cancel_if_open(session, existing.id, CANCELLED_ON_TIKTOK):
        return "cancelled"
    return "exists"


# -- webhooks -----------------------------------------------------------------------------------

def signature(app_key: str, app_secret: str, body: bytes) -> str:
    return inbound.hmac_sha256(app_secret, app_key.encode() + body).hex()


def webhook_verified(app_key: str, app_secret: str, body: bytes, given: str | None) -> bool:
    """``Authorization`` is the webhook's signature (hex, either case), compared in constant
    time."""
    return inbound.signatures_match((given or "").strip().lower(),
                                    signature(app_key, app_secret, body))


def _choose(session: Session, shop_id: str | None) -> Connection:
    found = connections_of(session, "tiktok")
    if not found:
        raise NotFound("This store has no TikTok Shop connection.")
    same = [c for c in found if shop_id and str((c.settings or {}).get("shop_id") or "")
            == shop_id]
    if same:
        return same[0]
    if len(found) == 1:
        return found[0]
    raise NotFound(f"No TikTok Shop connection of this store has the shop id {shop_id!r} "
                   "(set it in the connection's settings).")


def verify(session: Session, delivery: inbound.Delivery) -> inbound.Verified:
    """One webhook: its connection chosen by ``shop_id``, its signature checked with that
    connection's app key and secret (401 otherwise, counted in the health), its signed
    ``timestamp`` the framework's replay window, its ``tts_notification_id`` the event id."""
    try:
        body = json.loads(delivery.body)
    except ValueError:
        body = None
    shop_id = str(body.get("shop_id") or "") if isinstance(body, dict) else ""
    connection = _choose(session, shop_id or None)
    secrets = config_of(session, connection, delivery.settings).secrets
    if not webhook_verified(secrets["app_key"], secrets["app_secret"], delivery.body,
                            delivery.headers.get("authorization")):
        raise SignatureRefused(connection, (
            "A webhook was refused: its Authorization is not the HMAC-SHA256 of app key + "
            "body with this connection's app secret."))
    record_webhook_verified(session, connection.id)
    if not isinstance(body, dict) or not body.get("tts_notification_id"):
        raise inbound.Unusable("malformed notification")
    kind = body.get("type")
    topic = WEBHOOK_TOPICS.get(kind, str(kind)) if isinstance(kind, int) else str(kind)
    return inbound.Verified(
        event_id=str(body["tts_notification_id"]), event_type=topic,
        occurred_at=inbound.from_unix(body.get("timestamp")), payload=body,
        resource=connection.id, context={
            "connection_id": connection.id,
            "handled": kind in (ORDER_STATUS_CHANGE, SELLER_DEAUTHORIZATION)})


def handle(session: Session, event: inbound.InboundEvent) -> str:
    """The worker's half: an ORDER_STATUS_CHANGE queues an ``order_pull`` (which reads the
    order through the API: the webhook's data is never trusted for its contents), a
    SELLER_DEAUTHORIZATION shows in the connection's health."""
    connection = connection_of(session, str(event.context.get("connection_id")))
    kind = (event.payload or {}).get("type") if isinstance(event.payload, dict) else None
    if connection is None:
        return "connection deleted"
    if kind == SELLER_DEAUTHORIZATION:
        record_health(session, connection.id, error=(
            "TikTok Shop says the seller deauthorized Mercato's app: the shop needs "
            "re-authorization (authorize the app again and connect with the new tokens)."),
            error_kind="auth")
        return "re-authorization needed"
    if kind != ORDER_STATUS_CHANGE or not connection.enabled:
        return "topic not handled"
    waiting = session.scalar(select(SyncJob.id).where(
        SyncJob.connection_id == connection.id, SyncJob.kind == "order_pull",
        SyncJob.status == "queued").limit(1))
    if waiting is None:  # one waiting will see this order; one running may have passed it
        jobs.create_job(session, connection, "order_pull", trigger="webhook", exclusive=False)
    return "order_pull queued"


PROVIDER = inbound.Provider(name="tiktok", verify=verify, handle=handle)
"""TikTok Shop at ``/webhooks/tiktok/{store}`` (``channels.registry``)."""
