"""A client for Shopify's GraphQL Admin API: the queries and mutations the connector uses.

Pacing follows Shopify's cost bucket (``extensions.cost`` of every answer resynchronises it); a
``THROTTLED`` answer, whether HTTP 200 or 429, is a rate-limit error that waits for the points
it lacks and retries. Inventory writes are compare-and-set with an ``@idempotent`` key.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx

from mercato.channels.registry import ConnectionConfig, breaker_for
from mercato.channels.toolkit import (
    ApiClient,
    ChannelError,
    CostBucket,
    ErrorKind,
    RetryPolicy,
    classify_response,
)
from mercato.core import inbound

_buckets: dict[str, CostBucket] = {}
"""One cost bucket per connection and process: Shopify's bucket is per app and shop."""


def verify_hmac(secret: str, body: bytes, signature: str | None) -> bool:
    """``X-Shopify-Hmac-Sha256``: base64 HMAC-SHA256 of the raw body with the client secret."""
    digest = base64.b64encode(inbound.hmac_sha256(secret, body)).decode()
    return inbound.signatures_match((signature or "").strip(), digest)


def gid(kind: str, number: int | str) -> str:
    return f"gid://shopify/{kind}/{number}"


def legacy_id(gid_value: str) -> str:
    return gid_value.rsplit("/", 1)[-1]


def classify(response: httpx.Response) -> ChannelError | None:
    """HTTP errors as usual; a 200 carrying GraphQL errors is classified by its code."""
    error = classify_response(response)
    if error is not None and error.kind is not ErrorKind.RATE_LIMIT:
        return error
    try:
        body = response.json()
    except ValueError:
        return error or ChannelError(ErrorKind.PLATFORM, "Shopify answered with no JSON",
                                     status=response.status_code)
    errors = body.get("errors") if isinstance(body, dict) else None
    if not errors:
        return error
    if isinstance(errors, str):
        return ChannelError(ErrorKind.VALIDATION, errors, status=response.status_code)
    first = errors[0] if isinstance(errors, list) and errors else {}
    code = (first.get("extensions") or {}).get("code") if isinstance(first, dict) else None
    message = first.get("message", "GraphQL error") if isinstance(first, dict) else str(first)
    if code == "THROTTLED":
        cost = (body.get("extensions") or {}).get("cost") or {}
        status = cost.get("throttleStatus") or {}
        lacking = float(cost.get("requestedQueryCost") or 0) - float(
            status.get("currentlyAvailable") or 0)
        rate = float(status.get("restoreRate") or 50) or 50.0
        return ChannelError(ErrorKind.RATE_LIMIT, "Shopify throttled the request",
                            status=response.status_code,
                            retry_after=max(0.05, lacking / rate), details=body)
    if code in ("INTERNAL_SERVER_ERROR", "SERVICE_UNAVAILABLE"):
        return ChannelError(ErrorKind.PLATFORM, message, status=response.status_code,
                            details=errors)
    if code in ("ACCESS_DENIED", "UNAUTHORIZED"):
        return ChannelError(ErrorKind.AUTH, message, status=response.status_code, details=errors)
    return ChannelError(ErrorKind.VALIDATION, message, status=response.status_code,
                        details=errors)


