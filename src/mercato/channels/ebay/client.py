"""A client for eBay's Sell APIs (Inventory, Fulfillment, Post-Order) and the Notification
API's public keys, with eBay's OAuth.

A seller's user access token is minted from the refresh token the connection holds (grant
``refresh_token``, Basic auth with the app's client id and secret) and renewed a few minutes
before it expires; it is kept in the process and, sealed, in the connection's credentials
(``access_token``, ``access_token_expires_at``), so a restarted worker reuses it. A 401 on a
call renews it once and tries again; a second 401 is an AUTH error. A refresh token eBay no
longer honours (``invalid_grant``) is an AUTH error naming what to do.
"""

from __future__ import annotations

import base64
import time
from typing import Any
from urllib.parse import urlencode

import httpx

from mercato.channels.registry import ConnectionConfig, breaker_for
from mercato.channels.service import save_secrets
from mercato.channels.toolkit import (
    ApiClient,
    ChannelError,
    ErrorKind,
    RetryPolicy,
    TokenBucket,
)
from mercato.core.db import Database

SCOPE_ROOT = "https://api.ebay.com/oauth/api_scope"
USER_SCOPES = " ".join(f"{SCOPE_ROOT}/{name}" for name in (
    "sell.inventory", "sell.fulfillment", "sell.account"))
REFRESH_BEFORE = 300.0
"""Seconds before expiry at which a token is renewed rather than used."""
KEY_TTL = 3600.0
MAX_BULK = 25
MAX_ORDERS_PAGE = 200

_user_tokens: dict[str, tuple[str, float]] = {}
"""Per process: a connection's user access token and when it expires (epoch seconds)."""
_app_tokens: dict[str, tuple[str, float]] = {}
_buckets: dict[str, TokenBucket] = {}
_public_keys: dict[tuple[str, str], tuple[dict[str, Any], float]] = {}


def forget_tokens(connection_id: str) -> None:
    """Drop the cached tokens of a connection (its credentials changed)."""
    _user_tokens.pop(connection_id, None)
    _app_tokens.pop(connection_id, None)


def error_messages(body: Any) -> str:
    """eBay's ``{"errors": [{errorId, message}]}`` as one line."""
    errors = body.get("errors") if isinstance(body, dict) else None
    if not isinstance(errors, list) or not errors:
        return ""
    return "; ".join(f"{e.get('message') or e.get('longMessage')} (eBay error "
                     f"{e.get('errorId')})" for e in errors if isinstance(e, dict))


