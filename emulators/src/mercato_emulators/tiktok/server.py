"""A local emulator of TikTok Shop's Partner API (version 202309), for tests and the demo.

``create_app(emulator=None, **options)`` is an ASGI app; its state is ``app.state.emulator``, a
``TiktokEmulator`` holding one app and one shop in memory behind one lock.

Emulated, as TikTok Shop documents it:

- Every shop call carries the query parameters ``app_key``, ``timestamp`` (unix seconds),
  ``sign`` and ``shop_cipher`` and the header ``x-tts-access-token``. The signature is checked
  exactly: the query parameters but ``sign`` and ``access_token``, sorted by key, concatenated
  as key + value after the path, then the raw body (none for GET or a multipart upload), the
  whole wrapped in the app secret, ``hex(HMAC-SHA256(app_secret, that))``.
- Refusals in TikTok's envelope ``{code, message, request_id, data}`` (``code`` 0 on success):
  a bad or missing ``sign`` is 106001, a timestamp more than ``max_skew`` seconds (5 minutes)
  off, a missing parameter, an unknown ``app_key``, an unknown access token or a bad parameter
  (a ``page_size`` outside 1..100) are 36009004 with the documented wording, an expired access
  token is 105002, a missing ``shop_cipher`` is 106013, and a call over the rate is HTTP 429
  with 36009002. The HTTP statuses of the others (401 for credentials, 400 for parameters,
  200 for business errors) are the emulator's choice: TikTok's are not documented.
- Tokens: ``GET /api/v2/token/refresh?app_key&app_secret&refresh_token&grant_type=refresh_token``
  (served at the same path as TikTok's auth host) rotates the pair: a new access token and a
  new refresh token, the old refresh token no longer honoured. ``access_token_expire_in`` and
  ``refresh_token_expire_in`` are unix timestamps (as TikTok's are). An unknown, revoked or
  expired refresh token is refused with code 36004004 (the emulator's choice).
- Products: ``POST /product/202309/products/search?page_size&page_token`` (body filters
  ``status``, ``seller_skus``) → ``{products[{id, title, status, skus[{id, seller_sku, price,
  inventory[{warehouse_id, quantity}]}]}], next_page_token, total_count}``;
  ``POST /product/202309/products/{id}/inventory/update`` ``{skus[{id, inventory[{warehouse_id,
  quantity}]}]}`` (a SKU in several warehouses needs them all: 12019028) and
  ``POST /product/202309/products/{id}/prices/update`` ``{skus[{id, price{amount,
  currency}}]}``.
- Orders: ``POST /order/202309/orders/search?page_size&page_token&sort_field&sort_order`` with
  ``update_time_ge/lt`` and ``create_time_ge/lt`` (and ``order_status``) in the body →
  ``{orders, next_page_token, total_count}``; ``GET /order/202309/orders?ids=`` (≤ 50). An order
  has one line item per unit (``id, sku_id, product_id, seller_sku, product_name, sale_price,
  currency, display_status, package_id, tracking_number``), a ``recipient_address``,
  ``buyer_email``, ``user_id``, ``payment{currency, sub_total, shipping_fee, total_amount}``,
  ``status`` (UNPAID, ON_HOLD, AWAITING_SHIPMENT, PARTIALLY_SHIPPING, AWAITING_COLLECTION,
  IN_TRANSIT, DELIVERED, COMPLETED, CANCELLED), ``create_time``/``update_time``.
- A seller's cancellation: ``POST /return_refund/202309/cancellations`` ``{order_id,
  cancel_reason}`` (done at once; the units go back to the SKU's warehouse).
- Fulfilment by the seller's own carrier: ``GET /logistics/202309/delivery_options/{id}/
  shipping_providers`` and ``POST /fulfillment/202309/orders/{order_id}/packages``
  ``{order_line_item_ids, tracking_number, shipping_provider_id}`` ("Mark Package As Shipped")
  → ``{order_id, package_id}``.
- Webhooks: ``send_webhook`` POSTs ``{type, tts_notification_id, shop_id, timestamp, data}``
  to ``webhook_url`` with ``Authorization = hex(HMAC-SHA256(app_secret, app_key + raw
  body))``; a buyer's order and a cancellation on TikTok's side send an ORDER_STATUS_CHANGE
  (type 1) when a URL is set.

Control API under ``/_emulator/`` (and the same as Python methods): products, buyer orders,
cancelling an order on TikTok's side, quantities by seller SKU and warehouse, throttling,
expiring tokens, revoking the refresh token, moving the clock, the webhook URL.

Not emulated: authorization codes and the consent page, product creation through the API,
global products, TikTok's own shipping labels, returns and refunds, and the exact wording of
messages the documentation does not give.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import secrets
import threading
import time
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Any

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

VERSION = "202309"
MAX_PAGE = 100
MAX_IDS = 50
MAX_SKEW = 300
MAX_STOCK = 99_999
ORDER_STATUS_CHANGE = 1
SELLER_CANCEL_REASONS = frozenset({
    "seller_cancel_reason_out_of_stock", "seller_cancel_reason_wrong_price",
    "seller_cancel_paid_reason_address_not_deliver", "seller_cancel_reason_buyer_request"})
SHIPPING_PROVIDERS = (("7117858858072016686", "USPS"), ("7117859084333745966", "UPS"),
                      ("7129736343429334830", "FedEx"), ("7254084300713232174", "DHL eCommerce"),
                      ("7248600717110282027", "Other"))
OPEN = frozenset({"ON_HOLD", "AWAITING_SHIPMENT", "PARTIALLY_SHIPPING"})

# TikTok's codes (partner.tiktokshop.com, "Common errors")
BAD_SIGN = 106001
BAD_REQUEST = 36009004
EXPIRED_TOKEN = 105002
MISSING_SHOP = 106013
TOO_MANY = 36009002
# the emulator's own, for failures whose codes are not documented
BAD_REFRESH = 36004004
NOT_FOUND = 12052032
BAD_SKU = 12052031
BAD_STOCK = 12019024
BAD_WAREHOUSE = 12019022
MULTI_WAREHOUSE = 12019028
BAD_PRICE = 12052012
ORDER_STATE = 21011003
BAD_PROVIDER = 21011004


def sign(app_secret: str, path: str, query: dict[str, str], body: bytes = b"") -> str:
    """TikTok Shop's request signature (``body`` empty for GET and multipart)."""
    pairs = "".join(f"{key}{query[key]}" for key in sorted(query)
                    if key not in ("sign", "access_token"))
    message = app_secret.encode() + path.encode() + pairs.encode() + body + app_secret.encode()
    return hmac.new(app_secret.encode(), message, hashlib.sha256).hexdigest()


