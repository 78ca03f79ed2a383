"""Shopify syncs: each job kind, and the inventory push.

- ``product_import``: system of record — a bulk operation's JSONL upserted into the catalog by
  SKU, variants and locations mapped, stock taken from Shopify. Channel mode — Shopify's
  variants linked to Mercato's by SKU (Mercato's catalog is not changed) and Mercato's numbers
  queued for push.
- ``product_export``: Mercato's products published on the channel, created or updated with
  ``productSet`` (by handle), variants mapped.
- ``inventory_push``: every mapped variant's number, queued and pushed.
- ``order_pull``: orders updated since the last pull, ingested (the webhook's backfill).
- ``price_push``: mapped variants' prices with ``productVariantsBulkUpdate``.
- ``fulfillment_push``: one Mercato fulfillment sent back as ``fulfillmentCreate``.
- ``cancellation_push``: a Mercato cancellation sent back as ``orderCancel`` (no refund).
- ``refund_push``: a Mercato refund sent back as ``refundCreate`` (its amount, against the
  order's payment transactions).

The pushes back are idempotent: each first reads what Shopify already has (the order
cancelled, a refund whose note names the Mercato refund), so a job run again after a crash or
a retry sends nothing twice.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections import defaultdict
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from mercato.catalog import published_products, stock_items, variant_prices
from mercato.channels.jobs import JobContext
from mercato.channels.models import Connection
from mercato.channels.push import inventory_push, want, want_all
from mercato.channels.registry import ConnectionConfig, JobFunc, PushEntry, PushResult, register
from mercato.channels.service import map_one, mapped
from mercato.channels.shopify import inbound
from mercato.channels.shopify.client import ShopifyClient, gid, legacy_id, new_key
from mercato.channels.shopify.mapping import group_jsonl, product_input, rest_order
from mercato.channels.toolkit import ChannelError, ErrorKind
from mercato.core.db import utcnow
from mercato.core.errors import MercatoError
from mercato.inventory import (
    ChannelUpdate,
    LocationCreate,
    create_location,
    get_channel,
    location_ids_by_name,
    sellable,
    update_channel,
)

BULK_PRODUCTS = (
    "{ products { edges { node { id handle title descriptionHtml vendor productType status "
    "tags variants { edges { node { id sku barcode title price compareAtPrice inventoryItem { "
    "id inventoryLevels { edges { node { id location { id } quantities(names: [\"available\"]) "
    "{ name quantity } } } } } } } } } } } }")
PAGE = 100
STALE = ("CHANGE_FROM_QUANTITY_STALE", "COMPARE_QUANTITY_STALE")
"""The compare-and-set failure, as 2026-01 on and earlier versions name it."""
CAS_TRIES = 4
_locations: dict[str, str] = {}
"""The Shopify location a channel-mode connection pushes to, by connection id."""



# -- inventory push -----------------------------------------------------------------------------

async def _push_location(client: ShopifyClient, config: ConnectionConfig) -> str:
    chosen = config.settings.get("remote_location_id") or _locations.get(config.id)
    if chosen:
        return str(chosen)
    active = [loc for loc in await client.locations() if loc.get("isActive", True)]
    if not active:
        raise ChannelError(ErrorKind.VALIDATION, "The shop has no active location.")
    _locations[config.id] = active[0]["id"]
    return str(active[0]["id"])


async def push(config: ConnectionConfig, entries: list[PushEntry]) -> list[PushResult]:
    """Set each entry's quantity with compare-and-set; on ``CHANGE_FROM_QUANTITY_STALE``
    re-read and retry. Channel mode sets Mercato's number whatever Shopify held; system of
    record applies Mercato's own change (wanted minus last known) to what Shopify holds now."""
    results: dict[int, PushResult] = {}
    pending: dict[int, PushEntry] = {}
    for entry in entries:
        if entry.inventory_item_id is None:
            results[entry.mapping_id] = PushResult(entry.mapping_id, None,
                                                   "no inventory item mapped")
        elif entry.known_remote is not None and entry.quantity == entry.known_remote:
            results[entry.mapping_id] = PushResult(entry.mapping_id, entry.quantity)
        else:
            pending[entry.mapping_id] = entry
    if not pending:
        return list(results.values())
    async with ShopifyClient(config) as client:
        location = await _push_location(client, config)
        known = {m: e.known_remote for m, e in pending.items()}
        unknown = [e.inventory_item_id for e in pending.values()
                   if e.known_remote is None and e.inventory_item_id]
        if unknown:
            levels = await client.levels([i for i in unknown if i], location)
            for m, e in pending.items():
                if e.known_remote is None:
                    known[m] = levels.get(e.inventory_item_id or "", 0)
        for _ in range(CAS_TRIES):
            if not pending:
                break
            order = list(pending.values())
            targets = {e.mapping_id: _target(config, e, known[e.mapping_id]) for e in order}
            errors = await client.set_quantities(
                [{"inventoryItemId": e.inventory_item_id, "locationId": location,
                  "quantity": targets[e.mapping_id], "compare": known[e.mapping_id]}
                 for e in order],
                key=new_key(), reference=f"gid://mercato/Channel/{config.channel_id}")
            if not errors:
                for e in order:
                    results[e.mapping_id] = PushResult(e.mapping_id, targets[e.mapping_id])
                pending.clear()
                break
            stale: list[PushEntry] = []
            for error in errors:
                index = _index(error.get("field"))
                if index is None or index >= len(order):
                    raise ChannelError(ErrorKind.VALIDATION, error.get("message", "rejected"),
                                       details=errors)
                entry = order[index]
                if error.get("code") in STALE:
                    stale.append(entry)
                else:
                    results[entry.mapping_id] = PushResult(entry.mapping_id, None,
                                                           str(error.get("message")))
                    pending.pop(entry.mapping_id, None)
            if stale:
                now = await client.levels([e.inventory_item_id or "" for e in stale], location)
                for e in stale:
                    known[e.mapping_id] = now.get(e.inventory_item_id or "", 0)
        for e in pending.values():
            results[e.mapping_id] = PushResult(e.mapping_id, None,
                                               "Shopify's quantity kept changing; will retry")
    return list(results.values())


