"""Resolvers of the Shopify emulator's queries and object fields (the ones that are computed;
plain attributes resolve by name)."""

from __future__ import annotations

import re
from collections.abc import Callable
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from graphql import GraphQLInterfaceType

from mercato_emulators.shopify.gql import (
    Info,
    Resolver,
    bad_request,
    bag,
    connection,
    emulator_of,
    find,
    register,
    search,
    time_key,
)
from mercato_emulators.shopify.model import (
    GID,
    QUANTITY_NAMES,
    AdjustmentGroup,
    BulkOperation,
    Customer,
    Fulfillment,
    FulfillmentOrder,
    FulfillmentOrderLineItem,
    InventoryChange,
    InventoryItem,
    Job,
    Level,
    LineItem,
    Location,
    Order,
    Product,
    Record,
    Refund,
    RefundLineItem,
    Transaction,
    Variant,
    WebhookSubscription,
    gid,
)

if TYPE_CHECKING:
    from mercato_emulators.shopify.server import ShopifyEmulator

RESOLVERS: dict[tuple[str, str], Resolver] = {}


def resolves(type_name: str, *fields: str) -> Callable[[Resolver], Resolver]:
    return register(RESOLVERS, type_name, *fields)


# -- query root ---------------------------------------------------------------------------------

@resolves("Query", "shop")
def _shop(_: Any, info: Info) -> Any:
    return emulator_of(info).shop


@resolves("Query", "node")
def _node(_: Any, info: Info, id: str) -> Any:
    match = GID.match(str(id))
    if match is None:
        raise bad_request(f"Invalid global id '{id}'", "argumentLiteralsIncompatible")
    found = emulator_of(info).lookup(id)
    if found is None:
        return None
    node = info.schema.get_type("Node")
    assert isinstance(node, GraphQLInterfaceType)
    node_types = {t.name for t in info.schema.get_possible_types(node)}
    return found if type(found).KIND in node_types else None


@resolves("Query", "nodes")
def _nodes(_: Any, info: Info, ids: list[str]) -> list[Any]:
    return [_node(None, info, ident) for ident in ids]


@resolves("Query", "location")
def _location(_: Any, info: Info, id: str | None = None) -> Any:
    return emulator_of(info).first_location() if id is None else find(info, Location, id)


@resolves("Query", "locations")
def _locations(_: Any, info: Info, **args: Any) -> dict[str, Any]:
    found = [loc for loc in emulator_of(info).all(Location)
             if loc.is_active or args.get("includeInactive")]
    found = search(args.get("query"), {"name": lambda loc: loc.name,
                                        "id": lambda loc: loc.num,
                                        "active": lambda loc: loc.is_active},
                    lambda loc: loc.name, found)
    return connection(info, found, args, lambda loc: (loc.num,))


@resolves("Query", "product", "productVariant", "inventoryItem", "order", "fulfillmentOrder",
          "bulkOperation", "webhookSubscription")
def _by_id(_: Any, info: Info, id: str) -> Any:
    kinds: dict[str, type[Record]] = {
        "product": Product, "productVariant": Variant, "inventoryItem": InventoryItem,
        "order": Order, "fulfillmentOrder": FulfillmentOrder, "bulkOperation": BulkOperation,
        "webhookSubscription": WebhookSubscription}
    return find(info, kinds[info.field_name], id)


@resolves("Query", "job")
def _job(_: Any, info: Info, id: str) -> Any:
    """An ``orderCancel`` job: its work is done by the time anyone asks."""
    job = find(info, Job, id)
    if job is not None:
        job.done = True
    return job


@resolves("Query", "inventoryLevel")
def _inventory_level(_: Any, info: Info, id: str) -> Any:
    return _node(None, info, id)


@resolves("Query", "productByHandle")
def _product_by_handle_field(_: Any, info: Info, handle: str) -> Any:
    return emulator_of(info).product_by_handle(handle)


