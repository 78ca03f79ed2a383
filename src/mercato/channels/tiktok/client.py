"""A client for TikTok Shop's Partner API (version 202309): every call signed, the shop's
access token renewed with its refresh token.

Signing (TikTok's "Sign your API request"): the query carries ``app_key``, ``timestamp``
(unix seconds, fresh for every attempt), ``shop_cipher`` (the connection's account, its case
kept) and ``sign``; the header ``x-tts-access-token`` carries the shop's token. ``sign`` is
``hex(HMAC-SHA256(app_secret, app_secret + path + key1value1key2value2… + body +
app_secret))`` over the query parameters but ``sign`` and ``access_token`` sorted by key, the
body being the exact bytes sent (none for GET or a multipart upload).

Tokens: the access token given at connection (or the last renewed one, sealed in the
connection's credentials with ``access_token_expires_at``) is used until a few minutes before
it expires; then ``GET {auth}/api/v2/token/refresh?app_key&app_secret&refresh_token&grant_type=
refresh_token`` gives a new pair (TikTok rotates the refresh token too), kept in the process
and sealed with ``service.save_secrets``. An expired-token answer (105002) or an invalid-token
one renews it once and tries again. A refresh token TikTok no longer honours is an AUTH error
that asks for the shop to be authorized again; before giving up, the sealed credentials are
read again in case another worker renewed the pair first.

Answers are ``{code, message, request_id, data}``, ``code`` 0 on success; errors are
classified by ``code`` (TikTok's "Common errors"): 36009002 (and HTTP 429) is a rate limit,
106001 (bad sign), 105002/105001 (token) and 36009004 naming credentials are AUTH, 36009003
and 5xx are the platform's, anything else is a VALIDATION error of the call.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any

import httpx

from mercato.channels.registry import ConnectionConfig, breaker_for
from mercato.channels.toolkit import (
    ApiClient,
    ChannelError,
    ErrorKind,
    RetryPolicy,
    TokenBucket,
    classify_response,
    parse_retry_after,
)
from mercato.core.db import Database

VERSION = "202309"
AUTH_HOST = "https://auth.tiktok-shops.com"
REFRESH_BEFORE = 300.0
"""Seconds before expiry at which the access token is renewed rather than used."""
DEFAULT_RATE = 10.0
"""Calls a second when the connection sets no ``rate_per_second`` (TikTok's per-endpoint
limits are not published as numbers: unverified)."""
MAX_PAGE = 100
MAX_IDS = 50

RATE_LIMITED = 36009002
INTERNAL = 36009003
OVERLOADED = 36009004
"""TikTok's catch-all: a bad timestamp, app key, token, parameter, told apart by message."""
BAD_SIGN = 106001
EXPIRED_TOKEN = 105002
INVALID_TOKEN = 105001
TOKEN_CODES = frozenset({EXPIRED_TOKEN, INVALID_TOKEN})
AUTH_WORDS = ("access_token", "access-token", "`sign`", "signature", "timestamp", "app_key",
              "credentials")

_tokens: dict[str, tuple[str, float, str]] = {}
"""Per process: a connection's access token, its expiry (epoch seconds), the refresh token
that goes with it."""
_replaced: dict[str, set[str]] = {}
"""Per process: the access tokens a connection's renewals replaced (a configuration read
before a renewal still names one; any other token was set since, by a reconnect or another
worker, and wins over the cache)."""
_buckets: dict[str, TokenBucket] = {}


def forget_tokens(connection_id: str) -> None:
    _tokens.pop(connection_id, None)
    _replaced.pop(connection_id, None)


def sign(app_secret: str, path: str, params: dict[str, str], body: bytes = b"") -> str:
    """TikTok Shop's request signature."""
    pairs = "".join(f"{key}{params[key]}" for key in sorted(params)
                    if key not in ("sign", "access_token"))
    message = app_secret.encode() + path.encode() + pairs.encode() + body + app_secret.encode()
    return hmac.new(app_secret.encode(), message, hashlib.sha256).hexdigest()


def _body(response: httpx.Response) -> dict[str, Any] | None:
    try:
        body = json.loads(response.content) if response.content else None
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def code_of(error: ChannelError) -> int | None:
    details = error.details if isinstance(error.details, dict) else {}
    code = details.get("code")
    return code if isinstance(code, int) else None


def is_token_error(error: ChannelError) -> bool:
    """The access token expired or is not known (renewing it may help)."""
    code = code_of(error)
    message = str(error.details.get("message") or "") if isinstance(error.details, dict) \
        else ""
    return code in TOKEN_CODES or (code == OVERLOADED and (
        "access-token" in message or "access_token" in message))