def _target(config: ConnectionConfig, entry: PushEntry, current: int | None) -> int:
    if config.mode == "system_of_record" and entry.known_remote is not None \
            and current is not None:
        return max(0, current + entry.quantity - entry.known_remote)
    return entry.quantity


def _index(field: Any) -> int | None:
    if isinstance(field, list):
        for part in field:
            if str(part).isdigit():
                return int(part)
    return None


# -- jobs ---------------------------------------------------------------------------------------


def _map_locations(session: Session, connection: Connection,
                   remote: list[dict[str, Any]]) -> None:
    """System of record: each active Shopify location mapped to the Mercato location of the
    same name (made when missing), and the channel's locations made those."""
    existing = mapped(session, connection.id, "location")
    by_remote = {m.remote_id: m.local_id for m in existing.values()}
    names = location_ids_by_name(session)
    for loc in remote:
        if not loc.get("isActive", True) or loc["id"] in by_remote:
            continue
        local = names.get(str(loc["name"]).lower())
        if local is None:
            local = create_location(session, LocationCreate(
                name=str(loc["name"])[:200], code=f"shopify-{legacy_id(loc['id'])}"[:50],
                kind="store")).id
        map_one(session, connection.id, "location", local, loc["id"])
        by_remote[loc["id"]] = local
    channel = get_channel(session, connection.channel_id)
    wanted = sorted(set(by_remote.values()))
    if sorted(link.location_id for link in channel.locations) != wanted:
        update_channel(session, channel, ChannelUpdate(locations=wanted))


