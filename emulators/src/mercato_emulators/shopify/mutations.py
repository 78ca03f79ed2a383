"""The Shopify emulator's mutations: inventory with compare-and-set and ``@idempotent``,
products, fulfillments, order cancellation and refunds, webhook subscriptions and bulk
queries. Each one validates everything first and changes nothing when it answers user
errors."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from graphql import GraphQLError, OperationDefinitionNode, OperationType, parse, validate
from graphql.execution.values import get_directive_values

from mercato_emulators.shopify import rest
from mercato_emulators.shopify.gql import (
    Info,
    Resolver,
    bad_request,
    context_of,
    emulator_of,
    input_find,
    user_error,
)
from mercato_emulators.shopify.model import (
    GID,
    ON_HAND_PARTS,
    QUANTITY_NAMES,
    AdjustmentGroup,
    BulkOperation,
    Fulfillment,
    FulfillmentLineItem,
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
    Refund,
    Transaction,
    Variant,
    WebhookSubscription,
    money,
    to_decimal,
)
from mercato_emulators.shopify.schema import schema_for

if TYPE_CHECKING:
    from mercato_emulators.shopify.server import ShopifyEmulator

RESOLVERS: dict[tuple[str, str], Resolver] = {}
LIMIT = 1_000_000_000
REASONS = {"correction", "cycle_count_available", "damaged", "movement_canceled",
           "movement_created", "movement_received", "movement_updated", "other", "promotion",
           "quality_control", "received", "reservation_created", "reservation_deleted",
           "reservation_updated", "restock", "safety_stock", "shrinkage"}
IDEMPOTENT_FIELDS = {"inventorySetQuantities", "inventoryAdjustQuantities"}


# -- mutations ----------------------------------------------------------------------------------

def mutation(name: str) -> Callable[[Resolver], Resolver]:
    """Register a mutation: log it, and give the ``@idempotent`` directive its meaning on the
    fields that honour it (a replay answers the first result and changes nothing)."""
    def register(fn: Resolver) -> Resolver:
        def run(root: Any, info: Info, **args: Any) -> Any:
            em, context = emulator_of(info), context_of(info)
            em.mutation_log.append((name, dict(context.variables)))
            if name not in IDEMPOTENT_FIELDS:
                return fn(root, info, **args)
            key = _idempotency_key(info)
            if key is None:
                if context.version >= "2026-04":
                    raise bad_request(f"The @idempotent directive is required for {name} "
                                       "as of API version 2026-04.")
                return fn(root, info, **args)
            fingerprint = json.dumps([name, args], sort_keys=True, default=str)
            stored = em.idempotency.get(key)
            if stored is not None:
                if stored[0] != fingerprint:
                    return {"inventoryAdjustmentGroup": None, "userErrors": [user_error(
                        None, "The same idempotency key cannot be used with different "
                              "operation parameters.", "IDEMPOTENCY_KEY_PARAMETER_MISMATCH")]}
                return stored[1]
            result = fn(root, info, **args)
            em.idempotency[key] = (fingerprint, result)
            return result

        RESOLVERS[("Mutation", name)] = run
        return fn
    return register


def _idempotency_key(info: Info) -> str | None:
    directive = info.schema.get_directive("idempotent")
    if directive is None:
        return None
    values = get_directive_values(directive, info.field_nodes[0], info.variable_values)
    return None if not values else str(values["key"])


def _expected(spec: Mapping[str, Any], path: list[str | int], version: str, ignore: bool,
              errors: list[dict[str, Any]]) -> tuple[int | None, str, str] | None:
    """The compare-and-set value this version asks for: (expected or None for no check,
    field, stale code); None when the input is wrong (the error is added)."""
    if "changeFromQuantity" in spec:
        return spec["changeFromQuantity"], "changeFromQuantity", "CHANGE_FROM_QUANTITY_STALE"
    if version >= "2026-04":
        errors.append(user_error([*path, "changeFromQuantity"],
                                  "changeFromQuantity must be provided for each quantity "
                                  "(pass null to skip the check).", "INVALID"))
        return None
    if ignore or (version >= "2026-01" and "compareQuantity" not in spec):
        return None, "", ""
    if spec.get("compareQuantity") is None:
        errors.append(user_error([*path, "compareQuantity"],
                                  "The compareQuantity argument must be given to each quantity "
                                  "or ignored using ignoreCompareQuantity.",
                                  "COMPARE_QUANTITY_REQUIRED"))
        return None
    return spec["compareQuantity"], "compareQuantity", "COMPARE_QUANTITY_STALE"


def _target(info: Info, spec: Mapping[str, Any], path: list[str | int],
            errors: list[dict[str, Any]]) -> Level | None:
    em = emulator_of(info)
    item = input_find(info, InventoryItem, spec["inventoryItemId"])
    location = input_find(info, Location, spec["locationId"])
    if item is None:
        errors.append(user_error([*path, "inventoryItemId"],
                                  "The specified inventory item could not be found.",
                                  "INVALID_INVENTORY_ITEM"))
    if location is None:
        errors.append(user_error([*path, "locationId"],
                                  "The specified location could not be found.",
                                  "INVALID_LOCATION"))
    if item is None or location is None:
        return None
    return em.stock(item, location)


def _validate_common(input: Mapping[str, Any], names: Sequence[str], name_code: str,
                     errors: list[dict[str, Any]]) -> None:
    if input["name"] not in names:
        errors.append(user_error(["input", "name"], f"The quantity name must be one of "
                                  f"{', '.join(names)}.", name_code))
    if input["reason"] not in REASONS:
        errors.append(user_error(["input", "reason"], "The specified reason is invalid.",
                                  "INVALID_REASON"))


def _apply(info: Info, input: Mapping[str, Any],
           plan: list[tuple[Level, int]]) -> AdjustmentGroup:
    """Apply every planned change and record them as one adjustment group."""
    em = emulator_of(info)
    name = input["name"]
    group = em.new(AdjustmentGroup, reason=input["reason"],
                   reference_document_uri=input.get("referenceDocumentUri"))
    for level, delta in plan:
        em.change_level(level, name, delta)
        shown = [name]
        if name == "on_hand":
            shown.append("available")
        elif name in ON_HAND_PARTS:
            shown.append("on_hand")
        for shown_name in shown:
            group.changes.append(InventoryChange(
                name=shown_name, delta=delta, quantity_after_change=level.get(shown_name),
                item_num=level.item_num, location_num=level.location_num))
    return group


@mutation("inventorySetQuantities")
def _set_quantities(_: Any, info: Info, input: dict[str, Any]) -> Any:
    version = context_of(info).version
    errors: list[dict[str, Any]] = []
    _validate_common(input, ("available", "on_hand"), "INVALID_NAME", errors)
    plan: list[tuple[Level, int]] = []
    seen: set[tuple[int, int]] = set()
    for i, spec in enumerate(input["quantities"]):
        path: list[str | int] = ["input", "quantities", i]
        level = _target(info, spec, path, errors)
        check = _expected(spec, path, version, bool(input.get("ignoreCompareQuantity")), errors)
        if level is None or check is None:
            continue
        if (level.item_num, level.location_num) in seen:
            errors.append(user_error(path, "The combination of inventoryItemId and locationId "
                                      "must be unique.",
                                      "NO_DUPLICATE_INVENTORY_ITEM_ID_GROUP_ID_PAIR"))
            continue
        seen.add((level.item_num, level.location_num))
        quantity = spec["quantity"]
        if quantity < 0:
            errors.append(user_error([*path, "quantity"], "The quantity can't be negative.",
                                      "INVALID_QUANTITY_NEGATIVE"))
            continue
        if quantity > LIMIT:
            errors.append(user_error([*path, "quantity"], "The quantity can't be higher than "
                                      "1,000,000,000.", "INVALID_QUANTITY_TOO_HIGH"))
            continue
        current = level.get(input["name"]) if input["name"] in QUANTITY_NAMES else 0
        expected, field_name, stale_code = check
        if expected is not None and expected != current:
            errors.append(user_error([*path, field_name], f"The {field_name} value does not "
                                      "match persisted value.", stale_code))
            continue
        plan.append((level, quantity - current))
    if errors:
        return {"inventoryAdjustmentGroup": None, "userErrors": errors}
    return {"inventoryAdjustmentGroup": _apply(info, input, plan), "userErrors": []}


@mutation("inventoryAdjustQuantities")
def _adjust_quantities(_: Any, info: Info, input: dict[str, Any]) -> Any:
    version = context_of(info).version
    errors: list[dict[str, Any]] = []
    adjustable = [n for n in QUANTITY_NAMES if n != "committed"]
    _validate_common(input, adjustable, "INVALID_QUANTITY_NAME", errors)
    plan: list[tuple[Level, int]] = []
    for i, spec in enumerate(input["changes"]):
        path: list[str | int] = ["input", "changes", i]
        level = _target(info, spec, path, errors)
        check = (None, "", "") if version < "2026-01" else _expected(spec, path, version, False,
                                                                     errors)
        if level is None or check is None or input["name"] not in adjustable:
            continue
        current = level.get(input["name"])
        expected, field_name, stale_code = check
        if expected is not None and expected != current:
            errors.append(user_error([*path, field_name], f"The {field_name} argument no "
                                      "longer matches the persisted quantity.", stale_code))
            continue
        after = current + spec["delta"]
        if not -LIMIT <= after <= LIMIT:
            code = "INVALID_QUANTITY_TOO_HIGH" if after > 0 else "INVALID_QUANTITY_TOO_LOW"
            errors.append(user_error([*path, "delta"], "The quantity is out of range.", code))
            continue
        plan.append((level, spec["delta"]))
    if errors:
        return {"inventoryAdjustmentGroup": None, "userErrors": errors}
    return {"inventoryAdjustmentGroup": _apply(info, input, plan), "userErrors": []}


@mutation("bulkOperationRunQuery")
def _bulk_run(_: Any, info: Info, query: str, groupObjects: bool = False  # noqa: N803
              ) -> Any:
    em, context = emulator_of(info), context_of(info)
    running = [op for op in em.all(BulkOperation) if op.type == "QUERY"
               and op.status in ("CREATED", "RUNNING")]
    if running:
        return {"bulkOperation": None, "userErrors": [user_error(
            None, "A bulk query operation for this app and shop is already in progress: "
                  f"{running[0].gid}.", "OPERATION_IN_PROGRESS")]}
    try:
        document = parse(query)
    except GraphQLError as error:
        return {"bulkOperation": None, "userErrors": [
            user_error(["query"], error.message, "INVALID")]}
    problems = validate(schema_for(context.version), document)
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if not problems and (len(operations) != 1 or operations[0].operation != OperationType.QUERY):
        problems = [GraphQLError("Bulk queries must contain exactly one query operation.")]
    if problems:
        return {"bulkOperation": None, "userErrors": [
            user_error(["query"], problem.message, "INVALID") for problem in problems]}
    op = em.new(BulkOperation, query=query, base_url=context.base_url,
                api_version=context.version)
    em.start_bulk(op.num)
    return {"bulkOperation": op, "userErrors": []}


def _money_input(value: Any, path: list[str | int], errors: list[dict[str, Any]],
                 code: str) -> Decimal | None:
    try:
        amount = to_decimal(value)
    except (ValueError, InvalidOperation):
        errors.append(user_error(path, f"{value!r} is not a valid amount.", code))
        return None
    if amount < 0:
        errors.append(user_error(path, "The amount must be greater than or equal to 0.", code))
        return None
    return amount


@mutation("productSet")
def _product_set(_: Any, info: Info, input: dict[str, Any],
                 identifier: dict[str, Any] | None = None, synchronous: bool = True) -> Any:
    em = emulator_of(info)
    errors: list[dict[str, Any]] = []
    ident = identifier or {}
    product: Product | None = None
    handle = input.get("handle") or ident.get("handle")
    if ident.get("id") or input.get("id"):
        where = ["identifier", "id"] if ident.get("id") else ["input", "id"]
        product = input_find(info, Product, ident.get("id") or input.get("id"))
        if product is None:
            errors.append(user_error(where, "Product does not exist",
                                      "PRODUCT_DOES_NOT_EXIST"))
    elif ident.get("handle"):
        product = em.product_by_handle(ident["handle"])
    if product is None and not errors and not input.get("title"):
        errors.append(user_error(["input", "title"], "Title can't be blank", "BLANK"))
    if handle and em.product_by_handle(handle) not in (None, product):
        errors.append(user_error(["input", "handle"],
                                  f"Handle '{handle}' already in use. Please provide a new "
                                  "handle.", "TAKEN"))
    declared = {o["name"] for o in input.get("productOptions") or () if o.get("name")}
    existing = {v.num: v for v in em.variants_of(product)} if product else {}
    specs = input.get("variants")
    for i, spec in enumerate(specs or ()):
        path: list[str | int] = ["input", "variants", i]
        if spec.get("id") and (input_find(info, Variant, spec["id"]) is None
                               or parse_num(spec["id"]) not in existing):
            errors.append(user_error([*path, "id"], "Product variant does not exist",
                                      "PRODUCT_VARIANT_DOES_NOT_EXIST"))
        for value in spec.get("optionValues") or ():
            if declared and value.get("optionName") not in declared:
                errors.append(user_error([*path, "optionValues"], f"Option "
                                          f"'{value.get('optionName')}' does not exist",
                                          "OPTION_DOES_NOT_EXIST"))
        for name in ("price", "compareAtPrice"):
            if spec.get(name) is not None:
                _money_input(spec[name], [*path, name], errors, "INVALID_VARIANT")
    if errors:
        return {"product": None, "userErrors": errors}
    creating = product is None
    if product is None:
        product = em.new(Product, title=input["title"], handle="")
        em.set_handle(product, em.unique_handle(handle or input["title"]))
    for key, attr in (("title", "title"), ("descriptionHtml", "description_html"),
                      ("vendor", "vendor"), ("productType", "product_type"),
                      ("status", "status"), ("tags", "tags")):
        if input.get(key) is not None:
            setattr(product, attr, list(input[key]) if key == "tags" else input[key])
    if input.get("handle") and input["handle"] != product.handle:
        em.set_handle(product, input["handle"])
    if specs is not None:
        _set_variants(em, product, specs, existing)
    if input.get("productOptions"):
        product.options = [(o["name"], [v["name"] for v in o.get("values") or ()])
                           for o in input["productOptions"]]
    else:
        em.sync_options(product)
    product.updated_at = em.now()
    em.emit("PRODUCTS_CREATE" if creating else "PRODUCTS_UPDATE", rest.product_payload(em, product))
    return {"product": product, "userErrors": []}


def parse_num(value: Any) -> int | None:
    match = GID.match(str(value or ""))
    return int(match.group(2)) if match else None


def _set_variants(em: ShopifyEmulator, product: Product, specs: Sequence[Mapping[str, Any]],
                  existing: dict[int, Variant]) -> None:
    """productSet's list semantics: listed variants are updated (matched by id, else SKU) or
    created; the others are deleted with their inventory."""
    by_sku = {v.sku: v for v in existing.values() if v.sku}
    keep: list[Variant] = []
    moment = em.now()
    for spec in specs:
        item_spec = spec.get("inventoryItem") or {}
        sku = item_spec.get("sku", spec.get("sku"))
        options = [(o.get("optionName") or "Title", o.get("name") or "")
                   for o in spec.get("optionValues") or ()]
        variant = existing.get(parse_num(spec.get("id")) or 0) or (by_sku.get(sku) if sku else None)
        if variant is None or variant in keep:
            variant = em.new_variant(
                product, sku=sku, price=to_decimal(spec.get("price") or "0"),
                barcode=spec.get("barcode"),
                compare_at_price=(to_decimal(spec["compareAtPrice"])
                                  if spec.get("compareAtPrice") is not None else None),
                options=options, tracked=bool(item_spec.get("tracked", True)))
        else:
            if spec.get("price") is not None:
                variant.price = to_decimal(spec["price"])
            if "compareAtPrice" in spec:
                variant.compare_at_price = (None if spec["compareAtPrice"] is None
                                            else to_decimal(spec["compareAtPrice"]))
            if "barcode" in spec:
                variant.barcode = spec["barcode"]
            if options:
                variant.options = options
                variant.title = " / ".join(value for _, value in options)
            item = em.item_of(variant)
            if sku is not None:
                variant.sku = item.sku = sku
            if item_spec.get("tracked") is not None:
                item.tracked = bool(item_spec["tracked"])
            variant.updated_at = item.updated_at = moment
        if spec.get("inventoryPolicy"):
            variant.inventory_policy = spec["inventoryPolicy"]
        keep.append(variant)
    for variant in existing.values():
        if variant not in keep:
            em.drop_variant(variant)
    product.variant_nums = [v.num for v in keep]
    for position, variant in enumerate(keep, start=1):
        variant.position = position


@mutation("productVariantsBulkUpdate")
def _variants_bulk_update(_: Any, info: Info, productId: str,  # noqa: N803
                          variants: list[dict[str, Any]],
                          allowPartialUpdates: bool = False) -> Any:  # noqa: N803
    em = emulator_of(info)
    product = input_find(info, Product, productId)
    if product is None:
        return {"product": None, "productVariants": None, "userErrors": [user_error(
            ["productId"], "Product does not exist", "PRODUCT_DOES_NOT_EXIST")]}
    errors: list[dict[str, Any]] = []
    plan: list[tuple[Variant, Mapping[str, Any], dict[str, Decimal | None]]] = []
    for i, spec in enumerate(variants):
        path: list[str | int] = ["variants", i]
        if not spec.get("id"):
            errors.append(user_error([*path, "id"], "Product variant is missing ID attribute",
                                      "PRODUCT_VARIANT_ID_MISSING"))
            continue
        variant = input_find(info, Variant, spec["id"])
        if variant is None or variant.product_num != product.num:
            errors.append(user_error([*path, "id"], "Product variant does not exist",
                                      "PRODUCT_VARIANT_DOES_NOT_EXIST"))
            continue
        amounts: dict[str, Decimal | None] = {}
        for name in ("price", "compareAtPrice"):
            if name in spec:
                amounts[name] = None if spec[name] is None else _money_input(
                    spec[name], [*path, name], errors, "GREATER_THAN_OR_EQUAL_TO")
        plan.append((variant, spec, amounts))
    if errors:
        return {"product": product, "productVariants": None, "userErrors": errors}
    moment = em.now()
    for variant, change, amounts in plan:
        price = amounts.get("price")
        if price is not None:
            variant.price = price
        if "compareAtPrice" in amounts:
            variant.compare_at_price = amounts["compareAtPrice"]
        if "barcode" in change:
            variant.barcode = change["barcode"]
        if change.get("inventoryPolicy"):
            variant.inventory_policy = change["inventoryPolicy"]
        item_change = change.get("inventoryItem") or {}
        if item_change.get("sku") is not None:
            variant.sku = em.item_of(variant).sku = item_change["sku"]
        if item_change.get("tracked") is not None:
            em.item_of(variant).tracked = bool(item_change["tracked"])
        variant.updated_at = moment
    product.updated_at = moment
    em.emit("PRODUCTS_UPDATE", rest.product_payload(em, product))
    return {"product": product, "productVariants": [v for v, _, _ in plan], "userErrors": []}


@mutation("fulfillmentCreate")
def _fulfillment_create(_: Any, info: Info, fulfillment: dict[str, Any],
                        message: str | None = None) -> Any:
    em = emulator_of(info)
    errors: list[dict[str, Any]] = []
    plan: list[tuple[FulfillmentOrderLineItem, int]] = []
    orders: set[int] = set()
    groups = fulfillment["lineItemsByFulfillmentOrder"]
    for g, group in enumerate(groups):
        path: list[str | int] = ["fulfillment", "lineItemsByFulfillmentOrder", g]
        fo = input_find(info, FulfillmentOrder, group["fulfillmentOrderId"])
        if fo is None:
            errors.append(user_error([*path, "fulfillmentOrderId"],
                                      "Fulfillment order does not exist."))
            continue
        if fo.status not in ("OPEN", "IN_PROGRESS"):
            errors.append(user_error([*path, "fulfillmentOrderId"],
                                      f"Fulfillment order {fo.gid} has an unfulfillable "
                                      f"status= {fo.status.lower()}."))
            continue
        orders.add(fo.order_num)
        wanted = group.get("fulfillmentOrderLineItems")
        if wanted is None:
            plan += [(fl, fl.remaining_quantity) for fl in em.fo_lines(fo)
                     if fl.remaining_quantity > 0]
            continue
        for i, spec in enumerate(wanted):
            fo_line = input_find(info, FulfillmentOrderLineItem, spec["id"])
            if fo_line is None or fo_line.fo_num != fo.num:
                errors.append(user_error([*path, "fulfillmentOrderLineItems", i, "id"],
                                          "Fulfillment order line item does not exist."))
            elif not 0 < spec["quantity"] <= fo_line.remaining_quantity:
                errors.append(user_error([*path, "fulfillmentOrderLineItems", i, "quantity"],
                                          "Invalid fulfillment order line item quantity "
                                          "requested."))
            else:
                plan.append((fo_line, spec["quantity"]))
    if len(orders) > 1:
        errors.append(user_error(["fulfillment"], "All fulfillment orders must belong to the "
                                  "same order."))
    if not errors and not plan:
        errors.append(user_error(["fulfillment"], "There are no line items to fulfill."))
    if errors:
        return {"fulfillment": None, "userErrors": errors}
    order = em.table(Order)[orders.pop()]
    first_fo = em.table(FulfillmentOrder)[plan[0][0].fo_num]
    tracking_input = fulfillment.get("trackingInfo") or {}
    numbers = tracking_input.get("numbers") or [tracking_input.get("number")]
    urls = tracking_input.get("urls") or [tracking_input.get("url")]
    tracking = [{"company": tracking_input.get("company"), "number": number,
                 "url": urls[i] if i < len(urls) else None}
                for i, number in enumerate(numbers)
                if number or tracking_input.get("company")]
    record = em.new(Fulfillment, order_num=order.num, location_num=first_fo.location_num,
                    name=f"{order.name}.{len(order.fulfillment_nums) + 1}", tracking=tracking)
    for fo_line, quantity in plan:
        fo_line.remaining_quantity -= quantity
        record.lines.append(em.new(FulfillmentLineItem, line_item_num=fo_line.line_item_num,
                                   quantity=quantity))
        line = em.table(LineItem)[fo_line.line_item_num]
        variant = em.table(Variant).get(line.variant_num or 0)
        if variant is not None and em.item_of(variant).tracked:
            fo = em.table(FulfillmentOrder)[fo_line.fo_num]
            level = em.stock(em.item_of(variant), em.table(Location)[fo.location_num])
            em.change_level(level, "committed", -quantity)
    order.fulfillment_nums.append(record.num)
    moment = em.now()
    for fo in em.fulfillment_orders(order):
        if fo.status in ("OPEN", "IN_PROGRESS"):
            done = all(fl.remaining_quantity == 0 for fl in em.fo_lines(fo))
            fo.status = "CLOSED" if done else "IN_PROGRESS"
            fo.updated_at = moment
    order.updated_at = moment
    em.emit("FULFILLMENTS_CREATE", rest.fulfillment_payload(em, record))
    em.emit("ORDERS_UPDATED", rest.order_payload(em, order))
    if em.fulfillment_status(order) == "FULFILLED":
        em.emit("ORDERS_FULFILLED", rest.order_payload(em, order))
    return {"fulfillment": record, "userErrors": []}


@mutation("orderCancel")
def _order_cancel(_: Any, info: Info, orderId: str, reason: str,  # noqa: N803
                  restock: bool, refund: bool | None = None,
                  refundMethod: dict[str, Any] | None = None,  # noqa: N803
                  notifyCustomer: bool = False, staffNote: str | None = None  # noqa: N803
                  ) -> Any:
    """Cancels in a job, as Shopify does (``job { id done }``); the emulator's job has run by
    the time anyone asks. ``refund`` is the older form of ``refundMethod``."""
    em = emulator_of(info)

    def refused(field: str, message: str, code: str) -> dict[str, Any]:
        return {"job": None,
                "orderCancelUserErrors": [user_error([field], message, code)],
                "userErrors": [user_error([field], message)]}

    order = input_find(info, Order, orderId)
    if order is None:
        return refused("orderId", "Order does not exist.", "NOT_FOUND")
    if refund is None and refundMethod is None:
        return refused("refundMethod", "A refund method is required.", "INVALID")
    if order.cancelled_at is not None:
        return refused("orderId", "Cannot cancel an order that has already been cancelled.",
                       "INVALID")
    back = bool(refund) if refundMethod is None else bool(
        refundMethod.get("originalPaymentMethodsRefund"))
    em.cancel_order(order.num, reason=reason.lower(), restock=restock, refund=back)
    if staffNote:
        order.note = "\n".join(filter(None, [order.note, staffNote]))
    return {"job": em.new(Job), "orderCancelUserErrors": [], "userErrors": []}


@mutation("refundCreate")
def _refund_create(_: Any, info: Info, input: dict[str, Any]) -> Any:
    """Money back exactly as the transactions say (each against a sale or capture of the
    order, never more than it has left unless ``allowOverRefunding``), line items refunded
    (restocked unless ``NO_RESTOCK``)."""
    em = emulator_of(info)
    order = input_find(info, Order, input["orderId"])
    if order is None:
        return {"order": None, "refund": None,
                "userErrors": [user_error(["orderId"], "Order does not exist.")]}
    errors: list[dict[str, Any]] = []
    lines: list[dict[str, Any]] = []
    for i, spec in enumerate(input.get("refundLineItems") or []):
        path: list[str | int] = ["refundLineItems", i]
        line = input_find(info, LineItem, spec["lineItemId"])
        if line is None or line.order_num != order.num:
            errors.append(user_error([*path, "lineItemId"], "Line item does not exist."))
        elif not 0 < spec["quantity"] <= em.refundable(line):
            errors.append(user_error([*path, "quantity"], "Quantity cannot refund more items "
                                     "than were purchased."))
        else:
            lines.append({"line_item_id": line.num, "quantity": spec["quantity"],
                          "restock": (spec.get("restockType") or "NO_RESTOCK") != "NO_RESTOCK"})
    paid: list[tuple[Transaction, Decimal]] = []
    claimed: dict[int, Decimal] = {}
    for i, spec in enumerate(input.get("transactions") or []):
        path = ["transactions", i]
        parent = input_find(info, Transaction, spec.get("parentId"))
        try:
            amount = to_decimal(spec["amount"])
        except ValueError:
            errors.append(user_error([*path, "amount"], "Amount is invalid."))
            continue
        if spec["kind"] != "REFUND":
            errors.append(user_error([*path, "kind"], "Kind must be refund."))
        elif input_find(info, Order, spec["orderId"]) is not order:
            errors.append(user_error([*path, "orderId"], "Order does not match the refund."))
        elif amount <= 0:
            errors.append(user_error([*path, "amount"], "Amount must be greater than 0."))
        elif parent is None or parent.order_num != order.num \
                or parent.kind not in ("SALE", "CAPTURE"):
            errors.append(user_error([*path, "parentId"], "Parent transaction must be a sale "
                                     "or capture of this order."))
        elif parent.gateway != spec["gateway"]:
            errors.append(user_error([*path, "gateway"], "Gateway does not match the parent "
                                     "transaction."))
        else:
            claimed[parent.num] = claimed.get(parent.num, Decimal("0")) + amount
            left = em.refundable_amount(parent)
            if claimed[parent.num] > left and not input.get("allowOverRefunding"):
                errors.append(user_error([*path, "amount"], "Amount cannot be greater than "
                                         f"the refundable amount of {money(left)}."))
            else:
                paid.append((parent, amount))
    if not errors and not lines and not paid:
        errors.append(user_error(None, "A refund needs line items or transactions."))
    if errors:
        return {"order": None, "refund": None, "userErrors": errors}
    made = em.refund_order(order.num, lines, note=input.get("note"), transactions=paid)
    return {"order": order, "refund": em.table(Refund)[made["id"]], "userErrors": []}


@mutation("webhookSubscriptionCreate")
def _subscription_create(_: Any, info: Info, topic: str,
                         webhookSubscription: dict[str, Any]) -> Any:  # noqa: N803
    em = emulator_of(info)
    spec = webhookSubscription
    uri = spec.get("uri") or spec.get("callbackUrl")
    where = ["webhookSubscription", "uri" if spec.get("uri") else "callbackUrl"]
    error = None
    if not uri:
        error = "Address can't be blank"
    elif not str(uri).startswith(("http://", "https://", "pubsub://", "arn:aws:events:")):
        error = "Address is invalid"
    elif any(s.topic == topic and s.uri == uri for s in em.all(WebhookSubscription)):
        error = "Address for this topic has already been taken"
    if error is not None:
        return {"webhookSubscription": None, "userErrors": [user_error(where, error)]}
    sub = em.new(WebhookSubscription, topic=topic, uri=str(uri),
                 api_version=context_of(info).version, format=spec.get("format") or "JSON",
                 include_fields=list(spec.get("includeFields") or ()),
                 filter=spec.get("filter"))
    return {"webhookSubscription": sub, "userErrors": []}


@mutation("webhookSubscriptionDelete")
def _subscription_delete(_: Any, info: Info, id: str) -> Any:
    sub = input_find(info, WebhookSubscription, id)
    if sub is None:
        return {"deletedWebhookSubscriptionId": None, "userErrors": [
            user_error(["id"], "Webhook subscription does not exist")]}
    del emulator_of(info).table(WebhookSubscription)[sub.num]
    return {"deletedWebhookSubscriptionId": sub.gid, "userErrors": []}