def classify(response: httpx.Response) -> ChannelError | None:
    """A TikTok answer's error by its ``code`` (HTTP status when there is no envelope)."""
    body = _body(response)
    if body is None or "code" not in body:
        return classify_response(response)
    code, message = body.get("code"), str(body.get("message") or "")
    if code == 0 and 200 <= response.status_code < 300:
        return None
    status = response.status_code
    if code == RATE_LIMITED or status == 429:
        kind = ErrorKind.RATE_LIMIT
    elif code in (BAD_SIGN, *TOKEN_CODES) or (
            code == OVERLOADED and any(word in message.lower() for word in AUTH_WORDS)):
        kind = ErrorKind.AUTH
    elif code == INTERNAL or status >= 500:
        kind = ErrorKind.PLATFORM
    else:
        kind = ErrorKind.VALIDATION
    return ChannelError(kind, f"TikTok Shop {code}: {message}", status=status,
                        retry_after=parse_retry_after(response.headers.get("Retry-After")),
                        details=body)


class TiktokClient:
    """One shop's connection; ``async with`` it."""

    def __init__(self, config: ConnectionConfig, *, db: Database | None = None,
                 transport: httpx.AsyncBaseTransport | None = None,
                 retry: RetryPolicy | None = None) -> None:
        self.config = config
        self.db = db
        bucket = _buckets.get(config.id)
        rate = float(config.settings.get("rate_per_second") or DEFAULT_RATE)
        if bucket is None or bucket.rate != rate:
            bucket = _buckets[config.id] = TokenBucket(rate, max(1.0, rate))
        self.api = ApiClient(
            config.base_url, auth=self._sign, limiter=bucket, breaker=breaker_for(config.id),
            classify=classify, retry=retry or RetryPolicy(attempts=5, base=0.2, cap=10.0),
            timeout=30.0, transport=transport,
            headers={"Content-Type": "application/json", "Accept": "application/json"})
        self.auth = ApiClient((config.api_base or AUTH_HOST).rstrip("/"), classify=classify,
                              retry=RetryPolicy(attempts=3, base=0.2, cap=5.0), timeout=30.0,
                              transport=transport)

    async def __aenter__(self) -> TiktokClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.api.aclose()
        await self.auth.aclose()

    # -- tokens ---------------------------------------------------------------------------------

    def _current(self) -> tuple[str, float, str]:
        cached = _tokens.get(self.config.id)
        secrets = self.config.secrets
        if cached is not None and (secrets["access_token"] == cached[0] or secrets[
                "access_token"] in _replaced.get(self.config.id, set())):
            return cached
        try:
            expires = float(secrets.get("access_token_expires_at") or 0)
        except ValueError:
            expires = 0.0
        cached = (secrets["access_token"], expires, secrets["refresh_token"])
        _tokens[self.config.id] = cached
        return cached

    def _sealed(self) -> dict[str, str]:
        """The connection's credentials as sealed now (another worker may have renewed)."""
        if self.db is None:
            return {}
        from mercato.channels.models import Connection
        from mercato.channels.service import config_of

        with self.db.transaction(tenant=self.config.organization_id) as session:
            connection = session.get(Connection, self.config.id)
            return dict(config_of(session, connection).secrets) if connection else {}

    async def refresh(self) -> str:
        """A new access token (and refresh token) from the refresh token; kept in the
        process and sealed in the connection."""
        _, _, refresh_token = self._current()
        try:
            data = await self._refresh(refresh_token)
        except ChannelError as exc:
            if exc.kind is not ErrorKind.AUTH and exc.kind is not ErrorKind.VALIDATION:
                raise
            sealed = self._sealed()
            if sealed.get("refresh_token") and sealed["refresh_token"] != refresh_token:
                # another worker renewed the pair first: use what it sealed
                _replaced.setdefault(self.config.id, set()).add(self._current()[0])
                _tokens[self.config.id] = (sealed["access_token"], float(
                    sealed.get("access_token_expires_at") or 0), sealed["refresh_token"])
                return sealed["access_token"]
            raise ChannelError(ErrorKind.AUTH, (
                f"TikTok Shop refused the refresh token ({exc.message}): the shop needs "
                "re-authorization. Authorize Mercato's app for the shop again and connect it "
                "with the new access and refresh tokens."),
                status=exc.status, details=exc.details) from None
        token = str(data["access_token"])
        expires = float(data.get("access_token_expire_in") or 0) or time.time() + 86_400
        renewed = str(data.get("refresh_token") or refresh_token)
        _replaced.setdefault(self.config.id, set()).add(self._current()[0])
        _tokens[self.config.id] = (token, expires, renewed)
        if self.db is not None:
            from mercato.channels.service import save_secrets

            save_secrets(self.db, self.config, {
                "access_token": token, "refresh_token": renewed,
                "access_token_expires_at": f"{expires:.0f}",
                "refresh_token_expires_at": str(data.get("refresh_token_expire_in") or "")
                or None})
        return token

    async def _refresh(self, refresh_token: str) -> dict[str, Any]:
        response = await self.auth.request("GET", "/api/v2/token/refresh", params={
            "app_key": self.config.secrets["app_key"],
            "app_secret": self.config.secrets["app_secret"],
            "refresh_token": refresh_token, "grant_type": "refresh_token"})
        data = (_body(response) or {}).get("data")
        if not isinstance(data, dict) or not data.get("access_token"):
            raise ChannelError(ErrorKind.PLATFORM, "TikTok Shop's token answer had no "
                                                   "access_token")
        return data

    async def access_token(self) -> str:
        token, expires, _ = self._current()
        if expires and expires - REFRESH_BEFORE <= time.time():
            return await self.refresh()
        return token

    async def _sign(self, request: httpx.Request) -> None:
        secrets = self.config.secrets
        params = dict(request.url.params)
        params.update(app_key=secrets["app_key"], timestamp=str(int(time.time())))
        if not request.url.path.startswith("/authorization/"):
            params["shop_cipher"] = self.config.account
        params.pop("sign", None)
        body = b"" if request.method == "GET" else request.content
        params["sign"] = sign(secrets["app_secret"], request.url.path, params, body)
        request.url = request.url.copy_with(params=params)
        request.headers["x-tts-access-token"] = await self.access_token()

    # -- calls ----------------------------------------------------------------------------------

    async def call(self, method: str, path: str, *, params: dict[str, Any] | None = None,
                   body: Any = None) -> dict[str, Any]:
        """A signed call's ``data``; an expired or unknown access token is renewed once."""
        content = json.dumps(body, separators=(",", ":")).encode() if body is not None \
            else None
        try:
            response = await self.api.request(method, path, params=params, content=content)
        except ChannelError as exc:
            if exc.kind is not ErrorKind.AUTH or not is_token_error(exc):
                raise
            await self.refresh()
            response = await self.api.request(method, path, params=params, content=content)
        data = (_body(response) or {}).get("data")
        return data if isinstance(data, dict) else {}

    async def search_products(self, *, page_token: str = "", page_size: int = MAX_PAGE,
                              seller_skus: list[str] | None = None) -> dict[str, Any]:
        params: dict[str, Any] = {"page_size": min(page_size, MAX_PAGE)}
        if page_token:
            params["page_token"] = page_token
        body: dict[str, Any] = {"status": "ALL"}
        if seller_skus:
            body["seller_skus"] = seller_skus
        return await self.call("POST", f"/product/{VERSION}/products/search", params=params,
                               body=body)

    async def update_inventory(self, product_id: str, skus: list[dict[str, Any]]) -> None:
        await self.call("POST", f"/product/{VERSION}/products/{product_id}/inventory/update",
                        body={"skus": skus})

    async def update_prices(self, product_id: str, skus: list[dict[str, Any]]) -> None:
        await self.call("POST", f"/product/{VERSION}/products/{product_id}/prices/update",
                        body={"skus": skus})

    async def search_orders(self, *, since: int, until: int, page_token: str = "",
                            page_size: int = MAX_PAGE) -> dict[str, Any]:
        params: dict[str, Any] = {"page_size": min(page_size, MAX_PAGE),
                                  "sort_field": "update_time", "sort_order": "ASC"}
        if page_token:
            params["page_token"] = page_token
        return await self.call("POST", f"/order/{VERSION}/orders/search", params=params,
                               body={"update_time_ge": since, "update_time_lt": until})

    async def order(self, order_id: str) -> dict[str, Any] | None:
        data = await self.call("GET", f"/order/{VERSION}/orders", params={"ids": order_id})
        found = [o for o in data.get("orders") or [] if str(o.get("id")) == order_id]
        return dict(found[0]) if found else None

    async def cancel(self, order_id: str, reason: str) -> dict[str, Any]:
        return await self.call("POST", f"/return_refund/{VERSION}/cancellations",
                               body={"order_id": order_id, "cancel_reason": reason})

    async def shipping_providers(self, delivery_option_id: str) -> list[dict[str, Any]]:
        data = await self.call(
            "GET", f"/logistics/{VERSION}/delivery_options/{delivery_option_id}"
                   "/shipping_providers")
        return list(data.get("shipping_providers") or [])

    async def mark_shipped(self, order_id: str, body: dict[str, Any]) -> dict[str, Any]:
        return await self.call("POST", f"/fulfillment/{VERSION}/orders/{order_id}/packages",
                               body=body)
