"""TCGplayer syncs (channel mode: Mercato is the source of truth, TCGplayer a marketplace).

- ``product_import``: Mercato's cards linked to TCGplayer SKUs (Mercato's catalog is not
  changed): a ``TCG-<id>`` SKU or ``tcgplayer_id`` attribute is the SKU id itself (checked
  against the catalog); other cards are found by game (category), set (group by abbreviation
  or name), collector number (the product's ``Number``), then condition, finish (printing)
  and language. A card that matches nothing is an item error. Already linked variants (by
  this job or ``PUT .../mappings``) are kept. Then every linked number is queued for push.
- ``inventory_push``: every linked variant's available-to-sell, queued and pushed.
- ``price_pull``: TCGplayer's low, market and direct low of linked SKUs (``/pricing/sku``,
  250 a call), recorded as history in catalog's market prices.
- ``price_push``: linked variants' prices on the channel (price lists and pricing rules for
  kind ``tcgplayer``, such as a ``market`` rule) set as the store's listing prices.
- ``order_pull``: the store's orders updated since the watermark, ingested once each.
- ``fulfillment_push``: a Mercato fulfillment's tracking number added to the TCGplayer order.

Not sent: cancellations and refunds (TCGplayer's API has no seller cancellation or refund:
they are made in TCGplayer's seller portal).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from functools import partial
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from mercato import catalog
from mercato.catalog import CardVariant, MarketQuote, card_variants, record_market_prices
from mercato.catalog import ports as catalog_ports
from mercato.channels.jobs import JobContext
from mercato.channels.models import Connection, Mapping
from mercato.channels.push import inventory_push, want_all
from mercato.channels.registry import (
    ConnectionConfig,
    JobFunc,
    PushEntry,
    PushResult,
    cancelled_on,
    current_database,
    register,
)
from mercato.channels.service import map_one, mapped
from mercato.channels.tcgplayer.client import IDS, TcgplayerClient, chunks
from mercato.channels.tcgplayer.mapping import (
    GAMES,
    cancelled,
    direct_sku,
    fold,
    is_card,
    numbers_match,
    order_in,
    pick,
    printing_ids,
    product_number,
)
from mercato.channels.toolkit import ChannelError, ErrorKind
from mercato.core.db import utcnow
from mercato.orders import service as orders

SOURCE = "tcgplayer"
CANCELLED_ON_TCGPLAYER = cancelled_on("tcgplayer")
PAGE = 100



def _client(ctx: JobContext) -> TcgplayerClient:
    return TcgplayerClient(ctx.config, db=ctx.db)


# -- inventory push -----------------------------------------------------------------------------

async def push(config: ConnectionConfig, entries: list[PushEntry]) -> list[PushResult]:
    """Each entry's quantity set on its store listing (an absolute number: sending it again
    is harmless). A SKU TCGplayer refuses is that entry's error; a rate limit TCGplayer keeps
    answering after the retries raises, and the round's entries stay due."""
    results: list[PushResult] = []
    async with TcgplayerClient(config, db=current_database()) as client:
        if entries:  # a connection given a code only: the pusher exchanges it too
            await client.store_access()
        for entry in entries:
            if entry.known_remote is not None and entry.known_remote == entry.quantity:
                results.append(PushResult(entry.mapping_id, entry.quantity))
                continue
            if not entry.remote_id.isdigit():
                results.append(PushResult(entry.mapping_id, None,
                                          f"{entry.remote_id!r} is not a TCGplayer SKU id"))
                continue
            try:
                answer = await client.set_quantity(entry.remote_id, max(0, entry.quantity))
            except ChannelError as exc:
                if exc.kind is not ErrorKind.VALIDATION:
                    raise
                results.append(PushResult(entry.mapping_id, None, exc.message))
                continue
            held = answer.get("quantity")
            results.append(PushResult(entry.mapping_id, held if isinstance(held, int)
                                      else entry.quantity))
    return results



# -- linking the catalog ------------------------------------------------------------------------