async def product_import(ctx: JobContext) -> None:
    if ctx.config.mode == "channel":
        await _link_by_sku(ctx)
        return
    async with ShopifyClient(ctx.config) as client:
        if "locations_done" not in ctx.state:
            remote = await client.locations()
            with ctx.session() as session:
                _map_locations(session, ctx.connection(session), remote)
                ctx.progress(state={**ctx.state, "locations_done": True}, session=session)
        if "bulk_id" not in ctx.state:
            bulk_id = await client.run_bulk_query(BULK_PRODUCTS)
            ctx.progress(state={**ctx.state, "bulk_id": bulk_id})
        while True:
            operation = await client.bulk_operation(ctx.state["bulk_id"])
            status = operation.get("status")
            if status == "COMPLETED":
                break
            if status in ("FAILED", "CANCELED", "EXPIRED"):
                raise ChannelError(ErrorKind.PLATFORM, f"The bulk operation ended {status} "
                                   f"({operation.get('errorCode')}).")
            ctx.progress()  # honours cancel and the time slice while Shopify works
            await asyncio.sleep(0.25)
        lines = await client.download(operation["url"]) if operation.get("url") else []
    products = group_jsonl(lines)
    start = int(ctx.state.get("offset", 0))
    ctx.progress(total=len(products))
    for first in range(start, len(products), PAGE):
        chunk = products[first:first + PAGE]
        with ctx.session() as session:
            result, _ = inbound.import_products(session, ctx.connection(session), chunk,
                                                start_line=first)
            for error in result.errors:
                ctx.item_error(f"sku {error.sku}" if error.sku else f"row {error.line}",
                               "validation", f"{error.field}: {error.message}", session=session)
            ctx.progress(add=len(chunk), state={**ctx.state, "offset": first + len(chunk)},
                         session=session)


async def _link_by_sku(ctx: JobContext) -> None:
    """Channel mode: map Shopify variants to Mercato's by SKU, then queue their numbers."""
    linked = 0
    async with ShopifyClient(ctx.config) as client:
        pages = client.paginate(ShopifyClient.VARIANTS, "productVariants", {"first": 250},
                                after=ctx.state.get("after"), cost=250 * 3 + 2)
        async for nodes, cursor, _ in pages:
            with ctx.session() as session:
                items = {i.sku: i for i in stock_items(
                    session, skus=[n["sku"] for n in nodes if n.get("sku")])}
                connection = ctx.connection(session)
                for node in nodes:
                    sku = node.get("sku")
                    if not sku or sku not in items:
                        ctx.item_error(f"sku {sku or node['id']}", "validation",
                                       "no Mercato variant with this SKU", session=session)
                        continue
                    map_one(session, connection.id, "variant", items[sku].id, node["id"],
                            (node.get("inventoryItem") or {}).get("id"))
                    map_one(session, connection.id, "product", items[sku].product_id,
                            node["product"]["id"])
                    linked += 1
                ctx.progress(add=len(nodes), state={**ctx.state, "after": cursor},
                             session=session)
    with ctx.session() as session:
        want_all(session, ctx.connection(session))


async def product_export(ctx: JobContext) -> None:
    skus = set(ctx.params.get("skus") or [])
    with ctx.session() as session:
        kind = get_channel(session, ctx.config.channel_id).kind
    async with ShopifyClient(ctx.config) as client:
        after = str(ctx.state.get("after", ""))
        while True:
            with ctx.session() as session:
                batch = [(p, [v for v in p.variants if not skus or v.sku in skus])
                         for p in published_products(session, kind, after=after, limit=25)]
                payloads = [(p.id, p.slug, product_input(
                    {"title": p.title, "slug": p.slug, "description": p.description,
                     "vendor": p.vendor, "status": p.status, "tags": p.tags},
                    [{"sku": v.sku, "title": v.title, "price": v.price,
                      "compare_at_price": v.compare_at_price, "barcode": v.barcode}
                     for v in variants])) for p, variants in batch if variants]
                ids = {v.sku: v.id for _, variants in batch for v in variants}
            if not batch:
                break
            made = []
            for product_id, slug, payload in payloads:
                answer = await client.product_set(payload, slug)
                if answer.get("userErrors"):
                    made.append((product_id, None, answer["userErrors"]))
                else:
                    made.append((product_id, answer["product"], None))
            with ctx.session() as session:
                connection = ctx.connection(session)
                touched: list[str] = []
                for product_id, product, errors in made:
                    if product is None:
                        ctx.item_error(f"product {product_id}", "validation",
                                       "; ".join(str(e.get("message")) for e in errors or []),
                                       session=session)
                        continue
                    map_one(session, connection.id, "product", product_id, product["id"])
                    for edge in product["variants"]["edges"]:
                        node = edge["node"]
                        if node.get("sku") in ids:
                            map_one(session, connection.id, "variant", ids[node["sku"]],
                                    node["id"], (node.get("inventoryItem") or {}).get("id"))
                            touched.append(ids[node["sku"]])
                channel = get_channel(session, connection.channel_id)
                want(session, connection.channel_id, sellable(session, channel, touched))
                after = batch[-1][0].id
                ctx.progress(add=len(batch), state={"after": after}, session=session)


