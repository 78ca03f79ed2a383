"""A client for the Shopee Open Platform v2: every call signed in its query, the shop's access
token renewed before it expires, Shopee's ``{request_id, error, message, response}`` answers
classified.

Signing: ``sign`` = hex HMAC-SHA256, keyed with the partner key, of ``partner_id + path +
timestamp`` for public calls (the token refresh) and of ``partner_id + path + timestamp +
access_token + shop_id`` for shop calls; ``timestamp`` is the time of each attempt (Shopee
refuses one more than 5 minutes old), so a retried call is signed again.

Tokens: an access token lasts 4 hours; it is renewed ``REFRESH_BEFORE`` seconds before it
expires with ``POST /api/v2/auth/access_token/get`` ``{refresh_token, partner_id, shop_id}``,
which also returns a new refresh token (the old one is spent): both are sealed in the
connection's credentials at once (``service.save_secrets``), with the access token's expiry.
A call refused for its access token renews it once and tries again. A refresh token Shopee
refuses (expired after 30 days, spent, or the shop withdrew the authorization) is an AUTH error
saying the shop must authorize again, and that refresh token is not sent again by this process
(no retry storm) until the connection is given new credentials.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from typing import Any

import httpx

from mercato.channels.models import Connection
from mercato.channels.registry import ConnectionConfig, breaker_for
from mercato.channels.service import config_of, save_secrets
from mercato.channels.toolkit import (
    ApiClient,
    ChannelError,
    ErrorKind,
    RetryPolicy,
    TokenBucket,
    classify_response,
)
from mercato.core.db import Database

TOKEN_PATH = "/api/v2/auth/access_token/get"  # noqa: S105 - a path, not a secret
REFRESH_BEFORE = 600.0
"""Seconds before expiry at which an access token is renewed rather than used."""
TOKEN_LIFETIME = 4 * 3600.0
"""An access token's life when Shopee does not say (``expire_in``)."""
RATE = 10.0
"""Calls a second when the connection sets no ``rate_per_second`` (Shopee publishes no
general figure; it throttles per API and partner with ``error_too_many_request``)."""
MAX_PAGE = 100
MAX_DETAIL = 50
MAX_MODELS = 50
REAUTHORIZE = ("Shopee needs the shop to authorize again: its refresh token was refused ({}). "
               "Authorize the app in Shopee's seller centre and connect again with the new "
               "access and refresh tokens.")
AUTH_ERRORS = frozenset({"error_auth", "error_sign", "invalid_acceess_token",
                         "invalid_access_token", "error_permission", "refresh_token_expired",
                         "shop_access_expired", "error_shop_refresh_token", "shop_no_linked",
                         "shop_banned"})
TOKEN_ERRORS = frozenset({"invalid_acceess_token", "invalid_access_token"})
THROTTLE_ERRORS = frozenset({"error_too_many_request", "error_too_many_requests",
                             "too_many_request"})

_tokens: dict[str, tuple[str, float]] = {}
"""Per process: a connection's access token and when it expires (epoch seconds)."""
_refresh: dict[str, str] = {}
"""Per process: a connection's latest refresh token (a spent one is never sent again)."""
_refused: dict[str, tuple[str, str]] = {}
"""Per process: the refresh token Shopee refused and why, by connection: not sent again."""
_chain: dict[str, set[str]] = {}
"""Per process: the refresh tokens of a connection's current authorization (the one given and
those renewed from it): a refresh token outside it means new credentials, and the cache
starts over."""
_buckets: dict[str, TokenBucket] = {}


_apps: dict[str, str] = {}
"""Per process: a digest of the partner id and key a connection's cache was made with."""


def forget_tokens(connection_id: str) -> None:
    _tokens.pop(connection_id, None)
    _refresh.pop(connection_id, None)
    _refused.pop(connection_id, None)
    _chain.pop(connection_id, None)
    _apps.pop(connection_id, None)


def request_sign(partner_key: str, *parts: object) -> str:
    return hmac.new(partner_key.encode(), "".join(str(p) for p in parts).encode(),
                    hashlib.sha256).hexdigest()


def _error_of(body: Any) -> tuple[str, str]:
    if not isinstance(body, dict):
        return "", ""
    return str(body.get("error") or ""), str(body.get("message") or "")


