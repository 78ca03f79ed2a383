"""The Amazon connector's jobs and inventory push (Selling Partner API).

Mapping of a variant: ``remote_id`` = the seller SKU of the Amazon listing (the Mercato SKU),
``remote_extra`` = its ASIN. Listings are made in Seller Central (an offer on an ASIN, with
the product type's attributes); ``product_import`` links each Mercato SKU published on an
Amazon channel to the listing of the same SKU. An order's mapping holds the Amazon order id.

Quantities and prices go by the Listings Items API, one ``merge`` patch per SKU
(``/attributes/fulfillment_availability``, ``/attributes/purchasable_offer``), or by one
``JSON_LISTINGS_FEED`` when at least ``feed_threshold`` SKUs change at once; either way a SKU
Amazon refuses (INVALID, or its feed message's issues) fails alone, its issues on the mapping
or the job. A feed still processing after ``FEED_WAIT`` seconds leaves the numbers due: they
are sent again (the latest) once Amazon has finished it.

- ``order_pull``: orders updated since the watermark (``LastUpdatedAfter``, ``NextToken``),
  their items read for the new ones, deduplicated; an order Amazon cancelled cancels the
  Mercato order and restocks it.
- ``fulfillment_push``: ``confirmShipment`` with the package's items, carrier and tracking.
- ``cancellation_push``: an order acknowledgement feed (``POST_ORDER_ACKNOWLEDGEMENT_DATA``,
  ``StatusCode`` Failure with a ``CancelReason`` per item): the seller's cancellation.
- Refunds are not sent (Amazon takes them as payment adjustment feeds, which this connector
  does not make): refund Amazon orders in Seller Central.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from functools import partial
from typing import Any
from xml.sax.saxutils import escape

from mercato import catalog
from mercato.channels.amazon import inbound
from mercato.channels.amazon.client import MAX_ORDERS_PAGE, AmazonClient, error_messages
from mercato.channels.jobs import JobContext
from mercato.channels.push import inventory_push, resend, want
from mercato.channels.registry import (
    ConnectionConfig,
    JobFunc,
    PushEntry,
    PushResult,
    current_database,
    register,
)
from mercato.channels.service import map_one, mapped
from mercato.channels.toolkit import ChannelError, ErrorKind
from mercato.core.db import utcnow
from mercato.inventory import get_channel, sellable

FEED_WAIT = 3.0
"""Seconds a push waits for a listings feed: about a pusher's batch of another platform's
calls, since every due connection's batch goes out in one round (a real feed takes minutes:
the numbers then stay due and the next rounds only ask whether it is done)."""
LINK_PAGE = 10
ORDER_OVERLAP = dt.timedelta(minutes=2)
"""The next pull starts this much before the last one began (Amazon's order index lags a
little); orders are deduplicated, so the overlap costs nothing."""
CARRIERS = {c.lower(): c for c in (
    "USPS", "UPS", "UPS Mail Innovations", "FedEx", "DHL", "DHL eCommerce", "OnTrac",
    "Amazon Shipping", "Royal Mail", "Parcelforce", "DPD", "Hermes", "Canada Post",
    "Australia Post", "Japan Post", "Yamato Transport", "La Poste", "Deutsche Post", "GLS")}
"""Amazon carrier codes Mercato's carrier names are matched to; others go as ``Other``
with the name."""

DEFAULT_PULL_EVERY = 600
"""Seconds between order pulls of a connection whose ``schedules`` name no ``order_pull``
(Amazon pushes nothing a seller's server receives, so orders come only by pull)."""

_pending_feeds: dict[str, str] = {}
"""Per process: a connection's listings feed that was still processing when a push gave up
waiting; the next push waits for it before sending anything."""


def amazon_time(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _threshold(config: ConnectionConfig) -> int:
    return int(config.settings.get("feed_threshold") or 20)


def quantity_patch(quantity: int) -> dict[str, Any]:
    return {"op": "merge", "path": "/attributes/fulfillment_availability",
            "value": [{"fulfillment_channel_code": "DEFAULT", "quantity": max(0, quantity)}]}


def price_patch(marketplace: str, currency: str, price: Any) -> dict[str, Any]:
    return {"op": "merge", "path": "/attributes/purchasable_offer", "value": [{
        "marketplace_id": marketplace, "currency": currency,
        "our_price": [{"schedule": [{"value_with_tax": float(price)}]}]}]}


@dataclass(frozen=True)
class Change:
    sku: str
    patches: list[dict[str, Any]]


async def send(client: AmazonClient, config: ConnectionConfig,
               changes: list[Change]) -> dict[str, str | None]:
    """Each SKU's patches, one patch call each or, from ``feed_threshold`` SKUs, one
    ``JSON_LISTINGS_FEED``: by SKU, None when Amazon took it, else its issues."""
    pending = _pending_feeds.get(config.id)
    if pending is not None:
        feed = await client.wait_feed(pending, timeout=FEED_WAIT)
        if feed.get("processingStatus") in ("IN_QUEUE", "IN_PROGRESS"):
            raise ChannelError(ErrorKind.RATE_LIMIT, (
                f"Amazon is still processing listings feed {pending}; the numbers are sent "
                "once it is done."), retry_after=60.0)
        _pending_feeds.pop(config.id, None)
    if len(changes) >= _threshold(config):
        return await _by_feed(client, config, changes)
    outcome: dict[str, str | None] = {}
    for change in changes:
        try:
            answer = await client.patch(change.sku, change.patches)
        except ChannelError as exc:
            if exc.kind is not ErrorKind.VALIDATION:
                raise
            outcome[change.sku] = error_messages(exc.details) or exc.message
            continue
        if answer.get("status") == "ACCEPTED":
            outcome[change.sku] = None
        else:
            outcome[change.sku] = (f"Amazon answered {answer.get('status')}: "
                                   + (error_messages(answer) or "no issue given"))
    return outcome


async def _by_feed(client: AmazonClient, config: ConnectionConfig,
                   changes: list[Change]) -> dict[str, str | None]:
    document = {"header": {"sellerId": client.seller_id, "version": "2.0",
                           "issueLocale": "en_US"},
                "messages": [{"messageId": n, "sku": c.sku, "operationType": "PATCH",
                              "productType": client.product_type, "patches": c.patches}
                             for n, c in enumerate(changes, start=1)]}
    feed_id = await client.submit_feed("JSON_LISTINGS_FEED", json.dumps(document).encode(),
                                       "application/json; charset=UTF-8")
    feed = await client.wait_feed(feed_id, timeout=FEED_WAIT)
    status = feed.get("processingStatus")
    if status in ("IN_QUEUE", "IN_PROGRESS"):
        _pending_feeds[config.id] = feed_id
        raise ChannelError(ErrorKind.RATE_LIMIT, (
            f"Amazon is still processing listings feed {feed_id}; the numbers are sent once "
            "it is done."), retry_after=60.0)
    report = await client.result_document(feed)
    if status != "DONE":
        why = ""
        with contextlib.suppress(ValueError):
            why = error_messages(json.loads(report or b"{}"))
        message = f"Listings feed {feed_id} ended {status}" + (f": {why}" if why else "")
        return {c.sku: message for c in changes}
    try:
        body = json.loads(report or b"{}")
    except ValueError:
        body = {}
    by_message: dict[int, list[str]] = {}
    for issue in body.get("issues") or []:
        if isinstance(issue, dict) and issue.get("severity", "ERROR") == "ERROR" \
                and issue.get("messageId") is not None:
            by_message.setdefault(int(issue["messageId"]), []).append(
                f"{issue.get('message')} [{issue.get('code')}]")
    return {c.sku: (f"Amazon refused feed {feed_id} message {n}: " + "; ".join(by_message[n])
                    if n in by_message else None)
            for n, c in enumerate(changes, start=1)}


# -- inventory push -----------------------------------------------------------------------------

async def push(config: ConnectionConfig, entries: list[PushEntry]) -> list[PushResult]:
    """The wanted quantities onto the listings (``fulfillment_availability``, channel
    DEFAULT); a SKU Amazon refuses fails alone."""
    async with AmazonClient(config, db=current_database()) as client:
        outcome = await send(client, config, [Change(e.remote_id, [quantity_patch(e.quantity)])
                                              for e in entries])
    return [PushResult(e.mapping_id, max(0, e.quantity)) if outcome.get(e.remote_id) is None
            else PushResult(e.mapping_id, None, outcome[e.remote_id]) for e in entries]



# -- linking ------------------------------------------------------------------------------------

async def product_import(ctx: JobContext) -> None:
    """Each variant published on Amazon channels (``params.skus`` narrows it) linked to the
    seller's listing of the same SKU (``getListingsItem``: its ASIN and quantity); a SKU
    with no listing is an item error. Then Mercato's numbers are pushed to the linked ones."""
    skus = set(ctx.params.get("skus") or [])
    while True:
        after = str(ctx.state.get("after") or "")
        with ctx.session() as session:
            batch = catalog.published_products(session, "amazon", after=after, limit=LINK_PAGE)
            variants = [(v.id, v.sku) for p in batch for v in p.variants
                        if not skus or v.sku in skus]
        if not batch:
            return
        found: list[tuple[str, str, str | None, int | None]] = []
        async with AmazonClient(ctx.config, db=ctx.db) as client:
            for variant_id, sku in variants:
                listing = await client.listing(sku)
                if listing is None:
                    ctx.item_error(f"sku {sku}", "validation", (
                        "Amazon has no listing with this SKU in the marketplace: create the "
                        "offer in Seller Central (or link it with PUT .../mappings)"))
                    continue
                summary = (listing.get("summaries") or [{}])[0]
                held = next((int(a.get("quantity") or 0)
                             for a in listing.get("fulfillmentAvailability") or []
                             if a.get("fulfillmentChannelCode") == "DEFAULT"), None)
                found.append((variant_id, sku, summary.get("asin"), held))
        with ctx.session() as session:
            connection = ctx.connection(session)
            for variant_id, sku, asin, held in found:
                mapping = map_one(session, connection.id, "variant", variant_id, sku, asin)
                mapping.remote_quantity = held
            session.flush()
            channel = get_channel(session, connection.channel_id)
            want(session, connection.channel_id,
                 sellable(session, channel, [variant_id for variant_id, *_ in found]))
            ctx.progress(add=len(found), state={"after": batch[-1].id}, session=session)


async def price_push(ctx: JobContext) -> None:
    """Linked variants' prices (``params.skus`` narrows them) as the listings' offer price
    (``purchasable_offer``, ``our_price``) in the first marketplace."""
    skus = set(ctx.params.get("skus") or [])
    with ctx.session() as session:
        variants = mapped(session, ctx.config.id, "variant")
        rows = [r for r in catalog.variant_prices(session, variants)
                if not skus or r.sku in skus]
        items = catalog.sale_items(session, [r.sku for r in rows])
        work = [(variants[r.id].remote_id, r.sku, r.price,
                 items[r.sku].currency if r.sku in items else "USD") for r in rows]
    ctx.progress(total=len(work))
    async with AmazonClient(ctx.config, db=ctx.db) as client:
        outcome = await send(client, ctx.config, [
            Change(remote, [price_patch(client.marketplace, currency, price)])
            for remote, _, price, currency in work])
    with ctx.session() as session:
        for remote, sku, _, _ in work:
            if outcome.get(remote) is not None:
                ctx.item_error(f"sku {sku}", "validation", str(outcome[remote]),
                               session=session)
        ctx.progress(add=len(work), session=session)


# -- orders -------------------------------------------------------------------------------------

async def order_pull(ctx: JobContext) -> None:
    """Orders updated since the watermark (or ``params.since``, or a day ago), a page of
    ``params.page_size`` (at most 100) at a time through ``NextToken``, then each new order's
    items (``getOrderItems``: 0.5 a second past a burst of 30), one order at a time with its
    progress saved, so a time slice ends between orders, not after a page's worth of Amazon's
    rate limit; resumable from the order in hand (the page is kept in the job's state); the
    watermark moves to the pull's start (less an overlap) when the last page is done."""
    with ctx.session() as session:
        cursors = dict(ctx.connection(session).cursors or {})
    now = utcnow()
    since = str(ctx.params.get("since") or ctx.state.get("since") or cursors.get("orders")
                or amazon_time(now - dt.timedelta(days=1)))
    started = str(ctx.state.get("started") or amazon_time(now))
    token = ctx.state.get("next_token")
    last = bool(ctx.state.get("last"))
    page: list[dict[str, Any]] | None = ctx.state.get("page")
    size = max(1, min(MAX_ORDERS_PAGE, int(ctx.params.get("page_size") or MAX_ORDERS_PAGE)))

    def saved(remaining: list[dict[str, Any]]) -> dict[str, Any]:
        return {"since": since, "started": started, "next_token": token, "last": last,
                "page": remaining or None}

    async with AmazonClient(ctx.config, db=ctx.db) as client:
        while True:
            if page is None and not last:
                answer = await client.orders(since=since, next_token=token, size=size)
                page = list(answer.get("Orders") or [])
                token = answer.get("NextToken") or None
                last = token is None
            while page:
                order, external = page[0], str(page[0].get("AmazonOrderId"))
                with ctx.session() as session:
                    needs = inbound.needs_items(session, ctx.connection(session), order)
                items = await client.order_items(external) if needs else None
                with ctx.session() as session:
                    connection = ctx.connection(session)
                    ctx.apply_order(session, external, partial(
                        inbound.apply_order, session, connection, order, items))
                    page = page[1:]
                    ctx.progress(add=1, state=saved(page), session=session)
            page = None
            if last:
                with ctx.session() as session:
                    start = dt.datetime.fromisoformat(started.replace("Z", "+00:00"))
                    ctx.connection(session).cursors = {
                        **cursors, "orders": amazon_time(start - ORDER_OVERLAP)}
                return


# -- back to Amazon -----------------------------------------------------------------------------

async def _remote_order(client: AmazonClient, external: str) -> dict[str, Any]:
    remote = await client.order(external)
    if remote is None:
        raise ChannelError(ErrorKind.VALIDATION, f"Amazon has no order {external}.")
    return remote


def carrier_fields(carrier: str | None) -> dict[str, str]:
    known = CARRIERS.get((carrier or "").strip().lower())
    if known is not None:
        return {"carrierCode": known}
    return {"carrierCode": "Other", "carrierName": (carrier or "Other")[:64]}


async def fulfillment_push(ctx: JobContext) -> None:
    """A Mercato fulfillment of an Amazon order as a shipment confirmation: its units
    matched by SKU to the order items Amazon has left to ship; nothing left to ship means
    it was sent."""
    with ctx.session() as session:
        made = ctx.fulfillment(session)
        order = ctx.order(session)
        package = next((n for n, f in enumerate(order.fulfillments, start=1)
                        if f.id == made.id), 1)
    units, external = made.units, made.external_id
    if not made.tracking_number:
        raise ChannelError(ErrorKind.VALIDATION, (
            "Amazon confirms a shipment with a tracking number: add one to the fulfillment, "
            "or confirm the shipment in Seller Central."))
    ctx.progress(total=sum(units.values()))
    async with AmazonClient(ctx.config, db=ctx.db) as client:
        remote = await _remote_order(client, external)
        if remote.get("OrderStatus") == "Canceled":
            raise ChannelError(ErrorKind.VALIDATION, f"Amazon has order {external} cancelled.")
        lines: list[dict[str, Any]] = []
        for item in await client.order_items(external):
            left = int(item.get("QuantityOrdered") or 0) - int(item.get("QuantityShipped") or 0)
            sku = str(item.get("SellerSKU") or "")
            take = min(units.get(sku, 0), left)
            if take > 0:
                lines.append({"orderItemId": str(item["OrderItemId"]), "quantity": take})
                units[sku] -= take
        if not lines:
            return
        await client.confirm_shipment(external, {
            "packageReferenceId": str(package), **carrier_fields(made.carrier),
            "trackingNumber": made.tracking_number, "shipDate": amazon_time(made.created_at),
            "orderItems": lines})
    ctx.progress(add=sum(int(line["quantity"]) for line in lines))


def cancel_reason(reason: str | None) -> str:
    """Amazon's ``CancelReason`` for a Mercato cancellation's free-text reason."""
    text = (reason or "").lower()
    if "stock" in text or "oversold" in text or "inventory" in text:
        return "NoInventory"
    if "address" in text or "undeliverable" in text:
        return "ShippingAddressUndeliverable"
    if "buyer" in text or "customer" in text:
        return "BuyerCanceled"
    return "GeneralAdjustment"


def acknowledgement_feed(seller_id: str, order_id: str, merchant_order: str,
                         items: list[dict[str, Any]], reason: str) -> bytes:
    """An ``OrderAcknowledgement`` envelope cancelling every item of one order."""
    parts = "".join(
        f"<Item><AmazonOrderItemCode>{escape(str(i['OrderItemId']))}</AmazonOrderItemCode>"
        f"<CancelReason>{reason}</CancelReason></Item>" for i in items)
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<AmazonEnvelope xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
        'xsi:noNamespaceSchemaLocation="amzn-envelope.xsd">'
        f"<Header><DocumentVersion>1.01</DocumentVersion><MerchantIdentifier>"
        f"{escape(seller_id)}</MerchantIdentifier></Header>"
        "<MessageType>OrderAcknowledgement</MessageType>"
        "<Message><MessageID>1</MessageID><OrderAcknowledgement>"
        f"<AmazonOrderID>{escape(order_id)}</AmazonOrderID>"
        f"<MerchantOrderID>{escape(merchant_order)}</MerchantOrderID>"
        f"<StatusCode>Failure</StatusCode>{parts}"
        "</OrderAcknowledgement></Message></AmazonEnvelope>").encode()


def report_errors(report: bytes | None) -> list[str]:
    """The error results of an XML processing report."""
    if not report:
        return []
    try:
        root = ET.fromstring(report)  # noqa: S314 - Amazon's own report, no entities
    except ET.ParseError:
        return ["the processing report could not be read"]
    return [str(result.findtext("ResultDescription") or "error")
            for result in root.iter("Result") if result.findtext("ResultCode") == "Error"]


async def cancellation_push(ctx: JobContext) -> None:
    """A whole order cancelled in Mercato, cancelled by the seller on Amazon through an order
    acknowledgement feed (``StatusCode`` Failure, a ``CancelReason`` per item); an order
    Amazon has cancelled already is left alone. Resumable while the feed is processed."""
    with ctx.session() as session:
        order = ctx.order(session)
        if order.status != "cancelled" or not order.external_id:
            raise ChannelError(ErrorKind.VALIDATION,
                               "Not a cancelled order that came from this channel.")
        external, number, why = order.external_id, order.number, order.cancel_reason
        variant_ids = [line.variant_id for line in order.lines]
    feed_id = ctx.state.get("feed_id")
    async with AmazonClient(ctx.config, db=ctx.db) as client:
        if not feed_id:
            ctx.progress(total=1)
            remote = await _remote_order(client, external)
            status = remote.get("OrderStatus")
            if status in ("Shipped", "PartiallyShipped"):
                raise ChannelError(ErrorKind.VALIDATION, (
                    f"Amazon has shipped units of order {external}: it can no longer be "
                    "cancelled; refund it in Seller Central."))
            if status != "Canceled":
                items = await client.order_items(external)
                feed_id = await client.submit_feed(
                    "POST_ORDER_ACKNOWLEDGEMENT_DATA",
                    acknowledgement_feed(client.seller_id, external, str(number or ""), items,
                                         cancel_reason(why)),
                    "text/xml; charset=UTF-8")
                ctx.progress(state={"feed_id": feed_id})
        while feed_id:
            left = max(0.5, ctx.deadline - ctx.clock() - 0.5)
            feed = await client.wait_feed(str(feed_id), timeout=left)
            status = feed.get("processingStatus")
            if status in ("IN_QUEUE", "IN_PROGRESS"):
                ctx.progress(state={"feed_id": feed_id})  # the slice ends here: resumed later
                continue
            problems = report_errors(await client.result_document(feed)) \
                if status == "DONE" else [f"the feed ended {status}"]
            if problems:
                raise ChannelError(ErrorKind.VALIDATION, f"Amazon refused the cancellation "
                                   f"(feed {feed_id}): " + "; ".join(problems))
            break
    with ctx.session() as session:
        # Amazon puts a cancelled order's units back on its listings: send Mercato's number
        resend(session, ctx.config.id, variant_ids)
        ctx.progress(add=1, session=session)


JOBS: dict[str, JobFunc] = {
    "product_import": product_import, "inventory_push": inventory_push,
    "order_pull": order_pull, "price_push": price_push, "fulfillment_push": fulfillment_push,
    "cancellation_push": cancellation_push}
register("amazon", jobs=JOBS, push=push, batch=100,
         schedules={"order_pull": DEFAULT_PULL_EVERY})  # Amazon sends no webhooks