async def order_pull(ctx: JobContext) -> None:
    with ctx.session() as session:
        cursors = dict(ctx.connection(session).cursors or {})
    since = ctx.params.get("since") or ctx.state.get("since") or cursors.get("orders") or (
        utcnow() - dt.timedelta(days=1)).isoformat()
    newest = since
    async with ShopifyClient(ctx.config) as client:
        pages = client.paginate(
            "query($first: Int!, $after: String, $query: String) { orders(first: $first, "
            "after: $after, query: $query, sortKey: UPDATED_AT) { edges { cursor node { "
            + ShopifyClient.ORDER_FIELDS + " } } pageInfo { hasNextPage endCursor } } }",
            "orders", {"first": ShopifyClient.ORDERS_PER_PAGE,
                       "query": f"updated_at:>='{since}'"},
            after=ctx.state.get("after"), cost=850)
        async for page, cursor, _ in pages:
            nodes = [await client.complete_lines(node) for node in page]
            with ctx.session() as session:
                connection = ctx.connection(session)
                for node in nodes:
                    payload = rest_order(node)
                    try:
                        with session.begin_nested():
                            outcome = inbound.apply_order(session, connection, payload)
                    except MercatoError as exc:
                        ctx.item_error(f"order {payload.get('name') or payload['id']}",
                                       "validation", exc.detail, session=session)
                        continue
                    if outcome == "skipped":
                        ctx.item_error(f"order {payload.get('name') or payload['id']}",
                                       "validation", "no line with a SKU Mercato knows",
                                       session=session)
                    newest = max(newest, str(node.get("updatedAt") or newest))
                connection.cursors = {**cursors, "orders": newest}
                ctx.progress(add=len(nodes), state={"since": since, "after": cursor},
                             session=session)


async def price_push(ctx: JobContext) -> None:
    skus = set(ctx.params.get("skus") or [])
    with ctx.session() as session:
        connection = ctx.connection(session)
        variants = mapped(session, connection.id, "variant")
        products = mapped(session, connection.id, "product")
        rows = variant_prices(session, variants)
    by_product: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for variant_id, sku, product_id, price, compare in (
            (r.id, r.sku, r.product_id, r.price, r.compare_at_price) for r in rows):
        if (skus and sku not in skus) or product_id not in products:
            continue
        by_product[products[product_id].remote_id].append({
            "id": variants[variant_id].remote_id, "price": str(price),
            "compareAtPrice": str(compare) if compare is not None else None})
    ctx.progress(total=sum(len(v) for v in by_product.values()))
    async with ShopifyClient(ctx.config) as client:
        for remote_product, updates in sorted(by_product.items()):
            errors = await client.update_prices(remote_product, updates)
            for error in errors:
                ctx.item_error(f"product {remote_product}", "validation",
                               str(error.get("message")))
            ctx.progress(add=len(updates))


