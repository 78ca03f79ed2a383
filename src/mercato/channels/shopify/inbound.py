"""What Shopify tells Mercato (webhooks, the order backfill), applied in the caller's
transaction through the orders, inventory and catalog services."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from mercato import catalog, inventory
from mercato.channels.models import Connection, Mapping
from mercato.channels.registry import cancelled_on, platform_refund
from mercato.channels.service import (
    SignatureRefused,
    config_of,
    connection_of,
    find_by_account,
    map_one,
    mappings_t,
    record_health,
    record_webhook_verified,
)
from mercato.channels.shopify.client import gid, verify_hmac
from mercato.channels.shopify.mapping import (
    PAID,
    PRODUCT_TYPE,
    group_jsonl,
    import_rows,
    line_sku,
    order_in,
)
from mercato.core import inbound
from mercato.core.db import utcnow
from mercato.core.errors import MercatoError, Unauthorized, ValidationFailed
from mercato.inventory import LevelSet
from mercato.orders import Order, PaymentIn, RefundIn
from mercato.orders import service as orders

SYNC_REFERENCE = "shopify"
CANCELLED_ON_SHOPIFY = cancelled_on("shopify")
"""The reason of a cancellation that came from Shopify (so it is not sent back)."""
SHOPIFY_REFUND = platform_refund("shopify")
"""How the reason of a refund that came from Shopify begins (its Shopify id follows)."""
MERCATO_REFUND = re.compile(r"\bMercato refund ([0-9A-Za-z]+)")


def mercato_refund_note(refund_id: str, reason: str | None) -> str:
    """The note of a refund Mercato makes on Shopify: it names the Mercato refund, so the
    ``refunds/create`` echo of it is known, and a second run of the push finds it sent."""
    return f"Mercato refund {refund_id}" + (f": {reason}" if reason else "")


def _sku_of(session: Session, connection: Connection,
            payload: dict[str, Any]) -> dict[str, str]:
    """Mercato SKU by Shopify variant id (numeric and gid forms) for the order's lines."""
    wanted = {gid("ProductVariant", item["variant_id"]) for item in payload.get("line_items", [])
              if item.get("variant_id") is not None}
    if not wanted:
        return {}
    rows = session.execute(select(Mapping.remote_id, Mapping.local_id).where(
        Mapping.connection_id == connection.id, Mapping.resource == "variant",
        Mapping.remote_id.in_(sorted(wanted)))).all()
    skus = {i.id: i.sku for i in catalog.stock_items(session, ids=[local for _, local in rows])}
    found: dict[str, str] = {}
    for remote, local in rows:
        if local in skus:
            found[remote] = found[remote.rsplit("/", 1)[-1]] = skus[local]
    return found


def apply_order(session: Session, connection: Connection, payload: dict[str, Any]) -> str:
    """Ingest (deduped on channel + Shopify order id) and follow a cancellation; what
    happened: ``created``, ``exists``, ``cancelled`` or ``skipped`` (no line Mercato knows)."""
    existing = orders.find_external(session, connection.channel_id, str(payload["id"]))
    if existing is None:
        sku_of = _sku_of(session, connection, payload)
        wanted = {line_sku(item, sku_of) for item in payload.get("line_items") or []}
        known = {i.sku for i in catalog.stock_items(session, skus=[s for s in wanted if s])}
        data, _ = order_in(payload, connection.channel_id, sku_of, known)
        if data is None:
            return "skipped"
        existing, made = orders.ingest(session, connection.organization_id, data)
        outcome = "created" if made else "exists"
        if made:
            _account_for_sale(session, connection, existing, payload)
    else:
        outcome = "paid" if _follow_payment(session, existing, payload) else "exists"
    if payload.get("cancelled_at") and existing.status != "cancelled" \
            and orders.cancel_if_open(session, existing.id, CANCELLED_ON_SHOPIFY):
        outcome = "cancelled"
    return outcome


def _follow_payment(session: Session, order: Order, payload: dict[str, Any]) -> bool:
    """Shopify took the money of an order Mercato still has as unpaid (``pending`` →
    ``paid``, by ``orders/paid`` or ``orders/updated``): the payment is recorded as at
    ingestion, what Shopify charged (everything owed when lines were left out)."""
    financial = str(payload.get("financial_status") or "").lower()
    if financial not in PAID or order.status == "cancelled" \
            or order.financial_status != "pending":
        return False
    owed = order.total - sum((p.amount for p in order.payments if p.status != "voided"),
                             Decimal("0"))
    try:
        charged = Decimal(str(payload.get("total_price") or "0"))
    except ArithmeticError:
        raise ValueError(f"total_price {payload.get('total_price')!r}") from None
    amount = owed if "unmatched-lines" in order.tags else min(owed, charged)
    if amount <= 0:
        return False
    orders.add_payment(session, order.id, PaymentIn(method="shopify", amount=amount,
                                                    status="paid",
                                                    reference=str(payload["id"])))
    return True


