"""The Shopee connector's jobs and stock push (channel mode: Mercato is the source of truth).

A variant's mapping: ``remote_id`` = ``<item_id>:<model_id>`` (model 0 for an item without
variations), ``remote_extra`` = the item id (``PushEntry.inventory_item_id``). An order's
mapping holds its ``order_sn`` and, in ``remote_extra``, the buyer's username.

- ``product_import``: links Mercato SKUs to the shop's listings, read page by page
  (``get_item_list``, 100 a page, NORMAL items), their SKUs from ``get_item_base_info``
  (``item_sku``, 50 items a call) and ``get_model_list`` (``model_sku``); a SKU Mercato has
  is mapped to its item and model (``params.skus`` narrows it). Nothing is created on Shopee.
  Then the linked numbers are pushed.
- stock push: the wanted numbers grouped by item, one ``update_stock`` per item with all its
  changed models (Shopee takes one item a call); a model Shopee refuses fails alone.
- ``inventory_push``: every linked variant's number, wanted again and pushed.
- ``price_push``: linked variants' prices, one ``update_price`` per item.
- ``order_pull``: orders by ``update_time`` from the watermark (``cursors.orders``, epoch
  seconds; else ``params.since`` or a day ago) to now, in windows of at most 15 days, each
  paged by Shopee's cursor, read 50 at a time with ``get_order_detail``; deduplicated; a
  CANCELLED order cancels the Mercato order (its units go back).
- ``cancellation_push``: a Mercato cancellation as the seller's ``cancel_order``
  (``OUT_OF_STOCK`` with the order's items); an order Shopee has as cancelled (or shipped) is
  left alone.
- ``fulfillment_push``: ``ship_order`` for an order still READY_TO_SHIP, with the tracking
  number for a ``non_integrated`` channel (or a drop-off); a pickup needs an address and a
  time slot, taken as the first Shopee offers.
"""

from __future__ import annotations

import datetime as dt
import time
from collections import defaultdict
from decimal import Decimal
from functools import partial
from typing import Any

from mercato import catalog
from mercato.channels.jobs import JobContext
from mercato.channels.push import drain, inventory_push, resend, want
from mercato.channels.registry import (
    ConnectionConfig,
    JobFunc,
    PushEntry,
    PushResult,
    current_database,
    register,
)
from mercato.channels.service import map_one, mapped
from mercato.channels.shopee import inbound
from mercato.channels.shopee.client import MAX_DETAIL, MAX_PAGE, ShopeeClient
from mercato.channels.toolkit import ChannelError, ErrorKind
from mercato.inventory import get_channel, sellable

WINDOW = 15 * 24 * 3600
"""The longest ``update_time`` range one ``get_order_list`` may ask."""
OVERLAP = 120
"""Seconds the next pull starts before the last one ended (orders are deduplicated)."""
SHIPPED = frozenset({"PROCESSED", "SHIPPED", "TO_CONFIRM_RECEIVE", "COMPLETED",
                     "TO_RETURN", "RETRY_SHIP"})
GONE = frozenset({"CANCELLED", "IN_CANCEL"})


def split(remote: str) -> tuple[int, int] | None:
    item, _, model = remote.partition(":")
    if not item.isdigit() or not (model or "0").isdigit():
        return None
    return int(item), int(model or 0)


def _failures(answer: dict[str, Any]) -> dict[int, str]:
    return {int(f.get("model_id") or 0): str(f.get("failed_reason") or "refused")
            for f in answer.get("failure_list") or []}


# -- stock push ---------------------------------------------------------------------------------

async def push(config: ConnectionConfig, entries: list[PushEntry]) -> list[PushResult]:
    """The wanted quantities, one ``update_stock`` per item with all its models in the batch.
    A model Shopee refuses (in ``failure_list``) or an item it refuses fails alone; throttling,
    auth and server errors raise (the entries stay due)."""
    results: list[PushResult] = []
    by_item: dict[int, list[tuple[PushEntry, int]]] = defaultdict(list)
    for entry in entries:
        ids = split(entry.remote_id)
        if ids is None:
            results.append(PushResult(entry.mapping_id, None,
                                      f"{entry.remote_id!r} is not <item_id>:<model_id>"))
            continue
        by_item[ids[0]].append((entry, ids[1]))
    if not by_item:
        return results
    async with ShopeeClient(config, db=current_database()) as client:
        for item_id, group in sorted(by_item.items()):
            stocks = {model_id: max(0, entry.quantity) for entry, model_id in group}
            try:
                answer = await client.update_stock(item_id, stocks)
            except ChannelError as exc:
                if exc.kind is not ErrorKind.VALIDATION:
                    raise
                results.extend(PushResult(entry.mapping_id, None, exc.message)
                               for entry, _ in group)
                continue
            failed = _failures(answer)
            for entry, model_id in group:
                if model_id in failed:
                    results.append(PushResult(entry.mapping_id, None,
                                              f"Shopee refused model {model_id}: "
                                              f"{failed[model_id]}"))
                else:
                    results.append(PushResult(entry.mapping_id, stocks[model_id]))
    return results