class ShopifyClient:
    """One shop, one API version; ``async with`` it."""

    def __init__(self, config: ConnectionConfig, *,
                 transport: httpx.AsyncBaseTransport | None = None,
                 retry: RetryPolicy | None = None) -> None:
        self.config = config
        self.version = config.api_version
        settings = config.settings
        bucket = _buckets.get(config.id)
        if bucket is None:
            bucket = _buckets[config.id] = CostBucket(
                float(settings.get("bucket_size") or 2000),
                float(settings.get("restore_rate") or 100))
        self.api = ApiClient(
            config.base_url, limiter=bucket, breaker=breaker_for(config.id),
            retry=retry or RetryPolicy(attempts=6, base=0.2, cap=10.0), classify=classify,
            timeout=30.0, transport=transport,
            headers={"X-Shopify-Access-Token": config.secrets["access_token"],
                     "Content-Type": "application/json", "Accept": "application/json"})

    async def __aenter__(self) -> ShopifyClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.api.aclose()

    def idempotent(self, variable: str = "$key") -> str:
        """The ``@idempotent`` directive where the version has it (2026-01 on)."""
        return f" @idempotent(key: {variable})" if self.version >= "2026-01" else ""

    @property
    def cas_field(self) -> str:
        """``changeFromQuantity`` from 2026-01; before, ``compareQuantity``."""
        return "changeFromQuantity" if self.version >= "2026-01" else "compareQuantity"

    async def graphql(self, query: str, variables: dict[str, Any] | None = None, *,
                      cost: float = 10.0) -> dict[str, Any]:
        response = await self.api.request(
            "POST", f"/admin/api/{self.version}/graphql.json",
            json={"query": query, "variables": variables or {}}, cost=cost)
        data = response.json().get("data")
        if not isinstance(data, dict):
            raise ChannelError(ErrorKind.PLATFORM, "Shopify answered without data")
        return data

    async def paginate(self, query: str, path: str, variables: dict[str, Any] | None = None,
                       *, after: str | None = None, cost: float = 60.0
                       ) -> AsyncIterator[tuple[list[dict[str, Any]], str | None, bool]]:
        """Pages of ``path`` (a connection at the top of ``data``): (nodes, end cursor, more)."""
        cursor = after
        while True:
            data = await self.graphql(query, {**(variables or {}), "after": cursor}, cost=cost)
            connection = data[path]
            nodes = [edge["node"] for edge in connection["edges"]]
            info = connection["pageInfo"]
            cursor = info.get("endCursor") or cursor
            yield nodes, cursor, bool(info.get("hasNextPage"))
            if not info.get("hasNextPage"):
                return

    # -- reads ---------------------------------------------------------------------------------

    async def locations(self) -> list[dict[str, Any]]:
        data = await self.graphql(
            "query { locations(first: 20) { edges { node { id name isActive } } "
            "pageInfo { hasNextPage endCursor } } }", cost=22)
        return [edge["node"] for edge in data["locations"]["edges"]]

    async def levels(self, item_ids: list[str], location_id: str) -> dict[str, int]:
        """``available`` of these inventory items at one location."""
        found: dict[str, int] = {}
        for start in range(0, len(item_ids), 100):
            data = await self.graphql(
                "query($ids: [ID!]!, $loc: ID!) { nodes(ids: $ids) { ... on InventoryItem { id "
                "inventoryLevel(locationId: $loc) { quantities(names: [\"available\"]) "
                "{ name quantity } } } } }",
                {"ids": item_ids[start:start + 100], "loc": location_id},
                cost=1 + 3 * len(item_ids[start:start + 100]))
            for node in data["nodes"]:
                if not node:
                    continue
                level = node.get("inventoryLevel")
                quantities = {q["name"]: q["quantity"] for q in (level or {}).get(
                    "quantities", [])}
                found[node["id"]] = int(quantities.get("available", 0))
        return found

    VARIANTS = ("query($first: Int!, $after: String, $query: String) { productVariants("
                "first: $first, after: $after, query: $query) { edges { cursor node { id sku "
                "barcode title price compareAtPrice inventoryItem { id } product { id handle "
                "title } } } pageInfo { hasNextPage endCursor } } }")

    LINE_FIELDS = ("edges { node { id sku quantity title variant { id legacyResourceId } "
                   "originalUnitPriceSet { shopMoney { amount currencyCode } } } } "
                   "pageInfo { hasNextPage endCursor }")
    ORDER_FIELDS = (
        "id legacyResourceId name email createdAt updatedAt cancelledAt currencyCode "
        "displayFinancialStatus displayFulfillmentStatus totalPriceSet { shopMoney { amount "
        "currencyCode } } lineItems(first: 40) { " + LINE_FIELDS + " }")
    ORDERS_PER_PAGE = 5
    """5 orders of 40 lines cost about 830 points: under Shopify's 1,000 per query."""

    async def complete_lines(self, order: dict[str, Any]) -> dict[str, Any]:
        """The order with every line: a big order's lines past the first page are fetched."""
        lines = order.get("lineItems") or {}
        while (lines.get("pageInfo") or {}).get("hasNextPage"):
            data = await self.graphql(
                "query($id: ID!, $after: String) { order(id: $id) { lineItems(first: 100, "
                "after: $after) { " + self.LINE_FIELDS + " } } }",
                {"id": order["id"], "after": lines["pageInfo"]["endCursor"]}, cost=410)
            more = data["order"]["lineItems"]
            lines = {"edges": lines["edges"] + more["edges"], "pageInfo": more["pageInfo"]}
        return {**order, "lineItems": lines}

    async def fulfillment_orders(self, order_gid: str) -> list[dict[str, Any]] | None:
        """The order's fulfillment orders and their lines; None when there is no such order."""
        data = await self.graphql(
            "query($id: ID!) { order(id: $id) { id fulfillmentOrders(first: 5) { edges { node "
            "{ id status lineItems(first: 50) { edges { node { id remainingQuantity "
            "totalQuantity lineItem { id sku } } } } } } } } }", {"id": order_gid}, cost=520)
        order = data.get("order")
        if not isinstance(order, dict):
            return None
        return [edge["node"] for edge in order["fulfillmentOrders"]["edges"]]

    # -- writes ---------------------------------------------------------------------------------

    async def set_quantities(self, quantities: list[dict[str, Any]], *, key: str,
                             name: str = "available", reason: str = "correction",
                             reference: str | None = None) -> list[dict[str, Any]]:
        """``inventorySetQuantities`` (compare-and-set, idempotent); its user errors.

        Each quantity: ``{inventoryItemId, locationId, quantity, compare}`` where ``compare``
        (the quantity believed current, or None to skip the check) goes out under this
        version's field name."""
        cas = self.cas_field
        items = []
        for q in quantities:
            item = {"inventoryItemId": q["inventoryItemId"], "locationId": q["locationId"],
                    "quantity": q["quantity"], cas: q.get("compare")}
            items.append(item)
        payload: dict[str, Any] = {"name": name, "reason": reason, "quantities": items}
        if reference:
            payload["referenceDocumentUri"] = reference
        if cas == "compareQuantity":
            payload["ignoreCompareQuantity"] = all(q.get("compare") is None for q in quantities)
        keyed = self.version >= "2026-01"
        data = await self.graphql(
            "mutation($input: InventorySetQuantitiesInput!" + (", $key: String!" if keyed else "")
            + ") { inventorySetQuantities(input: $input)" + self.idempotent() + " { "
            "inventoryAdjustmentGroup { id } userErrors { field message code } } }",
            {"input": payload, **({"key": key} if keyed else {})}, cost=10)
        errors: list[dict[str, Any]] = data["inventorySetQuantities"]["userErrors"] or []
        return errors

    async def run_bulk_query(self, query: str) -> str:
        data = await self.graphql(
            "mutation($q: String!) { bulkOperationRunQuery(query: $q) { bulkOperation { id "
            "status } userErrors { field message code } } }", {"q": query}, cost=10)
        result = data["bulkOperationRunQuery"]
        if result["userErrors"]:
            raise ChannelError(ErrorKind.VALIDATION, "; ".join(
                e["message"] for e in result["userErrors"]), details=result["userErrors"])
        return str(result["bulkOperation"]["id"])

    async def bulk_operation(self, operation_id: str) -> dict[str, Any]:
        data = await self.graphql(
            "query($id: ID!) { node(id: $id) { ... on BulkOperation { id status errorCode "
            "objectCount url } } }", {"id": operation_id}, cost=2)
        node = data.get("node")
        if not isinstance(node, dict):
            raise ChannelError(ErrorKind.VALIDATION, f"No bulk operation {operation_id}")
        return node

    async def download(self, url: str) -> list[dict[str, Any]]:
        """A bulk operation's JSONL (a signed URL on Shopify: no access token sent)."""
        async with httpx.AsyncClient(timeout=120) as plain:
            try:
                response = await plain.get(url)
            except httpx.TransportError as exc:
                raise ChannelError(ErrorKind.NETWORK, f"bulk download failed: {exc}") from exc
        if response.status_code != 200:
            raise ChannelError(ErrorKind.PLATFORM, f"bulk download answered "
                               f"{response.status_code}", status=response.status_code)
        return [json.loads(line) for line in response.text.splitlines() if line.strip()]

    async def product_set(self, product: dict[str, Any], handle: str) -> dict[str, Any]:
        data = await self.graphql(
            "mutation($input: ProductSetInput!, $identifier: ProductSetIdentifiers) { "
            "productSet(input: $input, identifier: $identifier, synchronous: true) { product { "
            "id handle variants(first: 100) { edges { node { id sku inventoryItem { id } } } } "
            "} userErrors { field message code } } }",
            {"input": product, "identifier": {"handle": handle}}, cost=30)
        return dict(data["productSet"])

    async def update_prices(self, product_id: str,
                            variants: list[dict[str, Any]]) -> list[dict[str, Any]]:
        data = await self.graphql(
            "mutation($productId: ID!, $variants: [ProductVariantsBulkInput!]!) { "
            "productVariantsBulkUpdate(productId: $productId, variants: $variants) { "
            "productVariants { id price } userErrors { field message code } } }",
            {"productId": product_id, "variants": variants}, cost=10)
        errors: list[dict[str, Any]] = data["productVariantsBulkUpdate"]["userErrors"] or []
        return errors

    async def create_fulfillment(self, fulfillment: dict[str, Any], *,
                                 key: str) -> dict[str, Any]:
        keyed = self.version >= "2026-01"
        data = await self.graphql(
            "mutation($f: FulfillmentInput!" + (", $key: String!" if keyed else "") + ") { "
            "fulfillmentCreate(fulfillment: $f)" + self.idempotent() + " { fulfillment { id "
            "status } userErrors { field message } } }",
            {"f": fulfillment, **({"key": key} if keyed else {})}, cost=10)
        return dict(data["fulfillmentCreate"])

    async def order_money(self, order_gid: str) -> dict[str, Any] | None:
        """The order's cancellation, refunds (id and note) and payment transactions; None
        when there is no such order."""
        data = await self.graphql(
            "query($id: ID!) { order(id: $id) { id cancelledAt displayFinancialStatus "
            "refunds(first: 50) { id note } transactions(first: 50) { id kind status gateway "
            "amountSet { shopMoney { amount currencyCode } } parentTransaction { id } } } }",
            {"id": order_gid}, cost=110)
        order = data.get("order")
        return order if isinstance(order, dict) else None

    async def cancel_order(self, order_gid: str, *, restock: bool, notify: bool,
                           staff_note: str | None) -> dict[str, Any]:
        """``orderCancel`` without a refund (Mercato refunds are sent on their own): the
        payload, ``job`` and ``orderCancelUserErrors``."""
        data = await self.graphql(
            "mutation($orderId: ID!, $restock: Boolean!, $notify: Boolean, $note: String, "
            "$refundMethod: OrderCancelRefundMethodInput) { orderCancel(orderId: $orderId, "
            "reason: OTHER, refundMethod: $refundMethod, restock: $restock, "
            "notifyCustomer: $notify, staffNote: $note) { job { id done } "
            "orderCancelUserErrors { field message code } } }",
            {"orderId": order_gid, "restock": restock, "notify": notify, "note": staff_note,
             "refundMethod": {"originalPaymentMethodsRefund": False}}, cost=10)
        return dict(data["orderCancel"])

    async def job_done(self, job_id: str) -> bool:
        data = await self.graphql("query($id: ID!) { job(id: $id) { id done } }",
                                  {"id": job_id}, cost=1)
        job = data.get("job")
        return bool(job and job.get("done"))

    async def create_refund(self, refund: dict[str, Any]) -> dict[str, Any]:
        """``refundCreate``: the payload, ``refund { id }`` and ``userErrors``."""
        data = await self.graphql(
            "mutation($input: RefundInput!) { refundCreate(input: $input) { refund { id note "
            "totalRefundedSet { shopMoney { amount currencyCode } } } "
            "userErrors { field message } } }", {"input": refund}, cost=10)
        return dict(data["refundCreate"])

    async def subscribe(self, topic: str, url: str) -> list[dict[str, Any]]:
        data = await self.graphql(
            "mutation($topic: WebhookSubscriptionTopic!, $sub: WebhookSubscriptionInput!) { "
            "webhookSubscriptionCreate(topic: $topic, webhookSubscription: $sub) { "
            "webhookSubscription { id } userErrors { field message } } }",
            {"topic": topic, "sub": {"callbackUrl": url, "format": "JSON"}}, cost=10)
        errors: list[dict[str, Any]] = data["webhookSubscriptionCreate"]["userErrors"] or []
        return errors


def new_key() -> str:
    return str(uuid.uuid4())
