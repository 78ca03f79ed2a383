"""TCGplayer's API: a bearer token by client credentials (cached per application until shortly
before it expires), the store's access token (exchanged once from the seller's authorization
code and saved sealed), the ``{success, errors, totalItems, results}`` envelope, pages of at
most 100 and at most 250 ids a call, paced by a token bucket (10 requests a second unless the
connection says otherwise)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterable
from typing import Any
from urllib.parse import quote

import httpx

from mercato.channels.registry import ConnectionConfig, breaker_for
from mercato.channels.service import save_secrets
from mercato.channels.toolkit import (
    ApiClient,
    ChannelError,
    ErrorKind,
    RetryPolicy,
    TokenBucket,
    classify_response,
)
from mercato.core.db import Database

PAGE = 100
"""The most items TCGplayer answers in one page."""
IDS = 250
"""The most ids one call may name."""
RATE = 10.0
"""Requests per second when the connection sets no ``rate_per_second``."""

_bearers: dict[tuple[str, str], tuple[str, float]] = {}
"""Bearer token and when to renew it (monotonic), by (API host, public key): one token serves
every connection of the application in this process."""
_store_tokens: dict[tuple[str, str], str] = {}
"""Store access tokens exchanged in this process, by connection id and the code exchanged
(saved sealed too; a connection given a new code exchanges that one)."""
_buckets: dict[str, TokenBucket] = {}


def chunks(ids: Iterable[Any], size: int = IDS) -> list[list[str]]:
    """Ids in groups a call may name (at most ``size``)."""
    items = [str(i) for i in ids]
    return [items[i:i + size] for i in range(0, len(items), size)]


def _messages(body: Any) -> str:
    if isinstance(body, dict):
        errors = body.get("errors")
        if isinstance(errors, list) and errors:
            return "; ".join(str(e) for e in errors)
        for key in ("message", "error_description", "error"):
            if body.get(key):
                return str(body[key])
    return ""


def classify(response: httpx.Response) -> ChannelError | None:
    """HTTP status first (401/403 auth, 429 rate, 5xx platform, other 4xx validation), with
    TCGplayer's ``errors`` as the message; a 2xx envelope with ``success: false`` is the
    item's validation error."""
    error = classify_response(response)
    if error is not None:
        said = _messages(error.details)
        if said:
            error.message = f"HTTP {response.status_code} on {response.request.method} " \
                            f"{response.request.url.path}: {said}"[:2000]
        return error
    try:
        body = response.json()
    except ValueError:
        return None
    if isinstance(body, dict) and body.get("success") is False:
        return ChannelError(ErrorKind.VALIDATION, _messages(body) or "TCGplayer refused it",
                            status=response.status_code, details=body)
    return None


def bucket_for(config: ConnectionConfig) -> TokenBucket:
    rate = float(config.settings.get("rate_per_second") or RATE)
    bucket = _buckets.get(config.id)
    if bucket is None or bucket.rate != rate:
        bucket = _buckets[config.id] = TokenBucket(rate, max(1.0, rate))
    return bucket


