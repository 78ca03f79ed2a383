"""Shopify's shapes to Mercato's and back: orders (webhook REST payloads and GraphQL nodes),
products (bulk JSONL) as catalog import rows, Mercato products as ``productSet`` input."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping as MappingType
from decimal import Decimal, InvalidOperation
from typing import Any

from mercato.catalog import SourceRow, join_list, slugify
from mercato.identity import Address
from mercato.orders import CustomerRef, OrderIn, OrderLineIn, PaymentIn

PRODUCT_TYPE = "shopify-product"
"""The product type given to products imported from Shopify (no attribute rules)."""
STATUS = {"ACTIVE": "active", "DRAFT": "draft", "ARCHIVED": "archived"}
STATUS_OUT = {v: k for k, v in STATUS.items()}
PAID = {"paid", "partially_refunded", "refunded"}


def _money(value: Any) -> Decimal | None:
    try:
        return Decimal(str(value)) if value not in (None, "") else None
    except InvalidOperation:
        return None


def _address(raw: MappingType[str, Any] | None) -> Address | None:
    if not raw:
        return None
    fields = {"first_name": raw.get("first_name"), "last_name": raw.get("last_name"),
              "company": raw.get("company"), "phone": raw.get("phone"),
              "line1": raw.get("address1"), "line2": raw.get("address2"),
              "city": raw.get("city"), "region": raw.get("province_code") or raw.get("province"),
              "postal_code": raw.get("zip"), "country": raw.get("country_code")}
    try:
        return Address.model_validate({k: v for k, v in fields.items() if v})
    except ValueError:
        return None  # an address Mercato cannot hold does not lose the order


def line_sku(item: MappingType[str, Any], sku_of: MappingType[str, str]) -> str | None:
    """An order line's Mercato SKU: its mapped variant's, else the SKU Shopify sent."""
    variant = item.get("variant_id")
    return (sku_of.get(str(variant)) if variant is not None else None) or item.get("sku")


def order_in(payload: MappingType[str, Any], channel_id: str, sku_of: MappingType[str, str],
             known: set[str]) -> tuple[OrderIn | None, list[str]]:
    """A Shopify order (REST shape) as an order to ingest, and the lines left out (a line
    with no SKU Mercato knows: a custom item, a product sold only on Shopify). A left-out line
    is named in the order's note and the order tagged ``unmatched-lines``, so staff see it; an
    order with no line left is not made.

    ``sku_of``: Mercato SKU by Shopify variant id (numeric or gid), from the mappings; a line's
    own SKU is used when its variant is not mapped. ``known``: the SKUs Mercato has."""
    lines: list[OrderLineIn] = []
    skipped: list[str] = []
    for item in payload.get("line_items") or []:
        sku = line_sku(item, sku_of)
        quantity = int(item.get("quantity") or 0)
        if not sku or sku not in known or quantity < 1:
            skipped.append(f"{quantity} x {item.get('title') or item.get('id')}"
                           + (f" (SKU {item['sku']})" if item.get("sku") else ""))
            continue
        lines.append(OrderLineIn(sku=sku, quantity=quantity, unit_price=_money(item.get("price")),
                                 title=(item.get("title") or None)))
    if not lines:
        return None, skipped
    customer = payload.get("customer") or {}
    email = payload.get("email") or customer.get("email") or None
    financial = (payload.get("financial_status") or "").lower()
    total = _money(payload.get("total_price"))
    # with lines left out, what Shopify charged covers more than this order: it is paid in full
    payments = [PaymentIn(method="shopify", amount=None if skipped else total, status="paid",
                          reference=str(payload.get("id")))] if financial in PAID else []
    placed = payload.get("created_at")
    order = OrderIn.model_validate({
        "channel": channel_id, "external_id": str(payload["id"]),
        "external_number": payload.get("name"),
        "currency": (payload.get("currency") or "USD").upper(), "lines": lines,
        "customer": CustomerRef(email=email, first_name=customer.get("first_name"),
                                last_name=customer.get("last_name")) if email else None,
        "shipping_address": _address(payload.get("shipping_address")),
        "billing_address": _address(payload.get("billing_address")),
        "payments": payments if total is not None and total > 0 else [],
        "tags": ["shopify", "unmatched-lines"] if skipped else ["shopify"],
        "note": ("Lines Mercato could not match to a variant (not in this order): "
                 + "; ".join(skipped) + f". Shopify's total: {total}.")[:5000]
        if skipped else None,
        "placed_at": dt.datetime.fromisoformat(placed) if placed else None})
    return order, skipped


def rest_order(node: MappingType[str, Any]) -> dict[str, Any]:
    """A GraphQL order node (the backfill's) in the webhook's REST shape."""
    money = (node.get("totalPriceSet") or {}).get("shopMoney") or {}
    return {
        "id": int(node.get("legacyResourceId") or str(node["id"]).rsplit("/", 1)[-1]),
        "admin_graphql_api_id": node["id"], "name": node.get("name"),
        "email": node.get("email"), "created_at": node.get("createdAt"),
        "updated_at": node.get("updatedAt"), "cancelled_at": node.get("cancelledAt"),
        "currency": node.get("currencyCode") or money.get("currencyCode"),
        "total_price": money.get("amount"),
        "financial_status": (node.get("displayFinancialStatus") or "").lower(),
        "fulfillment_status": (node.get("displayFulfillmentStatus") or "").lower(),
        "line_items": [{
            "id": edge["node"]["id"], "sku": edge["node"].get("sku"),
            "quantity": edge["node"].get("quantity"), "title": edge["node"].get("title"),
            "variant_id": (edge["node"].get("variant") or {}).get("legacyResourceId"),
            "price": ((edge["node"].get("originalUnitPriceSet") or {}).get("shopMoney")
                      or {}).get("amount")}
            for edge in (node.get("lineItems") or {}).get("edges", [])],
    }


# -- products -----------------------------------------------------------------------------------

def group_jsonl(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Bulk JSONL rows (children carry ``__parentId``) as products with their variants, each
    variant with its inventory levels."""
    products: dict[str, dict[str, Any]] = {}
    variants: dict[str, dict[str, Any]] = {}
    for row in lines:
        kind = str(row.get("id", "")).split("/")[3] if str(row.get("id", "")).startswith(
            "gid://") else ""
        parent = row.get("__parentId")
        if kind == "Product":
            products[row["id"]] = {**row, "variants": []}
        elif kind == "ProductVariant" and parent in products:
            variant = {**row, "levels": []}
            variants[row["id"]] = variant
            products[parent]["variants"].append(variant)
        elif kind == "InventoryLevel" and parent in variants:
            variants[parent]["levels"].append(row)
        elif kind == "InventoryLevel":
            # a level nested under the inventory item: its parent is that item's id
            for variant in variants.values():
                if (variant.get("inventoryItem") or {}).get("id") == parent:
                    variant["levels"].append(row)
    return list(products.values())


def import_rows(products: list[dict[str, Any]], start_line: int) -> list[SourceRow]:
    """Products as catalog import rows (one per variant, upsert by SKU). Variants without a
    SKU cannot be matched to anything and are left out."""
    rows: list[SourceRow] = []
    line = start_line
    for product in products:
        handle = product.get("handle") or slugify(product.get("title") or product["id"])
        for variant in product["variants"]:
            line += 1
            sku = (variant.get("sku") or "").strip()
            if not sku:
                continue
            tags = product.get("tags") or []
            cells = {
                "handle": handle, "title": product.get("title") or handle,
                "product_type": PRODUCT_TYPE,
                "status": STATUS.get(str(product.get("status", "ACTIVE")).upper(), "active"),
                "vendor": product.get("vendor") or "",
                "description": product.get("descriptionHtml") or "",
                "tags": join_list(tags if isinstance(tags, list) else
                                        [t.strip() for t in str(tags).split(",")]),
                "sku": sku, "barcode": variant.get("barcode") or "",
                "variant_title": "" if variant.get("title") in (None, "Default Title")
                else variant["title"],
                "price": str(variant.get("price") or "0"),
                "compare_at_price": str(variant.get("compareAtPrice") or ""),
            }
            rows.append(SourceRow(line, cells))
    return rows


def product_input(product: MappingType[str, Any],
                  variants: list[MappingType[str, Any]]) -> dict[str, Any]:
    """A Mercato product (title, handle, status …) and its variants as ``productSet`` input."""
    titles = [v.get("title") or v["sku"] for v in variants]
    return {
        "title": product["title"], "handle": product["slug"],
        "descriptionHtml": product.get("description") or "",
        "vendor": product.get("vendor") or "",
        "status": STATUS_OUT.get(product.get("status", "active"), "ACTIVE"),
        "tags": list(product.get("tags") or []),
        "productOptions": [{"name": "Title", "values": [{"name": t} for t in titles]}],
        "variants": [{
            "optionValues": [{"optionName": "Title", "name": title}],
            "price": str(v["price"]),
            **({"compareAtPrice": str(v["compare_at_price"])} if v.get("compare_at_price")
               else {}),
            **({"barcode": v["barcode"]} if v.get("barcode") else {}),
            "inventoryItem": {"sku": v["sku"], "tracked": True}}
            for v, title in zip(variants, titles, strict=True)],
    }