def _kind(error: str, status: int) -> ErrorKind:
    short = error.rsplit(".", 1)[-1].strip()
    if short in THROTTLE_ERRORS or "too_many" in short or status == 429:
        return ErrorKind.RATE_LIMIT
    if short in AUTH_ERRORS or short.startswith("error_auth") or status in (401, 403):
        return ErrorKind.AUTH
    if short in ("error_server", "error_network", "error_inner", "error_busy") \
            or status >= 500:
        return ErrorKind.PLATFORM
    return ErrorKind.VALIDATION


def classify(response: httpx.Response) -> ChannelError | None:
    """Shopee's ``error`` decides (it may come with HTTP 200): throttling is RATE_LIMIT,
    token, sign and permission errors AUTH, server errors PLATFORM, the rest VALIDATION."""
    try:
        body = response.json()
    except ValueError:
        return classify_response(response)
    error, message = _error_of(body)
    if not error:
        return classify_response(response)
    base = classify_response(response)
    return ChannelError(_kind(error, response.status_code),
                        f"Shopee {error} on {response.request.url.path}: {message}"[:2000],
                        status=response.status_code,
                        retry_after=base.retry_after if base is not None else None,
                        details=body)


def token_refused(exc: ChannelError) -> bool:
    """Shopee refused the call's access token (expired or unknown): ``invalid_acceess_token``
    (its spelling), or ``error_auth`` saying "Invalid access_token"."""
    error, message = _error_of(exc.details)
    short = error.rsplit(".", 1)[-1]
    return short in TOKEN_ERRORS or (short == "error_auth" and "access_token" in message)


def bucket_for(config: ConnectionConfig) -> TokenBucket:
    rate = float(config.settings.get("rate_per_second") or RATE)
    bucket = _buckets.get(config.id)
    if bucket is None or bucket.rate != rate:
        bucket = _buckets[config.id] = TokenBucket(rate, max(1.0, rate))
    return bucket