def webhook_signature(app_key: str, app_secret: str, body: bytes) -> str:
    return hmac.new(app_secret.encode(), app_key.encode() + body, hashlib.sha256).hexdigest()


class TiktokError(Exception):
    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def envelope(code: int, message: str, data: Any = None) -> dict[str, Any]:
    return {"code": code, "message": message,
            "request_id": time.strftime("%Y%m%d%H%M%S") + secrets.token_hex(9).upper(),
            "data": data if data is not None else {}}


def _copy(value: dict[str, Any]) -> dict[str, Any]:
    copied: dict[str, Any] = json.loads(json.dumps(value))
    return copied


def _money(value: Any) -> Decimal:
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return Decimal("-1")


class TiktokEmulator:
    """One TikTok Shop app and one authorized shop, in memory."""

    def __init__(self, *, app_key: str, app_secret: str, access_token: str,
                 refresh_token: str, shop_cipher: str, shop_id: str = "7494105515082810525",
                 token_lifetime: int = 7 * 86_400, refresh_lifetime: int = 365 * 86_400,
                 rate_per_second: float = 50.0, burst: float | None = None,
                 max_skew: int = MAX_SKEW, webhook_url: str | None = None,
                 warehouses: tuple[str, ...] = ("7068517275539719942",),
                 currency: str = "USD") -> None:
        self.app_key = app_key
        self.app_secret = app_secret
        self.shop_cipher = shop_cipher
        self.shop_id = shop_id
        self.token_lifetime = token_lifetime
        self.refresh_lifetime = refresh_lifetime
        self.max_skew = max_skew
        self.webhook_url = webhook_url
        self.warehouses = warehouses
        self.currency = currency
        self.lock = threading.RLock()
        self.clock_offset = 0.0
        self.access_tokens: dict[str, float] = {access_token: self.now() + token_lifetime}
        self.refresh_tokens: dict[str, float] = {refresh_token: self.now() + refresh_lifetime}
        self.products: dict[str, dict[str, Any]] = {}
        self.orders: dict[str, dict[str, Any]] = {}
        self.cancellations: list[dict[str, Any]] = []
        self.packages: list[dict[str, Any]] = []
        self.inventory_updates: list[dict[str, Any]] = []
        self.price_updates: list[dict[str, Any]] = []
        self.calls: list[tuple[str, str, dict[str, str]]] = []
        self.refreshes = 0
        self.refused: list[int] = []
        """TikTok codes of the calls refused (signature, token, parameters, rate)."""
        self.deliveries: list[dict[str, Any]] = []
        self.throttled = 0
        self.rate = float(rate_per_second)
        self.burst = float(burst if burst is not None else max(1.0, rate_per_second))
        self._allowance = self.burst
        self._checked = time.monotonic()
        self._ids = itertools.count(1)

    # -- time, ids, tokens --------------------------------------------------------------------

    def now(self) -> float:
        return time.time() + self.clock_offset

    def advance(self, seconds: float) -> None:
        with self.lock:
            self.clock_offset += seconds

    def _id(self, prefix: int) -> str:
        return f"{prefix}{next(self._ids):015d}"

    def expire_tokens(self) -> None:
        with self.lock:
            for token in self.access_tokens:
                self.access_tokens[token] = self.now() - 1

    def revoke_refresh_token(self) -> None:
        with self.lock:
            self.refresh_tokens.clear()

    def throttle(self, count: int) -> None:
        """Refuse the next ``count`` calls for the rate (0 lifts it), like every emulator."""
        with self.lock:
            self.throttled = count

    def refresh(self, params: dict[str, str]) -> tuple[int, dict[str, Any]]:
        """``GET /api/v2/token/refresh``: a new pair; the old refresh token is spent."""
        with self.lock:
            if params.get("app_key") != self.app_key \
                    or params.get("app_secret") != self.app_secret:
                return 401, envelope(BAD_REQUEST, "Invalid credentials. Invalid `app_key` "
                                                  "or `app_secret` query parameter.")
            if params.get("grant_type") != "refresh_token":
                return 400, envelope(BAD_REQUEST, "Invalid param. `grant_type` must be "
                                                  "refresh_token.")
            old = params.get("refresh_token", "")
            if self.refresh_tokens.get(old, 0) <= self.now():
                self.refresh_tokens.pop(old, None)
                return 200, envelope(BAD_REFRESH, "Invalid refresh_token: it expired or was "
                                                  "revoked. Authorize the shop again.")
            del self.refresh_tokens[old]
            access = "TTP_" + secrets.token_urlsafe(32)
            refresh = "TTP_" + secrets.token_urlsafe(32)
            access_expires = int(self.now() + self.token_lifetime)
            refresh_expires = int(self.now() + self.refresh_lifetime)
            self.access_tokens[access] = access_expires
            self.refresh_tokens[refresh] = refresh_expires
            self.refreshes += 1
            return 200, envelope(0, "success", {
                "access_token": access, "access_token_expire_in": access_expires,
                "refresh_token": refresh, "refresh_token_expire_in": refresh_expires,
                "open_id": "7010736057180325637", "seller_name": "Emulated card shop",
                "seller_base_region": "US", "user_type": 0})

    # -- request checks -----------------------------------------------------------------------

    def _rate_ok(self) -> bool:
        if self.throttled > 0:
            self.throttled -= 1
            return False
        now = time.monotonic()
        self._allowance = min(self.burst, self._allowance + (now - self._checked) * self.rate)
        self._checked = now
        if self._allowance < 1.0:
            return False
        self._allowance -= 1.0
        return True

    def check(self, method: str, path: str, query: dict[str, str], body: bytes,
              token: str | None, *, multipart: bool = False, shop: bool = True) -> None:
        """TikTok's gate for a shop call, in its order: rate, app key, timestamp, signature,
        access token, shop cipher."""
        self.calls.append((method, path, dict(query)))
        if not self._rate_ok():
            raise TiktokError(429, TOO_MANY, "Too many requests. The rate limit of this "
                                             "endpoint has been reached; retry later.")
        if query.get("app_key") != self.app_key:
            raise TiktokError(401, BAD_REQUEST,
                              "Invalid credentials. Invalid `app_key` query parameter.")
        raw = query.get("timestamp", "")
        if not raw.isdigit():
            raise TiktokError(401, BAD_REQUEST, "Missing credentials. The request does not "
                                                "include a required timestamp in the query.")
        if abs(int(raw) - self.now()) > self.max_skew:
            raise TiktokError(401, BAD_REQUEST, "Invalid timestamp. The value of the "
                              "`timestamp` query parameter must not be earlier than 5 minutes "
                              "before the current time.")
        given = query.get("sign", "")
        expected = sign(self.app_secret, path, query,
                        b"" if method == "GET" or multipart else body)
        if not given or not hmac.compare_digest(given, expected):
            raise TiktokError(401, BAD_SIGN,
                              "Invalid credentials. The `sign` query parameter is invalid.")
        expires = self.access_tokens.get(token or "")
        if expires is None:
            raise TiktokError(401, BAD_REQUEST, "Invalid credentials. The "
                                                "`x-tts-access-token` header is invalid.")
        if expires <= self.now():
            raise TiktokError(401, EXPIRED_TOKEN, "Expired credentials. The `access_token` or "
                                                  "`x-tts-access-token` header has expired.")
        if shop:
            cipher = query.get("shop_cipher")
            if not cipher:
                raise TiktokError(400, MISSING_SHOP, "Missing identifier. The `shop_cipher` "
                                  "query parameter is required to identify the target shop.")
            if cipher != self.shop_cipher:
                raise TiktokError(400, BAD_REQUEST, "Invalid identifier. The `shop_cipher` "
                                                    "query parameter is invalid.")

    @staticmethod
    def _page(query: dict[str, str]) -> tuple[int, int]:
        raw = query.get("page_size", "")
        if not raw.isdigit() or not 1 <= int(raw) <= MAX_PAGE:
            raise TiktokError(400, BAD_REQUEST, "Invalid param. `page_size` is required and "
                                                f"must be between 1 and {MAX_PAGE}.")
        token = query.get("page_token") or ""
        try:
            offset = int(base64.urlsafe_b64decode(token.encode()).decode()) if token else 0
        except (ValueError, UnicodeDecodeError):
            raise TiktokError(400, BAD_REQUEST, "Invalid param. `page_token` is invalid.") \
                from None
        return int(raw), offset

    @staticmethod
    def _token(offset: int, total: int) -> str:
        return base64.urlsafe_b64encode(str(offset).encode()).decode() if offset < total \
            else ""

    # -- products -----------------------------------------------------------------------------

    def add_product(self, title: str, skus: list[dict[str, Any]]) -> dict[str, Any]:
        """A live product with SKUs ``{seller_sku, quantity, price, warehouse_ids?}``."""
        with self.lock:
            product_id = self._id(1729)
            made = []
            for sku in skus:
                warehouses = list(sku.get("warehouse_ids") or self.warehouses[:1])
                made.append({
                    "id": self._id(2729), "seller_sku": str(sku["seller_sku"]),
                    "price": {"currency": self.currency,
                              "sale_price": str(sku.get("price", "1.00")),
                              "tax_exclusive_price": str(sku.get("price", "1.00"))},
                    "inventory": [{"warehouse_id": w, "quantity":
                                   int(sku.get("quantity", 0)) if i == 0 else 0}
                                  for i, w in enumerate(warehouses)]})
            product = {"id": product_id, "title": title, "status": "ACTIVATE",
                       "create_time": int(self.now()), "update_time": int(self.now()),
                       "skus": made}
            self.products[product_id] = product
            return product

    def sku(self, seller_sku: str) -> tuple[dict[str, Any], dict[str, Any]]:
        for product in self.products.values():
            for sku in product["skus"]:
                if sku["seller_sku"] == seller_sku:
                    return product, sku
        raise KeyError(seller_sku)

    def quantities(self) -> dict[str, dict[str, int]]:
        """Units by seller SKU and warehouse."""
        with self.lock:
            return {sku["seller_sku"]: {i["warehouse_id"]: i["quantity"] for i in sku["inventory"]}
                    for product in self.products.values() for sku in product["skus"]}

    def quantity(self, seller_sku: str) -> int:
        return sum(self.quantities().get(seller_sku, {}).values())

    def search_products(self, query: dict[str, str], body: dict[str, Any]) -> dict[str, Any]:
        size, offset = self._page(query)
        status = body.get("status")
        wanted = set(body.get("seller_skus") or [])
        found = [p for p in sorted(self.products.values(), key=lambda p: p["id"])
                 if (not status or status == "ALL" or p["status"] == status)
                 and (not wanted or any(s["seller_sku"] in wanted for s in p["skus"]))]
        page = found[offset:offset + size]
        return {"products": json.loads(json.dumps(page)), "total_count": len(found),
                "next_page_token": self._token(offset + size, len(found))}

    def _product(self, product_id: str) -> dict[str, Any]:
        product = self.products.get(product_id)
        if product is None:
            raise TiktokError(200, NOT_FOUND, "The product does not exist")
        return product

    def update_inventory(self, product_id: str, body: dict[str, Any]) -> dict[str, Any]:
        product = self._product(product_id)
        by_id = {s["id"]: s for s in product["skus"]}
        changes = body.get("skus")
        if not isinstance(changes, list) or not changes:
            raise TiktokError(400, BAD_REQUEST, "Invalid param. `skus` is required.")
        for change in changes:  # all checked before any is applied
            sku = by_id.get(str(change.get("id")))
            if sku is None:
                raise TiktokError(200, BAD_SKU, f"Invalid SKU id {change.get('id')} for "
                                                f"product {product_id}.")
            held = {i["warehouse_id"] for i in sku["inventory"]}
            given = {part.get("warehouse_id") for part in change.get("inventory") or []}
            if len(held) > 1 and not held <= given:
                raise TiktokError(200, MULTI_WAREHOUSE, "Multiple warehouses detected. "
                                  "Include all warehouse IDs and the corresponding details "
                                  "and try again.")
            for part in change.get("inventory") or []:
                quantity = part.get("quantity")
                if not isinstance(quantity, int) or isinstance(quantity, bool) \
                        or not 0 <= quantity <= MAX_STOCK:
                    raise TiktokError(200, BAD_STOCK, "stock count is invalid")
                if part.get("warehouse_id") not in held:
                    raise TiktokError(200, BAD_WAREHOUSE,
                                      "SKU must contain a valid warehouse.")
        for change in changes:
            sku = by_id[str(change["id"])]
            for part in change.get("inventory") or []:
                for level in sku["inventory"]:
                    if level["warehouse_id"] == part["warehouse_id"]:
                        level["quantity"] = part["quantity"]
        product["update_time"] = int(self.now())
        self.inventory_updates.append({"product_id": product_id, **body})
        return {}

    def update_prices(self, product_id: str, body: dict[str, Any]) -> dict[str, Any]:
        product = self._product(product_id)
        by_id = {s["id"]: s for s in product["skus"]}
        for change in body.get("skus") or []:
            sku = by_id.get(str(change.get("id")))
            if sku is None:
                raise TiktokError(200, BAD_SKU, f"Invalid SKU id {change.get('id')}.")
            price = change.get("price") or {}
            if _money(price.get("amount")) <= 0 or price.get("currency") != self.currency:
                raise TiktokError(200, BAD_PRICE, "Incorrect price format")
        for change in body.get("skus") or []:
            price = change["price"]
            by_id[str(change["id"])]["price"].update(
                {"sale_price": str(price["amount"]), "tax_exclusive_price": str(price["amount"])})
        self.price_updates.append({"product_id": product_id, **body})
        return {}

    # -- orders -------------------------------------------------------------------------------

    def _touch(self, order: dict[str, Any]) -> None:
        order["update_time"] = max(int(self.now()), int(order.get("update_time") or 0))

    def place_order(self, lines: list[dict[str, Any]], *, buyer_email: str | None = None,
                    name: str = "Ada Buyer", status: str = "AWAITING_SHIPMENT",
                    shipping_fee: str = "0.00", notify: bool = True) -> dict[str, Any]:
        """A buyer's order for seller SKUs (``{seller_sku, quantity}``): the units leave the
        SKU's warehouses, and an ORDER_STATUS_CHANGE goes to ``webhook_url`` when set."""
        with self.lock:
            order_id = self._id(5764)
            user_id = self._id(7021)
            items: list[dict[str, Any]] = []
            total = Decimal("0")
            for line in lines:
                product, sku = self.sku(str(line["seller_sku"]))
                quantity = int(line.get("quantity", 1))
                if sum(i["quantity"] for i in sku["inventory"]) < quantity:
                    raise TiktokError(200, BAD_STOCK, f"Only "
                                      f"{sum(i['quantity'] for i in sku['inventory'])} of "
                                      f"{sku['seller_sku']} left.")
                left = quantity
                for level in sku["inventory"]:
                    take = min(left, level["quantity"])
                    level["quantity"] -= take
                    left -= take
                price = str(line.get("price") or sku["price"]["sale_price"])
                for _ in range(quantity):
                    total += Decimal(price)
                    items.append({
                        "id": self._id(5770), "sku_id": sku["id"], "product_id": product["id"],
                        "seller_sku": sku["seller_sku"], "product_name": product["title"],
                        "sku_name": sku["seller_sku"], "sale_price": price,
                        "original_price": price, "currency": self.currency,
                        "display_status": status, "package_id": None, "tracking_number": None,
                        "shipping_provider_id": None, "shipping_provider_name": None})
            first, _, last = name.partition(" ")
            now = int(self.now())
            order = {
                "id": order_id, "status": status, "create_time": now, "update_time": now,
                "paid_time": None if status == "UNPAID" else now, "user_id": user_id,
                "buyer_email": buyer_email or f"{user_id}@scs.tiktokw.us",
                "buyer_message": "", "fulfillment_type": "FULFILLMENT_BY_SELLER",
                "shipping_type": "SELLER", "delivery_option_id": "7091146663229654785",
                "delivery_option_name": "Standard Shipping", "packages": [],
                "tracking_number": None, "cancel_reason": None, "cancellation_initiator": None,
                "payment": {"currency": self.currency, "sub_total": f"{total:.2f}",
                            "shipping_fee": shipping_fee,
                            "total_amount": f"{total + Decimal(shipping_fee):.2f}"},
                "recipient_address": {
                    "name": name, "first_name": first, "last_name": last,
                    "phone_number": "(+1)213-***-1234",
                    "address_line1": "5800 Bristol Pkwy", "address_line2": "Suite 100",
                    "postal_code": "90230", "region_code": "US",
                    "full_address": "5800 Bristol Pkwy Suite 100, Culver City, CA 90230",
                    "district_info": [
                        {"address_level_name": "Country", "address_name": "United States",
                         "address_level": "L0"},
                        {"address_level_name": "State", "address_name": "California",
                         "address_level": "L1"},
                        {"address_level_name": "City", "address_name": "Culver City",
                         "address_level": "L3"}]},
                "line_items": items}
            self.orders[order_id] = order
        if notify:
            self.notify_order(order_id)
        return _copy(order)

    def notify_order(self, order_id: str) -> dict[str, Any] | None:
        """An ORDER_STATUS_CHANGE for the order, sent when a webhook URL is set."""
        order = self.orders[order_id]
        if not self.webhook_url:
            return None
        return self.send_webhook(ORDER_STATUS_CHANGE, {
            "order_id": order_id, "order_status": order["status"],
            "is_on_hold_order": order["status"] == "ON_HOLD",
            "update_time": order["update_time"]})

    def _restock(self, order: dict[str, Any]) -> None:
        for item in order["line_items"]:
            product = self.products.get(item["product_id"])
            for sku in (product or {}).get("skus", []):
                if sku["id"] == item["sku_id"] and sku["inventory"]:
                    sku["inventory"][0]["quantity"] += 1

    def cancel_on_tiktok(self, order_id: str, reason: str = "Buyer changed their mind",
                         notify: bool = True) -> dict[str, Any]:
        """The buyer (or TikTok) cancels: the units go back, and a webhook is sent."""
        with self.lock:
            order = self.orders[order_id]
            if order["status"] not in ("CANCELLED", "IN_TRANSIT", "DELIVERED", "COMPLETED"):
                order.update(status="CANCELLED", cancel_reason=reason,
                             cancellation_initiator="BUYER", cancel_time=int(self.now()))
                for item in order["line_items"]:
                    item["display_status"] = "CANCELLED"
                self._restock(order)
                self._touch(order)
        if notify:
            self.notify_order(order_id)
        return _copy(order)

    def search_orders(self, query: dict[str, str], body: dict[str, Any]) -> dict[str, Any]:
        size, offset = self._page(query)
        field = query.get("sort_field") or "create_time"
        if field not in ("create_time", "update_time"):
            raise TiktokError(400, BAD_REQUEST, "Invalid param. `sort_field` must be "
                                                "create_time or update_time.")
        descending = (query.get("sort_order") or "DESC").upper() != "ASC"

        def within(order: dict[str, Any], name: str) -> bool:
            ge, lt = body.get(f"{name}_ge"), body.get(f"{name}_lt")
            return (ge is None or order[name] >= int(ge)) and (lt is None or order[name] < int(lt))

        found = [o for o in self.orders.values() if within(o, "update_time")
                 and within(o, "create_time")
                 and (not body.get("order_status") or o["status"] == body["order_status"])]
        found.sort(key=lambda o: (o[field], o["id"]), reverse=descending)
        page = found[offset:offset + size]
        return {"orders": json.loads(json.dumps(page)), "total_count": len(found),
                "next_page_token": self._token(offset + size, len(found))}

    def get_orders(self, ids: str) -> dict[str, Any]:
        wanted = [i for i in ids.split(",") if i]
        if not wanted or len(wanted) > MAX_IDS:
            raise TiktokError(400, BAD_REQUEST,
                              f"Invalid param. `ids` must name 1 to {MAX_IDS} orders.")
        return {"orders": [json.loads(json.dumps(self.orders[i])) for i in wanted
                           if i in self.orders]}

    def seller_cancel(self, body: dict[str, Any]) -> dict[str, Any]:
        order = self.orders.get(str(body.get("order_id") or ""))
        if order is None:
            raise TiktokError(200, NOT_FOUND, "The order does not exist.")
        if body.get("cancel_reason") not in SELLER_CANCEL_REASONS:
            raise TiktokError(400, BAD_REQUEST, "Invalid param. `cancel_reason` is invalid.")
        if order["status"] not in OPEN | {"UNPAID"} or any(
                i["package_id"] for i in order["line_items"]):
            raise TiktokError(200, ORDER_STATE, f"An order in status {order['status']} "
                                                "cannot be cancelled by the seller.")
        cancel_id = self._id(4035)
        order.update(status="CANCELLED", cancel_reason=body["cancel_reason"],
                     cancellation_initiator="SELLER", cancel_time=int(self.now()))
        for item in order["line_items"]:
            item["display_status"] = "CANCELLED"
        self._restock(order)
        self._touch(order)
        self.cancellations.append({"cancel_id": cancel_id, **body})
        return {"cancel_id": cancel_id, "cancel_status": "CANCELLATION_REQUEST_COMPLETE"}

    def shipping_providers(self) -> dict[str, Any]:
        return {"shipping_providers": [{"id": i, "name": n} for i, n in SHIPPING_PROVIDERS]}

    def mark_shipped(self, order_id: str, body: dict[str, Any]) -> dict[str, Any]:
        order = self.orders.get(order_id)
        if order is None:
            raise TiktokError(200, NOT_FOUND, "The order does not exist.")
        if order["status"] not in OPEN:
            raise TiktokError(200, ORDER_STATE,
                              f"An order in status {order['status']} cannot be shipped.")
        providers = dict(SHIPPING_PROVIDERS)
        provider = str(body.get("shipping_provider_id") or "")
        tracking = str(body.get("tracking_number") or "")
        if provider not in providers:
            raise TiktokError(200, BAD_PROVIDER, "The shipping provider is invalid.")
        if not tracking:
            raise TiktokError(400, BAD_REQUEST, "Invalid param. `tracking_number` is "
                                                "required.")
        items = {i["id"]: i for i in order["line_items"]}
        wanted = [str(i) for i in body.get("order_line_item_ids") or []] or [
            i["id"] for i in order["line_items"] if not i["package_id"]]
        if not wanted or any(i not in items or items[i]["package_id"] for i in wanted):
            raise TiktokError(200, ORDER_STATE, "Some line items do not exist or are shipped.")
        package_id = self._id(1153)
        for line_id in wanted:
            items[line_id].update(package_id=package_id, tracking_number=tracking,
                                  shipping_provider_id=provider,
                                  shipping_provider_name=providers[provider],
                                  display_status="AWAITING_COLLECTION")
        order["packages"].append({"id": package_id})
        order["tracking_number"] = tracking
        order["status"] = "AWAITING_COLLECTION" if all(
            i["package_id"] for i in order["line_items"]) else "PARTIALLY_SHIPPING"
        self._touch(order)
        self.packages.append({"order_id": order_id, "package_id": package_id,
                              "order_line_item_ids": wanted, "tracking_number": tracking,
                              "shipping_provider_id": provider})
        return {"order_id": order_id, "package_id": package_id}

    # -- webhooks -----------------------------------------------------------------------------

    def webhook(self, kind: int, data: dict[str, Any], *, notification_id: str | None = None,
                shop_id: str | None = None) -> bytes:
        return json.dumps({"type": kind, "tts_notification_id": notification_id
                           or self._id(7305), "shop_id": shop_id or self.shop_id,
                           "timestamp": int(self.now()), "data": data}).encode()

    def send_webhook(self, kind: int, data: dict[str, Any], *, url: str | None = None,
                     notification_id: str | None = None,
                     tamper: bool = False) -> dict[str, Any]:
        """POST a signed notification (``tamper``: a signature that does not match)."""
        target = url or self.webhook_url
        if not target:
            raise ValueError("no webhook URL")
        body = self.webhook(kind, data, notification_id=notification_id)
        signature = webhook_signature(self.app_key, self.app_secret,
                                      body + (b" " if tamper else b""))
        delivery: dict[str, Any] = {"url": target, "body": json.loads(body)}
        try:
            response = httpx.post(target, content=body, timeout=10, headers={
                "Content-Type": "application/json", "Authorization": signature})
            delivery.update(status=response.status_code, answer=response.text)
        except httpx.HTTPError as exc:
            delivery.update(status=None, answer=f"{type(exc).__name__}: {exc}")
        self.deliveries.append(delivery)
        return delivery


