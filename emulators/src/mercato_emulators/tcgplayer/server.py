"""A local emulator of TCGplayer's API (v1.39.0), for tests and the demo.

``create_app(emulator=None, **options)`` is an ASGI app; its state is ``app.state.emulator``,
a ``TcgplayerEmulator`` (``model``). Paths answer with or without the version prefix
(``/v1.39.0/catalog/categories`` and ``/catalog/categories``).

Emulated, as TCGplayer documents it:

- ``POST /token`` (form ``grant_type=client_credentials&client_id&client_secret``) →
  ``{access_token, token_type: "bearer", expires_in, userName, ".issued", ".expires"}``;
  a wrong client is 400 ``{"error": "invalid_client"}``, another grant type 400
  ``{"error": "unsupported_grant_type"}``. Tokens expire (``token_lifetime``).
- Every other call needs ``Authorization: bearer <token>``: missing, unknown or expired is
  401 ``{"message": "Authorization has been denied for this request."}``.
- ``POST /app/authorize/{authCode}``: a store's authorization code (valid ``code_lifetime``
  seconds, once) → the envelope with ``results: [{"accessToken"}]``; a used, expired or
  unknown code is 400 with ``errors``.
- The envelope ``{success, errors, totalItems, results}``; pages by ``offset``/``limit``
  (``limit`` at most 100, else 400), ids comma-separated in the path (at most 250, else 400).
- Catalog: ``/catalog/categories``, ``/catalog/categories/{id}/conditions|printings|
  languages``, ``/catalog/conditions``, ``/catalog/groups?categoryId=``,
  ``/catalog/products?categoryId&groupId&productName&getExtendedFields``,
  ``/catalog/products/{ids}``, ``/catalog/products/{ids}/skus``, ``/catalog/skus/{ids}``.
- Pricing: ``/pricing/sku/{ids}`` (``lowPrice``, ``lowestShipping``, ``lowestListingPrice``,
  ``marketPrice``, ``directLowPrice``) and ``/pricing/product/{ids}`` (per ``subTypeName``,
  the printing: ``lowPrice``, ``midPrice``, ``highPrice``, ``marketPrice``,
  ``directLowPrice``).
- The store (``/stores/{storeKey}/...``, with ``X-Tcg-Access-Token``: missing or wrong is 403
  with ``errors``; another store's key is 403 too): ``GET /stores/self``,
  ``GET .../inventory/skus/{skuId}/quantity``, ``PUT .../inventory/skus/{skuId}`` (Update SKU
  inventory: adds or updates the listing), ``PUT .../inventory/skus/{skuId}/price``,
  ``POST .../inventory/skus/{skuId}/quantity`` (increment), ``GET .../orders`` (search: order
  numbers), ``GET .../orders/{orderNumbers}`` (details), ``GET .../orders/{n}/items``,
  ``GET|POST .../orders/{n}/tracking``.
- A rate (``rate_per_second``, off when None): over it, 429 with ``Retry-After`` (seconds,
  fractional) and the envelope's ``errors``.

Assumed where the documentation shows no body (Mercato's connector sends exactly these):
``PUT .../inventory/skus/{skuId}`` ``{"skuId", "quantity", "price"?}`` (a price left out
keeps the listing's; a new listing without one is listed unpriced), ``PUT .../price``
``{"price"}``, ``POST .../quantity`` ``{"quantity": delta}``, order search parameters
``orderStatusIds`` (comma-separated), ``updatedAfter`` (ISO time; sorted oldest update
first), ``offset``, ``limit``; order details ``{orderNumber, createdAt, updatedAt, status,
orderStatusId, shippingType, customer {name, email, shippingAddress}, transaction
{productAmount, shippingAmount, grossAmount, feeAmount, currency}}``; items
``{skuId, productId, name, quantity, price}``; tracking ``{"carrier", "trackingNumber"}``.

Not emulated: buylists, product lists, media, GTIN lookups, search manifests, store
customers and feedback, channels, batch price updates and their web hooks.

Control API (no TCGplayer equivalent) under ``/_emulator/``: seed products, list units, set
prices, place an order (decrements the store's quantities like the marketplace), read a
listing, mint an authorization code, expire tokens, throttle, count requests.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import parse_qs

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from mercato_emulators.tcgplayer.model import (
    CONDITIONS,
    LANGUAGES,
    Listing,
    TcgplayerEmulator,
    Throttled,
    money,
)

MAX_LIMIT = 100
MAX_IDS = 250
VERSION = re.compile(r"^/v\d+(\.\d+)*(/|$)")
DENIED = {"message": "Authorization has been denied for this request."}


class ApiError(Exception):
    def __init__(self, status: int, *errors: str) -> None:
        self.status = status
        self.errors = list(errors)


def envelope(results: list[Any], total: int | None = None) -> dict[str, Any]:
    return {"success": True, "errors": [], "totalItems": len(results) if total is None
            else total, "results": results}


def _ids(raw: str) -> list[int]:
    parts = [p for p in raw.split(",") if p.strip()]
    if len(parts) > MAX_IDS:
        raise ApiError(400, f"Too many ids: at most {MAX_IDS} may be requested at once.")
    try:
        return [int(p) for p in parts]
    except ValueError:
        raise ApiError(400, f"Invalid id list: {raw[:100]}") from None


def _page(query: dict[str, str], items: list[Any]) -> dict[str, Any]:
    try:
        offset = int(query.get("offset", "0"))
        limit = int(query.get("limit", "10"))
    except ValueError:
        raise ApiError(400, "offset and limit must be integers.") from None
    if limit > MAX_LIMIT or limit < 1 or offset < 0:
        raise ApiError(400, f"limit must be between 1 and {MAX_LIMIT}; offset at least 0.")
    return envelope(items[offset:offset + limit], len(items))


def _decimal(value: Any, name: str) -> Decimal:
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise ApiError(400, f"{name} must be a number.") from None
    if not number.is_finite() or number < 0:
        raise ApiError(400, f"{name} must be a positive number.")
    return number


Handler = Callable[[TcgplayerEmulator, re.Match[str], dict[str, str], Any], dict[str, Any]]
ROUTES: list[tuple[str, re.Pattern[str], Handler, bool]] = []
"""(method, path pattern, handler, store endpoint)."""


def route(method: str, pattern: str, *, store: bool = False) -> Callable[[Handler], Handler]:
    def add(handler: Handler) -> Handler:
        ROUTES.append((method, re.compile(f"^{pattern}$"), handler, store))
        return handler
    return add


# -- catalog --------------------------------------------------------------------------------

@route("GET", "/catalog/categories")
def categories(em: TcgplayerEmulator, m: re.Match[str], q: dict[str, str],
               body: Any) -> dict[str, Any]:
    return _page(q, [em.categories[c] for c in sorted(em.categories)])


def _category(em: TcgplayerEmulator, raw: str) -> int:
    category = int(raw)
    if category not in em.categories:
        raise ApiError(404, f"No category {category}.")
    return category


@route("GET", r"/catalog/categories/(\d+)/conditions")
def category_conditions(em: TcgplayerEmulator, m: re.Match[str], q: dict[str, str],
                        body: Any) -> dict[str, Any]:
    _category(em, m.group(1))
    return envelope([{"conditionId": i, "name": n, "abbreviation": a, "displayOrder": i}
                     for i, n, a in CONDITIONS])


@route("GET", "/catalog/conditions")
def conditions(em: TcgplayerEmulator, m: re.Match[str], q: dict[str, str],
               body: Any) -> dict[str, Any]:
    return envelope([{"conditionId": i, "name": n, "abbreviation": a, "displayOrder": i}
                     for i, n, a in CONDITIONS])


@route("GET", r"/catalog/categories/(\d+)/printings")
def category_printings(em: TcgplayerEmulator, m: re.Match[str], q: dict[str, str],
                       body: Any) -> dict[str, Any]:
    category = _category(em, m.group(1))
    return envelope([{"printingId": i, "name": n, "displayOrder": i, "modifiedOn": None}
                     for i, n in em.printings(category)])


@route("GET", r"/catalog/categories/(\d+)/languages")
def category_languages(em: TcgplayerEmulator, m: re.Match[str], q: dict[str, str],
                       body: Any) -> dict[str, Any]:
    _category(em, m.group(1))
    return envelope([{"languageId": i, "name": n, "abbr": a} for i, n, a in LANGUAGES])


@route("GET", "/catalog/groups")
def groups(em: TcgplayerEmulator, m: re.Match[str], q: dict[str, str],
           body: Any) -> dict[str, Any]:
    found = [g for _, g in sorted(em.groups.items())
             if "categoryId" not in q or str(g["categoryId"]) == q["categoryId"]]
    return _page(q, found)


@route("GET", "/catalog/products")
def products(em: TcgplayerEmulator, m: re.Match[str], q: dict[str, str],
             body: Any) -> dict[str, Any]:
    name = q.get("productName", "").casefold()
    found = [p for _, p in sorted(em.products.items())
             if ("categoryId" not in q or str(p.category_id) == q["categoryId"])
             and ("groupId" not in q or str(p.group_id) == q["groupId"])
             and (not name or name in p.name.casefold())]
    extended = q.get("getExtendedFields", "").lower() == "true"
    page = _page(q, found)
    page["results"] = [p.out(extended) for p in page["results"]]
    return page


@route("GET", r"/catalog/products/([\d,]+)")
def product_details(em: TcgplayerEmulator, m: re.Match[str], q: dict[str, str],
                    body: Any) -> dict[str, Any]:
    extended = q.get("getExtendedFields", "").lower() == "true"
    found = [em.products[i].out(extended) for i in _ids(m.group(1)) if i in em.products]
    if not found:
        raise ApiError(404, "No products were found.")
    return envelope(found)


@route("GET", r"/catalog/products/([\d,]+)/skus")
def product_skus(em: TcgplayerEmulator, m: re.Match[str], q: dict[str, str],
                 body: Any) -> dict[str, Any]:
    found = [em.skus[s].out() for i in _ids(m.group(1)) if i in em.products
             for s in em.products[i].skus]
    if not found:
        raise ApiError(404, "No SKUs were found.")
    return envelope(found)


@route("GET", r"/catalog/skus/([\d,]+)")
def sku_details(em: TcgplayerEmulator, m: re.Match[str], q: dict[str, str],
                body: Any) -> dict[str, Any]:
    found = [em.skus[i].out() for i in _ids(m.group(1)) if i in em.skus]
    if not found:
        raise ApiError(404, "No SKUs were found.")
    return envelope(found)


# -- pricing --------------------------------------------------------------------------------

@route("GET", r"/pricing/sku/([\d,]+)")
def sku_prices(em: TcgplayerEmulator, m: re.Match[str], q: dict[str, str],
               body: Any) -> dict[str, Any]:
    found: list[dict[str, Any]] = []
    for sku_id in _ids(m.group(1)):
        sku = em.skus.get(sku_id)
        if sku is None:
            continue
        found.append({"skuId": sku_id, "lowPrice": money(sku.low),
                      "lowestShipping": 0.99 if sku.low is not None else None,
                      "lowestListingPrice": money(sku.low), "marketPrice": money(sku.market),
                      "directLowPrice": money(sku.direct_low)})
    if not found:
        raise ApiError(404, "No prices were found for the given SKUs.")
    return envelope(found)


@route("GET", r"/pricing/product/([\d,]+)")
def product_prices(em: TcgplayerEmulator, m: re.Match[str], q: dict[str, str],
                   body: Any) -> dict[str, Any]:
    found: list[dict[str, Any]] = []
    for product_id in _ids(m.group(1)):
        product = em.products.get(product_id)
        if product is None:
            continue
        for printing_id, printing in em.printings(product.category_id):
            prices = [em.skus[s].market for s in product.skus
                      if em.skus[s].printing_id == printing_id
                      and em.skus[s].market is not None]
            near_mint = [em.skus[s] for s in product.skus
                         if em.skus[s].printing_id == printing_id
                         and em.skus[s].condition_id == 1 and em.skus[s].language_id == 1]
            if not prices:
                found.append({"productId": product_id, "lowPrice": None, "midPrice": None,
                              "highPrice": None, "marketPrice": None, "directLowPrice": None,
                              "subTypeName": printing})
                continue
            ordered = sorted(p for p in prices if p is not None)
            found.append({"productId": product_id, "lowPrice": money(ordered[0]),
                          "midPrice": money(ordered[len(ordered) // 2]),
                          "highPrice": money(ordered[-1]),
                          "marketPrice": money(near_mint[0].market) if near_mint else None,
                          "directLowPrice": money(near_mint[0].direct_low)
                          if near_mint else None, "subTypeName": printing})
    if not found:
        raise ApiError(404, "No prices were found for the given products.")
    return envelope(found)


# -- app ------------------------------------------------------------------------------------

@route("POST", r"/app/authorize/([^/]+)")
def authorize(em: TcgplayerEmulator, m: re.Match[str], q: dict[str, str],
              body: Any) -> dict[str, Any]:
    token = em.redeem(m.group(1))
    if token is None:
        raise ApiError(400, "The authorization code is invalid, expired or already used.")
    return envelope([{"accessToken": token, "storeKey": em.store_key}])


# -- store ----------------------------------------------------------------------------------

@route("GET", "/stores/self", store=True)
def store_self(em: TcgplayerEmulator, m: re.Match[str], q: dict[str, str],
               body: Any) -> dict[str, Any]:
    return envelope([{"storeKey": em.store_key, "name": "Emulated card store",
                      "status": "Live", "sellerLevel": "Level 4"}])


def _known_sku(em: TcgplayerEmulator, raw: str) -> int:
    sku_id = int(raw)
    if sku_id not in em.skus:
        raise ApiError(404, f"SKU {sku_id} was not found.")
    return sku_id


def _listing_out(em: TcgplayerEmulator, sku_id: int) -> dict[str, Any]:
    listing = em.inventory[sku_id]
    return {"skuId": sku_id, "quantity": listing.quantity, "price": money(listing.price),
            "channelId": 0}


@route("GET", r"/stores/([^/]+)/inventory/skus/(\d+)/quantity", store=True)
def sku_quantity(em: TcgplayerEmulator, m: re.Match[str], q: dict[str, str],
                 body: Any) -> dict[str, Any]:
    sku_id = _known_sku(em, m.group(2))
    found = em.inventory.get(sku_id)
    return envelope([{"skuId": sku_id, "quantity": found.quantity if found else 0}])


@route("PUT", r"/stores/([^/]+)/inventory/skus/(\d+)", store=True)
def update_sku(em: TcgplayerEmulator, m: re.Match[str], q: dict[str, str],
               body: Any) -> dict[str, Any]:
    sku_id = _known_sku(em, m.group(2))
    if not isinstance(body, dict):
        raise ApiError(400, "A JSON object is required.")
    quantity = body.get("quantity")
    if not isinstance(quantity, int) or isinstance(quantity, bool) or quantity < 0:
        raise ApiError(400, "quantity must be a whole number, 0 or more.")
    if "skuId" in body and body["skuId"] != sku_id:
        raise ApiError(400, "skuId does not match the path.")
    listing = em.inventory.setdefault(sku_id, Listing())
    listing.quantity = quantity
    if body.get("price") is not None:
        listing.price = _decimal(body["price"], "price")
    return envelope([_listing_out(em, sku_id)])


@route("PUT", r"/stores/([^/]+)/inventory/skus/(\d+)/price", store=True)
def update_price(em: TcgplayerEmulator, m: re.Match[str], q: dict[str, str],
                 body: Any) -> dict[str, Any]:
    sku_id = _known_sku(em, m.group(2))
    if not isinstance(body, dict) or "price" not in body:
        raise ApiError(400, "price is required.")
    price = _decimal(body["price"], "price")
    if price <= 0:
        raise ApiError(400, "price must be above 0.")
    em.inventory.setdefault(sku_id, Listing()).price = price
    return envelope([_listing_out(em, sku_id)])


@route("POST", r"/stores/([^/]+)/inventory/skus/(\d+)/quantity", store=True)
def increment_sku(em: TcgplayerEmulator, m: re.Match[str], q: dict[str, str],
                  body: Any) -> dict[str, Any]:
    sku_id = _known_sku(em, m.group(2))
    delta = body.get("quantity") if isinstance(body, dict) else None
    if not isinstance(delta, int) or isinstance(delta, bool):
        raise ApiError(400, "quantity must be a whole number.")
    listing = em.inventory.setdefault(sku_id, Listing())
    listing.quantity = max(0, listing.quantity + delta)
    return envelope([_listing_out(em, sku_id)])


def _when(raw: str) -> datetime:
    try:
        moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise ApiError(400, f"Invalid date: {raw[:40]}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment


@route("GET", r"/stores/([^/]+)/orders", store=True)
def search_orders(em: TcgplayerEmulator, m: re.Match[str], q: dict[str, str],
                  body: Any) -> dict[str, Any]:
    orders = sorted(em.orders.values(), key=lambda o: (o.updated, o.number))
    if q.get("orderStatusIds"):
        wanted = {int(s) for s in q["orderStatusIds"].split(",") if s.strip().isdigit()}
        orders = [o for o in orders if o.status_id in wanted]
    if q.get("updatedAfter"):
        after = _when(q["updatedAfter"])
        orders = [o for o in orders if o.updated > after]
    return _page(q, [o.number for o in orders])


def _order(em: TcgplayerEmulator, number: str) -> Any:
    order = em.orders.get(number)
    if order is None:
        raise ApiError(404, f"Order {number} was not found.")
    return order


@route("GET", r"/stores/([^/]+)/orders/([^/]+)", store=True)
def order_details(em: TcgplayerEmulator, m: re.Match[str], q: dict[str, str],
                  body: Any) -> dict[str, Any]:
    numbers = [n for n in m.group(2).split(",") if n]
    if len(numbers) > MAX_IDS:
        raise ApiError(400, f"Too many ids: at most {MAX_IDS} may be requested at once.")
    found = [em.orders[n].out() for n in numbers if n in em.orders]
    if not found:
        raise ApiError(404, "No orders were found.")
    return envelope(found)


@route("GET", r"/stores/([^/]+)/orders/([^/,]+)/items", store=True)
def order_items(em: TcgplayerEmulator, m: re.Match[str], q: dict[str, str],
                body: Any) -> dict[str, Any]:
    return envelope(list(_order(em, m.group(2)).items))


@route("GET", r"/stores/([^/]+)/orders/([^/,]+)/tracking", store=True)
def order_tracking(em: TcgplayerEmulator, m: re.Match[str], q: dict[str, str],
                   body: Any) -> dict[str, Any]:
    return envelope(list(_order(em, m.group(2)).tracking))


@route("POST", r"/stores/([^/]+)/orders/([^/,]+)/tracking", store=True)
def add_tracking(em: TcgplayerEmulator, m: re.Match[str], q: dict[str, str],
                 body: Any) -> dict[str, Any]:
    order = _order(em, m.group(2))
    if not isinstance(body, dict) or not str(body.get("trackingNumber") or "").strip():
        raise ApiError(400, "trackingNumber is required.")
    entry = {"carrier": str(body.get("carrier") or "Other"),
             "trackingNumber": str(body["trackingNumber"]).strip()}
    if entry not in order.tracking:
        order.tracking.append(entry)
    em.touch_order(order.number, status_id=3)
    return envelope([entry])


# -- dispatch -------------------------------------------------------------------------------

def _problem(status: int, *errors: str) -> JSONResponse:
    return JSONResponse({"success": False, "errors": list(errors), "totalItems": 0,
                         "results": []}, status_code=status)


def create_app(emulator: TcgplayerEmulator | None = None, **options: Any) -> FastAPI:
    """The emulator as an ASGI app; ``options`` are ``TcgplayerEmulator``'s arguments."""
    if emulator is not None and options:
        raise TypeError("pass either an emulator or its options, not both")
    state = emulator if emulator is not None else TcgplayerEmulator(**options)
    app = FastAPI(title="TCGplayer API emulator", docs_url=None, redoc_url=None,
                  openapi_url=None)
    app.state.emulator = state

    @app.get("/health")
    def health() -> dict[str, bool]:
        return {"ok": True}

    @app.post("/_emulator/products")
    def seed_product(spec: dict[str, Any]) -> Response:
        """``{"categoryId", "groupId"? | "groupName"+"abbreviation", "name", "number",
        "rarity"?, "market"?}`` → the product with its SKUs."""
        with state.lock:
            group_id = spec.get("groupId")
            if group_id is None:
                group_id = next((g["groupId"] for g in state.groups.values()
                                 if g["abbreviation"] == spec.get("abbreviation")
                                 and g["categoryId"] == spec.get("categoryId")), None) or \
                    state.add_group(int(spec["categoryId"]), str(spec["groupName"]),
                                    str(spec["abbreviation"]))
            made = state.add_product(int(group_id), str(spec["name"]), str(spec["number"]),
                                     str(spec.get("rarity") or "Common"),
                                     market=spec.get("market"))
        return JSONResponse(made, status_code=201)

    @app.get("/_emulator/products")
    def list_products() -> dict[str, Any]:
        with state.lock:
            return {"products": [state.product_view(p) for p in sorted(state.products)]}

    @app.put("/_emulator/inventory/{sku_id}")
    def put_listing(sku_id: int, spec: dict[str, Any]) -> Response:
        state.stock(sku_id, int(spec.get("quantity", 0)), spec.get("price"))
        return JSONResponse(state.listing(sku_id))

    @app.get("/_emulator/inventory/{sku_id}")
    def get_listing(sku_id: int) -> Response:
        found = state.listing(sku_id)
        return JSONResponse(found or {"error": "not listed"}, status_code=200 if found else 404)

    @app.post("/_emulator/prices/{sku_id}")
    def post_price(sku_id: int, spec: dict[str, Any]) -> Response:
        state.set_price(sku_id, low=spec.get("low"), market=spec.get("market"),
                        direct_low=spec.get("direct_low"))
        return JSONResponse({"skuId": sku_id})

    @app.post("/_emulator/orders")
    def post_order(spec: dict[str, Any]) -> Response:
        """A sale on TCGplayer: ``{"items": [{"skuId", "quantity", "price"?}], "buyer"?}``."""
        try:
            order = state.place_order(list(spec.get("items") or []),
                                      buyer=str(spec.get("buyer") or "Ada Lovelace"))
        except (ValueError, KeyError, TypeError) as exc:
            return JSONResponse({"error": str(exc)}, status_code=422)
        return JSONResponse(order, status_code=201)

    @app.post("/_emulator/authorization-codes")
    def post_code() -> dict[str, str]:
        return {"code": state.new_code()}

    @app.post("/_emulator/expire-tokens")
    def post_expire() -> dict[str, bool]:
        state.expire_tokens()
        return {"expired": True}

    @app.post("/_emulator/throttle")
    def post_throttle(spec: dict[str, Any]) -> dict[str, Any]:
        rate = spec.get("rate_per_second")
        state.throttle(rate_per_second=float(rate) if rate else None,
                       fail_next=int(spec.get("fail_next") or 0))
        return {"rate_per_second": state.rate, "fail_next": state.fail_next}

    @app.get("/_emulator/requests")
    def get_requests() -> dict[str, Any]:
        with state.lock:
            return {"total": sum(state.requests.values()), "by_path": dict(state.requests)}

    @app.api_route("/{full:path}", methods=["GET", "POST", "PUT", "DELETE"])
    async def api(full: str, request: Request) -> Response:
        path = "/" + full
        if VERSION.match(path):
            path = "/" + path.split("/", 2)[2] if path.count("/") > 1 else "/"
        path = path.rstrip("/") or "/"
        method = request.method
        raw = await request.body()
        try:
            state.count(method, path)
        except Throttled as exc:
            response = _problem(429, "Too many requests: slow down.")
            response.headers["Retry-After"] = f"{max(exc.wait, 0.01):.2f}"
            return response
        if path == "/token" and method == "POST":
            form = {k: v[0] for k, v in parse_qs(raw.decode("utf-8", "replace")).items()}
            if form.get("grant_type") != "client_credentials":
                return JSONResponse({"error": "unsupported_grant_type"}, status_code=400)
            token = state.issue_token(form.get("client_id", ""), form.get("client_secret", ""))
            if token is None:
                return JSONResponse({"error": "invalid_client"}, status_code=400)
            return JSONResponse(token)
        if not state.bearer_valid(request.headers.get("authorization")):
            return JSONResponse(DENIED, status_code=401)
        query = {k: v[-1] for k, v in parse_qs(request.url.query).items()}
        body: Any = None
        if raw:
            try:
                body = json.loads(raw)
            except ValueError:
                return _problem(400, "The request body is not valid JSON.")
        for route_method, pattern, handler, store in ROUTES:
            found = pattern.match(path)
            if found is None or route_method != method:
                continue
            if store:
                store_token = request.headers.get("x-tcg-access-token")
                if not store_token or not secrets.compare_digest(store_token,
                                                                 state.store_access_token):
                    return _problem(403, "The application is not authorized for this store.")
                key = found.group(1) if found.re.groups else "self"
                if key != "self" and key.lower() != state.store_key:
                    return _problem(403, f"Access to store {key} is denied.")
            try:
                with state.lock:
                    return JSONResponse(handler(state, found, query, body))
            except ApiError as exc:
                return _problem(exc.status, *exc.errors)
        return _problem(404, f"No such resource: {method} {path}")

    return app
