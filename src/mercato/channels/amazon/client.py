"""A client for Amazon's Selling Partner API: Login with Amazon tokens, the Listings Items
API, the Feeds API and the Orders API (v0).

An access token is minted from the seller's refresh token (``POST /auth/o2/token``, grant
``refresh_token`` with the app's client id and secret in the form) at Login with Amazon —
``https://api.amazon.com`` for every region, or the connection's ``api_base`` when that is
not an Amazon host (the emulator serves both) — and sent as ``x-amz-access-token``. It lives
an hour; it is renewed a minute before it expires, kept in the process and, sealed, in the
connection's credentials (``access_token``, ``access_token_expires_at``). A 403
``Unauthorized`` (SP-API's answer to an expired or revoked token) renews it once; a second
one is an AUTH error.

Each SP-API operation has its own token bucket (its rate and burst from Amazon's default
usage plans); the rate each answer's ``x-amzn-RateLimit-Limit`` header gives replaces the
configured one, and a 429 empties the bucket before the retry.
"""

from __future__ import annotations

import asyncio
import time
from contextvars import ContextVar
from typing import Any
from urllib.parse import quote, urlencode

import httpx

from mercato.channels.registry import ConnectionConfig, breaker_for
from mercato.channels.service import save_secrets
from mercato.channels.toolkit import ApiClient, ChannelError, ErrorKind, RetryPolicy, TokenBucket
from mercato.core.db import Database

LWA_HOST = "https://api.amazon.com"
REFRESH_BEFORE = 60.0
"""Seconds before expiry at which an access token is renewed rather than used."""
LISTINGS = "/listings/2021-08-01/items"
FEEDS = "/feeds/2021-06-30"
ORDERS = "/orders/v0/orders"
MAX_ORDERS_PAGE = 100
RATE_HEADER = "x-amzn-RateLimit-Limit"
USAGE_PLANS: dict[str, tuple[float, float]] = {
    "getListingsItem": (5.0, 5.0),
    "patchListingsItem": (5.0, 5.0),
    "createFeedDocument": (0.5, 15.0),
    "createFeed": (0.0083, 15.0),
    "getFeed": (2.0, 15.0),
    "getFeedDocument": (0.0222, 10.0),
    "getOrders": (0.0167, 20.0),
    "getOrder": (0.5, 30.0),
    "getOrderItems": (0.5, 30.0),
    "confirmShipment": (2.0, 10.0),
}
"""Amazon's default (rate per second, burst) by operation; the header's rate wins once seen."""

_tokens: dict[str, tuple[str, float]] = {}
"""Per process: a connection's access token and when it expires (epoch seconds)."""
_buckets: dict[tuple[str, str], TokenBucket] = {}
_operation: ContextVar[str] = ContextVar("amazon_operation", default="")


def forget_tokens(connection_id: str) -> None:
    _tokens.pop(connection_id, None)


def error_messages(body: Any) -> str:
    """SP-API's ``{"errors": [{code, message, details}]}`` (or a listing's ``issues``) as one
    line."""
    if not isinstance(body, dict):
        return ""
    errors = body.get("errors") or body.get("issues")
    if not isinstance(errors, list):
        return ""
    parts = []
    for error in errors:
        if isinstance(error, dict):
            details = f" ({error['details']})" if error.get("details") else ""
            parts.append(f"{error.get('message')}{details} [{error.get('code')}]")
    return "; ".join(parts)


def lwa_base(config: ConnectionConfig) -> str:
    """Where access tokens are minted: Login with Amazon for Amazon's own hosts (every
    region's SP-API and its sandbox), else the ``api_base`` (the emulator serves both)."""
    if not config.api_base:
        return LWA_HOST
    host = httpx.URL(config.api_base).host.lower()
    if host == "amazon.com" or host.endswith(".amazon.com"):
        return LWA_HOST
    return config.api_base.rstrip("/")


class OperationBuckets:
    """A limiter with one token bucket per SP-API operation of a connection: the operation
    in hand is the one ``AmazonClient.call`` names."""

    def __init__(self, connection_id: str) -> None:
        self.connection_id = connection_id

    def bucket(self) -> TokenBucket:
        operation = _operation.get()
        key = (self.connection_id, operation)
        bucket = _buckets.get(key)
        if bucket is None:
            rate, burst = USAGE_PLANS.get(operation, (1.0, 1.0))
            bucket = _buckets[key] = TokenBucket(rate, burst, rate_header=RATE_HEADER)
        return bucket

    async def acquire(self, cost: float = 1.0) -> None:
        await self.bucket().acquire(cost)

    def observe(self, response: httpx.Response) -> None:
        self.bucket().observe(response)