@resolves("Query", "productByIdentifier")
def _product_by_identifier(_: Any, info: Info,
                           identifier: dict[str, Any]) -> Any:
    if identifier.get("id"):
        return find(info, Product, identifier["id"])
    return emulator_of(info).product_by_handle(identifier.get("handle"))


def _product_getters(em: ShopifyEmulator) -> dict[str, Callable[[Product], Any]]:
    return {
        "title": lambda p: p.title, "handle": lambda p: p.handle,
        "status": lambda p: p.status, "vendor": lambda p: p.vendor,
        "product_type": lambda p: p.product_type, "tag": lambda p: p.tags,
        "updated_at": lambda p: p.updated_at, "created_at": lambda p: p.created_at,
        "id": lambda p: p.num,
        "sku": lambda p: [v.sku for v in em.variants_of(p) if v.sku],
        "barcode": lambda p: [v.barcode for v in em.variants_of(p) if v.barcode],
    }


@resolves("Query", "products")
def _products(_: Any, info: Info, **args: Any) -> dict[str, Any]:
    em = emulator_of(info)
    found = search(args.get("query"), _product_getters(em), lambda p: p.title,
                    em.all(Product))
    sort = args.get("sortKey") or "ID"
    keys: dict[str, Callable[[Product], tuple[Any, ...]]] = {
        "TITLE": lambda p: (p.title.lower(), p.num),
        "UPDATED_AT": lambda p: time_key(p.updated_at, p.num),
        "CREATED_AT": lambda p: time_key(p.created_at, p.num),
        "VENDOR": lambda p: (p.vendor.lower(), p.num),
        "PRODUCT_TYPE": lambda p: (p.product_type.lower(), p.num),
        "INVENTORY_TOTAL": lambda p: (sum(em.inventory_quantity(v)
                                          for v in em.variants_of(p)), p.num)}
    return connection(info, found, args, keys.get(sort, lambda p: (p.num,)))


@resolves("Query", "productsCount")
def _products_count(_: Any, info: Info, query: str | None = None) -> Any:
    em = emulator_of(info)
    found = search(query, _product_getters(em), lambda p: p.title, em.all(Product))
    return {"count": len(found), "precision": "EXACT"}


@resolves("Query", "productVariants")
def _product_variants(_: Any, info: Info, **args: Any) -> dict[str, Any]:
    em = emulator_of(info)
    getters: dict[str, Callable[[Variant], Any]] = {
        "sku": lambda v: v.sku, "barcode": lambda v: v.barcode, "title": lambda v: v.title,
        "product_id": lambda v: v.product_num, "id": lambda v: v.num,
        "updated_at": lambda v: v.updated_at, "created_at": lambda v: v.created_at,
        "inventory_quantity": lambda v: em.inventory_quantity(v),
        "product_status": lambda v: em.product_of(v).status,
        "vendor": lambda v: em.product_of(v).vendor}
    found = search(args.get("query"), getters,
                    lambda v: f"{v.sku} {em.product_of(v).title} {v.title}",
                    em.all(Variant))
    keys: dict[str, Callable[[Variant], tuple[Any, ...]]] = {
        "SKU": lambda v: (v.sku or "", v.num), "TITLE": lambda v: (v.title.lower(), v.num),
        "POSITION": lambda v: (v.product_num, v.position, v.num),
        "INVENTORY_QUANTITY": lambda v: (em.inventory_quantity(v), v.num),
        "NAME": lambda v: (v.title.lower(), v.num),
        "FULL_TITLE": lambda v: (f"{em.product_of(v).title} {v.title}".lower(), v.num)}
    return connection(info, found, args, keys.get(args.get("sortKey") or "ID",
                                                  lambda v: (v.num,)))