class Catalog:
    """TCGplayer's catalog as far as one job needs it, each list fetched once."""

    def __init__(self, client: TcgplayerClient) -> None:
        self.client = client
        self._categories: list[dict[str, Any]] | None = None
        self._groups: dict[int, list[dict[str, Any]]] = {}
        self._products: dict[int, list[dict[str, Any]]] = {}
        self._tables: dict[tuple[int, str], list[dict[str, Any]]] = {}
        self.skus: dict[int, list[dict[str, Any]]] = {}

    async def _all(self, path: str, params: dict[str, Any] | None = None) -> list[Any]:
        found: list[Any] = []
        async for results, _ in self.client.pages(path, params):
            found.extend(results)
        return found

    async def category(self, game: str) -> int | None:
        if self._categories is None:
            self._categories = await self._all("/catalog/categories")
        names = GAMES.get(game, (game,))
        for name in names:
            for row in self._categories:
                if fold(name) in (fold(row.get("name")), fold(row.get("displayName"))):
                    return int(row["categoryId"])
        return None

    async def group(self, category: int, set_code: str, set_name: str) -> int | None:
        if category not in self._groups:
            self._groups[category] = await self._all("/catalog/groups",
                                                     {"categoryId": category})
        groups = self._groups[category]
        if set_code:
            found = pick(groups, "groupId", set_code, ("abbreviation",))
            if found is not None:
                return found
        return pick(groups, "groupId", set_name, ("name",)) if set_name else None

    async def products(self, category: int, group: int) -> list[dict[str, Any]]:
        if group not in self._products:
            self._products[group] = await self._all("/catalog/products", {
                "categoryId": category, "groupId": group, "getExtendedFields": "true"})
        return self._products[group]

    async def table(self, category: int, name: str) -> list[dict[str, Any]]:
        if (category, name) not in self._tables:
            self._tables[(category, name)] = await self.client.results(
                f"/catalog/categories/{category}/{name}")
        return self._tables[(category, name)]

    async def load_skus(self, product_ids: set[int]) -> None:
        wanted = sorted(p for p in product_ids if p not in self.skus)
        for group in chunks(wanted, IDS):
            for sku in await self.client.by_ids("/catalog/products/{ids}/skus", group):
                self.skus.setdefault(int(sku["productId"]), []).append(sku)
        for product_id in wanted:
            self.skus.setdefault(product_id, [])

    async def product_of(self, card: CardVariant) -> tuple[int, int] | str:
        """(category, product) of a card, or why none matches."""
        attrs = card.attributes
        game = str(attrs.get("game") or "")
        category = await self.category(game)
        if category is None:
            return f"no TCGplayer category for the game {game!r}"
        set_code, set_name = str(attrs.get("set_code") or ""), str(attrs.get("set_name") or "")
        group = await self.group(category, set_code, set_name)
        if group is None:
            return f"no TCGplayer set {set_code or set_name!r} in {game}"
        number = str(attrs.get("collector_number") or "")
        matches = [p for p in await self.products(category, group)
                   if numbers_match(number, product_number(p) or "")]
        if len(matches) > 1:  # two printings share a number: the card's name decides
            named = [p for p in matches if fold(p.get("name")) and fold(p.get("name"))
                     in fold(card.title)]
            matches = named or matches
        if not matches:
            return f"no card numbered {number!r} in {set_code or set_name}"
        if len(matches) > 1:
            return (f"{len(matches)} TCGplayer products are numbered {number!r} in "
                    f"{set_code or set_name}; link it with PUT .../mappings")
        return category, int(matches[0]["productId"])

    async def sku_of(self, card: CardVariant, category: int, product: int) -> int | str:
        """The product's SKU in the card's condition, finish and language, or why none."""
        v = card.variant_attributes
        condition, finish = str(v.get("condition") or "NM"), str(v.get("finish") or "nonfoil")
        language = str(v.get("language") or "EN")
        condition_id = pick(await self.table(category, "conditions"), "conditionId",
                            condition, ("abbreviation", "name"))
        language_id = pick(await self.table(category, "languages"), "languageId", language,
                           ("abbr", "name"))
        printings = printing_ids(await self.table(category, "printings"), finish)
        if condition_id is None:
            return f"TCGplayer has no condition {condition!r}"
        if language_id is None:
            return f"TCGplayer has no language {language!r}"
        if not printings:
            return f"TCGplayer has no printing for the finish {finish!r}"
        for printing in printings:
            for sku in self.skus.get(product, []):
                if (sku.get("conditionId"), sku.get("languageId"), sku.get("printingId")) == (
                        condition_id, language_id, printing):
                    return int(sku["skuId"])
        return f"product {product} has no {condition} {finish} {language} SKU"