class AmazonClient:
    """One seller's connection; ``async with`` it."""

    def __init__(self, config: ConnectionConfig, *, db: Database | None = None,
                 transport: httpx.AsyncBaseTransport | None = None,
                 retry: RetryPolicy | None = None) -> None:
        self.config = config
        self.db = db
        self.seller_id = config.account.upper()
        self.marketplaces = list(config.settings.get("marketplace_ids") or ["ATVPDKIKX0DER"])
        self.marketplace = self.marketplaces[0]
        self.product_type = str(config.settings.get("product_type") or "PRODUCT")
        self.api = ApiClient(
            config.base_url, auth=self._sign, limiter=OperationBuckets(config.id),
            breaker=breaker_for(config.id),
            retry=retry or RetryPolicy(attempts=6, base=0.2, cap=10.0), timeout=30.0,
            transport=transport, headers={"Accept": "application/json",
                                          "User-Agent": "Mercato/1.0 (Language=Python)"})
        self.lwa = ApiClient(lwa_base(config),
                             retry=RetryPolicy(attempts=3, base=0.2, cap=5.0), timeout=30.0,
                             transport=transport)
        self.files = ApiClient("", retry=RetryPolicy(attempts=3, base=0.2, cap=5.0),
                               timeout=60.0, transport=transport)

    async def __aenter__(self) -> AmazonClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.api.aclose()
        await self.lwa.aclose()
        await self.files.aclose()

    # -- Login with Amazon ----------------------------------------------------------------------

    async def refresh(self) -> str:
        """A new access token from the refresh token, kept in the process and sealed in the
        connection."""
        secrets = self.config.secrets
        form = {"grant_type": "refresh_token", "refresh_token": secrets["refresh_token"],
                "client_id": secrets["client_id"], "client_secret": secrets["client_secret"]}
        try:
            response = await self.lwa.request(
                "POST", "/auth/o2/token", content=urlencode(form).encode(),
                headers={"Content-Type": "application/x-www-form-urlencoded;charset=UTF-8"})
        except ChannelError as exc:
            details = exc.details if isinstance(exc.details, dict) else {}
            code = details.get("error")
            if code == "invalid_grant":
                raise ChannelError(ErrorKind.AUTH, (
                    "Login with Amazon refused the refresh token (invalid_grant): the seller "
                    "revoked Mercato's authorization or it was issued to another app. "
                    "Authorize again and connect with the new refresh token."),
                    status=exc.status, details=details) from None
            if code in ("invalid_client", "unauthorized_client") or exc.status == 401:
                raise ChannelError(ErrorKind.AUTH, (
                    "Login with Amazon refused the app's client id and secret "
                    "(invalid_client)."), status=exc.status, details=details) from None
            raise
        body = response.json()
        if not isinstance(body, dict) or not body.get("access_token"):
            raise ChannelError(ErrorKind.PLATFORM, "Login with Amazon answered no access_token")
        token = str(body["access_token"])
        expires = time.time() + float(body.get("expires_in") or 3600)
        _tokens[self.config.id] = (token, expires)
        if self.db is not None:
            save_secrets(self.db, self.config, {"access_token": token,
                                                "access_token_expires_at": f"{expires:.0f}"})
        return token

    async def access_token(self) -> str:
        cached = _tokens.get(self.config.id)
        if cached is None and self.config.secrets.get("access_token"):
            try:
                expires = float(self.config.secrets.get("access_token_expires_at") or 0)
            except ValueError:
                expires = 0.0
            cached = _tokens[self.config.id] = (self.config.secrets["access_token"], expires)
        if cached is not None and cached[1] - REFRESH_BEFORE > time.time():
            return cached[0]
        return await self.refresh()

    async def _sign(self, request: httpx.Request) -> None:
        request.headers["x-amz-access-token"] = await self.access_token()

    async def call(self, operation: str, method: str, path: str, *, json: Any = None,
                   params: dict[str, Any] | None = None) -> httpx.Response:
        """One SP-API operation through its own bucket; a 403 renews the token once."""
        mark = _operation.set(operation)
        try:
            try:
                return await self.api.request(method, path, json=json, params=params)
            except ChannelError as exc:
                if exc.kind is not ErrorKind.AUTH or exc.status not in (401, 403):
                    raise
            _tokens.pop(self.config.id, None)
            await self.refresh()
            try:
                return await self.api.request(method, path, json=json, params=params)
            except ChannelError as exc:
                if exc.kind is ErrorKind.AUTH:
                    raise ChannelError(ErrorKind.AUTH, "Amazon refused a fresh access token: "
                                       + (error_messages(exc.details) or exc.message),
                                       status=exc.status, details=exc.details) from None
                raise
        finally:
            _operation.reset(mark)

    # -- listings -------------------------------------------------------------------------------

    def _listing_path(self, sku: str) -> str:
        return f"{LISTINGS}/{quote(self.seller_id, safe='')}/{quote(sku, safe='')}"

    async def listing(self, sku: str) -> dict[str, Any] | None:
        """``getListingsItem`` (summaries, offers, quantity); None when the seller has no
        listing with that SKU."""
        try:
            response = await self.call("getListingsItem", "GET", self._listing_path(sku), params={
                "marketplaceIds": self.marketplace,
                "includedData": "summaries,offers,fulfillmentAvailability,issues"})
        except ChannelError as exc:
            if exc.status == 404:
                return None
            raise
        return dict(response.json())

    async def patch(self, sku: str, patches: list[dict[str, Any]]) -> dict[str, Any]:
        """``patchListingsItem`` → ``{sku, status: ACCEPTED|INVALID, submissionId, issues}``."""
        response = await self.call(
            "patchListingsItem", "PATCH", self._listing_path(sku),
            params={"marketplaceIds": self.marketplace},
            json={"productType": self.product_type, "patches": patches})
        return dict(response.json())

    # -- feeds ----------------------------------------------------------------------------------

    async def submit_feed(self, feed_type: str, content: bytes, content_type: str) -> str:
        """createFeedDocument, the upload to its URL, createFeed: the feed id."""
        made = (await self.call("createFeedDocument", "POST", f"{FEEDS}/documents",
                                json={"contentType": content_type})).json()
        await self.files.request("PUT", str(made["url"]), content=content,
                                 headers={"Content-Type": content_type})
        feed = (await self.call("createFeed", "POST", f"{FEEDS}/feeds", json={
            "feedType": feed_type, "marketplaceIds": self.marketplaces,
            "inputFeedDocumentId": made["feedDocumentId"]})).json()
        return str(feed["feedId"])

    async def feed(self, feed_id: str) -> dict[str, Any]:
        return dict((await self.call("getFeed", "GET", f"{FEEDS}/feeds/{feed_id}")).json())

    async def wait_feed(self, feed_id: str, *, timeout: float, interval: float = 1.0
                        ) -> dict[str, Any]:
        """getFeed until DONE, FATAL or CANCELLED (or ``timeout`` seconds: the last answer)."""
        end = time.monotonic() + timeout
        delay = min(interval, 0.1)
        while True:
            feed = await self.feed(feed_id)
            if feed.get("processingStatus") in ("DONE", "FATAL", "CANCELLED") \
                    or time.monotonic() >= end:
                return feed
            await asyncio.sleep(delay)
            delay = min(interval, delay * 2)

    async def result_document(self, feed: dict[str, Any]) -> bytes | None:
        """The processing report of a finished feed (getFeedDocument, then its URL)."""
        doc_id = feed.get("resultFeedDocumentId")
        if not doc_id:
            return None
        doc = (await self.call("getFeedDocument", "GET", f"{FEEDS}/documents/{doc_id}")).json()
        response = await self.files.request("GET", str(doc["url"]))
        content = response.content
        if str(doc.get("compressionAlgorithm") or "").upper() == "GZIP":
            import gzip
            content = gzip.decompress(content)
        return content

    # -- orders ---------------------------------------------------------------------------------

    async def orders(self, *, since: str | None = None, next_token: str | None = None,
                     size: int = MAX_ORDERS_PAGE) -> dict[str, Any]:
        params: dict[str, Any] = {"MarketplaceIds": ",".join(self.marketplaces)}
        if next_token:
            params["NextToken"] = next_token
        else:
            params.update({"LastUpdatedAfter": since,
                           "MaxResultsPerPage": max(1, min(MAX_ORDERS_PAGE, size))})
        response = await self.call("getOrders", "GET", ORDERS, params=params)
        return dict(response.json().get("payload") or {})

    async def order(self, order_id: str) -> dict[str, Any] | None:
        try:
            response = await self.call("getOrder", "GET", f"{ORDERS}/{order_id}")
        except ChannelError as exc:
            if exc.status == 404:
                return None
            raise
        return dict(response.json().get("payload") or {})

    async def order_items(self, order_id: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        token: str | None = None
        while True:
            response = await self.call("getOrderItems", "GET", f"{ORDERS}/{order_id}/orderItems",
                                       params={"NextToken": token} if token else None)
            payload = response.json().get("payload") or {}
            items.extend(payload.get("OrderItems") or [])
            token = payload.get("NextToken")
            if not token:
                return items

    async def confirm_shipment(self, order_id: str, detail: dict[str, Any]) -> None:
        await self.call("confirmShipment", "POST", f"{ORDERS}/{order_id}/shipmentConfirmation",
                        json={"packageDetail": detail, "marketplaceId": self.marketplace})