@resolves("Query", "inventoryItems")
def _inventory_items(_: Any, info: Info, **args: Any) -> dict[str, Any]:
    getters: dict[str, Callable[[InventoryItem], Any]] = {
        "sku": lambda i: i.sku, "id": lambda i: i.num, "updated_at": lambda i: i.updated_at,
        "created_at": lambda i: i.created_at}
    found = search(args.get("query"), getters, lambda i: i.sku,
                   emulator_of(info).all(InventoryItem))
    return connection(info, found, args, lambda i: (i.num,))


def _order_getters(em: ShopifyEmulator) -> dict[str, Callable[[Order], Any]]:
    def status(order: Order) -> str:
        if order.cancelled_at is not None:
            return "cancelled"
        return "closed" if order.closed_at is not None else "open"

    return {
        "updated_at": lambda o: o.updated_at, "created_at": lambda o: o.created_at,
        "processed_at": lambda o: o.created_at, "name": lambda o: o.name,
        "email": lambda o: o.email, "id": lambda o: o.num, "status": status,
        "financial_status": lambda o: o.financial_status.lower(),
        "fulfillment_status": lambda o: {"UNFULFILLED": "unshipped", "FULFILLED": "shipped",
                                         "PARTIALLY_FULFILLED": "partial"}[
            em.fulfillment_status(o)],
        "sku": lambda o: [li.sku for li in em.line_items(o) if li.sku],
    }


@resolves("Query", "orders")
def _orders(_: Any, info: Info, **args: Any) -> dict[str, Any]:
    em = emulator_of(info)
    found = search(args.get("query"), _order_getters(em),
                    lambda o: f"{o.name} {o.email or ''}", em.all(Order))
    keys: dict[str, Callable[[Order], tuple[Any, ...]]] = {
        "UPDATED_AT": lambda o: time_key(o.updated_at, o.num),
        "CREATED_AT": lambda o: time_key(o.created_at, o.num),
        "PROCESSED_AT": lambda o: time_key(o.created_at, o.num),
        "NUMBER": lambda o: (o.number, o.num),
        "TOTAL_PRICE": lambda o: (float(em.order_total(o)), o.num)}
    return connection(info, found, args, keys.get(args.get("sortKey") or "ID",
                                                  lambda o: (o.num,)))


@resolves("Query", "ordersCount")
def _orders_count(_: Any, info: Info, query: str | None = None) -> Any:
    em = emulator_of(info)
    found = search(query, _order_getters(em), lambda o: o.name, em.all(Order))
    return {"count": len(found), "precision": "EXACT"}


@resolves("Query", "currentBulkOperation")
def _current_bulk(_: Any, info: Info, type: str = "QUERY") -> Any:
    ops = [op for op in emulator_of(info).all(BulkOperation) if op.type == type]
    return max(ops, key=lambda op: op.num, default=None)


@resolves("Query", "webhookSubscriptions")
def _webhook_subscriptions(_: Any, info: Info, **args: Any) -> dict[str, Any]:
    found = emulator_of(info).all(WebhookSubscription)
    if args.get("topics"):
        found = [s for s in found if s.topic in args["topics"]]
    uri = args.get("uri") or args.get("callbackUrl")
    if uri:
        found = [s for s in found if s.uri == uri]
    return connection(info, found, args, lambda s: (s.num,))


# -- objects ------------------------------------------------------------------------------------

@resolves("Shop", "primaryDomain")
def _primary_domain(shop: Any, _: Info) -> Any:
    return {"id": gid("Domain", shop.num), "host": shop.myshopify_domain,
            "url": f"https://{shop.myshopify_domain}"}


@resolves("Shop", "ianaTimezone")
def _timezone(_: Any, __: Info) -> str:
    return "Etc/UTC"


@resolves("Location", "inventoryLevel")
def _location_level(loc: Location, info: Info, inventoryItemId: str) -> Any:  # noqa: N803
    item = find(info, InventoryItem, inventoryItemId)
    return None if item is None else emulator_of(info).levels.get((item.num, loc.num))


@resolves("Product", "description")
def _description(product: Product, _: Info) -> str:
    return re.sub(r"<[^>]+>", "", product.description_html)