async def product_import(ctx: JobContext) -> None:
    async with _client(ctx) as client:
        await client.store_access()  # the authorization code, exchanged at the first call
        tcg = Catalog(client)
        after = str(ctx.state.get("after", ""))
        while True:
            with ctx.session() as session:
                page = card_variants(session, after=after, limit=PAGE)
                linked = set(mapped(session, ctx.config.id, "variant"))
            if not page:
                break
            outcomes: list[tuple[CardVariant, str | None, str | None, str | None]] = []
            todo = [v for v in page if v.id not in linked]
            direct = {v.id: sku for v in todo if (sku := direct_sku(v)) is not None}
            known = {str(s["skuId"]): str(s["productId"]) for s in await client.by_ids(
                "/catalog/skus/{ids}", sorted(set(direct.values())))}
            found: dict[str, tuple[int, int]] = {}
            for v in todo:
                if v.id in direct:
                    sku = direct[v.id]
                    outcomes.append((v, sku, known.get(sku), None if sku in known else
                                     f"TCGplayer has no SKU {sku}"))
                elif is_card(v):
                    product = await tcg.product_of(v)
                    if isinstance(product, str):
                        outcomes.append((v, None, None, product))
                    else:
                        found[v.id] = product
            await tcg.load_skus({product for _, product in found.values()})
            for v in todo:
                if v.id in found:
                    category_id, product_id = found[v.id]
                    sku_id = await tcg.sku_of(v, category_id, product_id)
                    outcomes.append((v, str(sku_id), str(product_id), None)
                                    if isinstance(sku_id, int) else (v, None, None, sku_id))
            with ctx.session() as session:
                for v, sku, remote_product, error in outcomes:
                    if error is not None or sku is None:
                        ctx.item_error(f"sku {v.sku}", "validation",
                                       error or "not matched", session=session)
                        continue
                    map_one(session, ctx.config.id, "variant", v.id, sku, remote_product)
                after = page[-1].id
                ctx.progress(add=len(page), state={"after": after}, session=session)
    with ctx.session() as session:
        want_all(session, ctx.connection(session))


# -- prices -------------------------------------------------------------------------------------

def _price(value: Any) -> Decimal | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        return Decimal(str(value)).quantize(Decimal("0.01"))
    except ArithmeticError:
        return None


def _selected(session: Session, ctx: JobContext) -> dict[str, Mapping]:
    """The linked variants, limited to ``params.skus`` when given; by variant id."""
    variants = mapped(session, ctx.config.id, "variant")
    skus = set(ctx.params.get("skus") or [])
    if skus:
        ids = {i.id for i in catalog.stock_items(session, skus=sorted(skus))}
        variants = {k: m for k, m in variants.items() if k in ids}
    return variants


async def price_pull(ctx: JobContext) -> None:
    """Market prices of the linked SKUs, 250 a call, recorded with the time pulled."""
    with ctx.session() as session:
        by_sku = {m.remote_id: vid for vid, m in _selected(session, ctx).items()
                  if m.remote_id.isdigit()}
    ordered = sorted(by_sku, key=int)
    start = int(ctx.state.get("offset", 0))
    ctx.progress(total=len(ordered))
    async with _client(ctx) as client:
        for first in range(start, len(ordered), IDS):
            group = ordered[first:first + IDS]
            prices = {str(p.get("skuId")): p for p in await client.by_ids(
                "/pricing/sku/{ids}", group)}
            pulled = utcnow()
            with ctx.session() as session:
                quotes = []
                for sku in group:
                    row = prices.get(sku)
                    if row is None:
                        ctx.item_error(f"tcgplayer sku {sku}", "validation",
                                       "TCGplayer has no prices for this SKU", session=session)
                        continue
                    quotes.append(MarketQuote(
                        by_sku[sku], SOURCE, sku, "USD", _price(row.get("lowPrice")), None,
                        _price(row.get("marketPrice")), _price(row.get("directLowPrice")),
                        pulled))
                record_market_prices(session, quotes)
                ctx.progress(add=len(group), state={"offset": first + len(group)},
                             session=session)


async def price_push(ctx: JobContext) -> None:
    """Each linked variant's price on this channel (price lists and pricing rules for channels
    of kind ``tcgplayer``, as the inventory file's export has it) set as its store listing's
    price."""
    with ctx.session() as session:
        variants = _selected(session, ctx)
        items = catalog.sale_items(session, ids=variants)
        prices = catalog_ports.channel_prices(session, ctx.config.channel_id, [
            catalog_ports.PricedVariant(i.id, i.price, i.currency) for i in items.values()])
    todo = sorted((variants[v].remote_id, v) for v in prices)
    ctx.progress(total=len(todo))
    async with _client(ctx) as client:
        for sku, variant_id in todo:
            try:
                await client.set_price(sku, f"{prices[variant_id]:.2f}")
            except ChannelError as exc:
                if exc.kind is not ErrorKind.VALIDATION:
                    raise
                ctx.item_error(f"tcgplayer sku {sku}", "validation", exc.message)
            ctx.progress(add=1)


# -- orders -------------------------------------------------------------------------------------