# -- linking ------------------------------------------------------------------------------------

async def _skus_of(client: ShopeeClient, item_ids: list[int]) -> dict[str, tuple[int, int]]:
    """(item, model) by seller SKU of these items."""
    found: dict[str, tuple[int, int]] = {}
    for info in await client.item_base_info(item_ids):
        item_id = int(info["item_id"])
        if info.get("has_model"):
            for model in await client.models(item_id):
                if model.get("model_sku"):
                    found[str(model["model_sku"])] = (item_id, int(model["model_id"]))
        elif info.get("item_sku"):
            found[str(info["item_sku"])] = (item_id, 0)
    return found


async def product_import(ctx: JobContext) -> None:
    """Mercato SKUs linked to the shop's items and models by seller SKU (``params.skus``
    narrows them), page by page; resumable at the page's offset. Then the linked numbers are
    pushed."""
    only = set(ctx.params.get("skus") or [])
    offset = int(ctx.state.get("offset") or 0)
    async with ShopeeClient(ctx.config, db=ctx.db) as client:
        while not ctx.state.get("linked"):
            page = await client.item_page(offset, MAX_PAGE)
            item_ids = [int(i["item_id"]) for i in page.get("item") or []]
            found: dict[str, tuple[int, int]] = {}
            for start in range(0, len(item_ids), MAX_DETAIL):
                found.update(await _skus_of(client, item_ids[start:start + MAX_DETAIL]))
            if only:
                found = {sku: ids for sku, ids in found.items() if sku in only}
            more = bool(page.get("has_next_page"))
            offset = int(page.get("next_offset") or offset + len(item_ids))
            with ctx.session() as session:
                connection = ctx.connection(session)
                items = {i.sku: i.id for i in catalog.stock_items(session, skus=list(found))}
                for sku, (item_id, model_id) in sorted(found.items()):
                    if sku in items:
                        map_one(session, connection.id, "variant", items[sku],
                                inbound.remote_id(item_id, model_id), str(item_id))
                if items:
                    channel = get_channel(session, connection.channel_id)
                    want(session, connection.channel_id,
                         sellable(session, channel, list(items.values())))
                ctx.progress(add=len(items), total=int(page.get("total_count") or 0),
                             state={"offset": offset, "linked": not more}, session=session)
            if not more:
                break
    await drain(ctx.db, ctx.config, until=time.monotonic() + 600)


# -- orders -------------------------------------------------------------------------------------

async def order_pull(ctx: JobContext) -> None:
    """Orders updated from the watermark to now, in windows of at most 15 days, each paged by
    cursor; resumable; the watermark moves when the whole range is done."""
    with ctx.session() as session:
        cursors = dict(ctx.connection(session).cursors or {})
    now = int(time.time())
    since_param = ctx.params.get("since")
    if since_param is not None and not str(since_param).isdigit():
        since_param = int(dt.datetime.fromisoformat(
            str(since_param).replace("Z", "+00:00")).timestamp())
    since = int(ctx.state.get("since") or since_param or cursors.get("orders")
                or now - 86400)
    until = int(ctx.state.get("until") or now)
    start = int(ctx.state.get("from") or since)
    cursor = str(ctx.state.get("cursor") or "")
    size = max(1, min(MAX_PAGE, int(ctx.params.get("page_size") or MAX_PAGE)))
    async with ShopeeClient(ctx.config, db=ctx.db) as client:
        while True:
            end = min(until, start + WINDOW)
            page = await client.order_page(start, end, cursor, size)
            sns = [str(o["order_sn"]) for o in page.get("order_list") or []]
            details: list[dict[str, Any]] = []
            for first in range(0, len(sns), MAX_DETAIL):
                details.extend(await client.order_details(sns[first:first + MAX_DETAIL]))
            more = bool(page.get("more"))
            cursor = str(page.get("next_cursor") or "") if more else ""
            if not more:
                start, cursor = end, ""
            finished = not more and end >= until
            with ctx.session() as session:
                connection = ctx.connection(session)
                for payload in details:
                    ctx.apply_order(session, str(payload.get("order_sn")),
                                    partial(inbound.apply_order, session, connection, payload))
                if finished:
                    connection.cursors = {**cursors, "orders": max(since, until - OVERLAP)}
                ctx.progress(add=len(details), state={
                    "since": since, "until": until, "from": start, "cursor": cursor},
                    session=session)
            if finished:
                return


# -- back to Shopee -----------------------------------------------------------------------------