@resolves("Product", "options")
def _options(product: Product, _: Info, first: int | None = None) -> Any:
    options = [{
        "id": gid("ProductOption", product.num * 100 + i + 1), "name": name,
        "position": i + 1, "values": values,
        "optionValues": [{"id": gid("ProductOptionValue", product.num * 10_000 + i * 100 + j),
                          "name": value, "hasVariants": True}
                         for j, value in enumerate(values)]}
        for i, (name, values) in enumerate(product.options)]
    return options if first is None else options[:first]


@resolves("Product", "totalInventory")
def _total_inventory(product: Product, info: Info) -> int:
    em = emulator_of(info)
    return sum(em.inventory_quantity(v) for v in em.variants_of(product))


@resolves("Product", "tracksInventory")
def _tracks_inventory(product: Product, info: Info) -> bool:
    em = emulator_of(info)
    return any(em.item_of(v).tracked for v in em.variants_of(product))


@resolves("Product", "variantsCount")
def _variants_count(product: Product, _: Info) -> Any:
    return {"count": len(product.variant_nums), "precision": "EXACT"}


@resolves("Product", "variants")
def _variants(product: Product, info: Info, **args: Any) -> Any:
    keys: dict[str, Callable[[Variant], tuple[Any, ...]]] = {
        "ID": lambda v: (v.num,), "SKU": lambda v: (v.sku or "", v.num),
        "TITLE": lambda v: (v.title.lower(), v.num)}
    return connection(info, emulator_of(info).variants_of(product), args,
                      keys.get(args.get("sortKey") or "POSITION",
                               lambda v: (v.position, v.num)))


@resolves("ProductVariant", "displayName")
def _display_name(variant: Variant, info: Info) -> str:
    return f"{emulator_of(info).product_of(variant).title} - {variant.title}"


@resolves("ProductVariant", "inventoryQuantity")
def _inventory_quantity(variant: Variant, info: Info) -> int:
    return emulator_of(info).inventory_quantity(variant)


@resolves("ProductVariant", "selectedOptions")
def _selected_options(variant: Variant, _: Info) -> Any:
    pairs = variant.options or [("Title", "Default Title")]
    return [{"name": name, "value": value} for name, value in pairs]


@resolves("ProductVariant", "product")
def _variant_product(variant: Variant, info: Info) -> Any:
    return emulator_of(info).product_of(variant)


@resolves("ProductVariant", "inventoryItem")
def _variant_item(variant: Variant, info: Info) -> Any:
    return emulator_of(info).item_of(variant)


@resolves("InventoryItem", "variant")
def _item_variant(item: InventoryItem, info: Info) -> Any:
    return emulator_of(info).variant_of(item)


@resolves("InventoryItem", "inventoryLevel")
def _item_level(item: InventoryItem, info: Info, locationId: str) -> Any:  # noqa: N803
    location = find(info, Location, locationId)
    return None if location is None else emulator_of(info).levels.get((item.num, location.num))


@resolves("InventoryItem", "inventoryLevels")
def _item_levels(item: InventoryItem, info: Info, **args: Any) -> Any:
    return connection(info, emulator_of(info).levels_of(item), args, lambda lv: (lv.location_num,))


@resolves("InventoryLevel", "location")
def _level_location(level: Level, info: Info) -> Any:
    return emulator_of(info).table(Location)[level.location_num]


@resolves("InventoryLevel", "item")
def _level_item(level: Level, info: Info) -> Any:
    return emulator_of(info).table(InventoryItem)[level.item_num]


@resolves("InventoryLevel", "quantities")
def _quantities(level: Level, _: Info, names: list[str]) -> Any:
    unknown = [name for name in names if name not in QUANTITY_NAMES]
    if unknown:
        raise bad_request(f"Invalid quantity names: {', '.join(unknown)}. Valid names are: "
                           f"{', '.join(QUANTITY_NAMES)}.")
    return [{"id": f"gid://shopify/InventoryQuantity/{level.location_num}"
                   f"?inventory_item_id={level.item_num}&name={name}",
             "name": name, "quantity": level.get(name), "updatedAt": level.updated_at}
            for name in names]