async def fulfillment_push(ctx: JobContext) -> None:
    with ctx.session() as session:
        made = ctx.fulfillment(session)
    units, external = made.units, made.external_id
    carrier, tracking, fulfillment_id = made.carrier, made.tracking_number, made.id
    ctx.progress(total=sum(units.values()))
    async with ShopifyClient(ctx.config) as client:
        remote = await client.fulfillment_orders(f"gid://shopify/Order/{external}")
        if remote is None:
            raise ChannelError(ErrorKind.VALIDATION, f"Shopify has no order {external}.")
        groups = []
        for node in remote:
            items = []
            for line in node["lineItems"]["edges"]:
                item = line["node"]
                sku = (item.get("lineItem") or {}).get("sku") or ""
                take = min(units.get(sku, 0), int(item.get("remainingQuantity") or 0))
                if take > 0:
                    items.append({"id": item["id"], "quantity": take})
                    units[sku] -= take
            if items:
                groups.append({"fulfillmentOrderId": node["id"],
                               "fulfillmentOrderLineItems": items})
        if not groups:
            return  # already fulfilled on Shopify
        payload: dict[str, Any] = {"lineItemsByFulfillmentOrder": groups,
                                   "notifyCustomer": True}
        if carrier or tracking:
            payload["trackingInfo"] = {"company": carrier, "number": tracking}
        answer = await client.create_fulfillment(
            payload, key=str(uuid.uuid5(uuid.NAMESPACE_URL, f"mercato:{fulfillment_id}")))
        if answer.get("userErrors"):
            raise ChannelError(ErrorKind.VALIDATION, "; ".join(
                str(e.get("message")) for e in answer["userErrors"]))
    ctx.progress(add=sum(int(i["quantity"]) for g in groups
                         for i in g["fulfillmentOrderLineItems"]))


CANCEL_POLLS = 20
"""How many times (every half second) a cancellation's job is asked whether it is done."""


async def cancellation_push(ctx: JobContext) -> None:
    """The whole order, cancelled in Mercato, cancelled on Shopify: no refund (a refund made
    in Mercato goes as a ``refund_push`` of its own), stock restocked as Mercato did, the
    buyer notified by Shopify."""
    with ctx.session() as session:
        order = ctx.order(session)
        if order.status != "cancelled" or not order.external_id:
            raise ChannelError(ErrorKind.VALIDATION,
                               "Not a cancelled order that came from this channel.")
        external, reason = order.external_id, order.cancel_reason
    ctx.progress(total=1)
    order_gid = gid("Order", external)
    async with ShopifyClient(ctx.config) as client:
        remote = await client.order_money(order_gid)
        if remote is None:
            raise ChannelError(ErrorKind.VALIDATION, f"Shopify has no order {external}.")
        if remote.get("cancelledAt") is None:
            answer = await client.cancel_order(
                order_gid, restock=bool(ctx.params.get("restock", True)), notify=True,
                staff_note="Cancelled in Mercato" + (f": {reason}" if reason else ""))
            errors = answer.get("orderCancelUserErrors") or []
            if errors:
                raise ChannelError(ErrorKind.VALIDATION, "; ".join(
                    str(e.get("message")) for e in errors), details=errors)
            job = answer.get("job") or {}
            if job.get("id") and not job.get("done"):
                for _ in range(CANCEL_POLLS):
                    if await client.job_done(str(job["id"])):
                        break
                    await asyncio.sleep(0.5)
                else:
                    raise ChannelError(ErrorKind.PLATFORM, "Shopify has not finished "
                                       "cancelling the order yet; it is checked again.")
    ctx.progress(add=1)


