"""The TikTok Shop connector's jobs and inventory push.

- ``product_import``: the shop's products searched page by page (``page_token``, 100 a page);
  each TikTok SKU whose ``seller_sku`` is a Mercato SKU is linked to it. Mapping of a
  variant: ``remote_id`` = the TikTok SKU id, ``remote_extra`` = ``{product_id}/{warehouse
  ids, comma-separated}``. Mercato's catalog is not created on TikTok (listing a product
  there needs categories, images and an audit): products are made in Seller Center with the
  Mercato SKU as their seller SKU, then linked.
- The push: the wanted quantities grouped by product, one inventory update per product with
  its changed SKUs, each at ``settings.warehouse_id`` or the SKU's first warehouse (0 at the
  SKU's other warehouses: TikTok wants them all). A product TikTok refuses is retried SKU by
  SKU, so one bad SKU fails alone.
- ``order_pull``: orders updated in [since, until) by ``update_time``, page by page with
  ``next_page_token``; resumable; the watermark (``connection.cursors["orders"]``, unix
  seconds) moves when the window is done. Orders are deduplicated by TikTok order id.
- ``fulfillment_push``: a Mercato fulfillment as "Mark Package As Shipped" (the seller's own
  carrier): its units matched by seller SKU against the line items not yet in a package, the
  carrier matched by name against the order's delivery option's shipping providers ("Other"
  when none fits); a tracking number already on the order means it was sent.
- ``cancellation_push``: a Mercato cancellation as the seller's cancellation; an order TikTok
  has as cancelled is left alone.
- ``price_push``: each linked variant's price on this channel, per product.
"""

from __future__ import annotations

import datetime as dt
import time
from collections import defaultdict
from functools import partial
from typing import Any

from sqlalchemy.orm import Session

from mercato import catalog
from mercato.catalog import ports as catalog_ports
from mercato.channels.jobs import JobContext
from mercato.channels.models import Mapping
from mercato.channels.push import inventory_push, resend, want_all
from mercato.channels.registry import (
    ConnectionConfig,
    JobFunc,
    PushEntry,
    PushResult,
    current_database,
    register,
)
from mercato.channels.service import map_one, mapped
from mercato.channels.tiktok import inbound
from mercato.channels.tiktok.client import MAX_PAGE, TiktokClient
from mercato.channels.toolkit import ChannelError, ErrorKind

MAX_STOCK = 99_999
ORDER_OVERLAP = 120
"""Seconds the next pull starts before the last one ended (TikTok's index may lag a little;
orders are deduplicated, so the overlap costs nothing)."""
OUT_OF_STOCK = "seller_cancel_reason_out_of_stock"
WRONG_PRICE = "seller_cancel_reason_wrong_price"


def split_extra(extra: str | None) -> tuple[str, list[str]]:
    """(product id, the SKU's warehouse ids) of a variant's mapping."""
    product, _, warehouses = (extra or "").partition("/")
    return product, [w for w in warehouses.split(",") if w]


def join_extra(product_id: str, warehouses: list[str]) -> str:
    """``{product_id}/{warehouse},{warehouse}…``, as many warehouses as fit the column."""
    extra = f"{product_id}/"
    for i, warehouse in enumerate(warehouses):
        part = ("," if i else "") + warehouse
        if len(extra) + len(part) > 255:
            break
        extra += part
    return extra


def inventory_of(entry: PushEntry, chosen: str) -> list[dict[str, Any]]:
    """The SKU's inventory to send: the number at the chosen warehouse (the setting, else the
    SKU's first), 0 at its others (TikTok wants every warehouse of a multi-warehouse SKU)."""
    _, warehouses = split_extra(entry.inventory_item_id)
    target = chosen or warehouses[0]
    quantity = min(MAX_STOCK, max(0, entry.quantity))
    return [{"warehouse_id": target, "quantity": quantity}] + [
        {"warehouse_id": w, "quantity": 0} for w in warehouses if w != target]


# -- inventory push -----------------------------------------------------------------------------