@resolves("InventoryLevel", "canDeactivate")
def _can_deactivate(_: Level, __: Info) -> bool:
    return True


@resolves("InventoryAdjustmentGroup", "changes")
def _changes(group: AdjustmentGroup, info: Info, **args: Any) -> Any:
    changes = group.changes
    if args.get("inventoryItemIds"):
        changes = [c for c in changes if gid("InventoryItem", c.item_num)
                   in args["inventoryItemIds"]]
    if args.get("locationIds"):
        changes = [c for c in changes if gid("Location", c.location_num)
                   in args["locationIds"]]
    if args.get("quantityNames"):
        changes = [c for c in changes if c.name in args["quantityNames"]]
    return changes


@resolves("InventoryChange", "item")
def _change_item(change: InventoryChange, info: Info) -> Any:
    return emulator_of(info).table(InventoryItem).get(change.item_num)


@resolves("InventoryChange", "location")
def _change_location(change: InventoryChange, info: Info) -> Any:
    return emulator_of(info).table(Location).get(change.location_num)


@resolves("Customer", "displayName")
def _customer_name(customer: Customer, _: Info) -> str:
    return f"{customer.first_name} {customer.last_name}".strip() or (customer.email or "")


def _order_money(info: Info, order: Order) -> dict[str, Decimal]:
    em = emulator_of(info)
    total = em.order_total(order)
    refunded = sum((r.amount for r in em.refunds(order)), Decimal("0"))
    return {"subtotalPriceSet": total, "totalPriceSet": total, "totalRefundedSet": refunded,
            "currentTotalPriceSet": total - refunded, "totalTaxSet": Decimal("0"),
            "totalShippingPriceSet": Decimal("0")}


@resolves("Order", "subtotalPriceSet", "totalPriceSet", "totalRefundedSet",
          "currentTotalPriceSet", "totalTaxSet", "totalShippingPriceSet")
def _order_amount(order: Order, info: Info) -> Any:
    return bag(_order_money(info, order)[info.field_name], order.currency)


@resolves("Order", "test")
def _test(_: Order, __: Info) -> bool:
    return False


@resolves("Order", "closed")
def _closed(order: Order, _: Info) -> bool:
    return order.closed_at is not None


@resolves("Order", "processedAt")
def _processed_at(order: Order, _: Info) -> Any:
    return order.created_at


@resolves("Order", "currencyCode", "presentmentCurrencyCode")
def _currency(order: Order, _: Info) -> str:
    return order.currency


@resolves("Order", "displayFinancialStatus")
def _financial(order: Order, _: Info) -> str:
    return order.financial_status


@resolves("Order", "displayFulfillmentStatus")
def _fulfillment_status(order: Order, info: Info) -> str:
    return emulator_of(info).fulfillment_status(order)


@resolves("Order", "customer")
def _order_customer(order: Order, info: Info) -> Any:
    return emulator_of(info).table(Customer).get(order.customer_num or 0)


@resolves("Order", "shippingAddress")
def _shipping_address(order: Order, _: Info) -> Any:
    if order.shipping_address is None:
        return None
    renamed = {"country_code": "countryCodeV2", "province_code": "provinceCode"}
    address = {renamed.get(k, re.sub(r"_([a-z0-9])", lambda m: m.group(1).upper(), k)): v
               for k, v in order.shipping_address.items()}
    address.setdefault("name", f"{address.get('firstName', '')} "
                               f"{address.get('lastName', '')}".strip())
    return address


@resolves("Order", "lineItems")
def _line_items(order: Order, info: Info, **args: Any) -> Any:
    return connection(info, emulator_of(info).line_items(order), args, lambda li: (li.num,))