class EbayClient:
    """One seller's connection; ``async with`` it."""

    def __init__(self, config: ConnectionConfig, *, db: Database | None = None,
                 transport: httpx.AsyncBaseTransport | None = None,
                 retry: RetryPolicy | None = None) -> None:
        self.config = config
        self.db = db
        settings = config.settings
        bucket = _buckets.get(config.id)
        if bucket is None:
            rate = float(settings.get("rate_per_second") or 5.0)
            bucket = _buckets[config.id] = TokenBucket(rate, max(1.0, rate))
        self.language = str(settings.get("content_language") or "en-US")
        self.marketplace = str(settings.get("marketplace_id") or "EBAY_US")
        self.api = ApiClient(
            config.base_url, auth=self._sign, limiter=bucket, breaker=breaker_for(config.id),
            retry=retry or RetryPolicy(attempts=5, base=0.2, cap=10.0), timeout=30.0,
            transport=transport, headers={"Accept": "application/json"})
        self.oauth = ApiClient(config.base_url, retry=RetryPolicy(attempts=3, base=0.2, cap=5),
                               timeout=30.0, transport=transport)

    async def __aenter__(self) -> EbayClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.api.aclose()
        await self.oauth.aclose()

    # -- OAuth ----------------------------------------------------------------------------------

    def _basic(self) -> str:
        pair = f"{self.config.secrets['client_id']}:{self.config.secrets['client_secret']}"
        return "Basic " + base64.b64encode(pair.encode()).decode()

    async def _grant(self, form: dict[str, str]) -> dict[str, Any]:
        try:
            response = await self.oauth.request(
                "POST", "/identity/v1/oauth2/token", content=urlencode(form).encode(),
                headers={"Authorization": self._basic(),
                         "Content-Type": "application/x-www-form-urlencoded"})
        except ChannelError as exc:
            details = exc.details if isinstance(exc.details, dict) else {}
            code = details.get("error")
            if code == "invalid_grant":
                raise ChannelError(ErrorKind.AUTH, (
                    "eBay refused the refresh token (invalid_grant): it expired or the seller "
                    "revoked Mercato's access. Connect again with a new refresh token."),
                    status=exc.status, details=details) from None
            if code in ("invalid_client", "unauthorized_client") or exc.status == 401:
                raise ChannelError(ErrorKind.AUTH, (
                    "eBay refused the app's client id and secret (invalid_client)."),
                    status=exc.status, details=details) from None
            raise
        body = response.json()
        if not isinstance(body, dict) or not body.get("access_token"):
            raise ChannelError(ErrorKind.PLATFORM, "eBay's token answer had no access_token")
        return body

    async def refresh(self) -> str:
        """A new user access token from the refresh token, kept in the process and sealed in
        the connection."""
        body = await self._grant({"grant_type": "refresh_token",
                                  "refresh_token": self.config.secrets["refresh_token"],
                                  "scope": USER_SCOPES})
        token = str(body["access_token"])
        expires = time.time() + float(body.get("expires_in") or 7200)
        _user_tokens[self.config.id] = (token, expires)
        if self.db is not None:
            save_secrets(self.db, self.config, {"access_token": token,
                                                "access_token_expires_at": f"{expires:.0f}"})
        return token

    async def user_token(self) -> str:
        cached = _user_tokens.get(self.config.id)
        if cached is None and self.config.secrets.get("access_token"):
            try:
                expires = float(self.config.secrets.get("access_token_expires_at") or 0)
            except ValueError:
                expires = 0.0
            cached = (self.config.secrets["access_token"], expires)
            _user_tokens[self.config.id] = cached
        if cached is not None and cached[1] - REFRESH_BEFORE > time.time():
            return cached[0]
        return await self.refresh()

    async def app_token(self) -> str:
        cached = _app_tokens.get(self.config.id)
        if cached is not None and cached[1] - REFRESH_BEFORE > time.time():
            return cached[0]
        body = await self._grant({"grant_type": "client_credentials", "scope": SCOPE_ROOT})
        token = str(body["access_token"])
        _app_tokens[self.config.id] = (token, time.time() + float(body.get("expires_in")
                                                                   or 7200))
        return token

    async def _sign(self, request: httpx.Request) -> None:
        if "authorization" in request.headers:
            return  # an application-token call signed by its caller
        token = await self.user_token()
        # the Post-Order API takes an OAuth token as "IAF <token>"
        scheme = "IAF" if request.url.path.startswith("/post-order/") else "Bearer"
        request.headers["Authorization"] = f"{scheme} {token}"

    async def request(self, method: str, path: str, *, json: Any = None,
                      params: dict[str, Any] | None = None,
                      headers: dict[str, str] | None = None) -> httpx.Response:
        """A call as the seller; a 401 renews the token once."""
        try:
            return await self.api.request(method, path, json=json, params=params,
                                          headers=headers)
        except ChannelError as exc:
            if exc.kind is not ErrorKind.AUTH or exc.status != 401:
                raise
        _user_tokens.pop(self.config.id, None)
        await self.refresh()
        try:
            return await self.api.request(method, path, json=json, params=params,
                                          headers=headers)
        except ChannelError as exc:
            if exc.kind is ErrorKind.AUTH:
                raise ChannelError(ErrorKind.AUTH, "eBay refused a fresh access token: "
                                   + (error_messages(exc.details) or exc.message),
                                   status=exc.status, details=exc.details) from None
            raise

    # -- inventory ------------------------------------------------------------------------------

    async def put_item(self, sku: str, body: dict[str, Any]) -> None:
        """``createOrReplaceInventoryItem``: the whole item, replaced."""
        await self.request("PUT", f"/sell/inventory/v1/inventory_item/{sku}", json=body,
                           headers={"Content-Language": self.language,
                                    "Content-Type": "application/json"})

    async def offers(self, sku: str) -> list[dict[str, Any]]:
        """The SKU's offers on this marketplace (none: eBay answers 404, 25713)."""
        try:
            response = await self.request("GET", "/sell/inventory/v1/offer",
                                          params={"sku": sku, "marketplace_id": self.marketplace})
        except ChannelError as exc:
            if exc.status == 404:
                return []
            raise
        return [o for o in response.json().get("offers") or []
                if o.get("marketplaceId", self.marketplace) == self.marketplace]

    async def create_offer(self, body: dict[str, Any]) -> str:
        response = await self.request("POST", "/sell/inventory/v1/offer", json=body,
                                       headers={"Content-Language": self.language,
                                                "Content-Type": "application/json"})
        return str(response.json()["offerId"])

    async def publish(self, offer_id: str) -> str:
        response = await self.request("POST", f"/sell/inventory/v1/offer/{offer_id}/publish")
        return str(response.json()["listingId"])

    async def bulk_update(self, requests: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """``bulkUpdatePriceQuantity`` (at most 25 requests): one response per offer (or per
        SKU without offers), whether the call answered 200 or 207."""
        if len(requests) > MAX_BULK:
            raise ValueError(f"at most {MAX_BULK} requests in one bulk update")
        response = await self.request(
            "POST", "/sell/inventory/v1/bulk_update_price_quantity",
            json={"requests": requests}, headers={"Content-Type": "application/json"})
        return list(response.json().get("responses") or [])

    # -- orders ---------------------------------------------------------------------------------

    async def orders(self, *, since: str, until: str, offset: int,
                     limit: int = MAX_ORDERS_PAGE) -> dict[str, Any]:
        response = await self.request("GET", "/sell/fulfillment/v1/order", params={
            "filter": f"lastmodifieddate:[{since}..{until}]",
            "limit": min(limit, MAX_ORDERS_PAGE), "offset": offset})
        return dict(response.json())

    async def order(self, order_id: str) -> dict[str, Any] | None:
        try:
            response = await self.request("GET", f"/sell/fulfillment/v1/order/{order_id}")
        except ChannelError as exc:
            if exc.status == 404:
                return None
            raise
        return dict(response.json())

    async def shipping_fulfillments(self, order_id: str) -> list[dict[str, Any]]:
        response = await self.request(
            "GET", f"/sell/fulfillment/v1/order/{order_id}/shipping_fulfillment")
        return list(response.json().get("fulfillments") or [])

    async def ship(self, order_id: str, body: dict[str, Any]) -> str | None:
        response = await self.request(
            "POST", f"/sell/fulfillment/v1/order/{order_id}/shipping_fulfillment", json=body,
            headers={"Content-Type": "application/json"})
        location = response.headers.get("location")
        return location.rsplit("/", 1)[-1] if location else None

    async def issue_refund(self, order_id: str, body: dict[str, Any]) -> dict[str, Any]:
        response = await self.request(
            "POST", f"/sell/fulfillment/v1/order/{order_id}/issue_refund", json=body,
            headers={"Content-Type": "application/json"})
        return dict(response.json())

    async def cancel(self, legacy_order_id: str, reason: str) -> dict[str, Any]:
        """A seller's cancellation through the Post-Order API."""
        response = await self.request(
            "POST", "/post-order/v2/cancellation",
            json={"legacyOrderId": legacy_order_id, "cancelReason": reason},
            headers={"Content-Type": "application/json",
                     "X-EBAY-C-MARKETPLACE-ID": self.marketplace})
        return dict(response.json())

    # -- notifications --------------------------------------------------------------------------

    async def public_key(self, kid: str) -> dict[str, Any]:
        """``getPublicKey`` with an application token; cached for an hour per key id."""
        cache_key = (self.config.base_url, kid)
        cached = _public_keys.get(cache_key)
        if cached is not None and cached[1] > time.time():
            return cached[0]
        token = await self.app_token()
        response = await self.api.request(
            "GET", f"/commerce/notification/v1/public_key/{kid}",
            headers={"Authorization": f"Bearer {token}"})
        key = dict(response.json())
        _public_keys[cache_key] = (key, time.time() + KEY_TTL)
        return key