async def push(config: ConnectionConfig, entries: list[PushEntry]) -> list[PushResult]:
    """The wanted quantities, one inventory update per product (its changed SKUs)."""
    results: list[PushResult] = []
    groups: dict[str, list[PushEntry]] = defaultdict(list)
    chosen = str(config.settings.get("warehouse_id") or "")
    for entry in entries:
        product, warehouses = split_extra(entry.inventory_item_id)
        if not product or not (chosen or warehouses):
            results.append(PushResult(entry.mapping_id, None, "not linked to a TikTok product "
                                      "and warehouse: run product_import"))
        else:
            groups[product].append(entry)

    def body(entry: PushEntry) -> dict[str, Any]:
        return {"id": entry.remote_id, "inventory": inventory_of(entry, chosen)}

    async with TiktokClient(config, db=current_database()) as client:
        for product, group in groups.items():
            try:
                await client.update_inventory(product, [body(e) for e in group])
            except ChannelError as exc:
                if exc.retryable or exc.kind is ErrorKind.AUTH:
                    raise
                if len(group) == 1:
                    results.append(PushResult(group[0].mapping_id, None, exc.message))
                    continue
                for entry in group:  # one refused SKU fails alone
                    try:
                        await client.update_inventory(product, [body(entry)])
                    except ChannelError as one:
                        if one.retryable or one.kind is ErrorKind.AUTH:
                            raise
                        results.append(PushResult(entry.mapping_id, None, one.message))
                    else:
                        results.append(PushResult(entry.mapping_id, body(entry)["inventory"][0]
                                                  ["quantity"]))
                continue
            results.extend(PushResult(e.mapping_id, body(e)["inventory"][0]["quantity"])
                           for e in group)
    return results



# -- linking ------------------------------------------------------------------------------------

async def product_import(ctx: JobContext) -> None:
    """Link Mercato's SKUs to the shop's SKUs of the same seller SKU (``params.skus``
    narrows them); resumable by page token."""
    only = {str(s) for s in ctx.params.get("skus") or []}
    token = str(ctx.state.get("page_token") or "")
    async with TiktokClient(ctx.config, db=ctx.db) as client:
        while True:
            page = await client.search_products(page_token=token)
            pairs = [(str(product["id"]), sku) for product in page.get("products") or []
                     for sku in product.get("skus") or []]
            token = str(page.get("next_page_token") or "")
            with ctx.session() as session:
                sellers = {str(sku.get("seller_sku") or "").strip() for _, sku in pairs}
                items = {i.sku: i.id for i in catalog.stock_items(
                    session, skus=[s for s in sellers if s and (not only or s in only)])}
                linked: set[str] = set(ctx.state.get("linked") or [])
                for product_id, sku in pairs:
                    seller = str(sku.get("seller_sku") or "").strip()
                    if seller not in items:
                        continue
                    if seller in linked:
                        ctx.item_error(f"sku {seller}", "validation", (
                            f"seller SKU {seller} is on more than one TikTok SKU; linked to "
                            f"the last one ({sku['id']})"), session=session)
                    levels = [i for i in sku.get("inventory") or [] if i.get("warehouse_id")]
                    mapping = map_one(session, ctx.config.id, "variant", items[seller],
                                      str(sku["id"]), join_extra(product_id, [
                                          str(i["warehouse_id"]) for i in levels]))
                    mapping.remote_quantity = sum(int(i.get("quantity") or 0) for i in levels)
                    linked.add(seller)
                ctx.progress(add=len(pairs), total=int(page.get("total_count") or 0),
                             state={"page_token": token, "linked": sorted(linked)},
                             session=session)
            if not token or not pairs:
                break
    with ctx.session() as session:
        for sku in sorted(only - set(ctx.state.get("linked") or [])):
            ctx.item_error(f"sku {sku}", "validation",
                           "no TikTok SKU has this seller SKU", session=session)
        want_all(session, ctx.connection(session))


# -- orders -------------------------------------------------------------------------------------