@resolves("Order", "fulfillmentOrders")
def _fulfillment_orders(order: Order, info: Info, **args: Any) -> Any:
    return connection(info, emulator_of(info).fulfillment_orders(order), args, lambda fo: (fo.num,))


@resolves("Order", "fulfillments")
def _fulfillments(order: Order, info: Info, first: int | None = None) -> Any:
    found = emulator_of(info).fulfillments(order)
    return found if first is None else found[:first]


@resolves("Order", "refunds")
def _refunds(order: Order, info: Info, first: int | None = None) -> Any:
    found = emulator_of(info).refunds(order)
    return found if first is None else found[:first]


@resolves("Order", "transactions")
def _transactions(order: Order, info: Info, first: int | None = None,
                  capturable: bool | None = None,
                  manuallyResolvable: bool | None = None) -> Any:  # noqa: N803
    found = emulator_of(info).transactions(order)
    if capturable is not None:
        found = [t for t in found if (t.kind == "AUTHORIZATION") == capturable]
    return found if first is None else found[:first]


@resolves("OrderTransaction", "amountSet", "parentTransaction", "order", "test",
          "processedAt")
def _transaction_fields(transaction: Transaction, info: Info) -> Any:
    em = emulator_of(info)
    order = em.table(Order)[transaction.order_num]
    if info.field_name == "amountSet":
        return bag(transaction.amount, order.currency)
    if info.field_name == "parentTransaction":
        return em.table(Transaction).get(transaction.parent_num or 0)
    return {"order": order, "test": False,
            "processedAt": transaction.created_at}[info.field_name]


@resolves("LineItem", "name")
def _line_name(line: LineItem, _: Info) -> str:
    return f"{line.title} - {line.variant_title}" if line.variant_title else line.title


@resolves("LineItem", "vendor")
def _line_vendor(line: LineItem, info: Info) -> Any:
    product = emulator_of(info).table(Product).get(line.product_num or 0)
    return product.vendor if product else None


@resolves("LineItem", "currentQuantity")
def _current_quantity(line: LineItem, _: Info) -> int:
    return line.quantity - line.removed


@resolves("LineItem", "refundableQuantity")
def _refundable(line: LineItem, info: Info) -> int:
    return emulator_of(info).refundable(line)


@resolves("LineItem", "unfulfilledQuantity")
def _unfulfilled(line: LineItem, info: Info) -> int:
    return emulator_of(info).unfulfilled(line)


@resolves("LineItem", "variant", "product")
def _line_links(line: LineItem, info: Info) -> Any:
    em = emulator_of(info)
    if info.field_name == "variant":
        return em.table(Variant).get(line.variant_num or 0)
    return em.table(Product).get(line.product_num or 0)


@resolves("LineItem", "originalUnitPriceSet", "discountedUnitPriceSet", "originalTotalSet")
def _line_money(line: LineItem, info: Info) -> Any:
    order = emulator_of(info).table(Order)[line.order_num]
    amount = line.price * line.quantity if info.field_name == "originalTotalSet" else line.price
    return bag(amount, order.currency)


@resolves("FulfillmentOrder", "orderId")
def _fo_order_id(fo: FulfillmentOrder, _: Info) -> str:
    return gid("Order", fo.order_num)


@resolves("FulfillmentOrder", "order")
def _fo_order(fo: FulfillmentOrder, info: Info) -> Any:
    return emulator_of(info).table(Order)[fo.order_num]


@resolves("FulfillmentOrder", "assignedLocation")
def _fo_location(fo: FulfillmentOrder, info: Info) -> Any:
    location = emulator_of(info).table(Location)[fo.location_num]
    return {"name": location.name, "location": location}


@resolves("FulfillmentOrder", "lineItems")
def _fo_lines(fo: FulfillmentOrder, info: Info, **args: Any) -> Any:
    return connection(info, emulator_of(info).fo_lines(fo), args, lambda fl: (fl.num,))