def refund_transactions(order_gid: str, remote: dict[str, Any],
                        amount: Decimal) -> list[dict[str, Any]] | None:
    """``amount`` as refund transactions against the order's successful sales and captures
    (what each has left), oldest first; None when they have less than that left."""
    transactions = remote.get("transactions") or []
    back: dict[str, Decimal] = defaultdict(Decimal)
    for t in transactions:
        parent = (t.get("parentTransaction") or {}).get("id")
        if t.get("kind") == "REFUND" and t.get("status") == "SUCCESS" and parent:
            back[parent] += Decimal(str(t["amountSet"]["shopMoney"]["amount"]))
    out: list[dict[str, Any]] = []
    left = amount
    for t in transactions:
        if left <= 0:
            break
        if t.get("kind") not in ("SALE", "CAPTURE") or t.get("status") != "SUCCESS":
            continue
        free = Decimal(str(t["amountSet"]["shopMoney"]["amount"])) - back[t["id"]]
        part = min(free, left)
        if part > 0:
            out.append({"orderId": order_gid, "parentId": t["id"], "gateway": t.get("gateway"),
                        "kind": "REFUND", "amount": f"{part:.2f}"})
            left -= part
    return out if left <= 0 else None


async def refund_push(ctx: JobContext) -> None:
    """A refund made in Mercato, made on Shopify: its amount, against the payments Shopify
    took, the Mercato refund named in the note. Line quantities are not sent: Mercato's
    cancellations and returns move the units."""
    refund_id = str(ctx.params.get("refund_id") or "")
    with ctx.session() as session:
        order = ctx.order(session)
        refund = next((r for r in order.refunds if r.id == refund_id), None)
        if refund is None or not order.external_id:
            raise ChannelError(ErrorKind.VALIDATION,
                               "Not a refund of an order that came from this channel.")
        external, amount, reason = order.external_id, refund.amount, refund.reason
    ctx.progress(total=1)
    order_gid = gid("Order", external)
    note = inbound.mercato_refund_note(refund_id, reason)
    async with ShopifyClient(ctx.config) as client:
        remote = await client.order_money(order_gid)
        if remote is None:
            raise ChannelError(ErrorKind.VALIDATION, f"Shopify has no order {external}.")
        sent = inbound.MERCATO_REFUND.search
        if not any((m := sent(str(r.get("note") or ""))) and m.group(1) == refund_id
                   for r in remote.get("refunds") or []):
            transactions = refund_transactions(order_gid, remote, amount)
            if transactions is None:
                raise ChannelError(ErrorKind.VALIDATION, f"Shopify has less than {amount} "
                                   f"of order {external}'s payments left to refund.")
            answer = await client.create_refund({
                "orderId": order_gid, "note": note[:500], "notify": True,
                "transactions": transactions})
            if answer.get("userErrors"):
                raise ChannelError(ErrorKind.VALIDATION, "; ".join(
                    str(e.get("message")) for e in answer["userErrors"]),
                    details=answer["userErrors"])
    ctx.progress(add=1)


TOPICS = ("ORDERS_CREATE", "ORDERS_UPDATED", "ORDERS_PAID", "ORDERS_CANCELLED",
          "REFUNDS_CREATE", "INVENTORY_LEVELS_UPDATE", "PRODUCTS_UPDATE")


async def subscribe_webhooks(ctx: JobContext) -> None:
    """Point Shopify's webhooks at Mercato (the connection's ``webhook_url``); system of record
    adds product updates."""
    url = ctx.config.settings.get("webhook_url")
    if not url:
        raise ChannelError(ErrorKind.VALIDATION, "The connection has no webhook_url.")
    topics = TOPICS if ctx.config.mode == "system_of_record" else TOPICS[:-1]
    ctx.progress(total=len(topics))
    async with ShopifyClient(ctx.config) as client:
        for topic in topics:
            for error in await client.subscribe(topic, str(url)):
                if "taken" not in str(error.get("message", "")).lower():
                    ctx.item_error(topic, "validation", str(error.get("message")))
            ctx.progress(add=1)


JOBS: dict[str, JobFunc] = {"product_import": product_import, "product_export": product_export,
        "inventory_push": inventory_push, "order_pull": order_pull, "price_push": price_push,
        "fulfillment_push": fulfillment_push, "cancellation_push": cancellation_push,
        "refund_push": refund_push, "subscribe_webhooks": subscribe_webhooks}
register("shopify", jobs=JOBS, push=push)
