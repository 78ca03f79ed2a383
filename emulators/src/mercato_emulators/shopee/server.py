"""A local emulator of the Shopee Open Platform v2, for tests and the demo (no internet here).

``create_app(emulator=None, **options)`` is an ASGI app; its state is ``app.state.emulator``, a
``ShopeeEmulator`` holding one partner app and one shop in memory behind one lock.

Emulated, as Shopee documents it:

- Every call under ``/api/v2/`` carries ``partner_id``, ``timestamp`` and ``sign`` in its
  query; shop calls add ``access_token`` and ``shop_id``. ``sign`` is the hex HMAC-SHA256, keyed
  with the partner key, of ``partner_id + path + timestamp`` (public calls) or ``partner_id +
  path + timestamp + access_token + shop_id`` (shop calls). A timestamp more than 5 minutes
  away is ``error_param`` "Invalid timestamp"; a wrong sign ``error_sign`` "Wrong sign."; an
  unknown or expired access token ``invalid_acceess_token`` (Shopee's spelling) "Invalid
  access_token.". Answers are ``{request_id, error, message, response}``, ``error`` "" on
  success. HTTP statuses: 403 for auth and sign errors, 400 for parameter errors, 429 when
  throttled (``error_too_many_request``), 200 otherwise (the emulator's choice where Shopee's
  own is not documented).
- ``POST /api/v2/auth/access_token/get`` ``{refresh_token, partner_id, shop_id}``: a new access
  token (``expire_in`` ``token_lifetime``, 4 hours by default) and a new refresh token; the
  refresh token used is spent (``error_auth`` "Invalid refresh_token." after), and one older
  than ``refresh_lifetime`` (30 days) is ``refresh_token_expired``.
- Products: ``GET product/get_item_list`` (``offset``, ``page_size`` 1..100, ``item_status``),
  ``get_item_base_info`` (``item_id_list``, at most 50), ``get_model_list`` (``item_id``);
  ``POST product/update_stock`` ``{item_id, stock_list: [{model_id, seller_stock: [{location_id?,
  stock}]}]}`` (one item a call, 1..50 models) and ``update_price`` ``{item_id, price_list:
  [{model_id, original_price}]}``, each answered with ``success_list`` and ``failure_list``.
  An item without variations has one model, id 0, whose SKU is the item's.
- Orders: ``GET order/get_order_list`` (``time_range_field`` create_time|update_time,
  ``time_from``/``time_to`` at most 15 days apart, ``page_size`` 1..100, ``cursor``) ->
  ``{more, next_cursor, order_list: [{order_sn, order_status}]}``; ``get_order_detail``
  (``order_sn_list``, at most 50; ``item_list``, ``buyer_username``, ``recipient_address``,
  ``total_amount``... only when named in ``response_optional_fields``); ``POST
  order/cancel_order`` ``{order_sn, cancel_reason, item_list}`` (OUT_OF_STOCK needs item_list;
  only before the order ships; the units go back to the models).
- Logistics: ``GET logistics/get_shipping_parameter`` (this shop ships ``non_integrated``:
  the seller gives the carrier's tracking number), ``POST logistics/ship_order`` ``{order_sn,
  non_integrated: {tracking_number}}`` (READY_TO_SHIP -> PROCESSED; once), ``GET
  logistics/get_tracking_number``.
- Rate limit: ``rate_per_second`` (None: unlimited) over all API calls, and ``throttle(n)``
  for the next n calls: HTTP 429 ``error_too_many_request``.
- Pushes: with a ``callback_url``, an order's status change (a buyer's order, a cancellation
  on Shopee, the seller's cancellation or shipment) is POSTed as ``{shop_id, code: 3, data:
  {ordersn, status, update_time}, timestamp}`` with ``Authorization`` = hex HMAC-SHA256 of
  ``<callback URL>|<raw body>`` keyed with the partner key.

Control API under ``/_emulator/`` (and the same as Python methods): ``POST /_emulator/orders``
``{lines: [{sku, quantity}], buyer?}`` (a buyer's order, pushed), ``POST
/_emulator/orders/{order_sn}/cancel`` (cancelled by the buyer or Shopee, pushed), ``GET
/_emulator/stock`` (stock per SKU), items, throttling, expiring tokens, the callback URL.

Not emulated: the authorization (shop consent) flow, merchants and global products,
promotions, packages and split orders, pickup and drop-off arrangements, returns, escrow,
shipping documents, and most messages' exact wording.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import itertools
import json
import secrets
import string
import threading
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

PUBLIC_PATHS = frozenset({"/api/v2/auth/access_token/get", "/api/v2/auth/token/get",
                          "/api/v2/shop/auth_partner"})
TIMESTAMP_WINDOW = 300
MAX_PAGE = 100
MAX_DETAIL = 50
MAX_MODELS = 50
MAX_WINDOW = 15 * 24 * 3600
OPTIONAL_FIELDS = frozenset({
    "buyer_user_id", "buyer_username", "estimated_shipping_fee", "recipient_address",
    "actual_shipping_fee", "note", "item_list", "pay_time", "cancel_by", "cancel_reason",
    "buyer_cancel_reason", "shipping_carrier", "payment_method", "total_amount",
    "package_list"})
OPEN = ("UNPAID", "READY_TO_SHIP")


def sign(partner_key: str, *parts: object) -> str:
    """Shopee's request signature: hex HMAC-SHA256 of the parts joined as they are."""
    base = "".join(str(p) for p in parts)
    return hmac.new(partner_key.encode(), base.encode(), hashlib.sha256).hexdigest()