def _since(raw: Any) -> int:
    """Unix seconds from a watermark or ``params.since`` (ISO 8601 or seconds)."""
    text = str(raw)
    if text.isdigit():
        return int(text)
    return int(dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp())


async def order_pull(ctx: JobContext) -> None:
    """Orders updated in [since, until) (``since``: ``params.since``, the last pull's
    watermark, or a day ago), page by page; resumable; the watermark moves only when the
    window is done."""
    with ctx.session() as session:
        cursors = dict(ctx.connection(session).cursors or {})
    now = int(time.time())
    since = _since(ctx.params.get("since") or ctx.state.get("since") or cursors.get("orders")
                   or now - 86_400)
    until = int(ctx.state.get("until") or now + 1)
    token = str(ctx.state.get("page_token") or "")
    size = max(1, min(MAX_PAGE, int(ctx.params.get("page_size") or MAX_PAGE)))
    async with TiktokClient(ctx.config, db=ctx.db) as client:
        while True:
            page = await client.search_orders(since=since, until=until, page_token=token,
                                              page_size=size)
            found = list(page.get("orders") or [])
            token = str(page.get("next_page_token") or "")
            finished = not token or not found
            with ctx.session() as session:
                connection = ctx.connection(session)
                for payload in found:
                    ctx.apply_order(session, str(payload.get("id")),
                                    partial(inbound.apply_order, session, connection, payload),
                                    unmatched="no line with a seller SKU Mercato knows")
                if finished:
                    connection.cursors = {**cursors, "orders": str(until - ORDER_OVERLAP)}
                ctx.progress(add=len(found), total=int(page.get("total_count") or 0),
                             state={"since": since, "until": until, "page_token": token},
                             session=session)
            if finished:
                return


# -- back to TikTok -----------------------------------------------------------------------------

async def _remote_order(client: TiktokClient, external: str) -> dict[str, Any]:
    remote = await client.order(external)
    if remote is None:
        raise ChannelError(ErrorKind.VALIDATION, f"TikTok Shop has no order {external}.")
    return remote


def provider_for(providers: list[dict[str, Any]], carrier: str | None) -> str | None:
    """The shipping provider id for a carrier's name: the same name, one containing it (or
    contained in it), else "Other"."""
    wanted = (carrier or "").strip().casefold()
    names = [(str(p.get("name") or "").casefold(), str(p.get("id"))) for p in providers]
    for name, provider in names:
        if wanted and name == wanted:
            return provider
    for name, provider in names:
        if wanted and name and (wanted in name or name in wanted):
            return provider
    return next((provider for name, provider in names if name == "other"), None)


async def fulfillment_push(ctx: JobContext) -> None:
    """A Mercato fulfillment of a TikTok order, marked shipped with its tracking number."""
    with ctx.session() as session:
        made = ctx.fulfillment(session)
    units, external, tracking = dict(made.units), made.external_id, made.tracking_number
    ctx.progress(total=sum(units.values()))
    async with TiktokClient(ctx.config, db=ctx.db) as client:
        remote = await _remote_order(client, external)
        items = list(remote.get("line_items") or [])
        if tracking and any(i.get("tracking_number") == tracking for i in items):
            return  # sent before
        if remote.get("status") == "CANCELLED":
            raise ChannelError(ErrorKind.VALIDATION,
                               f"TikTok Shop has order {external} as cancelled.")
        lines: list[str] = []
        for item in items:
            sku = str(item.get("seller_sku") or "").strip()
            if item.get("package_id") or item.get("display_status") == "CANCELLED" \
                    or units.get(sku, 0) < 1:
                continue
            lines.append(str(item["id"]))
            units[sku] -= 1
        if not lines:
            return
        if not tracking:
            raise ChannelError(ErrorKind.VALIDATION, "TikTok Shop marks a package shipped "
                               "only with a tracking number: add one to the fulfillment.")
        providers = await client.shipping_providers(str(remote.get("delivery_option_id")
                                                        or ""))
        provider = provider_for(providers, made.carrier)
        if provider is None:
            raise ChannelError(ErrorKind.VALIDATION, (
                f"No TikTok Shop shipping provider matches the carrier {made.carrier!r} "
                "(offered: " + ", ".join(str(p.get("name")) for p in providers) + ")."))
        await client.mark_shipped(external, {"order_line_item_ids": lines,
                                             "tracking_number": tracking,
                                             "shipping_provider_id": provider})
    ctx.progress(add=len(lines))


