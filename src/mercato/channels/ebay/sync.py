"""The eBay connector's jobs and inventory push.

Mapping of a variant: ``remote_id`` = the eBay offer id, ``remote_extra`` = the listing id
(``PushEntry.inventory_item_id``); the eBay SKU is the Mercato SKU. An order's mapping holds
its eBay order id and, in ``remote_extra``, the buyer's username (what an account deletion
names); a refund's, the eBay refund id.

A listing takes at most ``daily_revision_limit`` revisions a UTC day (eBay: 250). Each one
Mercato makes is counted (``ListingRevision``); a push that would go past it is not sent: the
mapping shows ``revision limit reached for today; …`` and is wanted again after midnight UTC
(``rearm_revision_limited``), the latest number only.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from decimal import Decimal
from functools import partial
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from mercato import catalog
from mercato.channels.ebay import conditions, inbound
from mercato.channels.ebay.client import MAX_BULK, MAX_ORDERS_PAGE, EbayClient, error_messages
from mercato.channels.jobs import JobContext
from mercato.channels.models import ListingRevision
from mercato.channels.push import resend, want
from mercato.channels.registry import (
    ConnectionConfig,
    JobFunc,
    PushEntry,
    PushResult,
    current_database,
    register,
)
from mercato.channels.service import map_one, mapped, mappings_t, record_health
from mercato.channels.toolkit import ChannelError, ErrorKind
from mercato.core.db import SYSTEM, Database, utcnow
from mercato.core.outbox import periodic
from mercato.inventory import get_channel, sellable

LIMIT_MESSAGE = "revision limit reached for today; next push after 00:00 UTC"
REVISION_LIMIT_ERROR = 25020
"""The emulator's error id for a listing past its daily revisions (eBay's is undocumented
for the Inventory API: the message is matched too)."""
EXPORT_PAGE = 10



def ebay_time(moment: dt.datetime) -> str:
    """eBay's timestamps: ISO 8601 in UTC with milliseconds and ``Z``."""
    moment = moment.astimezone(dt.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _limit(config: ConnectionConfig) -> int:
    return int(config.settings.get("daily_revision_limit") or 250)


# -- revisions ----------------------------------------------------------------------------------

def revisions_today(session: Session, connection_id: str, listings: list[str],
                    day: dt.date) -> dict[str, int]:
    if not listings:
        return {}
    return {row.listing_id: row.count for row in session.scalars(select(ListingRevision).where(
        ListingRevision.connection_id == connection_id, ListingRevision.day == day,
        ListingRevision.listing_id.in_(sorted(set(listings)))))}


def count_revisions(session: Session, connection_id: str, revised: dict[str, int],
                    day: dt.date, *, at_least: dict[str, int] | None = None) -> None:
    """Add each listing's revisions of the day (``at_least``: what eBay says it has had,
    when it refused one for the limit)."""
    names = sorted(set(revised) | set(at_least or {}))
    rows = {r.listing_id: r for r in session.scalars(select(ListingRevision).where(
        ListingRevision.connection_id == connection_id, ListingRevision.day == day,
        ListingRevision.listing_id.in_(names)))} if names else {}
    for listing in names:
        row = rows.get(listing)
        if row is None:
            row = ListingRevision(connection_id=connection_id, listing_id=listing, day=day,
                                  count=0)
            session.add(row)
        row.count = max(row.count + revised.get(listing, 0), (at_least or {}).get(listing, 0))
    session.flush()


def rearm_revision_limited(db: Database, now: dt.datetime | None = None) -> int:
    """Mappings refused for the daily limit on an earlier UTC day are wanted again (their
    latest number); how many."""
    now = now or utcnow()
    midnight = dt.datetime.combine(now.astimezone(dt.UTC).date(), dt.time(0), tzinfo=dt.UTC)
    with db.transaction(tenant=SYSTEM) as session:
        result = session.execute(update(mappings_t).where(
            mappings_t.c.resource == "variant",
            mappings_t.c.push_error == LIMIT_MESSAGE,
            mappings_t.c.updated_at < midnight,
            mappings_t.c.pushed_version >= mappings_t.c.want_version)
            .values(want_version=mappings_t.c.want_version + 1, wanted_at=now,
                    updated_at=now))
        return int(getattr(result, "rowcount", 0) or 0)


@periodic(every_seconds=300, name="channels.ebay.rearm_revision_limited")
def _rearm(db: Database) -> None:
    rearm_revision_limited(db)


def _is_limit(part: dict[str, Any]) -> bool:
    return any(isinstance(e, dict) and (e.get("errorId") == REVISION_LIMIT_ERROR
                                        or "revised" in str(e.get("message", "")).lower())
               for e in part.get("errors") or [])


# -- inventory push -----------------------------------------------------------------------------

async def push(config: ConnectionConfig, entries: list[PushEntry]) -> list[PushResult]:
    """The wanted quantities, by ``bulkUpdatePriceQuantity`` in groups of 25 (one request
    per SKU: the inventory item's quantity and its offer's). A listing at its daily revision
    limit is not sent; a part eBay refuses (a 207) fails alone."""
    db: Database | None = current_database()
    day = utcnow().date()
    limit = _limit(config)
    results: list[PushResult] = []
    skus: dict[str, str] = {}
    counts: dict[str, int] = {}
    if db is not None:
        with db.transaction(tenant=config.organization_id) as session:
            skus = {i.id: i.sku for i in catalog.stock_items(
                session, ids=[e.variant_id for e in entries])}
            counts = revisions_today(session, config.id, [
                e.inventory_item_id or e.remote_id for e in entries], day)
    ready: list[PushEntry] = []
    for entry in entries:
        if db is not None and entry.variant_id not in skus:
            results.append(PushResult(entry.mapping_id, None, "the variant no longer exists"))
        elif counts.get(entry.inventory_item_id or entry.remote_id, 0) >= limit:
            results.append(PushResult(entry.mapping_id, None, LIMIT_MESSAGE))
        else:
            ready.append(entry)
    revised: Counter[str] = Counter()
    refused: dict[str, int] = {}
    async with EbayClient(config, db=db) as client:
        for start in range(0, len(ready), MAX_BULK):
            chunk = ready[start:start + MAX_BULK]
            sku_of = {e.mapping_id: skus.get(e.variant_id) or e.remote_id for e in chunk}
            answers = await client.bulk_update([{
                "sku": sku_of[e.mapping_id],
                "shipToLocationAvailability": {"quantity": max(0, e.quantity)},
                "offers": [{"offerId": e.remote_id, "availableQuantity": max(0, e.quantity)}]}
                for e in chunk])
            by_offer = {str(a.get("offerId")): a for a in answers if a.get("offerId")}
            by_sku = {str(a.get("sku")): a for a in answers}
            for entry in chunk:
                part = by_offer.get(entry.remote_id) or by_sku.get(sku_of[entry.mapping_id])
                listing = entry.inventory_item_id or entry.remote_id
                if part is None:
                    results.append(PushResult(entry.mapping_id, None,
                                              "eBay did not answer for this offer"))
                elif int(part.get("statusCode") or 0) == 200:
                    revised[listing] += 1
                    results.append(PushResult(entry.mapping_id, max(0, entry.quantity)))
                elif _is_limit(part):
                    refused[listing] = limit
                    results.append(PushResult(entry.mapping_id, None, LIMIT_MESSAGE))
                else:
                    results.append(PushResult(entry.mapping_id, None, error_messages(part)
                                              or f"eBay answered {part.get('statusCode')}"))
    if db is not None and (revised or refused or any(r.error == LIMIT_MESSAGE
                                                     for r in results)):
        with db.transaction(tenant=config.organization_id) as session:
            count_revisions(session, config.id, dict(revised), day, at_least=refused)
            hit = sorted({e.inventory_item_id or e.remote_id for e in entries
                          for r in results if r.mapping_id == e.mapping_id
                          and r.error == LIMIT_MESSAGE})
            if hit:
                record_health(session, config.id, error=(
                    f"eBay listing(s) {', '.join(hit[:10])}: {LIMIT_MESSAGE} (at most {limit} "
                    "revisions a listing a day)"), error_kind="rate_limit")
    return results


# -- product export -----------------------------------------------------------------------------

def _offer_body(config: ConnectionConfig, sku: str, quantity: int, price: Decimal,
                currency: str) -> dict[str, Any]:
    settings = config.settings
    policies = {name: settings[key] for name, key in (
        ("fulfillmentPolicyId", "fulfillment_policy_id"),
        ("paymentPolicyId", "payment_policy_id"),
        ("returnPolicyId", "return_policy_id")) if settings.get(key)}
    body: dict[str, Any] = {
        "sku": sku, "marketplaceId": settings.get("marketplace_id") or "EBAY_US",
        "format": "FIXED_PRICE", "availableQuantity": max(0, quantity),
        "categoryId": str(settings.get("category_id") or "183454"),
        "pricingSummary": {"price": {"value": f"{price:.2f}", "currency": currency}}}
    if policies:
        body["listingPolicies"] = policies
    if settings.get("merchant_location_key"):
        body["merchantLocationKey"] = settings["merchant_location_key"]
    return body


async def product_export(ctx: JobContext) -> None:
    """Each variant published on eBay channels (``params.skus`` narrows it) becomes an
    inventory item (condition and descriptors from its card attributes, quantity the
    channel's available-to-sell) with a fixed-price offer, published; the mapping keeps the
    offer and listing ids. Run again, it replaces the items and reuses the offers."""
    skus = set(ctx.params.get("skus") or [])
    limit = _limit(ctx.config)
    while True:
        after = str(ctx.state.get("after") or "")
        work: list[dict[str, Any]] = []
        with ctx.session() as session:
            connection = ctx.connection(session)
            channel = get_channel(session, connection.channel_id)
            batch = catalog.published_products(session, "ebay", after=after, limit=EXPORT_PAGE)
            known = mapped(session, connection.id, "variant")
            variants = [(p, v) for p in batch for v in p.variants if not skus or v.sku in skus]
            numbers = sellable(session, channel, [v.id for _, v in variants])
            listings = [known[v.id].remote_extra or "" for _, v in variants if v.id in known]
            counts = revisions_today(session, connection.id, listings, utcnow().date())
            for product, variant in variants:
                try:
                    listing = conditions.card_listing(product.product_type, product.attributes,
                                                      variant.attributes)
                except conditions.NotListable as exc:
                    ctx.item_error(f"sku {variant.sku}", "validation", str(exc),
                                   session=session)
                    continue
                mapping = known.get(variant.id)
                if mapping is not None and mapping.remote_extra \
                        and counts.get(mapping.remote_extra, 0) >= limit:
                    ctx.item_error(f"sku {variant.sku}", "rate_limit",
                                   f"listing {mapping.remote_extra}: {LIMIT_MESSAGE}",
                                   session=session)
                    continue
                title = product.title if len(product.variants) == 1 or not variant.title \
                    else f"{product.title} - {variant.title}"
                quantity = numbers.get(variant.id, 0)
                work.append({
                    "variant_id": variant.id, "sku": variant.sku, "quantity": quantity,
                    "price": variant.price, "currency": variant.currency,
                    "listing": mapping.remote_extra if mapping is not None else None,
                    "item": conditions.inventory_item(
                        title=title, description=product.description, listing=listing,
                        quantity=quantity, image_urls=product.image_urls,
                        card_name=product.title)})
        if not batch:
            break
        made: list[tuple[dict[str, Any], str, str]] = []
        revised: Counter[str] = Counter()
        async with EbayClient(ctx.config, db=ctx.db) as client:
            for one in work:
                try:
                    await client.put_item(one["sku"], one["item"])
                    if one["listing"]:
                        revised[one["listing"]] += 1
                    offers = await client.offers(one["sku"])
                    offer_id = str(offers[0]["offerId"]) if offers else await \
                        client.create_offer(_offer_body(ctx.config, one["sku"],
                                                        one["quantity"], one["price"],
                                                        one["currency"]))
                    listing_id = ((offers[0].get("listing") or {}).get("listingId")
                                  if offers else None) or await client.publish(offer_id)
                except ChannelError as exc:
                    if exc.retryable or exc.kind is ErrorKind.AUTH:
                        raise
                    ctx.item_error(f"sku {one['sku']}", "validation",
                                   error_messages(exc.details) or exc.message)
                    continue
                made.append((one, offer_id, str(listing_id)))
        with ctx.session() as session:
            connection = ctx.connection(session)
            for one, offer_id, listing_id in made:
                mapping = map_one(session, connection.id, "variant", one["variant_id"],
                                  offer_id, listing_id)
                mapping.remote_quantity = one["quantity"]
                if mapping.want_quantity is None or mapping.pushed_version \
                        >= mapping.want_version:
                    mapping.want_quantity = one["quantity"]
            session.flush()
            count_revisions(session, connection.id, dict(revised), utcnow().date())
            channel = get_channel(session, connection.channel_id)
            want(session, connection.channel_id,
                 sellable(session, channel, [one["variant_id"] for one, _, _ in made]))
            ctx.progress(add=len(made), state={"after": batch[-1].id}, session=session)


# -- orders -------------------------------------------------------------------------------------

ORDER_OVERLAP = dt.timedelta(minutes=2)
"""The next pull starts this much before the last one ended (eBay's index lags a little);
orders are deduplicated, so the overlap costs nothing."""


async def order_pull(ctx: JobContext) -> None:
    """Orders modified in [since, until] (``since``: the last pull's watermark, or
    ``params.since``, or a day ago), page by page by offset (``params.page_size``, at most
    200); resumable; the watermark moves only when the window is done."""
    with ctx.session() as session:
        cursors = dict(ctx.connection(session).cursors or {})
    now = utcnow()
    since = str(ctx.params.get("since") or ctx.state.get("since") or cursors.get("orders")
                or ebay_time(now - dt.timedelta(days=1)))
    until = str(ctx.state.get("until") or ebay_time(now))
    offset = int(ctx.state.get("offset") or 0)
    size = max(1, min(MAX_ORDERS_PAGE, int(ctx.params.get("page_size") or MAX_ORDERS_PAGE)))
    async with EbayClient(ctx.config, db=ctx.db) as client:
        while True:
            page = await client.orders(since=since, until=until, offset=offset, limit=size)
            found = list(page.get("orders") or [])
            finished = not found or not page.get("next")
            with ctx.session() as session:
                connection = ctx.connection(session)
                for payload in found:
                    ctx.apply_order(session, str(payload.get("orderId")),
                                    partial(inbound.apply_order, session, connection, payload))
                offset += len(found)
                if finished:
                    end = dt.datetime.fromisoformat(until.replace("Z", "+00:00"))
                    connection.cursors = {**cursors, "orders": ebay_time(end - ORDER_OVERLAP)}
                ctx.progress(add=len(found), total=int(page.get("total") or 0),
                             state={"since": since, "until": until, "offset": offset},
                             session=session)
            if finished:
                return


# -- back to eBay -------------------------------------------------------------------------------

async def _remote_order(client: EbayClient, external: str) -> dict[str, Any]:
    remote = await client.order(external)
    if remote is None:
        raise ChannelError(ErrorKind.VALIDATION, f"eBay has no order {external}.")
    return remote


async def fulfillment_push(ctx: JobContext) -> None:
    """A Mercato fulfillment of an eBay order, as a shipping fulfillment (its lines matched
    by SKU against what eBay has left to ship). eBay's fulfillments are read first: one with
    the same tracking number, or nothing left to ship, means it was sent."""
    with ctx.session() as session:
        made = ctx.fulfillment(session)
    units, external, carrier = made.units, made.external_id, made.carrier
    tracking, shipped_at = made.tracking_number, made.created_at
    ctx.progress(total=sum(units.values()))
    async with EbayClient(ctx.config, db=ctx.db) as client:
        remote = await _remote_order(client, external)
        sent = await client.shipping_fulfillments(external)
        if tracking and any(f.get("shipmentTrackingNumber") == tracking for f in sent):
            return
        shipped: dict[str, int] = defaultdict(int)
        for f in sent:
            for part in f.get("lineItems") or []:
                shipped[str(part.get("lineItemId"))] += int(part.get("quantity") or 0)
        lines: list[dict[str, Any]] = []
        for item in remote.get("lineItems") or []:
            left = int(item.get("quantity") or 0) - shipped[str(item["lineItemId"])]
            take = min(units.get(str(item.get("sku") or ""), 0), left)
            if take > 0:
                lines.append({"lineItemId": str(item["lineItemId"]), "quantity": take})
                units[str(item.get("sku"))] -= take
        if not lines:
            return
        body: dict[str, Any] = {"lineItems": lines, "shippedDate": ebay_time(shipped_at)}
        if tracking:
            body["trackingNumber"] = tracking
            body["shippingCarrierCode"] = carrier or "OTHER"
        await client.ship(external, body)
    ctx.progress(add=sum(int(line["quantity"]) for line in lines))


SELLER_CANCEL_REASON = "OUT_OF_STOCK_OR_CANNOT_FULFILL"


async def cancellation_push(ctx: JobContext) -> None:
    """A whole order cancelled in Mercato, cancelled by the seller on eBay (Post-Order API);
    an order eBay has as cancelled already is left alone. The money goes back as a refund
    of its own (``refund_push``)."""
    with ctx.session() as session:
        order = ctx.order(session)
        if order.status != "cancelled" or not order.external_id:
            raise ChannelError(ErrorKind.VALIDATION,
                               "Not a cancelled order that came from this channel.")
        external = order.external_id
        variant_ids = [line.variant_id for line in order.lines]
    ctx.progress(total=1)
    async with EbayClient(ctx.config, db=ctx.db) as client:
        remote = await _remote_order(client, external)
        status = remote.get("cancelStatus") or {}
        pending = any(r.get("cancelRequestState") in ("REQUESTED", "IN_PROGRESS", "COMPLETED")
                      and r.get("cancelInitiator") == "SELLER"
                      for r in status.get("cancelRequests") or [])
        if status.get("cancelState") != "CANCELED" and not pending:
            await client.cancel(str(remote.get("legacyOrderId") or external),
                                SELLER_CANCEL_REASON)
    with ctx.session() as session:
        # eBay puts a cancelled order's units back on its listings: send Mercato's number
        resend(session, ctx.config.id, variant_ids)
        ctx.progress(add=1, session=session)


def refund_reason(reason: str | None, cancelled: bool) -> str:
    """eBay's ``reasonForRefund`` for a Mercato refund's free-text reason."""
    text = (reason or "").lower()
    if "stock" in text:
        return "OUT_OF_STOCK"
    if cancelled or "cancel" in text or "buyer" in text or "customer" in text:
        return "BUYER_CANCEL"
    return "OTHER"


async def refund_push(ctx: JobContext) -> None:
    """A refund made in Mercato, issued on eBay (``issue_refund``, order level); the eBay
    refund id is kept in a mapping, so a rerun sends nothing."""
    refund_id = str(ctx.params.get("refund_id") or "")
    with ctx.session() as session:
        order = ctx.order(session)
        refund = next((r for r in order.refunds if r.id == refund_id), None)
        if refund is None or not order.external_id:
            raise ChannelError(ErrorKind.VALIDATION,
                               "Not a refund of an order that came from this channel.")
        if refund_id in mapped(session, ctx.config.id, "refund"):
            return
        external, amount, reason = order.external_id, refund.amount, refund.reason
        currency, cancelled = order.currency, order.status == "cancelled"
    ctx.progress(total=1)
    async with EbayClient(ctx.config, db=ctx.db) as client:
        await _remote_order(client, external)
        answer = await client.issue_refund(external, {
            "reasonForRefund": refund_reason(reason, cancelled),
            "comment": (f"Mercato refund {refund_id}" + (f": {reason}" if reason else ""))[:100],
            "orderLevelRefundAmount": {"value": f"{amount:.2f}", "currency": currency}})
    with ctx.session() as session:
        map_one(session, ctx.config.id, "refund", refund_id,
                str(answer.get("refundId") or f"refund-{refund_id}"))
        ctx.progress(add=1, session=session)


async def price_push(ctx: JobContext) -> None:
    """Mapped variants' prices (``params.skus`` narrows them) onto their offers, by bulk
    update in groups of 25; each is a revision of its listing, so a listing at its daily
    limit is skipped and reported."""
    skus = set(ctx.params.get("skus") or [])
    limit = _limit(ctx.config)
    day = utcnow().date()
    with ctx.session() as session:
        variants = mapped(session, ctx.config.id, "variant")
        rows = [r for r in catalog.variant_prices(session, variants)
                if not skus or r.sku in skus]
        items = catalog.sale_items(session, [r.sku for r in rows])
        counts = revisions_today(session, ctx.config.id, [
            variants[r.id].remote_extra or variants[r.id].remote_id for r in rows], day)
        work = []
        for row in rows:
            mapping = variants[row.id]
            listing = mapping.remote_extra or mapping.remote_id
            if counts.get(listing, 0) >= limit:
                ctx.item_error(f"sku {row.sku}", "rate_limit",
                               f"listing {listing}: {LIMIT_MESSAGE}", session=session)
                continue
            currency = items[row.sku].currency if row.sku in items else "USD"
            work.append((row.sku, mapping.remote_id, listing, {
                "sku": row.sku, "offers": [{"offerId": mapping.remote_id, "price": {
                    "value": f"{row.price:.2f}", "currency": currency}}]}))
    ctx.progress(total=len(work))
    async with EbayClient(ctx.config, db=ctx.db) as client:
        for start in range(0, len(work), MAX_BULK):
            chunk = work[start:start + MAX_BULK]
            answers = await client.bulk_update([request for _, _, _, request in chunk])
            by_offer = {str(a.get("offerId")): a for a in answers if a.get("offerId")}
            revised: Counter[str] = Counter()
            refused: dict[str, int] = {}
            with ctx.session() as session:
                for sku, offer_id, listing, _ in chunk:
                    part = by_offer.get(offer_id) or {}
                    if int(part.get("statusCode") or 0) == 200:
                        revised[listing] += 1
                        continue
                    if _is_limit(part):
                        refused[listing] = limit
                    ctx.item_error(f"sku {sku}", "validation", error_messages(part)
                                   or "eBay did not take the price", session=session)
                count_revisions(session, ctx.config.id, dict(revised), day, at_least=refused)
                ctx.progress(add=len(chunk), session=session)


async def inventory_push(ctx: JobContext) -> None:
    """Every mapped variant's number, wanted again and pushed by the pusher."""
    from mercato.channels.push import want_all

    with ctx.session() as session:
        count = want_all(session, ctx.connection(session))
        ctx.progress(add=count, total=count, session=session)


JOBS: dict[str, JobFunc] = {
    "product_export": product_export, "inventory_push": inventory_push,
    "order_pull": order_pull, "price_push": price_push, "fulfillment_push": fulfillment_push,
    "cancellation_push": cancellation_push, "refund_push": refund_push}
register("ebay", jobs=JOBS, push=push, batch=100)  # four bulk updates of 25