@resolves("FulfillmentOrderLineItem", "lineItem", "sku", "variant", "inventoryItemId")
def _fo_line_links(fo_line: FulfillmentOrderLineItem, info: Info) -> Any:
    em = emulator_of(info)
    line = em.table(LineItem)[fo_line.line_item_num]
    variant = em.table(Variant).get(line.variant_num or 0)
    return {"lineItem": line, "sku": line.sku, "variant": variant,
            "inventoryItemId": gid("InventoryItem", variant.item_num) if variant else None
            }[info.field_name]


@resolves("Fulfillment", "totalQuantity")
def _total_quantity(fulfillment: Fulfillment, _: Info) -> int:
    return sum(line.quantity for line in fulfillment.lines)


@resolves("Fulfillment", "order", "location")
def _fulfillment_links(fulfillment: Fulfillment, info: Info) -> Any:
    em = emulator_of(info)
    if info.field_name == "order":
        return em.table(Order)[fulfillment.order_num]
    return em.table(Location).get(fulfillment.location_num)


@resolves("Fulfillment", "trackingInfo")
def _tracking(fulfillment: Fulfillment, _: Info, first: int | None = None) -> Any:
    return fulfillment.tracking if first is None else fulfillment.tracking[:first]


@resolves("Fulfillment", "fulfillmentLineItems")
def _fulfillment_lines(fulfillment: Fulfillment, info: Info, **args: Any) -> Any:
    return connection(info, fulfillment.lines, args, lambda fl: (fl.num,))


@resolves("FulfillmentLineItem", "lineItem")
@resolves("RefundLineItem", "lineItem")
def _line_of(record: Any, info: Info) -> Any:
    return emulator_of(info).table(LineItem)[record.line_item_num]


@resolves("RefundLineItem", "restocked")
def _restocked(line: RefundLineItem, _: Info) -> bool:
    return line.restock_type != "NO_RESTOCK"


@resolves("RefundLineItem", "location")
def _refund_location(line: RefundLineItem, info: Info) -> Any:
    return emulator_of(info).table(Location).get(line.location_num or 0)


@resolves("RefundLineItem", "priceSet", "subtotalSet")
def _refund_money(line: RefundLineItem, info: Info) -> Any:
    em = emulator_of(info)
    item = em.table(LineItem)[line.line_item_num]
    currency = em.table(Order)[item.order_num].currency
    return bag(item.price if info.field_name == "priceSet" else line.subtotal, currency)


@resolves("Refund", "order")
def _refund_order(refund: Refund, info: Info) -> Any:
    return emulator_of(info).table(Order)[refund.order_num]


@resolves("Refund", "totalRefundedSet")
def _refund_total(refund: Refund, info: Info) -> Any:
    return bag(refund.amount, emulator_of(info).table(Order)[refund.order_num].currency)


@resolves("Refund", "refundLineItems")
def _refund_lines(refund: Refund, info: Info, **args: Any) -> Any:
    return connection(info, refund.lines, args, lambda rl: (rl.num,))


@resolves("BulkOperation", "objectCount", "rootObjectCount", "fileSize")
def _bulk_counts(op: BulkOperation, info: Info) -> str | None:
    value = {"objectCount": op.object_count, "rootObjectCount": op.root_object_count,
             "fileSize": op.file_size}[info.field_name]
    return None if value is None else str(value)  # UnsignedInt64 is a string


@resolves("WebhookSubscription", "callbackUrl")
def _callback_url(sub: WebhookSubscription, _: Info) -> str:
    return sub.uri


@resolves("WebhookSubscription", "endpoint")
def _endpoint(sub: WebhookSubscription, _: Info) -> Any:
    return {"__typename": "WebhookHttpEndpoint", "callbackUrl": sub.uri}


@resolves("WebhookSubscription", "apiVersion")
def _api_version(sub: WebhookSubscription, _: Info) -> Any:
    return {"handle": sub.api_version, "displayName": sub.api_version, "supported": True}