def _skus_of(session: Session, connection_id: str, sku_ids: set[str]) -> dict[str, str]:
    """Mercato SKU by linked TCGplayer SKU id."""
    if not sku_ids:
        return {}
    rows = session.execute(select(Mapping.remote_id, Mapping.local_id).where(
        Mapping.connection_id == connection_id, Mapping.resource == "variant",
        Mapping.remote_id.in_(sorted(sku_ids)))).all()
    skus = {i.id: i.sku for i in catalog.stock_items(session, ids=[local for _, local in rows])}
    return {remote: skus[local] for remote, local in rows if local in skus}


def apply_order(session: Session, connection: Connection, order: dict[str, Any],
                items: list[dict[str, Any]]) -> str:
    """Ingest once (channel + order number) and follow a cancellation: ``created``,
    ``exists``, ``cancelled`` or ``skipped`` (no item linked to a Mercato variant)."""
    number = str(order["orderNumber"])
    existing = orders.find_external(session, connection.channel_id, number)
    outcome = "exists"
    if existing is None:
        sku_of = _skus_of(session, connection.id, {str(i.get("skuId")) for i in items})
        data, _ = order_in(order, items, connection.channel_id, sku_of)
        if data is None:
            return "skipped"
        existing, made = orders.ingest(session, connection.organization_id, data)
        outcome = "created" if made else "exists"
    if cancelled(order) and existing.status != "cancelled" \
            and orders.cancel_if_open(session, existing.id, CANCELLED_ON_TCGPLAYER):
        outcome = "cancelled"
    return outcome


async def order_pull(ctx: JobContext) -> None:
    """Orders updated after the watermark, oldest update first, a page at a time: details
    and items fetched, each order ingested in its own savepoint (a bad one is reported with
    its number and the others go on), the watermark moved with the page."""
    with ctx.session() as session:
        cursors = dict(ctx.connection(session).cursors or {})
    since = str(ctx.params.get("since") or ctx.state.get("since") or cursors.get("orders")
                or (utcnow() - dt.timedelta(days=1)).isoformat())
    newest = str(ctx.state.get("newest") or since)
    async with _client(ctx) as client:
        search = client.store_path("/orders")
        async for numbers, offset in client.pages(search, {"updatedAfter": since},
                                                  offset=int(ctx.state.get("offset", 0)),
                                                  store=True):
            details = await client.by_ids(client.store_path("/orders/{ids}"),
                                          [str(n) for n in numbers], store=True)
            items: dict[str, list[dict[str, Any]]] = {}
            for order in details:
                body = await client.call("GET", client.store_path(
                    f"/orders/{order.get('orderNumber')}/items"), store=True)
                items[str(order.get("orderNumber"))] = list(body.get("results") or [])
            with ctx.session() as session:
                connection = ctx.connection(session)
                for order in details:
                    number = str(order.get("orderNumber") or "?")
                    ctx.apply_order(session, number, partial(
                        apply_order, session, connection, order, items.get(number, [])),
                        unmatched="no item with a TCGplayer SKU linked to a Mercato variant")
                    updated = str(order.get("updatedAt") or "")
                    if updated and _later(updated, newest):
                        newest = updated
                connection.cursors = {**cursors, "orders": newest}
                ctx.progress(add=len(numbers), state={"since": since, "offset": offset,
                                                      "newest": newest}, session=session)


def _later(a: str, b: str) -> bool:
    try:
        return _when(a) > _when(b)
    except ValueError:
        return False


def _when(raw: str) -> dt.datetime:
    value = dt.datetime.fromisoformat(raw.replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


async def fulfillment_push(ctx: JobContext) -> None:
    """A Mercato fulfillment's tracking number added to the TCGplayer order (which TCGplayer
    then shows as shipped); one without a tracking number has nothing to send. Sent once:
    the order's tracking numbers are read first."""
    with ctx.session() as session:
        made = ctx.fulfillment(session)
    number, carrier, tracking = made.external_id, made.carrier, made.tracking_number
    ctx.progress(total=1)
    if tracking:
        async with _client(ctx) as client:
            sent = await client.tracking(number)
            if not any(str(t.get("trackingNumber")) == tracking for t in sent):
                await client.add_tracking(number, carrier, tracking)
    ctx.progress(add=1)


JOBS: dict[str, JobFunc] = {
    "product_import": product_import, "inventory_push": inventory_push,
    "price_pull": price_pull, "price_push": price_push, "order_pull": order_pull,
    "fulfillment_push": fulfillment_push}
register("tcgplayer", jobs=JOBS, push=push, batch=20)  # two seconds at 10 calls/s