def push_signature(partner_key: str, url: str, body: bytes) -> str:
    """A push's ``Authorization``: hex HMAC-SHA256 of ``<callback URL>|<raw body>``."""
    return hmac.new(partner_key.encode(), url.encode() + b"|" + body,
                    hashlib.sha256).hexdigest()


class ShopeeError(Exception):
    def __init__(self, status: int, error: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.error = error
        self.message = message


def _param(message: str) -> ShopeeError:
    return ShopeeError(400, "error_param", message)


def _request_id() -> str:
    return secrets.token_hex(16)


def envelope(response: Any = None, *, error: str = "", message: str = "") -> dict[str, Any]:
    body: dict[str, Any] = {"request_id": _request_id(), "error": error, "message": message}
    if response is not None:
        body["response"] = response
    return body


def _int(raw: Any, name: str) -> int:
    try:
        return int(str(raw))
    except (TypeError, ValueError):
        raise _param(f"Wrong parameters, detail: {name} is invalid.") from None


class ShopeeEmulator:
    """One Open Platform app (partner id and key) and one authorized shop, in memory."""

    def __init__(self, *, partner_id: str, partner_key: str, shop_id: str, access_token: str,
                 refresh_token: str, token_lifetime: int = 14400,
                 refresh_lifetime: int = 30 * 24 * 3600, rate_per_second: float | None = None,
                 callback_url: str | None = None, region: str = "SG",
                 currency: str = "SGD") -> None:
        self.partner_id = str(partner_id)
        self.partner_key = partner_key
        self.shop_id = str(shop_id)
        self.token_lifetime = token_lifetime
        self.refresh_lifetime = refresh_lifetime
        self.rate_per_second = rate_per_second
        self.callback_url = callback_url
        self.region = region
        self.currency = currency
        self.lock = threading.RLock()
        self.clock_offset = 0.0
        now = self.now()
        self.access_tokens: dict[str, float] = {access_token: now + token_lifetime}
        """access token -> expiry (epoch seconds)."""
        self.refresh_tokens: dict[str, float] = {refresh_token: now + refresh_lifetime}
        """unspent refresh tokens -> expiry."""
        self.items: dict[int, dict[str, Any]] = {}
        self.orders: dict[str, dict[str, Any]] = {}
        self.calls: list[tuple[str, str]] = []
        self.stock_calls: list[dict[str, Any]] = []
        self.price_calls: list[dict[str, Any]] = []
        self.cancellations: list[dict[str, Any]] = []
        self.shipments: list[dict[str, Any]] = []
        self.order_queries: list[dict[str, str]] = []
        self.refreshes = 0
        self.refused: list[str] = []
        """The ``error`` of each refused call."""
        self.pushes: list[tuple[int, dict[str, Any]]] = []
        """(HTTP status, body) of each push sent."""
        self.throttled = 0
        self._allowance = float(rate_per_second or 0.0)
        self._checked = time.monotonic()
        self._item_ids = itertools.count(800_123_000)
        self._model_ids = itertools.count(9_100_000_000)
        self._order_seq = itertools.count(1)

    # -- time -----------------------------------------------------------------------------------

    def now(self) -> float:
        return time.time() + self.clock_offset

    def advance(self, seconds: float) -> None:
        with self.lock:
            self.clock_offset += seconds

    # -- auth -----------------------------------------------------------------------------------

    def check_call(self, path: str, query: dict[str, str]) -> None:
        """The common parameters and signature of one call; raises ``ShopeeError``."""
        if not query.get("partner_id"):
            raise _param("There is no partner_id in query.")
        if query["partner_id"] != self.partner_id:
            raise _param("Invalid partner_id.")
        if not query.get("timestamp"):
            raise _param("no timestamp")
        try:
            stamp = int(query["timestamp"])
        except ValueError:
            raise _param("Invalid timestamp") from None
        if abs(self.now() - stamp) > TIMESTAMP_WINDOW:
            raise _param("Invalid timestamp")
        if not query.get("sign"):
            raise _param("There is no sign in query.")
        if path in PUBLIC_PATHS:
            expected = sign(self.partner_key, self.partner_id, path, stamp)
        else:
            token, shop = query.get("access_token"), query.get("shop_id")
            if not token:
                raise _param("There is no access_token in query.")
            if not shop:
                raise _param("There is no shop_id in query.")
            expected = sign(self.partner_key, self.partner_id, path, stamp, token, shop)
        if not hmac.compare_digest(expected, query["sign"]):
            raise ShopeeError(403, "error_sign", "Wrong sign.")
        if path in PUBLIC_PATHS:
            return
        expiry = self.access_tokens.get(query["access_token"])
        if expiry is None or expiry <= self.now():
            raise ShopeeError(403, "invalid_acceess_token", "Invalid access_token.")
        if query["shop_id"] != self.shop_id:
            raise ShopeeError(403, "error_shop", "shopid is invalid")

    def refresh(self, body: dict[str, Any]) -> dict[str, Any]:
        token = str(body.get("refresh_token") or "")
        if str(body.get("partner_id") or "") != self.partner_id:
            raise _param("Invalid partner_id.")
        if str(body.get("shop_id") or "") != self.shop_id:
            raise ShopeeError(403, "error_auth", "Invalid refresh_token.")
        expiry = self.refresh_tokens.get(token)
        if expiry is None:
            raise ShopeeError(403, "error_auth", "Invalid refresh_token.")
        if expiry <= self.now():
            raise ShopeeError(403, "refresh_token_expired", "Your refresh_token expired.")
        del self.refresh_tokens[token]
        access, new_refresh = secrets.token_hex(16), secrets.token_hex(16)
        self.access_tokens[access] = self.now() + self.token_lifetime
        self.refresh_tokens[new_refresh] = self.now() + self.refresh_lifetime
        self.refreshes += 1
        return {"partner_id": int(self.partner_id), "shop_id": int(self.shop_id),
                "access_token": access, "refresh_token": new_refresh,
                "expire_in": self.token_lifetime, "request_id": _request_id(), "error": "",
                "message": ""}

    def authorize(self) -> tuple[str, str]:
        """The shop authorizes the app (again): a new access and refresh token pair."""
        with self.lock:
            access, refresh = secrets.token_hex(16), secrets.token_hex(16)
            self.access_tokens[access] = self.now() + self.token_lifetime
            self.refresh_tokens[refresh] = self.now() + self.refresh_lifetime
            return access, refresh

    def expire_tokens(self) -> None:
        """Every access token expires now (the refresh tokens still work)."""
        with self.lock:
            past = self.now() - 1
            self.access_tokens = dict.fromkeys(self.access_tokens, past)

    def expire_refresh_tokens(self) -> None:
        """Every refresh token expires now: the shop must authorize the app again."""
        with self.lock:
            past = self.now() - 1
            self.refresh_tokens = dict.fromkeys(self.refresh_tokens, past)

    def throttle(self, count: int) -> None:
        with self.lock:
            self.throttled = count

    def admit(self) -> bool:
        """One API call against the rate: False when it is over (or throttled)."""
        if self.throttled > 0:
            self.throttled -= 1
            return False
        if not self.rate_per_second:
            return True
        now = time.monotonic()
        rate = float(self.rate_per_second)
        self._allowance = min(rate, self._allowance + (now - self._checked) * rate)
        self._checked = now
        if self._allowance < 1.0:
            return False
        self._allowance -= 1.0
        return True

    # -- products -------------------------------------------------------------------------------

    def add_item(self, name: str, *, item_sku: str = "", models: list[dict[str, Any]],
                 status: str = "NORMAL") -> dict[str, Any]:
        """An item; ``models``: ``[{sku, stock, price}]``. With one model and no
        ``item_sku``, an item without variations (model 0, the item's SKU)."""
        with self.lock:
            item_id = next(self._item_ids)
            has_model = not (len(models) == 1 and not item_sku)
            rows: dict[int, dict[str, Any]] = {}
            for spec in models:
                model_id = next(self._model_ids) if has_model else 0
                rows[model_id] = {"model_id": model_id,
                                  "model_sku": str(spec.get("sku") or "") if has_model else "",
                                  "stock": int(spec.get("stock") or 0),
                                  "price": Decimal(str(spec.get("price") or "1.00"))}
            item = {"item_id": item_id, "item_name": name, "item_status": status,
                    "item_sku": item_sku or ("" if has_model
                                             else str(models[0].get("sku") or "")),
                    "has_model": has_model, "models": rows, "update_time": int(self.now())}
            self.items[item_id] = item
            return self._item_out(item)

    def _item_out(self, item: dict[str, Any]) -> dict[str, Any]:
        return {"item_id": item["item_id"], "item_sku": item["item_sku"],
                "models": [{"model_id": m["model_id"], "sku": self._sku(item, m),
                            "stock": m["stock"], "price": str(m["price"])}
                           for m in item["models"].values()]}

    @staticmethod
    def _sku(item: dict[str, Any], model: dict[str, Any]) -> str:
        return str(model["model_sku"] or item["item_sku"])

    def stock_by_sku(self) -> dict[str, int]:
        with self.lock:
            return {self._sku(item, m): int(m["stock"]) for item in self.items.values()
                    for m in item["models"].values() if self._sku(item, m)}

    def stock(self, sku: str) -> int | None:
        return self.stock_by_sku().get(sku)

    def _find_sku(self, sku: str) -> tuple[dict[str, Any], dict[str, Any]]:
        for item in self.items.values():
            for model in item["models"].values():
                if self._sku(item, model) == sku:
                    return item, model
        raise KeyError(sku)

    def item_list(self, query: dict[str, str], statuses: list[str]) -> dict[str, Any]:
        offset = _int(query.get("offset", "0"), "offset")
        size = _int(query.get("page_size", ""), "page_size")
        if not 1 <= size <= MAX_PAGE or offset < 0:
            raise _param("Wrong parameters, detail: page_size should be between 1 and 100.")
        if not statuses:
            raise _param("Wrong parameters, detail: item_status is required.")
        found = sorted((i for i in self.items.values() if i["item_status"] in statuses),
                       key=lambda i: int(i["item_id"]))
        page = found[offset:offset + size]
        more = offset + size < len(found)
        return {"item": [{"item_id": i["item_id"], "item_status": i["item_status"],
                          "update_time": i["update_time"]} for i in page],
                "total_count": len(found), "has_next_page": more,
                "next_offset": offset + size if more else 0}

    def _ids(self, raw: str, name: str, limit: int) -> list[int]:
        ids = [_int(part, name) for part in raw.replace("[", "").replace("]", "").split(",")
               if part.strip()]
        if not 1 <= len(ids) <= limit:
            raise _param(f"Wrong parameters, detail: {name} length should be between 1 "
                         f"and {limit}.")
        return ids

    def item_base_info(self, raw: str) -> dict[str, Any]:
        out = []
        for item_id in self._ids(raw, "item_id_list", MAX_DETAIL):
            item = self.items.get(item_id)
            if item is None:
                continue
            row: dict[str, Any] = {"item_id": item_id, "item_name": item["item_name"],
                                   "item_sku": item["item_sku"],
                                   "item_status": item["item_status"],
                                   "has_model": item["has_model"],
                                   "update_time": item["update_time"]}
            if not item["has_model"]:
                model = item["models"][0]
                row["price_info"] = [self._price(model)]
                row["stock_info_v2"] = self._stock_info(model)
            out.append(row)
        return {"item_list": out}

    def _price(self, model: dict[str, Any]) -> dict[str, Any]:
        return {"currency": self.currency, "original_price": float(model["price"]),
                "current_price": float(model["price"])}

    @staticmethod
    def _stock_info(model: dict[str, Any]) -> dict[str, Any]:
        return {"summary_info": {"total_reserved_stock": 0,
                                 "total_available_stock": model["stock"]},
                "seller_stock": [{"location_id": "", "stock": model["stock"],
                                  "if_saleable": True}]}

    def _item(self, item_id: Any) -> dict[str, Any]:
        item = self.items.get(_int(item_id, "item_id"))
        if item is None:
            raise ShopeeError(400, "error_item_not_found", "Item_id is not found.")
        return item

    def model_list(self, item_id: str) -> dict[str, Any]:
        item = self._item(item_id)
        models = [] if not item["has_model"] else [
            {"model_id": m["model_id"], "model_sku": m["model_sku"],
             "model_status": "MODEL_NORMAL", "price_info": [self._price(m)],
             "stock_info_v2": self._stock_info(m)} for m in item["models"].values()]
        return {"tier_variation": [], "model": models}

    def _models_of(self, body: dict[str, Any], field: str) -> tuple[dict[str, Any],
                                                                     list[dict[str, Any]]]:
        if isinstance(body.get("item_id"), list) or "item_id" not in body:
            raise _param("Wrong parameters, detail: item_id should be one item id.")
        item = self._item(body["item_id"])
        rows = body.get(field)
        if not isinstance(rows, list) or not 1 <= len(rows) <= MAX_MODELS:
            raise _param(f"Parameter is not match the constraints, {field} length should be "
                         f"between 1 and {MAX_MODELS}.")
        seen = [int(r.get("model_id") or 0) for r in rows if isinstance(r, dict)]
        if len(set(seen)) != len(seen):
            raise _param("Repeat model_id.")
        return item, rows

    def update_stock(self, body: dict[str, Any]) -> dict[str, Any]:
        item, rows = self._models_of(body, "stock_list")
        self.stock_calls.append(body)
        success, failure = [], []
        for row in rows:
            model_id = int(row.get("model_id") or 0)
            model = item["models"].get(model_id)
            stocks = row.get("seller_stock")
            if model is None:
                failure.append({"model_id": model_id, "failed_reason": "Wrong model_id."})
                continue
            if not isinstance(stocks, list) or len(stocks) != 1 \
                    or not isinstance(stocks[0].get("stock"), int) or stocks[0]["stock"] < 0:
                failure.append({"model_id": model_id,
                                "failed_reason": "seller_stock should be one non-negative "
                                                 "stock."})
                continue
            model["stock"] = int(stocks[0]["stock"])
            success.append({"model_id": model_id,
                            "location_id": str(stocks[0].get("location_id") or ""),
                            "stock": model["stock"]})
        item["update_time"] = int(self.now())
        return {"success_list": success, "failure_list": failure}

    def update_price(self, body: dict[str, Any]) -> dict[str, Any]:
        item, rows = self._models_of(body, "price_list")
        self.price_calls.append(body)
        success, failure = [], []
        for row in rows:
            model_id = int(row.get("model_id") or 0)
            model = item["models"].get(model_id)
            price = row.get("original_price")
            if model is None or not isinstance(price, int | float) or price <= 0:
                failure.append({"model_id": model_id, "failed_reason": "Wrong model_id or "
                                                                      "original_price."})
                continue
            model["price"] = Decimal(str(price))
            success.append({"model_id": model_id, "original_price": float(price)})
        return {"success_list": success, "failure_list": failure}

    # -- orders ---------------------------------------------------------------------------------

    def _order_sn(self) -> str:
        day = dt.datetime.fromtimestamp(self.now(), dt.UTC).strftime("%y%m%d")
        tail = "".join(secrets.choice(string.ascii_uppercase + string.digits) for _ in range(6))
        return f"{day}{next(self._order_seq):02d}{tail}"[:14]

    def place_order(self, lines: list[dict[str, Any]], *, buyer: str = "buyer_one",
                    name: str = "Ada Buyer", paid: bool = True) -> dict[str, Any]:
        """A buyer's order for SKUs: the units leave the models' stock; pushed (code 3)."""
        with self.lock:
            items, total = [], Decimal("0")
            for line in lines:
                item, model = self._find_sku(str(line["sku"]))
                quantity = int(line.get("quantity") or 1)
                if model["stock"] < quantity:
                    raise ShopeeError(400, "error_param", f"Not enough stock of {line['sku']}.")
                model["stock"] -= quantity
                total += model["price"] * quantity
                items.append({"item_id": item["item_id"], "item_name": item["item_name"],
                              "item_sku": item["item_sku"], "model_id": model["model_id"],
                              "model_name": "", "model_sku": model["model_sku"],
                              "model_quantity_purchased": quantity,
                              "model_original_price": float(model["price"]),
                              "model_discounted_price": float(model["price"])})
            now = int(self.now())
            order_sn = self._order_sn()
            order: dict[str, Any] = {
                "order_sn": order_sn, "region": self.region, "currency": self.currency,
                "cod": False, "order_status": "READY_TO_SHIP" if paid else "UNPAID",
                "create_time": now, "update_time": now, "days_to_ship": 2,
                "ship_by_date": now + 2 * 86400, "message_to_seller": "",
                "buyer_user_id": 9_193_214, "buyer_username": buyer,
                "recipient_address": {"name": name, "phone": "6591234567", "town": "",
                                      "district": "", "city": "Singapore", "state": "",
                                      "region": self.region, "zipcode": "018956",
                                      "full_address": "10 Bayfront Avenue, Singapore 018956"},
                "item_list": items, "total_amount": float(total + Decimal("2.50")),
                "estimated_shipping_fee": 2.5, "actual_shipping_fee": 2.5,
                "pay_time": now if paid else None, "payment_method": "Credit Card",
                "shipping_carrier": "Standard Delivery", "cancel_by": "", "cancel_reason": "",
                "buyer_cancel_reason": "", "note": "", "tracking_number": ""}
            self.orders[order_sn] = order
        self._push_status(order)
        return self.order_out(order)

    def order_out(self, order: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in order.items() if k != "tracking_number"}

    def _restock(self, order: dict[str, Any]) -> None:
        for line in order["item_list"]:
            item = self.items.get(int(line["item_id"]))
            model = item["models"].get(int(line["model_id"])) if item else None
            if model is not None:
                model["stock"] += int(line["model_quantity_purchased"])

    def _set_status(self, order: dict[str, Any], status: str) -> None:
        order["order_status"] = status
        order["update_time"] = max(int(self.now()), int(order["update_time"]))

    def cancel_on_shopee(self, order_sn: str, *, by: str = "buyer",
                         reason: str = "Change of mind") -> dict[str, Any]:
        """The buyer (or Shopee) cancels an unshipped order: CANCELLED, units back, pushed."""
        with self.lock:
            order = self._order(order_sn)
            if order["order_status"] not in OPEN:
                raise ShopeeError(400, "order.error_limit", "Can not cancel this order.")
            self._restock(order)
            order["cancel_by"], order["cancel_reason"] = by, reason
            order["buyer_cancel_reason"] = reason if by == "buyer" else ""
            self._set_status(order, "CANCELLED")
        self._push_status(order)
        return self.order_out(order)

    def _order(self, order_sn: str) -> dict[str, Any]:
        order = self.orders.get(order_sn)
        if order is None:
            raise ShopeeError(400, "error_not_found",
                              f"Wrong parameters, detail: order {order_sn} not found.")
        return order

    def order_list(self, query: dict[str, str]) -> dict[str, Any]:
        self.order_queries.append(dict(query))
        field = query.get("time_range_field")
        if field not in ("create_time", "update_time"):
            raise _param("Wrong parameters, detail: time_range_field is invalid.")
        start, end = _int(query.get("time_from"), "time_from"), _int(query.get("time_to"),
                                                                      "time_to")
        if end < start or end - start > MAX_WINDOW:
            raise _param("Wrong parameters, detail: the time range should be at most 15 "
                         "days.")
        size = _int(query.get("page_size", ""), "page_size")
        if not 1 <= size <= MAX_PAGE:
            raise _param("Wrong parameters, detail: page_size should be between 1 and 100.")
        cursor = query.get("cursor") or "0"
        offset = _int(cursor.strip('"') or "0", "cursor")
        status = query.get("order_status")
        found = sorted((o for o in self.orders.values()
                        if start <= int(o[field]) <= end
                        and (not status or o["order_status"] == status)),
                       key=lambda o: (int(o[field]), o["order_sn"]))
        page = found[offset:offset + size]
        more = offset + size < len(found)
        return {"more": more, "next_cursor": str(offset + size) if more else "",
                "order_list": [{"order_sn": o["order_sn"], "order_status": o["order_status"]}
                               for o in page]}

    def order_detail(self, raw: str, optional: str) -> dict[str, Any]:
        sns = [s.strip() for s in raw.split(",") if s.strip()]
        if not 1 <= len(sns) <= MAX_DETAIL:
            raise _param("Wrong parameters, detail: order_sn_list length should be between 1 "
                         "and 50.")
        wanted = {f.strip() for f in optional.split(",") if f.strip()} & OPTIONAL_FIELDS
        default = {"order_sn", "region", "currency", "cod", "order_status", "create_time",
                   "update_time", "days_to_ship", "ship_by_date", "message_to_seller"}
        out = [{k: v for k, v in o.items() if k in default or k in wanted}
               for sn in sns if (o := self.orders.get(sn)) is not None]
        return {"order_list": out}

    def seller_cancel(self, body: dict[str, Any]) -> dict[str, Any]:
        order = self._order(str(body.get("order_sn") or ""))
        reason = body.get("cancel_reason")
        if reason not in ("OUT_OF_STOCK", "UNDELIVERABLE_AREA"):
            raise _param("Wrong parameters, detail: cancel_reason is invalid.")
        lines = body.get("item_list")
        if reason == "OUT_OF_STOCK" and (not isinstance(lines, list) or not lines):
            raise _param("Wrong parameters, detail: item_list is required for OUT_OF_STOCK.")
        if order["order_status"] not in OPEN:
            raise ShopeeError(400, "order.error_limit", "Can not cancel this order.")
        self.cancellations.append(body)
        self._restock(order)
        order["cancel_by"], order["cancel_reason"] = "seller", reason
        self._set_status(order, "CANCELLED")
        return {"update_time": order["update_time"]}

    def shipping_parameter(self, order_sn: str) -> dict[str, Any]:
        self._order(order_sn)
        return {"info_needed": {"non_integrated": ["tracking_no"]}}

    def ship(self, body: dict[str, Any]) -> dict[str, Any]:
        order = self._order(str(body.get("order_sn") or ""))
        ways = [k for k in ("pickup", "dropoff", "non_integrated") if k in body]
        if len(ways) != 1:
            raise ShopeeError(400, "logistics.ship_order_only_support_one_type",
                              "Please select just one way to ship order: pickup or dropoff "
                              "or non_integrated.")
        if ways[0] != "non_integrated":
            raise ShopeeError(400, f"logistics.ship_order_unsupport_{ways[0]}",
                              f"This order does not support ship with {ways[0]}.")
        if order["order_status"] != "READY_TO_SHIP":
            raise ShopeeError(400, "logistics.ship_order_not_ready_to_ship",
                              "The order is not ready to ship.")
        tracking = str((body.get("non_integrated") or {}).get("tracking_number") or "")
        if len(tracking) > 64:
            raise ShopeeError(400, "logistics.ship_order_long_tracking_number",
                              "Parameter tracking_number can not be longer than 64.")
        self.shipments.append(body)
        order["tracking_number"] = tracking
        self._set_status(order, "PROCESSED")
        return {}

    def tracking_number(self, order_sn: str) -> dict[str, Any]:
        return {"tracking_number": self._order(order_sn)["tracking_number"]}

    # -- pushes ---------------------------------------------------------------------------------

    def push_body(self, order: dict[str, Any]) -> bytes:
        return json.dumps({"shop_id": int(self.shop_id), "code": 3,
                           "data": {"ordersn": order["order_sn"],
                                    "status": order["order_status"],
                                    "update_time": order["update_time"]},
                           "timestamp": int(self.now())}).encode()

    def signed_push(self, url: str, body: bytes, *, tamper: bool = False) -> dict[str, str]:
        signature = push_signature(self.partner_key, url, body + (b" " if tamper else b""))
        return {"Content-Type": "application/json", "Authorization": signature}

    def send_push(self, url: str, body: bytes, *, tamper: bool = False) -> tuple[int, str]:
        response = httpx.post(url, content=body, headers=self.signed_push(url, body,
                                                                          tamper=tamper),
                              timeout=10)
        with self.lock:
            self.pushes.append((response.status_code, json.loads(body)))
        return response.status_code, response.text

    def _push_status(self, order: dict[str, Any]) -> None:
        url = self.callback_url
        if not url:
            return
        try:
            self.send_push(url, self.push_body(order))
        except httpx.HTTPError:
            with self.lock:
                self.pushes.append((0, json.loads(self.push_body(order))))


def create_app(emulator: ShopeeEmulator | None = None, **options: Any) -> FastAPI:
    state = emulator or ShopeeEmulator(**{
        "partner_id": "2001887", "partner_key": "shpk-emulator-partner-key-0000",
        "shop_id": "322300222", "access_token": "emulator-access-token-0000",
        "refresh_token": "emulator-refresh-token-0000", **options})
    app = FastAPI(title="Shopee Open Platform emulator", docs_url=None, redoc_url=None,
                  openapi_url=None)
    app.state.emulator = state

    def fail(exc: ShopeeError) -> JSONResponse:
        state.refused.append(exc.error)
        return JSONResponse(envelope(error=exc.error, message=exc.message),
                            status_code=exc.status)

    @app.middleware("http")
    async def gateway(request: Request, call_next: Any) -> Any:
        path = request.url.path
        if not path.startswith("/api/v2/"):
            return await call_next(request)
        with state.lock:
            state.calls.append((request.method, path))
            if not state.admit():
                return fail(ShopeeError(429, "error_too_many_request",
                                        "Too many requests, please try again later."))
            try:
                state.check_call(path, dict(request.query_params.items()))
            except ShopeeError as exc:
                return fail(exc)
        return await call_next(request)

    def run(func: Callable[[], Any]) -> Response:
        try:
            with state.lock:
                result = func()
        except ShopeeError as exc:
            return fail(exc)
        return JSONResponse(envelope(result))

    async def body_of(request: Request) -> dict[str, Any]:
        try:
            body = json.loads(await request.body() or b"{}")
        except ValueError:
            raise _param("parse data failed") from None
        if not isinstance(body, dict):
            raise _param("parse data failed")
        return body

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/api/v2/auth/access_token/get")
    async def access_token(request: Request) -> Response:
        try:
            body = await body_of(request)
            with state.lock:
                return JSONResponse(state.refresh(body))
        except ShopeeError as exc:
            return fail(exc)

    @app.get("/api/v2/product/get_item_list")
    def item_list(request: Request) -> Response:
        statuses = request.query_params.getlist("item_status")
        return run(lambda: state.item_list(dict(request.query_params), statuses))

    @app.get("/api/v2/product/get_item_base_info")
    def item_base_info(request: Request) -> Response:
        return run(lambda: state.item_base_info(request.query_params.get("item_id_list", "")))

    @app.get("/api/v2/product/get_model_list")
    def model_list(request: Request) -> Response:
        return run(lambda: state.model_list(request.query_params.get("item_id", "")))

    @app.post("/api/v2/product/update_stock")
    async def update_stock(request: Request) -> Response:
        try:
            body = await body_of(request)
        except ShopeeError as exc:
            return fail(exc)
        return run(lambda: state.update_stock(body))

    @app.post("/api/v2/product/update_price")
    async def update_price(request: Request) -> Response:
        try:
            body = await body_of(request)
        except ShopeeError as exc:
            return fail(exc)
        return run(lambda: state.update_price(body))

    @app.get("/api/v2/order/get_order_list")
    def order_list(request: Request) -> Response:
        return run(lambda: state.order_list(dict(request.query_params)))

    @app.get("/api/v2/order/get_order_detail")
    def order_detail(request: Request) -> Response:
        query = request.query_params
        return run(lambda: state.order_detail(query.get("order_sn_list", ""),
                                              query.get("response_optional_fields", "")))

    @app.post("/api/v2/order/cancel_order")
    async def cancel_order(request: Request) -> Response:
        try:
            body = await body_of(request)
        except ShopeeError as exc:
            return fail(exc)
        response = run(lambda: state.seller_cancel(body))
        if response.status_code == 200:
            state._push_status(state.orders[str(body["order_sn"])])
        return response

    @app.get("/api/v2/logistics/get_shipping_parameter")
    def shipping_parameter(request: Request) -> Response:
        return run(lambda: state.shipping_parameter(request.query_params.get("order_sn", "")))

    @app.post("/api/v2/logistics/ship_order")
    async def ship_order(request: Request) -> Response:
        try:
            body = await body_of(request)
        except ShopeeError as exc:
            return fail(exc)
        response = run(lambda: state.ship(body))
        if response.status_code == 200:
            state._push_status(state.orders[str(body["order_sn"])])
        return response

    @app.get("/api/v2/logistics/get_tracking_number")
    def tracking_number(request: Request) -> Response:
        return run(lambda: state.tracking_number(request.query_params.get("order_sn", "")))

    # -- control ----------------------------------------------------------------------------

    def control(func: Callable[[], Any], status: int = 200) -> Response:
        try:
            return JSONResponse(func(), status_code=status)
        except ShopeeError as exc:
            return JSONResponse(envelope(error=exc.error, message=exc.message),
                                status_code=exc.status)
        except KeyError as exc:
            return JSONResponse({"error": "not_found", "message": f"no SKU {exc}"},
                                status_code=404)

    @app.post("/_emulator/orders")
    async def control_order(request: Request) -> Response:
        body = await request.json()
        return control(lambda: state.place_order(
            body["lines"], buyer=body.get("buyer", "buyer_one"),
            name=body.get("name", "Ada Buyer"), paid=body.get("paid", True)), 201)

    @app.post("/_emulator/orders/{order_sn}/cancel")
    def control_cancel(order_sn: str) -> Response:
        return control(lambda: state.cancel_on_shopee(order_sn))

    @app.get("/_emulator/orders/{order_sn}")
    def control_get_order(order_sn: str) -> Response:
        with state.lock:
            return control(lambda: dict(state._order(order_sn)))

    @app.get("/_emulator/stock")
    def control_stock() -> Response:
        return JSONResponse(state.stock_by_sku())

    @app.post("/_emulator/items")
    async def control_item(request: Request) -> Response:
        body = await request.json()
        return control(lambda: state.add_item(
            body.get("name", "Item"), item_sku=body.get("item_sku", ""),
            models=body["models"]), 201)

    @app.post("/_emulator/throttle")
    async def control_throttle(request: Request) -> Response:
        state.throttle(int((await request.json()).get("count", 1)))
        return Response(status_code=204)

    @app.post("/_emulator/expire_tokens")
    def control_expire() -> Response:
        state.expire_tokens()
        return Response(status_code=204)

    @app.post("/_emulator/expire_refresh_tokens")
    def control_expire_refresh() -> Response:
        state.expire_refresh_tokens()
        return Response(status_code=204)

    @app.post("/_emulator/callback")
    async def control_callback(request: Request) -> Response:
        state.callback_url = (await request.json()).get("url") or None
        return Response(status_code=204)

    return app