class TcgplayerClient:
    """One connection's calls; ``async with`` it. ``db`` lets it save the store's access
    token when it exchanges the authorization code (a sync job passes its own)."""

    def __init__(self, config: ConnectionConfig, *, db: Database | None = None,
                 transport: httpx.AsyncBaseTransport | None = None,
                 retry: RetryPolicy | None = None) -> None:
        self.config = config
        self.db = db
        self.key = (config.base_url, config.secrets.get("public_key", ""))
        self.version = config.api_version.strip("/")
        self.store = config.account
        self.api = ApiClient(
            config.base_url, auth=self._sign, limiter=bucket_for(config),
            breaker=breaker_for(config.id),
            retry=retry or RetryPolicy(attempts=8, base=0.1, cap=5.0), classify=classify,
            timeout=30.0, transport=transport, headers={"Accept": "application/json"})

    async def __aenter__(self) -> TcgplayerClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.api.aclose()

    # -- auth -----------------------------------------------------------------------------------

    def _sign(self, request: httpx.Request) -> None:
        if request.url.path.rstrip("/") == "/token":
            return
        cached = _bearers.get(self.key)
        if cached is not None:
            request.headers["Authorization"] = f"bearer {cached[0]}"
        if "/stores/" in request.url.path:
            token = self._store_token()
            if token:
                request.headers["X-Tcg-Access-Token"] = token

    def _store_token(self) -> str | None:
        code = self.config.secrets.get("authorization_code", "")
        return self.config.secrets.get("access_token") or _store_tokens.get(
            (self.config.id, code))

    async def bearer(self, *, renew: bool = False) -> str:
        """The application's bearer token, from the cache unless ``renew`` or due."""
        cached = _bearers.get(self.key)
        if cached is not None and not renew and cached[1] > time.monotonic():
            return cached[0]
        form = {"grant_type": "client_credentials",
                "client_id": self.config.secrets.get("public_key", ""),
                "client_secret": self.config.secrets.get("private_key", "")}
        try:
            response = await self.api.request(
                "POST", "/token", content=str(httpx.QueryParams(form)).encode(),
                headers={"Content-Type": "application/x-www-form-urlencoded"})
        except ChannelError as exc:
            if exc.kind is ErrorKind.VALIDATION or exc.status in (400, 401):
                raise ChannelError(ErrorKind.AUTH, "TCGplayer refused the application's keys "
                                   f"({_messages(exc.details) or exc.status}): check the "
                                   "public and private key.", status=exc.status) from None
            raise
        body = response.json()
        token = body.get("access_token") if isinstance(body, dict) else None
        if not token:
            raise ChannelError(ErrorKind.PLATFORM, "TCGplayer's token answer has no token")
        lifetime = float(body.get("expires_in") or 3600)
        _bearers[self.key] = (str(token), time.monotonic() + lifetime - min(300.0,
                                                                           lifetime * 0.1))
        return str(token)

    async def store_access(self) -> str:
        """The store's access token: the one saved, or the authorization code exchanged now
        (once: the code is spent by it) and saved sealed, the code removed."""
        token = self._store_token()
        if token:
            return token
        code = self.config.secrets.get("authorization_code")
        if not code:
            raise ChannelError(ErrorKind.AUTH, "The connection has neither the store's access "
                               "token nor an authorization code: give one.")
        if self.db is None:  # nowhere to keep the token: the code would be spent for nothing
            raise ChannelError(ErrorKind.AUTH, "The store's authorization code can only be "
                               "exchanged where its token can be saved (a sync job or the "
                               "pusher).")
        try:
            body = await self.call("POST", f"/app/authorize/{quote(code, safe='')}")
        except ChannelError as exc:  # the path holds the code: never in a message or health
            exc.message = exc.message.replace(quote(code, safe=""), "<code>").replace(
                code, "<code>")
            raise
        results = body.get("results") or []
        token = (results[0] or {}).get("accessToken") if results else None
        if not token:
            raise ChannelError(ErrorKind.AUTH, "TCGplayer's authorization answer has no "
                               "access token")
        _store_tokens[(self.config.id, code)] = str(token)
        save_secrets(self.db, self.config, {"access_token": str(token),
                                            "authorization_code": None})
        return str(token)

    # -- calls ----------------------------------------------------------------------------------

    def path(self, path: str) -> str:
        return f"/{self.version}{path}" if self.version else path

    async def call(self, method: str, path: str, *, params: dict[str, Any] | None = None,
                   json: Any = None, store: bool = False) -> dict[str, Any]:
        """The envelope of one call. A 401 renews the bearer token once (it may have expired
        before its time); a second is the connection's auth error."""
        await self.bearer()
        if store:
            await self.store_access()
        try:
            response = await self.api.request(method, self.path(path), params=params, json=json)
        except ChannelError as exc:
            if exc.kind is not ErrorKind.AUTH or exc.status != 401:
                raise
            await self.bearer(renew=True)
            response = await self.api.request(method, self.path(path), params=params, json=json)
        body = response.json()
        if not isinstance(body, dict):
            raise ChannelError(ErrorKind.PLATFORM, f"TCGplayer answered {path} without the "
                               "envelope")
        return body

    async def results(self, path: str, **params: Any) -> list[dict[str, Any]]:
        body = await self.call("GET", path, params=params or None)
        return [r for r in body.get("results") or [] if isinstance(r, dict)]

    async def pages(self, path: str, params: dict[str, Any] | None = None, *,
                    offset: int = 0, store: bool = False
                    ) -> AsyncIterator[tuple[list[Any], int]]:
        """(results, next offset) page by page, ``PAGE`` at a time, from ``offset``."""
        while True:
            body = await self.call("GET", path, params={**(params or {}), "offset": offset,
                                                        "limit": PAGE}, store=store)
            results = list(body.get("results") or [])
            offset += len(results)
            yield results, offset
            if not results or offset >= int(body.get("totalItems") or 0):
                return

    async def by_ids(self, template: str, ids: Iterable[Any], *,
                     store: bool = False) -> list[dict[str, Any]]:
        """``template`` (with ``{ids}``) called for the ids in groups of at most 250; a group
        TCGplayer has nothing for (404) contributes nothing."""
        found: list[dict[str, Any]] = []
        for group in chunks(ids):
            try:
                body = await self.call("GET", template.format(ids=",".join(group)),
                                       store=store)
            except ChannelError as exc:
                if exc.status == 404:
                    continue
                raise
            found.extend(r for r in body.get("results") or [] if isinstance(r, dict))
        return found

    # -- the store ------------------------------------------------------------------------------

    def store_path(self, rest: str) -> str:
        return f"/stores/{quote(self.store, safe='')}{rest}"

    async def set_quantity(self, sku_id: str, quantity: int) -> dict[str, Any]:
        """Update SKU inventory: the listing's quantity is set (added when new)."""
        body = await self.call("PUT", self.store_path(f"/inventory/skus/{int(sku_id)}"),
                               json={"skuId": int(sku_id), "quantity": quantity}, store=True)
        results = body.get("results") or [{}]
        return dict(results[0] or {})

    async def set_price(self, sku_id: str, price: str) -> None:
        await self.call("PUT", self.store_path(f"/inventory/skus/{int(sku_id)}/price"),
                        json={"price": float(price)}, store=True)

    async def add_tracking(self, order_number: str, carrier: str | None,
                           tracking: str) -> None:
        await self.call("POST", self.store_path(f"/orders/{quote(order_number, safe='')}"
                                                "/tracking"),
                        json={"carrier": carrier or "Other", "trackingNumber": tracking},
                        store=True)

    async def tracking(self, order_number: str) -> list[dict[str, Any]]:
        body = await self.call("GET", self.store_path(
            f"/orders/{quote(order_number, safe='')}/tracking"), store=True)
        return [t for t in body.get("results") or [] if isinstance(t, dict)]