async def cancellation_push(ctx: JobContext) -> None:
    """A whole order cancelled in Mercato, cancelled by the seller on Shopee (OUT_OF_STOCK,
    naming the order's items); one Shopee has as cancelled or shipped is left alone."""
    with ctx.session() as session:
        order = ctx.order(session)
        if order.status != "cancelled" or not order.external_id:
            raise ChannelError(ErrorKind.VALIDATION,
                               "Not a cancelled order that came from this channel.")
        external = order.external_id
        variant_ids = [line.variant_id for line in order.lines]
    ctx.progress(total=1)
    async with ShopeeClient(ctx.config, db=ctx.db) as client:
        remote = await client.order(external)
        status = str(remote.get("order_status") or "")
        if status in SHIPPED:
            raise ChannelError(ErrorKind.VALIDATION, f"Shopee has order {external} as "
                               f"{status}: it can no longer be cancelled there.")
        if status not in GONE:
            items = sorted({(int(i["item_id"]), int(i.get("model_id") or 0))
                            for i in remote.get("item_list") or []})
            await client.cancel(external, [{"item_id": item, "model_id": model}
                                           for item, model in items])
    with ctx.session() as session:
        # Shopee puts a cancelled order's units back on its models: send Mercato's number
        resend(session, ctx.config.id, variant_ids)
        ctx.progress(add=1, session=session)


async def fulfillment_push(ctx: JobContext) -> None:
    """A Mercato fulfillment of a Shopee order, as ``ship_order`` while the order is
    READY_TO_SHIP (Shopee ships whole orders: a later fulfillment of the same order finds
    it shipped and sends nothing)."""
    with ctx.session() as session:
        made = ctx.fulfillment(session)
    external, tracking = made.external_id, made.tracking_number or ""
    ctx.progress(total=1)
    async with ShopeeClient(ctx.config, db=ctx.db) as client:
        remote = await client.order(external)
        status = str(remote.get("order_status") or "")
        if status in GONE:
            raise ChannelError(ErrorKind.VALIDATION,
                               f"Shopee has order {external} as {status}: not shipped.")
        if status != "READY_TO_SHIP":
            return  # shipped already (or not yet paid: nothing Shopee lets us ship)
        parameter = await client.shipping_parameter(external)
        needed = parameter.get("info_needed") or {}
        body: dict[str, Any] = {"order_sn": external}
        if "non_integrated" in needed:
            body["non_integrated"] = {"tracking_number": tracking} if tracking else {}
        elif "dropoff" in needed:
            body["dropoff"] = {"tracking_number": tracking} if tracking and "tracking_no" in (
                needed.get("dropoff") or []) else {}
        elif "pickup" in needed:
            addresses = ((parameter.get("pickup") or {}).get("address_list") or [])
            if not addresses:
                raise ChannelError(ErrorKind.VALIDATION, "Shopee offers no pickup address "
                                   "for this order: arrange it in the seller centre.")
            first = addresses[0]
            slots = first.get("time_slot_list") or []
            body["pickup"] = {"address_id": first.get("address_id"), **(
                {"pickup_time_id": slots[0].get("pickup_time_id")} if slots else {})}
        else:
            body["non_integrated"] = {"tracking_number": tracking} if tracking else {}
        await client.ship(body)
    ctx.progress(add=1)


async def price_push(ctx: JobContext) -> None:
    """Linked variants' prices (``params.skus`` narrows them), one ``update_price`` per item."""
    skus = set(ctx.params.get("skus") or [])
    with ctx.session() as session:
        variants = mapped(session, ctx.config.id, "variant")
        rows = [r for r in catalog.variant_prices(session, variants)
                if not skus or r.sku in skus]
        by_item: dict[int, list[tuple[str, int, Decimal]]] = defaultdict(list)
        for row in rows:
            ids = split(variants[row.id].remote_id)
            if ids is None:
                ctx.item_error(f"sku {row.sku}", "validation", "not linked to a Shopee model",
                               session=session)
                continue
            by_item[ids[0]].append((row.sku, ids[1], row.price))
    ctx.progress(total=len(rows))
    async with ShopeeClient(ctx.config, db=ctx.db) as client:
        for item_id, group in sorted(by_item.items()):
            try:
                answer = await client.update_price(item_id, {
                    model: float(price) for _, model, price in group})
            except ChannelError as exc:
                if exc.kind is not ErrorKind.VALIDATION:
                    raise
                for sku, _, _ in group:
                    ctx.item_error(f"sku {sku}", "validation", exc.message)
                continue
            failed = _failures(answer)
            for sku, model, _ in group:
                if model in failed:
                    ctx.item_error(f"sku {sku}", "validation", failed[model])
            ctx.progress(add=len(group))


JOBS: dict[str, JobFunc] = {
    "product_import": product_import, "inventory_push": inventory_push,
    "order_pull": order_pull, "price_push": price_push, "fulfillment_push": fulfillment_push,
    "cancellation_push": cancellation_push}
register("shopee", jobs=JOBS, push=push, batch=20, inbound=inbound.PROVIDER)
"""A batch of 20 is at most 20 ``update_stock`` calls: two seconds at ten calls a second."""