class ShopeeClient:
    """One shop's connection; ``async with`` it. ``db`` lets it seal renewed tokens."""

    def __init__(self, config: ConnectionConfig, *, db: Database | None = None,
                 transport: httpx.AsyncBaseTransport | None = None,
                 retry: RetryPolicy | None = None) -> None:
        self.config = config
        self.db = db
        self.partner_id = str(config.secrets["partner_id"])
        self.partner_key = str(config.secrets["partner_key"])
        self.shop_id = str(config.account)
        self.location_id = str(config.settings.get("location_id") or "") or None
        self.api = ApiClient(
            config.base_url, auth=self._sign, limiter=bucket_for(config),
            breaker=breaker_for(config.id),
            retry=retry or RetryPolicy(attempts=6, base=0.2, cap=10.0), classify=classify,
            timeout=30.0, transport=transport, headers={"Accept": "application/json"})
        self.oauth = ApiClient(
            config.base_url, auth=self._sign, limiter=bucket_for(config),
            retry=RetryPolicy(attempts=3, base=0.2, cap=5.0), classify=classify, timeout=30.0,
            transport=transport, headers={"Accept": "application/json"})

    async def __aenter__(self) -> ShopeeClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.api.aclose()
        await self.oauth.aclose()

    # -- signing and tokens ---------------------------------------------------------------------

    async def _sign(self, request: httpx.Request) -> None:
        path = request.url.path
        stamp = int(time.time())
        params: dict[str, str] = {"partner_id": self.partner_id, "timestamp": str(stamp)}
        if path == TOKEN_PATH:
            params["sign"] = request_sign(self.partner_key, self.partner_id, path, stamp)
        else:
            token = await self.access_token()
            params.update(access_token=token, shop_id=self.shop_id,
                          sign=request_sign(self.partner_key, self.partner_id, path, stamp,
                                            token, self.shop_id))
        request.url = request.url.copy_merge_params(params)

    def _follow_credentials(self) -> None:
        """Start the cache over when the connection was given another authorization."""
        given = str(self.config.secrets.get("refresh_token") or "")
        app = hashlib.sha256(f"{self.partner_id}|{self.partner_key}".encode()).hexdigest()
        if given not in _chain.get(self.config.id, set()) or _apps.get(self.config.id) != app:
            forget_tokens(self.config.id)
            _chain[self.config.id] = {given}
            _refresh[self.config.id] = given
            _apps[self.config.id] = app

    def _refresh_token(self) -> str:
        self._follow_credentials()
        return _refresh[self.config.id]

    def _sealed(self) -> dict[str, str]:
        """The connection's credentials as sealed now (another worker may have renewed)."""
        if self.db is None:
            return {}
        with self.db.transaction(tenant=self.config.organization_id) as session:
            connection = session.get(Connection, self.config.id)
            return dict(config_of(session, connection).secrets) if connection else {}

    async def refresh(self, *, again: bool = True) -> str:
        """A new token pair from the refresh token; both sealed in the connection. Refused,
        the sealed credentials are read again first: another worker may have renewed them
        (spending the refresh token this one held)."""
        refresh_token = self._refresh_token()
        refused = _refused.get(self.config.id)
        if refused is not None and refused[0] == refresh_token:
            raise ChannelError(ErrorKind.AUTH, refused[1])
        try:
            response = await self.oauth.request("POST", TOKEN_PATH, json={
                "refresh_token": refresh_token, "partner_id": int(self.partner_id),
                "shop_id": int(self.shop_id)})
        except ChannelError as exc:
            if exc.kind is ErrorKind.AUTH or exc.kind is ErrorKind.VALIDATION:
                sealed = self._sealed() if again else {}
                renewed_elsewhere = str(sealed.get("refresh_token") or "")
                if renewed_elsewhere and renewed_elsewhere != refresh_token:
                    _chain.setdefault(self.config.id, set()).add(renewed_elsewhere)
                    _refresh[self.config.id] = renewed_elsewhere
                    try:
                        expires = float(sealed.get("access_token_expires_at") or 0)
                    except ValueError:
                        expires = 0.0
                    if sealed.get("access_token") and expires - REFRESH_BEFORE > time.time():
                        _tokens[self.config.id] = (str(sealed["access_token"]), expires)
                        return str(sealed["access_token"])
                    return await self.refresh(again=False)
                error, message = _error_of(exc.details)
                if error.rsplit(".", 1)[-1] == "error_sign":
                    said = ("Shopee refused the request signature (error_sign): the partner "
                            "key does not belong to the partner id. Connect again with the "
                            "app's key.")
                else:
                    said = REAUTHORIZE.format(f"{error}: {message}" if error else exc.message)
                _refused[self.config.id] = (refresh_token, said)
                raise ChannelError(ErrorKind.AUTH, said, status=exc.status,
                                   details=exc.details) from None
            raise
        body = response.json()
        token, renewed = body.get("access_token"), body.get("refresh_token")
        if not token or not renewed:
            raise ChannelError(ErrorKind.PLATFORM, "Shopee's token answer had no tokens")
        expires = time.time() + float(body.get("expire_in") or TOKEN_LIFETIME)
        _tokens[self.config.id] = (str(token), expires)
        _refresh[self.config.id] = str(renewed)
        _chain.setdefault(self.config.id, set()).add(str(renewed))
        if self.db is not None:
            save_secrets(self.db, self.config, {
                "access_token": str(token), "refresh_token": str(renewed),
                "access_token_expires_at": f"{expires:.0f}"})
        return str(token)

    async def access_token(self) -> str:
        self._follow_credentials()
        cached = _tokens.get(self.config.id)
        if cached is None and self.config.secrets.get("access_token"):
            try:
                expires = float(self.config.secrets.get("access_token_expires_at") or 0)
            except ValueError:
                expires = 0.0
            if not expires:  # a token given at connection: Shopee's lasts 4 hours at most
                expires = time.time() + REFRESH_BEFORE + 60
            cached = (str(self.config.secrets["access_token"]), expires)
            _tokens[self.config.id] = cached
        if cached is not None and cached[1] - REFRESH_BEFORE > time.time():
            return cached[0]
        return await self.refresh()

    async def call(self, method: str, path: str, *, params: dict[str, Any] | None = None,
                   json_body: Any = None) -> dict[str, Any]:
        """A shop call's ``response``; a refused access token is renewed once."""
        try:
            response = await self.api.request(method, path, params=params, json=json_body)
        except ChannelError as exc:
            if not token_refused(exc):
                raise
            _tokens.pop(self.config.id, None)
            await self.refresh()
            response = await self.api.request(method, path, params=params, json=json_body)
        body = response.json()
        answer = body.get("response") if isinstance(body, dict) else None
        return dict(answer) if isinstance(answer, dict) else {}

    # -- products -------------------------------------------------------------------------------

    async def item_page(self, offset: int, size: int = MAX_PAGE) -> dict[str, Any]:
        return await self.call("GET", "/api/v2/product/get_item_list", params={
            "offset": offset, "page_size": min(MAX_PAGE, size), "item_status": "NORMAL"})

    async def item_base_info(self, item_ids: list[int]) -> list[dict[str, Any]]:
        answer = await self.call("GET", "/api/v2/product/get_item_base_info", params={
            "item_id_list": ",".join(str(i) for i in item_ids[:MAX_DETAIL])})
        return list(answer.get("item_list") or [])

    async def models(self, item_id: int) -> list[dict[str, Any]]:
        answer = await self.call("GET", "/api/v2/product/get_model_list",
                                 params={"item_id": item_id})
        return list(answer.get("model") or [])

    async def update_stock(self, item_id: int, stocks: dict[int, int]) -> dict[str, Any]:
        """One item's models' seller stock (at the connection's ``location_id`` when set)."""
        def one(stock: int) -> dict[str, Any]:
            entry: dict[str, Any] = {"stock": max(0, stock)}
            if self.location_id:
                entry["location_id"] = self.location_id
            return entry
        return await self.call("POST", "/api/v2/product/update_stock", json_body={
            "item_id": item_id, "stock_list": [
                {"model_id": model_id, "seller_stock": [one(stock)]}
                for model_id, stock in sorted(stocks.items())]})

    async def update_price(self, item_id: int, prices: dict[int, float]) -> dict[str, Any]:
        return await self.call("POST", "/api/v2/product/update_price", json_body={
            "item_id": item_id, "price_list": [
                {"model_id": model_id, "original_price": price}
                for model_id, price in sorted(prices.items())]})

    # -- orders ---------------------------------------------------------------------------------

    async def order_page(self, time_from: int, time_to: int, cursor: str,
                         size: int = MAX_PAGE) -> dict[str, Any]:
        params: dict[str, Any] = {"time_range_field": "update_time", "time_from": time_from,
                                  "time_to": time_to, "page_size": min(MAX_PAGE, size),
                                  "response_optional_fields": "order_status"}
        if cursor:
            params["cursor"] = cursor
        return await self.call("GET", "/api/v2/order/get_order_list", params=params)

    async def order_details(self, order_sns: list[str]) -> list[dict[str, Any]]:
        answer = await self.call("GET", "/api/v2/order/get_order_detail", params={
            "order_sn_list": ",".join(order_sns[:MAX_DETAIL]),
            "response_optional_fields": "buyer_user_id,buyer_username,recipient_address,"
                                        "item_list,total_amount,pay_time,"
                                        "estimated_shipping_fee,cancel_by,cancel_reason"})
        return list(answer.get("order_list") or [])

    async def order(self, order_sn: str) -> dict[str, Any]:
        found = await self.order_details([order_sn])
        if not found:
            raise ChannelError(ErrorKind.VALIDATION, f"Shopee has no order {order_sn}.")
        return found[0]

    async def cancel(self, order_sn: str, item_list: list[dict[str, int]]) -> dict[str, Any]:
        return await self.call("POST", "/api/v2/order/cancel_order", json_body={
            "order_sn": order_sn, "cancel_reason": "OUT_OF_STOCK", "item_list": item_list})

    async def shipping_parameter(self, order_sn: str) -> dict[str, Any]:
        return await self.call("GET", "/api/v2/logistics/get_shipping_parameter",
                               params={"order_sn": order_sn})

    async def ship(self, body: dict[str, Any]) -> dict[str, Any]:
        return await self.call("POST", "/api/v2/logistics/ship_order", json_body=body)

    async def tracking_number(self, order_sn: str) -> str:
        answer = await self.call("GET", "/api/v2/logistics/get_tracking_number",
                                 params={"order_sn": order_sn})
        return str(answer.get("tracking_number") or "")
