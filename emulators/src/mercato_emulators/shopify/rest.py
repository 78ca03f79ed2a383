"""The REST resource shapes that Shopify's webhooks carry (numeric ids, snake_case keys,
money as strings), built from the emulator's records."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

from mercato_emulators.shopify.model import (
    Customer,
    Fulfillment,
    Level,
    LineItem,
    Order,
    Product,
    Refund,
    Transaction,
    iso,
    money,
)

if TYPE_CHECKING:
    from mercato_emulators.shopify.server import ShopifyEmulator


def level_payload(em: ShopifyEmulator, level: Level) -> dict[str, Any]:
    return {"inventory_item_id": level.item_num, "location_id": level.location_num,
            "available": level.get("available"), "updated_at": iso(level.updated_at),
            "admin_graphql_api_id": level.gid}


def product_payload(em: ShopifyEmulator, product: Product) -> dict[str, Any]:
    variants = em.variants_of(product)
    return {
        "id": product.num, "title": product.title, "body_html": product.description_html,
        "vendor": product.vendor, "product_type": product.product_type,
        "handle": product.handle, "status": product.status.lower(),
        "tags": ", ".join(product.tags), "created_at": iso(product.created_at),
        "updated_at": iso(product.updated_at), "published_at": iso(product.created_at),
        "admin_graphql_api_id": product.gid,
        "options": [{"name": name, "position": i + 1, "values": values,
                     "product_id": product.num}
                    for i, (name, values) in enumerate(product.options)],
        "variants": [{
            "id": v.num, "product_id": product.num, "title": v.title, "sku": v.sku,
            "price": money(v.price), "compare_at_price": money(v.compare_at_price),
            "barcode": v.barcode, "position": v.position,
            "inventory_policy": v.inventory_policy.lower(),
            "inventory_item_id": v.item_num,
            "inventory_quantity": em.inventory_quantity(v),
            **{f"option{i + 1}": value for i, (_, value) in enumerate(v.options[:3])},
            "created_at": iso(v.created_at), "updated_at": iso(v.updated_at),
            "admin_graphql_api_id": v.gid} for v in variants],
    }


def order_payload(em: ShopifyEmulator, order: Order) -> dict[str, Any]:
    buyer = em.table(Customer).get(order.customer_num or 0)
    status = em.fulfillment_status(order)
    total = em.order_total(order)
    return {
        "id": order.num, "admin_graphql_api_id": order.gid, "name": order.name,
        "order_number": order.number, "email": order.email,
        "created_at": iso(order.created_at), "updated_at": iso(order.updated_at),
        "processed_at": iso(order.created_at), "cancelled_at": iso(order.cancelled_at),
        "cancel_reason": order.cancel_reason.lower() if order.cancel_reason else None,
        "closed_at": iso(order.closed_at), "currency": order.currency,
        "presentment_currency": order.currency, "total_price": money(total),
        "subtotal_price": money(total), "total_tax": "0.00",
        "current_total_price": money(total - sum(
            (r.amount for r in em.refunds(order)), Decimal("0"))),
        "financial_status": order.financial_status.lower(),
        "fulfillment_status": {"UNFULFILLED": None, "FULFILLED": "fulfilled",
                               "PARTIALLY_FULFILLED": "partial"}[status],
        "tags": ", ".join(order.tags), "note": order.note, "test": False,
        "line_items": [{
            "id": li.num, "admin_graphql_api_id": li.gid, "variant_id": li.variant_num,
            "product_id": li.product_num, "sku": li.sku, "title": li.title,
            "variant_title": li.variant_title,
            "name": f"{li.title} - {li.variant_title}" if li.variant_title else li.title,
            "quantity": li.quantity, "current_quantity": li.quantity - li.removed,
            "fulfillable_quantity": em.unfulfilled(li), "price": money(li.price),
            "fulfillment_status": _line_status(em.fulfilled(li), li)}
            for li in em.line_items(order)],
        "customer": None if buyer is None else {
            "id": buyer.num, "email": buyer.email, "first_name": buyer.first_name,
            "last_name": buyer.last_name, "admin_graphql_api_id": buyer.gid},
        "shipping_address": order.shipping_address,
        "fulfillments": [fulfillment_payload(em, f) for f in em.fulfillments(order)],
        "refunds": [refund_payload(em, r) for r in em.refunds(order)],
    }


def fulfillment_payload(em: ShopifyEmulator, fulfillment: Fulfillment) -> dict[str, Any]:
    tracking = fulfillment.tracking[0] if fulfillment.tracking else {}
    return {"id": fulfillment.num, "admin_graphql_api_id": fulfillment.gid,
            "order_id": fulfillment.order_num, "name": fulfillment.name,
            "status": fulfillment.status.lower(), "location_id": fulfillment.location_num,
            "created_at": iso(fulfillment.created_at),
            "updated_at": iso(fulfillment.updated_at),
            "tracking_company": tracking.get("company"),
            "tracking_number": tracking.get("number"), "tracking_url": tracking.get("url"),
            "line_items": [{"id": fl.line_item_num, "quantity": fl.quantity,
                            "sku": em.table(LineItem)[fl.line_item_num].sku}
                           for fl in fulfillment.lines]}


def refund_payload(em: ShopifyEmulator, refund: Refund) -> dict[str, Any]:
    order = em.table(Order)[refund.order_num]
    return {
        "id": refund.num, "admin_graphql_api_id": refund.gid, "order_id": order.num,
        "created_at": iso(refund.created_at), "processed_at": iso(refund.created_at),
        "note": refund.note, "restock": any(rl.restock_type != "NO_RESTOCK"
                                            for rl in refund.lines),
        "refund_line_items": [{
            "id": rl.num, "line_item_id": rl.line_item_num, "quantity": rl.quantity,
            "restock_type": rl.restock_type.lower(), "location_id": rl.location_num,
            "subtotal": money(rl.subtotal), "total_tax": "0.00",
            "line_item": {"id": line.num, "sku": line.sku, "variant_id": line.variant_num,
                          "title": line.title, "quantity": line.quantity,
                          "price": money(line.price)}}
            for rl in refund.lines
            for line in (em.table(LineItem)[rl.line_item_num],)],
        "transactions": [{"id": t.num, "order_id": order.num, "kind": t.kind.lower(),
                          "status": t.status.lower(), "amount": money(t.amount),
                          "currency": order.currency, "gateway": t.gateway,
                          "parent_id": t.parent_num,
                          "admin_graphql_api_id": t.gid}
                         for t in (em.table(Transaction)[n] for n in refund.transaction_nums)]
        or [{"id": refund.num, "order_id": order.num, "kind": "refund",
             "status": "success", "amount": money(refund.amount),
             "currency": order.currency, "gateway": "manual"}],
    }


def _line_status(fulfilled: int, line: LineItem) -> str | None:
    if not fulfilled:
        return None
    return "fulfilled" if fulfilled >= line.quantity - line.removed else "partial"
