"""A local emulator of Shopify's GraphQL Admin API, for tests and the demo (no internet here).

``create_app(emulator=None, **options)`` is an ASGI app; its state is ``app.state.emulator``, a
``ShopifyEmulator`` holding plain objects in memory behind one lock.

Emulated, as Shopify documents it:

- ``POST /admin/api/{version}/graphql.json`` for versions 2025-07 … 2026-10 (others: 404),
  authenticated by ``X-Shopify-Access-Token`` (else 401). Documents are real GraphQL, executed
  by graphql-core against a per-version schema that uses Shopify's type and field names:
  variables, fragments, aliases, ``@skip``/``@include`` and validation errors all behave.
- The cost-based leaky bucket: static requested cost (object 1, connection 2 + first x node,
  mutation 10), ``MAX_COST_EXCEEDED`` over 1000, ``THROTTLED`` when the bucket is short, and
  ``extensions.cost`` on every response; the actual cost (never above the requested one) is
  what is kept from the bucket.
- Connections with ``first``/``after`` (and ``last``/``before``), at most 250 a page, opaque
  cursors, ``edges``/``nodes``/``pageInfo``; search syntax (``sku:``, ``updated_at:>='…'``,
  ``OR``, negation) and sort keys.
- Products, variants, inventory items and levels (named quantities; on_hand is derived),
  locations, orders with line items, fulfillment orders, fulfillments, refunds and payment
  transactions (a sale or authorization at checkout, a sale or capture when a pending order is
  paid, a refund against its parent sale).
- Mutations ``inventorySetQuantities`` and ``inventoryAdjustQuantities`` with compare-and-set
  by version (``compareQuantity``/``ignoreCompareQuantity`` before 2026-01,
  ``changeFromQuantity`` from 2026-01, required from 2026-04; a stale value fails the whole
  mutation), the ``@idempotent(key:)`` directive (from 2026-01; required on those two from
  2026-04; a replay returns the first result, another use of a key with other arguments is
  ``IDEMPOTENCY_KEY_PARAMETER_MISMATCH``), ``productSet``, ``productVariantsBulkUpdate``,
  ``fulfillmentCreate``, ``orderCancel`` (``refund`` or ``refundMethod``, ``restock``,
  ``notifyCustomer``, ``staffNote``; answers a ``job``, done by the time ``job(id:)`` asks),
  ``refundCreate`` (money exactly as its ``transactions`` say, each against a sale or capture
  of the order and never more than it has left; line items restocked unless ``NO_RESTOCK``),
  ``webhookSubscriptionCreate``/``Delete`` and ``bulkOperationRunQuery``
  (background thread, JSONL with ``__parentId`` at ``GET /_bulk/{n}.jsonl``).
- Webhooks in the REST resource shape, signed (``X-Shopify-Hmac-Sha256``) with the client secret,
  delivered on background threads with retries that keep ``X-Shopify-Webhook-Id``.

Not emulated: REST endpoints, OAuth and access scopes, the Storefront API, presentment
currencies, taxes, discounts, shipping lines, metafields, collections, media, order editing,
holds, bulk mutations, ``bulkOperationCancel``, ``groupObjects``, search relevance, the 60-day
window on orders, and the exact wording of most error messages. Only the types and fields in
``schema`` exist; like Shopify, ``fulfillmentCreate`` and the webhook mutations answer
``userErrors { field message }`` (``UserError`` has no ``code``). Choices the documentation
leaves open: a ``changeFromQuantity`` missing on 2026-04 or later is a user error with code
``INVALID``; a missing ``@idempotent`` there is a top-level ``BAD_REQUEST`` error; validation
errors carry ``GRAPHQL_VALIDATION_FAILED`` and syntax errors ``GRAPHQL_PARSE_FAILED``.

Each GraphQL request runs whole under the lock, so a mutation is atomic and concurrent
requests are serialized; webhook delivery and bulk queries run on their own threads.
Modules of ``mercato_emulators.shopify``: ``schema`` (SDL per version, cost, search syntax),
``gql`` (execution, connections, bulk JSONL), ``resolvers``, ``mutations``, ``model``
(records), ``rest`` (webhook payloads), ``webhooks``; this one is ``server``.

Merchant and shopper actions (orders, their payment, cancellations and refunds, stock edits,
price changes) are Python methods on ``ShopifyEmulator`` and a few ``/_emulator/`` routes, so
the demo can be driven with curl.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, TypeVar

from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response
from graphql import (
    FragmentDefinitionNode,
    GraphQLError,
    get_operation_ast,
    parse,
    validate,
)

from mercato_emulators.shopify import gql, rest
from mercato_emulators.shopify import mutations as emulator_mutations
from mercato_emulators.shopify import resolvers as emulator_resolvers
from mercato_emulators.shopify.model import (
    GID,
    Customer,
    Fulfillment,
    FulfillmentOrder,
    FulfillmentOrderLineItem,
    InventoryItem,
    Level,
    LineItem,
    Location,
    Order,
    Product,
    Record,
    Refund,
    RefundLineItem,
    Shop,
    Transaction,
    Variant,
    WebhookSubscription,
    handleize,
    iso,
    money,
    parse_gid,
    to_decimal,
    topic_header,
)
from mercato_emulators.shopify.schema import (
    MAX_QUERY_COST,
    SUPPORTED_VERSIONS,
    CostCalculator,
    schema_for,
)
from mercato_emulators.shopify.webhooks import (
    DEFAULT_RETRY_DELAYS,
    Delivery,
    WebhookDispatcher,
)

log = logging.getLogger(__name__)

R = TypeVar("R", bound=Record)
INVALID_TOKEN = (
    "[API] Invalid API key or access token (unrecognized login or wrong password)"  # noqa: S105
)
THROTTLE_DOCS = "https://shopify.dev/api/usage/rate-limits"
LATEST_VERSION = SUPPORTED_VERSIONS[-1]
RESOLVERS = {**emulator_resolvers.RESOLVERS, **emulator_mutations.RESOLVERS}


class ShopifyEmulator:
    """One shop's state, its cost bucket and its webhook deliveries. Every public method takes
    the lock, so tests, the HTTP app and the background threads can all use it at once."""

    def __init__(self, *, shop_domain: str = "demo-shop.myshopify.com",
                 shop_name: str = "Demo Shop", currency: str = "USD",
                 access_token: str = "shpat_emulator_token",  # noqa: S107 - test credential
                 client_secret: str = "shpss_emulator_secret",  # noqa: S107
                 bucket_size: float = 2000, restore_rate: float = 100,
                 throttle_status: int = 200,
                 webhook_retry_delays: Sequence[float] | None = None,
                 webhook_timeout: float = 5.0, deliver_duplicates: bool = False,
                 bulk_delay: float = 0.0,
                 clock: Callable[[], datetime] | None = None) -> None:
        self.lock = threading.RLock()
        self.access_token = access_token
        self.bucket_size = float(bucket_size)
        self.restore_rate = float(restore_rate)
        self.throttle_status = throttle_status
        self.deliver_duplicates = deliver_duplicates
        self.bulk_delay = bulk_delay
        self.clock = clock or (lambda: datetime.now(UTC))
        self.webhooks = WebhookDispatcher(
            secret=client_secret, shop_domain=shop_domain,
            retry_delays=tuple(DEFAULT_RETRY_DELAYS if webhook_retry_delays is None
                               else webhook_retry_delays),
            timeout=webhook_timeout)
        self.tables: dict[str, dict[int, Any]] = {}
        self.levels: dict[tuple[int, int], Level] = {}
        self._item_levels: dict[int, list[Level]] = {}  # by item, in location order
        self.handles: dict[str, int] = {}  # product handle -> product number
        self.idempotency: dict[str, tuple[str, Any]] = {}
        self.mutation_log: list[tuple[str, dict[str, Any]]] = []
        self.events: list[tuple[str, dict[str, Any]]] = []
        self.requests = 0
        self.throttled = 0
        self.fail_next_bulk_operation = False
        self._counter = 1000
        self._order_number = 1000
        self._bucket = self.bucket_size
        self._bucket_at = time.monotonic()
        self.shop = self.new(Shop, name=shop_name, myshopify_domain=shop_domain,
                             currency_code=currency, email=f"owner@{shop_domain}")
        self.add_location("Shop location")

    # -- records ------------------------------------------------------------------------------

    @property
    def client_secret(self) -> str:
        return self.webhooks.secret

    @client_secret.setter
    def client_secret(self, value: str) -> None:
        self.webhooks.secret = value

    @property
    def shop_domain(self) -> str:
        return self.shop.myshopify_domain

    def now(self) -> datetime:
        return self.clock()

    def new(self, cls: type[R], **fields: Any) -> R:
        """A new record of ``cls`` with the next number, stored in its table."""
        with self.lock:
            self._counter += 1
            moment = self.now()
            record = cls(num=self._counter, created_at=moment, updated_at=moment, **fields)
            self.table(cls)[record.num] = record
            return record

    def table(self, cls: type[R]) -> dict[int, R]:
        return self.tables.setdefault(cls.KIND, {})

    def all(self, cls: type[R]) -> list[R]:
        return list(self.table(cls).values())

    def get(self, cls: type[R], ident: object) -> R | None:
        """A record by gid (of that kind) or bare number; None when there is none."""
        num = parse_gid(ident, cls.KIND)
        return None if num is None else self.table(cls).get(num)

    def must(self, cls: type[R], ident: object) -> R:
        found = self.get(cls, ident)
        if found is None:
            raise KeyError(f"no {cls.KIND} {ident!r}")
        return found

    def lookup(self, ident: str) -> Any:
        """Any node by its gid (what ``node(id:)`` answers)."""
        match = GID.match(str(ident))
        if match is None:
            return None
        kind, num, query = match.group(1), int(match.group(2)), match.group(3) or ""
        if kind == "InventoryLevel":
            item = query.removeprefix("inventory_item_id=")
            return self.levels.get((int(item), num)) if item.isdigit() else None
        return self.tables.get(kind, {}).get(num)

    def first_location(self) -> Location:
        return min(self.all(Location), key=lambda loc: loc.num)

    def location(self, ident: object | None) -> Location:
        return self.first_location() if ident is None else self.must(Location, ident)

    def variant_of(self, item: InventoryItem) -> Variant:
        return self.table(Variant)[item.variant_num]

    def item_of(self, variant: Variant) -> InventoryItem:
        return self.table(InventoryItem)[variant.item_num]

    def product_of(self, variant: Variant) -> Product:
        return self.table(Product)[variant.product_num]

    def variants_of(self, product: Product) -> list[Variant]:
        return [self.table(Variant)[n] for n in product.variant_nums]

    def levels_of(self, item: InventoryItem) -> list[Level]:
        return list(self._item_levels.get(item.num, ()))

    def product_by_handle(self, handle: str | None) -> Product | None:
        num = self.handles.get(handle or "")
        return None if num is None else self.table(Product).get(num)

    def set_handle(self, product: Product, handle: str) -> None:
        if self.handles.get(product.handle) == product.num:
            del self.handles[product.handle]
        product.handle = handle
        self.handles[handle] = product.num

    def variant_by_sku(self, sku: str) -> Variant | None:
        with self.lock:
            return next((v for v in self.all(Variant) if v.sku == sku), None)

    # -- inventory ------------------------------------------------------------------------------

    def stock(self, item: InventoryItem, location: Location) -> Level:
        """The level of ``item`` at ``location``, created (all zero) if it was not stocked."""
        level = self.levels.get((item.num, location.num))
        if level is None:
            moment = self.now()
            level = Level(item_num=item.num, location_num=location.num, created_at=moment,
                          updated_at=moment, quantities={"available": 0})
            self.levels[(item.num, location.num)] = level
            stocked = self._item_levels.setdefault(item.num, [])
            stocked.append(level)
            stocked.sort(key=lambda lv: lv.location_num)
        return level

    def drop_variant(self, variant: Variant) -> None:
        """Delete a variant with its inventory item and levels (productSet leaving it out)."""
        item = self.item_of(variant)
        for level in self._item_levels.pop(item.num, []):
            del self.levels[(item.num, level.location_num)]
        del self.table(InventoryItem)[item.num]
        del self.table(Variant)[variant.num]
        product = self.product_of(variant)
        if variant.num in product.variant_nums:
            product.variant_nums.remove(variant.num)

    def change_level(self, level: Level, name: str, delta: int, *, notify: bool = True) -> None:
        """Move one named quantity, touch what shows it, and tell subscribers when the
        available quantity changed."""
        if delta == 0:
            return
        level.add(name, delta)
        moment = self.now()
        level.updated_at = moment
        item = self.table(InventoryItem)[level.item_num]
        item.updated_at = moment
        self.variant_of(item).updated_at = moment
        if notify and name in ("available", "on_hand"):
            self.emit("INVENTORY_LEVELS_UPDATE", rest.level_payload(self, level))

    def available(self, inventory_item_id: object, location_id: object | None = None) -> int:
        with self.lock:
            item = self.must(InventoryItem, inventory_item_id)
            return self.stock(item, self.location(location_id)).get("available")

    def set_available(self, inventory_item_id: object, qty: int,
                      location_id: object | None = None, *, notify: bool = True
                      ) -> dict[str, Any]:
        """A merchant's stock edit in the Shopify admin (sends inventory_levels/update)."""
        with self.lock:
            item = self.must(InventoryItem, inventory_item_id)
            level = self.stock(item, self.location(location_id))
            self.change_level(level, "available", qty - level.get("available"), notify=notify)
            return rest.level_payload(self, level)

    # -- catalog --------------------------------------------------------------------------------

    def add_location(self, name: str) -> str:
        """A new location; every existing item is stocked there at zero."""
        with self.lock:
            location = self.new(Location, name=name)
            for item in self.all(InventoryItem):
                self.stock(item, location)
            return location.gid

    def unique_handle(self, wanted: str) -> str:
        """Shopify's way with a taken handle: ``name``, then ``name-1``, ``name-2`` …."""
        handle, n = handleize(wanted), 1
        while handle in self.handles:
            handle, n = f"{handleize(wanted)}-{n}", n + 1
        return handle

    def new_variant(self, product: Product, *, sku: str | None, price: Decimal,
                    title: str | None = None, barcode: str | None = None,
                    compare_at_price: Decimal | None = None,
                    options: Sequence[tuple[str, str]] = (), tracked: bool = True) -> Variant:
        """A variant with its inventory item, stocked at zero at every location."""
        variant = self.new(Variant, product_num=product.num, sku=sku, barcode=barcode,
                           price=price, compare_at_price=compare_at_price,
                           options=list(options),
                           title=title or " / ".join(v for _, v in options) or "Default Title",
                           position=len(product.variant_nums) + 1)
        item = self.new(InventoryItem, variant_num=variant.num, sku=sku, tracked=tracked)
        variant.item_num = item.num
        product.variant_nums.append(variant.num)
        for location in self.all(Location):
            self.stock(item, location)
        return variant

    def add_product(self, title: str, *, handle: str | None = None, vendor: str = "",
                    product_type: str = "", tags: Iterable[str] = (), status: str = "ACTIVE",
                    description_html: str = "",
                    variants: Sequence[Mapping[str, Any]] = ()) -> dict[str, Any]:
        """A product as a merchant creates it in the admin (sends products/create). Each variant:
        ``sku``, ``price``, and optionally ``title``, ``barcode``, ``compare_at_price``,
        ``options`` ({"Condition": "NM"}), ``available`` and ``location_id``."""
        with self.lock:
            product = self.new(Product, title=title, handle="", vendor=vendor,
                               product_type=product_type, tags=list(tags),
                               status=status.upper(), description_html=description_html)
            self.set_handle(product, self.unique_handle(handle or title))
            for spec in variants or ({"sku": None, "price": "0"},):
                options = list((spec.get("options") or {}).items())
                variant = self.new_variant(
                    product, sku=spec.get("sku"), price=to_decimal(spec.get("price", "0")),
                    title=spec.get("title"), barcode=spec.get("barcode"),
                    compare_at_price=(to_decimal(spec["compare_at_price"])
                                      if spec.get("compare_at_price") is not None else None),
                    options=options, tracked=bool(spec.get("tracked", True)))
                if spec.get("available"):
                    location = self.location(spec.get("location_id"))
                    self.stock(self.item_of(variant), location).add("available",
                                                                    int(spec["available"]))
            self.sync_options(product)
            self.emit("PRODUCTS_CREATE", rest.product_payload(self, product))
            return self.product_summary(product)

    def sync_options(self, product: Product) -> None:
        """Product options are the union of its variants' option values, in first-seen order
        (Shopify's "Title: Default Title" when there are none)."""
        options: dict[str, list[str]] = {}
        for variant in self.variants_of(product):
            for name, value in variant.options:
                values = options.setdefault(name, [])
                if value not in values:
                    values.append(value)
        product.options = list(options.items()) or [("Title", ["Default Title"])]

    def update_product(self, product_id: object, *, title: str | None = None,
                       vendor: str | None = None, product_type: str | None = None,
                       status: str | None = None, tags: Iterable[str] | None = None,
                       prices: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """A merchant's edit in the admin (sends products/update); ``prices`` maps a SKU or a
        variant gid to its new price."""
        with self.lock:
            product = self.must(Product, product_id)
            for attr, value in (("title", title), ("vendor", vendor),
                                ("product_type", product_type)):
                if value is not None:
                    setattr(product, attr, value)
            if status is not None:
                product.status = status.upper()
            if tags is not None:
                product.tags = list(tags)
            moment = self.now()
            for key, price in (prices or {}).items():
                variant = next(v for v in self.variants_of(product)
                               if key in (v.sku, v.gid, str(v.num)))
                variant.price = to_decimal(price)
                variant.updated_at = moment
            product.updated_at = moment
            self.emit("PRODUCTS_UPDATE", rest.product_payload(self, product))
            return self.product_summary(product)

    def product_summary(self, product: Product) -> dict[str, Any]:
        first = self.first_location()
        return {"id": product.gid, "handle": product.handle, "title": product.title,
                "status": product.status, "variants": [
                    {"id": v.gid, "sku": v.sku, "title": v.title, "price": money(v.price),
                     "barcode": v.barcode, "inventory_item_id": self.item_of(v).gid,
                     "available": self.stock(self.item_of(v), first).get("available")}
                    for v in self.variants_of(product)]}

    # -- orders ---------------------------------------------------------------------------------

    def place_order(self, lines: Sequence[Mapping[str, Any]], *, email: str | None = None,
                    currency: str = "USD", financial_status: str = "paid",
                    location_id: object | None = None,
                    customer: Mapping[str, Any] | None = None,
                    shipping_address: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """A shopper's checkout: each line is ``{"sku" or "variant_id", "quantity",
        "price"?}``. Tracked stock is committed at once, and may go below zero (an oversell
        shows). Sends orders/create and inventory_levels/update."""
        with self.lock:
            location = self.location(location_id)
            resolved: list[tuple[Variant, int, Decimal]] = []
            for line in lines:
                variant = (self.get(Variant, line["variant_id"]) if line.get("variant_id")
                           else self.variant_by_sku(str(line.get("sku"))))
                if variant is None:
                    raise KeyError(f"no variant for order line {dict(line)!r}")
                quantity = int(line.get("quantity", 1))
                if quantity < 1:
                    raise ValueError("an order line needs a quantity of at least 1")
                price = to_decimal(line["price"]) if line.get("price") is not None \
                    else variant.price
                resolved.append((variant, quantity, price))
            if not resolved:
                raise ValueError("an order needs at least one line")
            person = dict(customer or {})
            buyer = self.new(Customer, email=person.get("email", email),
                             first_name=person.get("first_name", "Sam"),
                             last_name=person.get("last_name", "Shopper"))
            self._order_number += 1
            order = self.new(Order, name=f"#{self._order_number}", number=self._order_number,
                             email=email, currency=currency.upper(),
                             financial_status=financial_status.upper(),
                             location_num=location.num, customer_num=buyer.num,
                             shipping_address=dict(shipping_address) if shipping_address
                             else {"first_name": buyer.first_name,
                                   "last_name": buyer.last_name, "address1": "1 Main St",
                                   "city": "Springfield", "zip": "12345",
                                   "country": "United States", "country_code": "US"})
            fulfillment_order = self.new(FulfillmentOrder, order_num=order.num,
                                         location_num=location.num)
            order.fo_nums.append(fulfillment_order.num)
            for variant, quantity, price in resolved:
                product = self.product_of(variant)
                line_item = self.new(LineItem, order_num=order.num, variant_num=variant.num,
                                     product_num=product.num, sku=variant.sku,
                                     title=product.title,
                                     variant_title=None if variant.title == "Default Title"
                                     else variant.title, quantity=quantity, price=price)
                order.line_nums.append(line_item.num)
                fo_line = self.new(FulfillmentOrderLineItem, fo_num=fulfillment_order.num,
                                   line_item_num=line_item.num, total_quantity=quantity,
                                   remaining_quantity=quantity)
                fulfillment_order.line_nums.append(fo_line.num)
            if order.financial_status in ("PAID", "AUTHORIZED"):
                self.add_transaction(order, "SALE" if order.financial_status == "PAID"
                                     else "AUTHORIZATION", self.order_total(order))
            self.emit("ORDERS_CREATE", rest.order_payload(self, order))
            for variant, quantity, _ in resolved:
                item = self.item_of(variant)
                if item.tracked:
                    level = self.stock(item, location)
                    self.change_level(level, "committed", quantity, notify=False)
                    self.change_level(level, "available", -quantity)
            return rest.order_payload(self, order)

    def add_transaction(self, order: Order, kind: str, amount: Decimal, *,
                        parent: Transaction | None = None) -> Transaction:
        made = self.new(Transaction, order_num=order.num, kind=kind, amount=amount,
                        gateway=parent.gateway if parent is not None else "bogus",
                        parent_num=parent.num if parent is not None else None)
        order.transaction_nums.append(made.num)
        return made

    def transactions(self, order: Order) -> list[Transaction]:
        return [self.table(Transaction)[n] for n in order.transaction_nums]

    def refundable_amount(self, parent: Transaction) -> Decimal:
        """What a successful sale or capture can still give back."""
        if parent.kind not in ("SALE", "CAPTURE") or parent.status != "SUCCESS":
            return Decimal("0")
        order = self.table(Order)[parent.order_num]
        back = sum((t.amount for t in self.transactions(order)
                    if t.kind == "REFUND" and t.status == "SUCCESS"
                    and t.parent_num == parent.num), Decimal("0"))
        return parent.amount - back

    def mark_paid(self, order_id: object) -> dict[str, Any]:
        """The order's payment arrives (a pending order paid, an authorization captured), as
        ``orderMarkAsPaid`` or a payment gateway would. Sends orders/paid and orders/updated."""
        with self.lock:
            order = self.must(Order, order_id)
            if order.financial_status not in ("PENDING", "AUTHORIZED", "PARTIALLY_PAID"):
                raise ValueError(f"order {order.name} is {order.financial_status.lower()}")
            taken = sum((t.amount for t in self.transactions(order)
                         if t.kind in ("SALE", "CAPTURE") and t.status == "SUCCESS"),
                        Decimal("0"))
            authorization = next((t for t in self.transactions(order)
                                  if t.kind == "AUTHORIZATION"), None)
            owed = self.order_total(order) - taken
            if owed > 0:
                self.add_transaction(order, "CAPTURE" if authorization else "SALE", owed,
                                     parent=authorization)
            order.financial_status = "PAID"
            order.updated_at = self.now()
            self.emit("ORDERS_PAID", rest.order_payload(self, order))
            self.emit("ORDERS_UPDATED", rest.order_payload(self, order))
            return rest.order_payload(self, order)

    def cancel_order(self, order_id: object, *, reason: str = "customer", restock: bool = True,
                     refund: bool = True) -> dict[str, Any]:
        """The merchant cancels an order: unfulfilled stock goes back (``restock``), the
        payment is refunded or voided (``refund``). Sends orders/cancelled and orders/updated."""
        with self.lock:
            order = self.must(Order, order_id)
            if order.cancelled_at is not None:
                raise ValueError(f"order {order.name} is already cancelled")
            moment = self.now()
            for fo in self.fulfillment_orders(order):
                for fo_line in self.fo_lines(fo):
                    if restock and fo_line.remaining_quantity:
                        self.release(order, fo_line, fo_line.remaining_quantity, restock=True)
                    fo_line.remaining_quantity = 0
                if fo.status in ("OPEN", "IN_PROGRESS"):
                    fo.status = "CANCELLED" if not self.fulfilled_quantity(order) else "CLOSED"
                fo.updated_at = moment
            if refund:
                order.financial_status = {"PAID": "REFUNDED", "PARTIALLY_REFUNDED": "REFUNDED"
                                          }.get(order.financial_status, "VOIDED")
            order.cancelled_at = order.closed_at = order.updated_at = moment
            order.cancel_reason = reason.upper()
            self.emit("ORDERS_CANCELLED", rest.order_payload(self, order))
            self.emit("ORDERS_UPDATED", rest.order_payload(self, order))
            return rest.order_payload(self, order)

    def release(self, order: Order, fo_line: FulfillmentOrderLineItem, quantity: int, *,
                restock: bool) -> None:
        """Unfulfilled units leave the order: uncommit them, and make them available again
        when restocked."""
        line = self.table(LineItem)[fo_line.line_item_num]
        variant = self.table(Variant).get(line.variant_num or 0)
        if variant is None or not self.item_of(variant).tracked:
            return
        level = self.stock(self.item_of(variant), self.table(Location)[order.location_num])
        self.change_level(level, "committed", -quantity, notify=False)
        if restock:
            self.change_level(level, "available", quantity)

    def refund_order(self, order_id: object, lines: Sequence[Mapping[str, Any]], *,
                     restock: bool = True, note: str | None = None,
                     transactions: Sequence[tuple[Transaction, Decimal]] | None = None
                     ) -> dict[str, Any]:
        """The merchant refunds line items (``{"line_item_id", "quantity", "restock"?}``):
        unfulfilled units are cancelled first, fulfilled ones returned; restocked units
        become available. The money given back is the lines' subtotal, against the order's
        first sale, or with ``transactions`` ((parent sale or capture, amount) pairs) exactly
        that. Sends refunds/create and orders/updated; returns the refund (REST shape)."""
        with self.lock:
            order = self.must(Order, order_id)
            moment = self.now()
            refund = self.new(Refund, order_num=order.num, note=note, amount=Decimal("0"))
            order.refund_nums.append(refund.num)
            for spec in lines:
                back = bool(spec.get("restock", restock))
                line = self.must(LineItem, spec["line_item_id"])
                if line.order_num != order.num:
                    raise KeyError(f"line item {spec['line_item_id']!r} is not on {order.name}")
                quantity = int(spec.get("quantity", 1))
                if quantity > self.refundable(line):
                    raise ValueError(f"only {self.refundable(line)} of line {line.num} "
                                     "can be refunded")
                unfulfilled = self.fo_line_for(line)
                cancelled = min(quantity, unfulfilled.remaining_quantity if unfulfilled else 0)
                if cancelled and unfulfilled is not None:
                    unfulfilled.remaining_quantity -= cancelled
                    line.removed += cancelled
                    self.release(order, unfulfilled, cancelled, restock=back)
                    self.add_refund_line(refund, line, cancelled,
                                         "CANCEL" if back else "NO_RESTOCK", order)
                returned = quantity - cancelled
                if returned:
                    if back and line.variant_num in self.table(Variant):
                        item = self.item_of(self.table(Variant)[line.variant_num])
                        if item.tracked:
                            level = self.stock(item, self.table(Location)[order.location_num])
                            self.change_level(level, "available", returned)
                    self.add_refund_line(refund, line, returned,
                                         "RETURN" if back else "NO_RESTOCK", order)
            if transactions is not None:
                refund.amount = sum((amount for _, amount in transactions), Decimal("0"))
            else:
                sale = next((t for t in self.transactions(order)
                             if self.refundable_amount(t) > 0), None)
                transactions = [(sale, refund.amount)] if sale is not None and refund.amount \
                    else []
            for parent, amount in transactions:
                refund.transaction_nums.append(
                    self.add_transaction(order, "REFUND", amount, parent=parent).num)
            refunded = sum((r.amount for r in self.refunds(order)), Decimal("0"))
            order.financial_status = ("REFUNDED" if refunded >= self.order_total(order)
                                      else "PARTIALLY_REFUNDED")
            order.updated_at = moment
            self.emit("REFUNDS_CREATE", rest.refund_payload(self, refund))
            self.emit("ORDERS_UPDATED", rest.order_payload(self, order))
            return rest.refund_payload(self, refund)

    def add_refund_line(self, refund: Refund, line: LineItem, quantity: int, restock_type: str,
                        order: Order) -> None:
        subtotal = line.price * quantity
        refund.lines.append(self.new(RefundLineItem, line_item_num=line.num, quantity=quantity,
                                     restock_type=restock_type, subtotal=subtotal,
                                     location_num=order.location_num))
        refund.amount += subtotal
        if refund.num not in order.refund_nums:
            order.refund_nums.append(refund.num)

    # order views shared by resolvers, webhooks and the control surface

    def fulfillment_orders(self, order: Order) -> list[FulfillmentOrder]:
        return [self.table(FulfillmentOrder)[n] for n in order.fo_nums]

    def fo_lines(self, fo: FulfillmentOrder) -> list[FulfillmentOrderLineItem]:
        return [self.table(FulfillmentOrderLineItem)[n] for n in fo.line_nums]

    def fo_line_for(self, line: LineItem) -> FulfillmentOrderLineItem | None:
        order = self.table(Order)[line.order_num]
        return next((fl for fo in self.fulfillment_orders(order) for fl in self.fo_lines(fo)
                     if fl.line_item_num == line.num), None)

    def line_items(self, order: Order) -> list[LineItem]:
        return [self.table(LineItem)[n] for n in order.line_nums]

    def refunds(self, order: Order) -> list[Refund]:
        return [self.table(Refund)[n] for n in order.refund_nums]

    def fulfillments(self, order: Order) -> list[Fulfillment]:
        return [self.table(Fulfillment)[n] for n in order.fulfillment_nums]

    def inventory_quantity(self, variant: Variant) -> int:
        return sum(level.get("available") for level in self.levels_of(self.item_of(variant)))

    def fulfilled(self, line: LineItem) -> int:
        order = self.table(Order)[line.order_num]
        return sum(fl.quantity for f in self.fulfillments(order) for fl in f.lines
                   if fl.line_item_num == line.num)

    def fulfilled_quantity(self, order: Order) -> int:
        return sum(self.fulfilled(line) for line in self.line_items(order))

    def unfulfilled(self, line: LineItem) -> int:
        fo_line = self.fo_line_for(line)
        return fo_line.remaining_quantity if fo_line else 0

    def refundable(self, line: LineItem) -> int:
        refunded = sum(rl.quantity for r in self.refunds(self.table(Order)[line.order_num])
                       for rl in r.lines if rl.line_item_num == line.num)
        return line.quantity - refunded

    def order_total(self, order: Order) -> Decimal:
        return sum((li.price * li.quantity for li in self.line_items(order)), Decimal("0"))

    def fulfillment_status(self, order: Order) -> str:
        done = self.fulfilled_quantity(order)
        left = sum(self.unfulfilled(line) for line in self.line_items(order))
        if done == 0:
            return "UNFULFILLED"
        return "FULFILLED" if left == 0 else "PARTIALLY_FULFILLED"

    @property
    def orders(self) -> list[dict[str, Any]]:
        """Every order in its REST shape, oldest first."""
        with self.lock:
            return [rest.order_payload(self, o)
                    for o in sorted(self.all(Order), key=lambda o: o.num)]

    # -- webhooks -------------------------------------------------------------------------------

    def emit(self, topic: str, payload: dict[str, Any]) -> None:
        """Record an event and queue a delivery to every subscriber of ``topic`` (the GraphQL
        enum name); the payload is serialized now, so later changes do not leak into it."""
        with self.lock:
            self.events.append((topic_header(topic), payload))
            body = json.dumps(payload).encode()
            event_id = str(uuid.uuid4())
            triggered = self.now().isoformat().replace("+00:00", "Z")
            for sub in self.all(WebhookSubscription):
                if sub.topic == topic:
                    self.webhooks.submit(topic=topic_header(topic), url=sub.uri,
                                         api_version=sub.api_version, body=body,
                                         event_id=event_id, triggered_at=triggered,
                                         copies=2 if self.deliver_duplicates else 1)

    def subscribe(self, topic: str, uri: str, *, api_version: str = LATEST_VERSION) -> str:
        """A webhook subscription without going through GraphQL; ``topic`` as the GraphQL enum
        (``ORDERS_CREATE``) or the header form (``orders/create``)."""
        with self.lock:
            enum = topic.upper().replace("/", "_")
            return self.new(WebhookSubscription, topic=enum, uri=uri,
                            api_version=api_version).gid

    @property
    def deliveries(self) -> list[Delivery]:
        """Every delivery attempt so far, oldest first."""
        return self.webhooks.attempts()

    def wait_for_deliveries(self, timeout: float = 10.0) -> bool:
        """Block until every queued webhook was delivered or gave up retrying."""
        return self.webhooks.wait_idle(timeout)

    def close(self) -> None:
        self.webhooks.close()

    # -- cost bucket ----------------------------------------------------------------------------

    def reset_bucket(self) -> None:
        with self.lock:
            self._bucket = self.bucket_size
            self._bucket_at = time.monotonic()

    def _refill(self) -> float:
        now = time.monotonic()
        self._bucket = min(self.bucket_size,
                           self._bucket + (now - self._bucket_at) * self.restore_rate)
        self._bucket_at = now
        return self._bucket

    def _cost(self, requested: int, actual: int | None) -> dict[str, Any]:
        return {"requestedQueryCost": requested, "actualQueryCost": actual,
                "throttleStatus": {"maximumAvailable": self.bucket_size,
                                   "currentlyAvailable": int(self._refill()),
                                   "restoreRate": self.restore_rate}}

    # -- the GraphQL endpoint -------------------------------------------------------------------

    def handle(self, version: str, token: str | None, body: bytes, content_type: str,
               base_url: str) -> tuple[int, dict[str, Any]]:
        """One ``graphql.json`` request: (HTTP status, JSON body)."""
        if version not in SUPPORTED_VERSIONS:
            return 404, {"errors": "Not Found"}
        if token != self.access_token:
            return 401, {"errors": INVALID_TOKEN}
        query, variables, operation_name = _read_request(body, content_type)
        if query is None:
            return 400, {"errors": {"query": "Required parameter missing or invalid"}}
        with self.lock:
            self.requests += 1
        schema = schema_for(version)
        try:
            document = parse(query)
        except GraphQLError as error:
            return 200, self._failed([gql.format_error(error, "GRAPHQL_PARSE_FAILED")])
        problems = validate(schema, document)
        if problems:
            return 200, self._failed([gql.format_error(e, "GRAPHQL_VALIDATION_FAILED")
                                      for e in problems])
        operation = get_operation_ast(document, operation_name)
        if operation is None:
            message = (f'No operation named "{operation_name}"' if operation_name
                       else "An operation name is required")
            return 200, self._failed([{"message": message,
                                       "extensions": {"code": "BAD_REQUEST"}}])
        fragments = {d.name.value: d for d in document.definitions
                     if isinstance(d, FragmentDefinitionNode)}
        requested = CostCalculator(schema, fragments, variables).operation(operation)
        with self.lock:
            if requested > MAX_QUERY_COST:
                return 200, {"errors": [{
                    "message": f"Query cost is {requested}, which exceeds the single query max "
                               f"cost limit ({MAX_QUERY_COST}).",
                    "extensions": {"code": "MAX_COST_EXCEEDED", "cost": requested,
                                   "maxCost": MAX_QUERY_COST}}],
                    "extensions": {"cost": self._cost(requested, None)}}
            if self._refill() < requested:
                self.throttled += 1
                return self.throttle_status, {"errors": [{
                    "message": "Throttled",
                    "extensions": {"code": "THROTTLED", "documentation": THROTTLE_DOCS}}],
                    "extensions": {"cost": self._cost(requested, None)}}
            self._bucket -= requested
            context = gql.Context(self, version, base_url, RESOLVERS, variables=dict(variables))
            result = gql.execute_operation(schema, document, operation_name, variables,
                                           context)
            actual = min(requested, context.measured)
            self._bucket = min(self.bucket_size, self._bucket + requested - actual)
            answer: dict[str, Any] = {}
            if result.data is not None:  # None: the request failed before execution
                answer["data"] = result.data
            if result.errors:
                answer["errors"] = [gql.format_error(e, "BAD_REQUEST") for e in result.errors]
            answer["extensions"] = {"cost": self._cost(requested, actual)}
            return 200, answer

    def _failed(self, errors: list[dict[str, Any]]) -> dict[str, Any]:
        with self.lock:
            return {"errors": errors, "extensions": {"cost": self._cost(0, 0)}}

    # -- bulk operations ------------------------------------------------------------------------

    def start_bulk(self, num: int) -> None:
        threading.Thread(target=self._run_bulk, args=(num,), name=f"shopify-bulk-{num}",
                         daemon=True).start()

    def _run_bulk(self, num: int) -> None:
        with self.lock:
            op = self.tables["BulkOperation"][num]
            op.status = "RUNNING"
        if self.bulk_delay:
            time.sleep(self.bulk_delay)
        with self.lock:
            try:
                if self.fail_next_bulk_operation:
                    self.fail_next_bulk_operation = False
                    raise RuntimeError("failure requested by the test")
                lines, roots = gql.bulk_lines(self, op.query, op.api_version, op.base_url,
                                              RESOLVERS)
            except Exception:
                log.exception("bulk operation %s failed", num)
                op.status, op.error_code = "FAILED", "INTERNAL_SERVER_ERROR"
            else:
                op.data = "".join(line + "\n" for line in lines).encode()
                op.object_count, op.root_object_count = len(lines), roots
                op.file_size = len(op.data)
                op.url = f"{op.base_url}/_bulk/{num}.jsonl" if lines else None
                op.status = "COMPLETED"
            op.completed_at = op.updated_at = self.now()
            self.emit("BULK_OPERATIONS_FINISH", {
                "admin_graphql_api_id": op.gid, "completed_at": iso(op.completed_at),
                "created_at": iso(op.created_at),
                "error_code": op.error_code.lower() if op.error_code else None,
                "status": op.status.lower(), "type": op.type.lower()})

    # -- for the demo ---------------------------------------------------------------------------

    def summary(self) -> dict[str, Any]:
        with self.lock:
            return {
                "shop": {"id": self.shop.gid, "domain": self.shop_domain,
                         "name": self.shop.name},
                "locations": [{"id": loc.gid, "name": loc.name}
                              for loc in self.all(Location)],
                "products": [self.product_summary(p) for p in self.all(Product)],
                "orders": len(self.table(Order)), "requests": self.requests,
                "throttled": self.throttled, "bucket": int(self._refill()),
                "webhook_subscriptions": [{"id": s.gid, "topic": s.topic, "uri": s.uri}
                                          for s in self.all(WebhookSubscription)],
                "deliveries": len(self.deliveries),
            }


def _read_request(body: bytes, content_type: str
                  ) -> tuple[str | None, dict[str, Any], str | None]:
    if content_type.startswith("application/graphql"):
        return body.decode(errors="replace"), {}, None
    try:
        payload = json.loads(body or b"null")
    except ValueError:
        return None, {}, None
    if not isinstance(payload, dict) or not isinstance(payload.get("query"), str):
        return None, {}, None
    variables = payload.get("variables") or {}
    name = payload.get("operationName")
    return (payload["query"], variables if isinstance(variables, dict) else {},
            name if isinstance(name, str) else None)


def create_app(emulator: ShopifyEmulator | None = None, **options: Any) -> FastAPI:
    """The emulator as an ASGI app; ``options`` are ``ShopifyEmulator``'s arguments (for a new
    emulator: pass either an emulator or options)."""
    if emulator is not None and options:
        raise TypeError("pass either an emulator or its options, not both")
    state = emulator if emulator is not None else ShopifyEmulator(**options)
    app = FastAPI(title="Shopify Admin API emulator", docs_url=None, redoc_url=None,
                  openapi_url=None)
    app.state.emulator = state

    @app.post("/admin/api/{version}/graphql.json")
    async def graphql_endpoint(version: str, request: Request) -> Response:
        body = await request.body()
        status, answer = await run_in_threadpool(
            state.handle, version, request.headers.get("x-shopify-access-token"), body,
            request.headers.get("content-type", ""), str(request.base_url).rstrip("/"))
        headers = {"X-Request-Id": str(uuid.uuid4())}
        if version in SUPPORTED_VERSIONS:
            headers["X-Shopify-API-Version"] = version
        return JSONResponse(answer, status_code=status, headers=headers)

    @app.get("/_bulk/{name}")
    def bulk_file(name: str) -> Response:
        num = name.removesuffix(".jsonl")
        with state.lock:
            op = state.tables.get("BulkOperation", {}).get(int(num)) if num.isdigit() else None
            if op is None or op.status != "COMPLETED":
                return JSONResponse({"errors": "Not Found"}, status_code=404)
            data = op.data
        return Response(data, media_type="application/jsonl")

    # -- emulator-only controls (no Shopify equivalent) -------------------------------------------

    @app.post("/_emulator/orders")
    def post_order(spec: dict[str, Any]) -> Response:
        """A shopper checks out: ``{"lines": [{"sku", "quantity"}], "email"?, ...}``."""
        try:
            order = state.place_order(
                spec.get("lines") or [], email=spec.get("email"),
                currency=spec.get("currency", "USD"),
                financial_status=spec.get("financial_status", "paid"),
                location_id=spec.get("location_id"))
        except (KeyError, ValueError) as exc:
            return JSONResponse({"error": str(exc)}, status_code=422)
        return JSONResponse(order, status_code=201)

    @app.post("/_emulator/inventory")
    def post_inventory(spec: dict[str, Any]) -> Response:
        """A merchant's stock edit: ``{"inventory_item_id" (or "sku"), "available",
        "location_id"?}``."""
        try:
            item_id = spec.get("inventory_item_id")
            if item_id is None:
                variant = state.variant_by_sku(str(spec.get("sku")))
                if variant is None:
                    raise KeyError(f"no variant with SKU {spec.get('sku')!r}")
                item_id = variant.item_num
            level = state.set_available(item_id, int(spec["available"]),
                                        spec.get("location_id"))
        except (KeyError, ValueError) as exc:
            return JSONResponse({"error": str(exc)}, status_code=422)
        return JSONResponse(level)

    @app.post("/_emulator/products")
    def post_product(spec: dict[str, Any]) -> Response:
        """A merchant adds a product: ``{"title", "variants": [{"sku", "price", ...}]}``."""
        try:
            product = state.add_product(
                spec["title"], handle=spec.get("handle"), vendor=spec.get("vendor", ""),
                product_type=spec.get("product_type", ""), tags=spec.get("tags", ()),
                variants=spec.get("variants") or ())
        except (KeyError, ValueError) as exc:
            return JSONResponse({"error": str(exc)}, status_code=422)
        return JSONResponse(product, status_code=201)

    @app.get("/_emulator/state")
    def get_state() -> dict[str, Any]:
        return state.summary()

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    return app