def create_app(emulator: TiktokEmulator | None = None, **options: Any) -> FastAPI:
    state = emulator or TiktokEmulator(**{
        "app_key": "6a1b2c3d4e5f6", "app_secret": "emulator-app-secret-0000",
        "access_token": "TTP_emulator-access-token", "refresh_token": "TTP_emulator-refresh",
        "shop_cipher": "ROW_EmulatedCardShop", **options})
    app = FastAPI(title="TikTok Shop emulator", docs_url=None, redoc_url=None,
                  openapi_url=None)
    app.state.emulator = state

    async def shop_call(request: Request, run: Callable[[dict[str, str], Any], Any], *,
                        shop: bool = True) -> Response:
        body = await request.body()
        query = dict(request.query_params.items())
        multipart = request.headers.get("content-type", "").startswith("multipart/")
        try:
            with state.lock:
                state.check(request.method, request.url.path, query, body,
                            request.headers.get("x-tts-access-token"), multipart=multipart,
                            shop=shop)
                try:
                    payload = json.loads(body) if body and not multipart else {}
                except ValueError:
                    raise TiktokError(400, BAD_REQUEST,
                                      "Invalid param. The body is not JSON.") from None
                data = run(query, payload)
        except TiktokError as exc:
            with state.lock:
                state.refused.append(exc.code)
            return JSONResponse(envelope(exc.code, exc.message), status_code=exc.status)
        return JSONResponse(envelope(0, "Success", data))

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/api/v2/token/refresh")
    def refresh(request: Request) -> Response:
        status, body = state.refresh(dict(request.query_params))
        return JSONResponse(body, status_code=status)

    @app.get(f"/authorization/{VERSION}/shops")
    async def shops(request: Request) -> Response:
        return await shop_call(request, lambda q, b: {"shops": [{
            "id": state.shop_id, "name": "Emulated card shop", "region": "US",
            "seller_type": "LOCAL", "cipher": state.shop_cipher, "code": "USLCEMUL01"}]},
            shop=False)

    @app.post(f"/product/{VERSION}/products/search")
    async def products(request: Request) -> Response:
        return await shop_call(request, state.search_products)

    @app.post(f"/product/{VERSION}/products/{{product_id}}/inventory/update")
    async def inventory(product_id: str, request: Request) -> Response:
        return await shop_call(request, lambda q, b: state.update_inventory(product_id, b))

    @app.post(f"/product/{VERSION}/products/{{product_id}}/prices/update")
    async def prices(product_id: str, request: Request) -> Response:
        return await shop_call(request, lambda q, b: state.update_prices(product_id, b))

    @app.post(f"/order/{VERSION}/orders/search")
    async def orders(request: Request) -> Response:
        return await shop_call(request, state.search_orders)

    @app.get(f"/order/{VERSION}/orders")
    async def order_detail(request: Request) -> Response:
        return await shop_call(request, lambda q, b: state.get_orders(q.get("ids", "")))

    @app.post(f"/return_refund/{VERSION}/cancellations")
    async def cancellations(request: Request) -> Response:
        return await shop_call(request, lambda q, b: state.seller_cancel(b))

    @app.get(f"/logistics/{VERSION}/delivery_options/{{option_id}}/shipping_providers")
    async def providers(option_id: str, request: Request) -> Response:
        return await shop_call(request, lambda q, b: state.shipping_providers())

    @app.post(f"/fulfillment/{VERSION}/orders/{{order_id}}/packages")
    async def ship(order_id: str, request: Request) -> Response:
        return await shop_call(request, lambda q, b: state.mark_shipped(order_id, b))

    # -- control ------------------------------------------------------------------------------

    def control(func: Callable[[], Any], status: int = 200) -> Response:
        try:
            result = func()
        except TiktokError as exc:
            return JSONResponse(envelope(exc.code, exc.message), status_code=400)
        except KeyError as exc:
            return JSONResponse({"error": f"unknown {exc.args[0]}"}, status_code=404)
        return JSONResponse(result, status_code=status) if result is not None \
            else Response(status_code=204)

    @app.post("/_emulator/products")
    def control_product(body: dict[str, Any]) -> Response:
        return control(lambda: state.add_product(str(body.get("title") or "Card"),
                                                 list(body["skus"])), 201)

    @app.get("/_emulator/products")
    def control_products() -> Response:
        with state.lock:
            return JSONResponse(list(state.products.values()))

    @app.post("/_emulator/orders")
    def control_order(body: dict[str, Any]) -> Response:
        lines = [{"seller_sku": line.get("seller_sku") or line.get("sku"),
                  "quantity": line.get("quantity", 1)} for line in body["lines"]]
        return control(lambda: state.place_order(
            lines, buyer_email=body.get("buyer_email"), name=body.get("name", "Ada Buyer"),
            status=body.get("status", "AWAITING_SHIPMENT")), 201)

    @app.post("/_emulator/orders/{order_id}/cancel")
    def control_cancel(order_id: str) -> Response:
        return control(lambda: state.cancel_on_tiktok(order_id))

    @app.get("/_emulator/orders/{order_id}")
    def control_get_order(order_id: str) -> Response:
        return control(lambda: state.orders[order_id])

    @app.get("/_emulator/inventory")
    def control_inventory() -> Response:
        return JSONResponse(state.quantities())

    @app.post("/_emulator/throttle")
    def control_throttle(body: dict[str, Any]) -> Response:
        state.throttle(int(body.get("count", 1)))
        return Response(status_code=204)

    @app.post("/_emulator/expire_tokens")
    def control_expire() -> Response:
        state.expire_tokens()
        return Response(status_code=204)

    @app.post("/_emulator/revoke_refresh_token")
    def control_revoke() -> Response:
        state.revoke_refresh_token()
        return Response(status_code=204)

    @app.post("/_emulator/clock")
    def control_clock(body: dict[str, Any]) -> Response:
        state.advance(float(body.get("advance_seconds", 0)))
        return JSONResponse({"now": int(state.now())})

    @app.post("/_emulator/webhook_url")
    def control_webhook_url(body: dict[str, Any]) -> Response:
        state.webhook_url = body.get("url") or None
        return JSONResponse({"url": state.webhook_url})

    return app