def cancel_reason(reason: str | None) -> str:
    """TikTok's seller cancel reason for a Mercato cancellation's free text."""
    return WRONG_PRICE if "price" in (reason or "").lower() else OUT_OF_STOCK


async def cancellation_push(ctx: JobContext) -> None:
    """A whole order cancelled in Mercato, cancelled by the seller on TikTok; one TikTok has
    as cancelled already is left alone. TikTok puts the units back on its SKUs, so
    Mercato's numbers are sent again."""
    with ctx.session() as session:
        order = ctx.order(session)
        if order.status != "cancelled" or not order.external_id:
            raise ChannelError(ErrorKind.VALIDATION,
                               "Not a cancelled order that came from this channel.")
        external, reason = order.external_id, order.cancel_reason
        variant_ids = [line.variant_id for line in order.lines if line.variant_id]
    ctx.progress(total=1)
    async with TiktokClient(ctx.config, db=ctx.db) as client:
        remote = await _remote_order(client, external)
        if remote.get("status") != "CANCELLED":
            await client.cancel(external, cancel_reason(reason))
    with ctx.session() as session:
        resend(session, ctx.config.id, variant_ids)
        ctx.progress(add=1, session=session)


def _selected(session: Session, ctx: JobContext) -> dict[str, Mapping]:
    variants = mapped(session, ctx.config.id, "variant")
    skus = set(ctx.params.get("skus") or [])
    if skus:
        ids = {i.id for i in catalog.stock_items(session, skus=sorted(skus))}
        variants = {k: m for k, m in variants.items() if k in ids}
    return variants


async def price_push(ctx: JobContext) -> None:
    """Each linked variant's price on this channel (``params.skus`` narrows them), one
    price update per product."""
    with ctx.session() as session:
        variants = _selected(session, ctx)
        items = catalog.sale_items(session, ids=variants)
        prices = catalog_ports.channel_prices(session, ctx.config.channel_id, [
            catalog_ports.PricedVariant(i.id, i.price, i.currency) for i in items.values()])
        skus = {i.id: i.sku for i in items.values()}
    groups: dict[str, list[tuple[str, dict[str, Any]]]] = defaultdict(list)
    for variant_id, price in prices.items():
        mapping = variants[variant_id]
        product, _ = split_extra(mapping.remote_extra)
        groups[product].append((skus.get(variant_id, variant_id), {
            "id": mapping.remote_id, "price": {"amount": f"{price:.2f}",
                                               "currency": items[variant_id].currency}}))
    ctx.progress(total=len(prices))
    async with TiktokClient(ctx.config, db=ctx.db) as client:
        for product, group in sorted(groups.items()):
            try:
                await client.update_prices(product, [body for _, body in group])
            except ChannelError as exc:
                if exc.kind is not ErrorKind.VALIDATION:
                    raise
                for sku, _ in group:
                    ctx.item_error(f"sku {sku}", "validation", exc.message)
            ctx.progress(add=len(group))


JOBS: dict[str, JobFunc] = {
    "product_import": product_import, "inventory_push": inventory_push,
    "order_pull": order_pull, "price_push": price_push, "fulfillment_push": fulfillment_push,
    "cancellation_push": cancellation_push}
# 20 quantities: at most 20 product updates, two seconds at 10 calls a second (fewer when a
# product's SKUs change together), so one batch never holds up the other platforms' round
register("tiktok", jobs=JOBS, push=push, batch=20, inbound=inbound.PROVIDER)