def _account_for_sale(session: Session, connection: Connection, order: Order,
                      payload: dict[str, Any]) -> None:
    """Shopify took the sold units off its own stock. Where its last reported level predates
    the sale, expect it that much lower (so the next push is not a stale compare-and-set, and
    a system of record is not pushed the sale a second time); where the level already
    includes the sale, Mercato's copy of it is put back to that level (the order took the
    units again)."""
    placed = timestamp(payload.get("created_at"))
    by_variant: dict[str, int] = {}
    for line in order.lines:
        by_variant[line.variant_id] = by_variant.get(line.variant_id, 0) + line.quantity
    rows = session.scalars(select(Mapping).where(
        Mapping.connection_id == connection.id, Mapping.resource == "variant",
        Mapping.local_id.in_(sorted(by_variant))))
    for mapping in rows:
        if mapping.remote_quantity is None:
            continue
        if placed is not None and mapping.remote_seen_at is not None \
                and mapping.remote_seen_at >= placed:
            if connection.mode == "system_of_record":
                _restore(session, connection, order, mapping)
            continue
        mapping.remote_quantity -= by_variant[mapping.local_id]


def timestamp(raw: Any) -> dt.datetime | None:
    """A Shopify time (ISO 8601, ``Z`` or an offset) as an aware datetime."""
    if not raw:
        return None
    value = dt.datetime.fromisoformat(str(raw).replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def _restore(session: Session, connection: Connection, order: Order, mapping: Mapping) -> None:
    locations = {m.local_id for m in session.scalars(select(Mapping).where(
        Mapping.connection_id == connection.id, Mapping.resource == "location"))}
    items = catalog.stock_items(session, ids=[mapping.local_id])
    taken = {a.location_id for line in order.lines if line.variant_id == mapping.local_id
             for a in line.allocations}
    for location in sorted(taken & locations):
        if items and mapping.remote_quantity is not None:
            set_available(session, items[0].sku, location, mapping.remote_quantity)


def cancel_order(session: Session, connection: Connection, payload: dict[str, Any]) -> str:
    order = orders.find_external(session, connection.channel_id, str(payload["id"]))
    if order is None:  # the cancellation came first: record the order, then cancel it
        return apply_order(session, connection, {**payload,
                                                 "cancelled_at": payload.get("cancelled_at")
                                                 or utcnow().isoformat()})
    # a cancellation Mercato sent, echoed back, a redelivery, or another webhook that got
    # there first (checked again once the order is locked)
    if order.status == "cancelled" or not orders.cancel_if_open(session, order.id,
                                                                CANCELLED_ON_SHOPIFY):
        return "exists"
    return "cancelled"


def apply_refund(session: Session, connection: Connection, payload: dict[str, Any]) -> str:
    """A refund made on Shopify, recorded once (its id is in the refund's reason). One that
    Mercato made (its note names a refund of the order) is already there."""
    order = orders.find_external(session, connection.channel_id, str(payload["order_id"]))
    if order is None:
        return "skipped"
    ours = MERCATO_REFUND.search(str(payload.get("note") or ""))
    if ours is not None and any(r.id == ours.group(1) for r in order.refunds):
        return "exists"
    reason = f"{SHOPIFY_REFUND}{payload['id']}"
    if any(r.reason == reason for r in order.refunds):
        return "exists"
    amount = sum((Decimal(str(t.get("amount") or "0"))
                  for t in payload.get("transactions") or []
                  if t.get("kind", "refund") == "refund" and t.get("status", "success")
                  == "success"), Decimal("0"))
    if amount <= 0:
        return "skipped"
    orders.refund(session, order.id, RefundIn(amount=min(amount, order.paid_total), reason=reason))
    return "refunded"


def apply_level(session: Session, connection: Connection, payload: dict[str, Any]) -> str:
    """``inventory_levels/update``. System of record: Mercato's stock at the mapped location
    follows Shopify's ``available``. Channel mode: Shopify was changed behind Mercato's back
    (a merchant edit), so Mercato's number is pushed again."""
    item = gid("InventoryItem", payload["inventory_item_id"])
    available = int(payload.get("available") or 0)
    mapping = session.scalar(select(Mapping).where(
        Mapping.connection_id == connection.id, Mapping.resource == "variant",
        Mapping.remote_extra == item))
    if mapping is None:
        return "skipped"
    mapping.remote_seen_at = timestamp(payload.get("updated_at")) or utcnow()
    if connection.mode == "channel":
        if mapping.want_quantity is not None and available != mapping.want_quantity:
            session.execute(update(mappings_t).where(mappings_t.c.id == mapping.id).values(
                remote_quantity=available, want_version=mappings_t.c.want_version + 1,
                wanted_at=utcnow()))
            return "repush"
        mapping.remote_quantity = available
        return "exists"
    location = session.scalar(select(Mapping.local_id).where(
        Mapping.connection_id == connection.id, Mapping.resource == "location",
        Mapping.remote_id == gid("Location", payload["location_id"])))
    if location is None:
        return "skipped"
    items = catalog.stock_items(session, ids=[mapping.local_id])
    if not items:
        return "skipped"
    set_available(session, items[0].sku, location, available)
    mapping.remote_quantity = available
    return "updated"


def set_available(session: Session, sku: str, location_id: str, available: int) -> None:
    """Make Mercato's available at a location what the system of record says (on hand is
    what is available plus what Mercato holds reserved there)."""
    level = next(iter(inventory.list_levels(session, sku=sku, location=location_id)), None)
    reserved = level[0].reserved if level is not None else 0
    inventory.set_level(session, LevelSet(sku=sku, location=location_id,
                                          on_hand=max(0, available) + reserved,
                                          reason="count", reference=SYNC_REFERENCE,
                                          note="from Shopify"))


def ensure_product_type(session: Session) -> None:
    if catalog.product_type_id(session, PRODUCT_TYPE) is None:
        catalog.create_product_type(session, catalog.ProductTypeCreate(
            name="Shopify product", slug=PRODUCT_TYPE))


def import_products(session: Session, connection: Connection, products: list[dict[str, Any]],
                    *, start_line: int = 0) -> tuple[catalog.BatchResult, int]:
    """Upsert products (bulk JSONL or webhook, grouped) into the catalog by SKU, map their
    variants, and (system of record) take their stock; (result, variants mapped)."""
    ensure_product_type(session)
    rows = import_rows(products, start_line)
    result = catalog.import_rows(session, connection.organization_id, rows)
    failed = {e.sku for e in result.errors}
    skus = [r.cells["sku"] for r in rows]
    by_sku = {i.sku: i.id for i in catalog.stock_items(session, skus=skus)}
    locations = {m.remote_id: m.local_id for m in session.scalars(select(Mapping).where(
        Mapping.connection_id == connection.id, Mapping.resource == "location"))}
    mapped = 0
    for product in products:
        for variant in product["variants"]:
            sku = (variant.get("sku") or "").strip()
            if not sku or sku in failed or sku not in by_sku:
                continue
            item = (variant.get("inventoryItem") or {}).get("id")
            mapping = map_one(session, connection.id, "variant", by_sku[sku], variant["id"],
                              item)
            mapped += 1
            for level in variant.get("levels", []):
                location = locations.get(str((level.get("location") or {}).get("id")))
                quantities = {q["name"]: q["quantity"] for q in level.get("quantities", [])}
                if location is None or "available" not in quantities:
                    continue
                try:
                    set_available(session, sku, location, int(quantities["available"]))
                except MercatoError:
                    continue  # a serialized item above one unit, say: the row's error stands
                mapping.remote_quantity = int(quantities["available"])
    return result, mapped


# -- webhooks -----------------------------------------------------------------------------------

def apply_product(session: Session, connection: Connection, body: dict[str, Any]) -> str:
    """``products/create``/``products/update`` (system of record only): the REST product put
    in the bulk shape and imported like one."""
    if connection.mode != "system_of_record":
        return "ignored"
    product_gid = body.get("admin_graphql_api_id") or gid("Product", body["id"])
    rows: list[dict[str, Any]] = [{
        "id": product_gid, "handle": body.get("handle"), "title": body.get("title"),
        "descriptionHtml": body.get("body_html"), "vendor": body.get("vendor"),
        "status": str(body.get("status", "active")).upper(), "tags": [
            t.strip() for t in str(body.get("tags") or "").split(",") if t.strip()]}]
    for variant in body.get("variants") or []:
        rows.append({"id": variant.get("admin_graphql_api_id") or gid("ProductVariant",
                                                                      variant["id"]),
                     "__parentId": product_gid, "sku": variant.get("sku"),
                     "barcode": variant.get("barcode"), "title": variant.get("title"),
                     "price": variant.get("price"),
                     "compareAtPrice": variant.get("compare_at_price"),
                     "inventoryItem": {"id": gid("InventoryItem", variant["inventory_item_id"])}
                     if variant.get("inventory_item_id") else None})
    result, mapped = import_products(session, connection, group_jsonl(rows))
    if result.errors:
        first = result.errors[0]
        raise ValidationFailed(f"{first.sku or first.field}: {first.message}")
    return f"{mapped} variants"


TOPICS: dict[str, Callable[[Session, Connection, dict[str, Any]], str]] = {
    "orders/create": apply_order, "orders/updated": apply_order, "orders/paid": apply_order,
    "orders/cancelled": cancel_order, "refunds/create": apply_refund,
    "inventory_levels/update": apply_level, "products/create": apply_product,
    "products/update": apply_product,
}


def verify(session: Session, delivery: inbound.Delivery) -> inbound.Verified:
    """One webhook delivery: the shop's connection found (in the session's store; one per
    shop, whether Shopify or BinderPOS; 401 when none), the HMAC checked (401 otherwise,
    counted in the health), the delivery id (``X-Shopify-Webhook-Id``) the event id.

    Shopify signs the body only: ``X-Shopify-Triggered-At`` is not covered by the HMAC, so
    no replay window applies (it is kept as when the event happened); the dedupe by webhook
    id is what stops a replay."""
    headers = delivery.headers
    shop = headers.get("x-shopify-shop-domain", "")
    connection = find_by_account(session, "shopify", shop) if shop else None
    if connection is None:
        raise Unauthorized("No connection for this shop.")
    secret = config_of(session, connection, delivery.settings).secrets["client_secret"]
    if not verify_hmac(secret, delivery.body, headers.get("x-shopify-hmac-sha256")):
        raise SignatureRefused(connection, "Bad or missing X-Shopify-Hmac-Sha256.", health=(
            "A webhook was refused: its X-Shopify-Hmac-Sha256 does not verify with this "
            "connection's client secret."))
    record_webhook_verified(session, connection.id)
    topic = headers.get("x-shopify-topic", "")
    delivery_id = headers.get("x-shopify-webhook-id") or headers.get("x-shopify-event-id") \
        or f"sha256:{hashlib.sha256(delivery.body).hexdigest()}"
    malformed: str | None = None
    try:
        body: Any = json.loads(delivery.body)
    except ValueError as exc:
        body, malformed = None, f"malformed payload: {type(exc).__name__}: {exc}"
    else:
        malformed = None if isinstance(body, dict) else \
            "malformed payload: ValueError: not a JSON object"
    triggered = headers.get("x-shopify-triggered-at")
    try:
        occurred = timestamp(triggered)
    except ValueError:
        occurred = None
    return inbound.Verified(
        event_id=delivery_id, event_type=topic, occurred_at=occurred,
        payload=body if malformed is None else None,
        resource=f"{connection.id}:{_subject(topic, body)}",
        context={"connection_id": connection.id, "malformed": malformed,
                 "handled": topic in TOPICS})


def _subject(topic: str, body: Any) -> str:
    """What a webhook is about, so the worker applies one order's (or level's, or product's)
    webhooks in the order they arrived, and one that keeps failing holds back only those: an
    order's refunds follow the order."""
    body = body if isinstance(body, dict) else {}
    if topic.startswith("orders/"):
        return f"order:{body.get('id')}"
    if topic.startswith("refunds/"):
        return f"order:{body.get('order_id')}"
    if topic.startswith("inventory_levels/"):
        return f"level:{body.get('inventory_item_id')}:{body.get('location_id')}"
    if topic.startswith("products/"):
        return f"product:{body.get('id')}"
    return topic


def handle(session: Session, event: inbound.InboundEvent) -> tuple[bool, str | None]:
    """The topic applied; (processed, message). What cannot be applied is answered 200 with
    the reason, recorded in the connection's health: Shopify would retry a 4xx for hours in
    vain, and ``order_pull`` reports it again."""
    connection = connection_of(session, str(event.context.get("connection_id")))
    topic = event.event_type
    handler = TOPICS.get(topic)
    if connection is None or handler is None:
        return False, "topic not handled"
    problem: str | None = event.context.get("malformed")
    if problem is None:
        try:
            with session.begin_nested():
                outcome = handler(session, connection, dict(event.payload))
        except MercatoError as exc:
            problem = exc.detail
        except (ValueError, KeyError, TypeError) as exc:  # a payload not shaped as documented
            problem = f"malformed payload: {type(exc).__name__}: {exc}"
        else:
            record_health(session, connection.id)
            return True, outcome
    record_health(session, connection.id, error=f"{topic}: {problem}", error_kind="validation")
    return False, str(problem)


PROVIDER = inbound.register(inbound.Provider(name="shopify", verify=verify, handle=handle,
                                             signs_timestamp=False))
"""Shopify (and BinderPOS) at ``/webhooks/shopify/{store}``: answered at once, the topic
applied by the worker."""
