"""A local emulator of eBay's Sell APIs, for tests and the demo (no internet here).

``create_app(emulator=None, **options)`` is an ASGI app; its state is ``app.state.emulator``, an
``EbayEmulator`` holding plain objects in memory behind one lock.

Emulated, as eBay documents it:

- OAuth: ``POST /identity/v1/oauth2/token`` with ``Authorization: Basic base64(client_id:
  client_secret)`` and a form body. Grants ``refresh_token`` (the refresh token given at start,
  with a ``scope`` list within the granted scopes; a revoked or unknown one is
  ``invalid_grant``) → ``{access_token, expires_in, token_type: "User Access Token"}``, and
  ``client_credentials`` → an application token. Tokens expire after ``token_lifetime``
  seconds. A bad client is 401 ``invalid_client``.
- Every Sell call wants ``Authorization: Bearer <user token>``; a missing, unknown or expired
  one is 401 with eBay's error body (``errorId`` 1001, domain ``OAuth``). The Post-Order API
  wants ``Authorization: IAF <user token>`` and ``X-EBAY-C-MARKETPLACE-ID``.
- Inventory API: ``PUT/GET /sell/inventory/v1/inventory_item/{sku}`` (a full replace;
  ``Content-Language`` required on the PUT, 25709 otherwise; a PUT that changes a published
  item's quantity revises its listing), ``GET /offer?sku=`` (404, 25713, when the SKU has
  none), ``POST /offer`` (one offer per SKU, marketplace and format: 25002 otherwise),
  ``GET /offer/{id}``, ``POST /offer/{id}/publish`` → ``listingId`` (the item needs a title,
  a quantity, a condition and, in the trading-card categories, condition descriptors that
  fit it: grader 27501 and grade 27502 for ``LIKE_NEW`` (graded, 2750), card condition 40001
  for ``USED_VERY_GOOD`` (ungraded, 4000)), and ``POST /bulk_update_price_quantity``: at most
  25 requests (400 otherwise), answered 200 when every part worked and 207 with one
  ``responses`` entry per offer (or per SKU without offers) otherwise.
- A listing takes at most ``revision_limit`` revisions (250 by default) per UTC day; the next
  is refused in the 207 with ``errorId`` 25020 (an id the emulator chose: eBay's is not
  documented for the Inventory API).
- Fulfillment API: ``GET /sell/fulfillment/v1/order?filter=lastmodifieddate:[a..b]`` (also
  ``creationdate``), ``limit`` 1..200 (else 400, 30700) and ``offset``, newest first, with
  ``href``, ``next`` and ``total``; ``GET /order/{id}``; ``POST|GET
  /order/{id}/shipping_fulfillment`` (lines checked against what is left to ship); ``POST
  /order/{id}/issue_refund`` (never more than was paid and not refunded).
- Post-Order API: ``POST /post-order/v2/cancellation`` ``{legacyOrderId, cancelReason}``: a
  seller's cancellation of an unshipped order, done at once; the units go back to the listing.
- Notification API: ``GET /commerce/notification/v1/public_key/{kid}`` (application token)
  → ``{algorithm: "ECDSA", digest: "SHA1", key}``; notifications are signed with a real
  ECDSA P-256 key (``X-EBAY-SIGNATURE``: base64 of ``{alg, kid, signature, digest}``,
  the signature over the raw body).
- Throttling: ``throttle(n)`` makes the next n calls 429 with eBay's body (errorId 2001).

Control API under ``/_emulator/`` (and the same as Python methods): buyer orders (which take
units from the listing like a sale on eBay), cancelling an order on eBay's side, an item's
quantity and revisions, throttling, expiring tokens, revoking the refresh token, moving the
clock, and sending a signed notification or an endpoint challenge to a URL.

Not emulated: the authorization-code grant and consent pages, inventory locations and business
policies (their ids are taken as given), multi-variation groups, auctions, taxes, returns, the
Browse and Trading APIs, and the exact wording of most messages.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import itertools
import json
import re
import secrets
import threading
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import httpx
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

SCOPE_ROOT = "https://api.ebay.com/oauth/api_scope"
USER_SCOPES = frozenset({f"{SCOPE_ROOT}/sell.inventory", f"{SCOPE_ROOT}/sell.fulfillment",
                         f"{SCOPE_ROOT}/sell.account", SCOPE_ROOT})
MAX_BULK = 25
MAX_ORDERS_PAGE = 200
GRADED, UNGRADED = "LIKE_NEW", "USED_VERY_GOOD"
CARD_CATEGORIES = frozenset({"183454", "183050", "261328"})


def _now_iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.") + \
        f"{moment.microsecond // 1000:03d}Z"


def _parse_time(raw: str) -> dt.datetime:
    return dt.datetime.fromisoformat(raw.strip().replace("Z", "+00:00"))


def error_body(error_id: int, message: str, *, domain: str = "API_INVENTORY",
               category: str = "REQUEST", **extra: Any) -> dict[str, Any]:
    """eBay's REST error envelope."""
    return {"errors": [{"errorId": error_id, "domain": domain, "category": category,
                        "message": message, **extra}]}


class EbayError(Exception):
    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(status)
        self.status = status
        self.body = body


def _fail(status: int, error_id: int, message: str, **kw: Any) -> EbayError:
    return EbayError(status, error_body(error_id, message, **kw))


class EbayEmulator:
    """One eBay seller account and one developer application, in memory."""

    def __init__(self, *, client_id: str, client_secret: str, refresh_token: str,
                 token_lifetime: int = 7200, revision_limit: int = 250,
                 verification_token: str | None = None, seller: str = "card-shop") -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.refresh_token = refresh_token
        self.refresh_revoked = False
        self.token_lifetime = token_lifetime
        self.revision_limit = revision_limit
        self.verification_token = verification_token
        self.seller = seller
        self.lock = threading.RLock()
        self.clock_offset = dt.timedelta()
        self.tokens: dict[str, tuple[str, dt.datetime]] = {}
        """access token → (kind ``user``/``application``, expiry)."""
        self.items: dict[str, dict[str, Any]] = {}
        self.offers: dict[str, dict[str, Any]] = {}
        self.orders: dict[str, dict[str, Any]] = {}
        self.fulfillments: dict[str, list[dict[str, Any]]] = {}
        self.cancellations: list[dict[str, Any]] = []
        self.revisions: dict[tuple[str, str], int] = {}
        """(listing id, UTC day) → revisions that day."""
        self.calls: list[tuple[str, str]] = []
        self.bulk_log: list[dict[str, Any]] = []
        self.order_queries: list[tuple[str | None, dict[str, str]]] = []
        """(limit, query) of each order search."""
        self.throttled = 0
        self.refused = 0
        """Calls refused for their token."""
        self.token_requests: list[dict[str, str]] = []
        self._ids = itertools.count(1)
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.kid = secrets.token_hex(16)

    # -- time and ids -------------------------------------------------------------------------

    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC) + self.clock_offset

    def advance(self, seconds: float) -> None:
        with self.lock:
            self.clock_offset += dt.timedelta(seconds=seconds)

    def _id(self) -> int:
        return next(self._ids)

    # -- auth -----------------------------------------------------------------------------------

    def issue(self, kind: str) -> str:
        token = f"v^1.1#i^1#{kind[0]}^{secrets.token_urlsafe(24)}"
        self.tokens[token] = (kind, self.now() + dt.timedelta(seconds=self.token_lifetime))
        return token

    def expire_tokens(self) -> None:
        with self.lock:
            past = self.now() - dt.timedelta(seconds=1)
            self.tokens = {t: (k, past) for t, (k, _) in self.tokens.items()}

    def revoke_refresh_token(self) -> None:
        with self.lock:
            self.refresh_revoked = True

    def throttle(self, count: int) -> None:
        with self.lock:
            self.throttled = count

    def token(self, authorization: str | None, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        with self.lock:
            self.token_requests.append({"grant_type": form.get("grant_type", ""),
                                        "scope": form.get("scope", "")})
            expected = base64.b64encode(
                f"{self.client_id}:{self.client_secret}".encode()).decode()
            if not authorization or authorization.strip() != f"Basic {expected}":
                return 401, {"error": "invalid_client",
                             "error_description": "client authentication failed"}
            grant = form.get("grant_type")
            if grant == "client_credentials":
                return 200, {"access_token": self.issue("application"),
                             "expires_in": self.token_lifetime,
                             "token_type": "Application Access Token"}
            if grant != "refresh_token":
                return 400, {"error": "unsupported_grant_type",
                             "error_description": "grant type in request is not supported"}
            if self.refresh_revoked or form.get("refresh_token") != self.refresh_token:
                return 400, {"error": "invalid_grant", "error_description": (
                    "the provided authorization refresh token is invalid or was issued to "
                    "another client")}
            scopes = set((form.get("scope") or "").split())
            if not scopes <= USER_SCOPES:
                return 400, {"error": "invalid_scope", "error_description": (
                    "The requested scope is invalid, unknown, malformed, or exceeds the "
                    "scope granted to the client")}
            return 200, {"access_token": self.issue("user"), "expires_in": self.token_lifetime,
                         "token_type": "User Access Token"}

    def check(self, authorization: str | None, *, scheme: str = "Bearer",
              kind: str = "user") -> None:
        """401 in eBay's shape unless ``authorization`` holds a live token of ``kind``."""
        token = None
        if authorization and authorization.startswith(f"{scheme} "):
            token = authorization[len(scheme) + 1:].strip()
        known = self.tokens.get(token or "")
        if known is None or known[0] != kind or known[1] <= self.now():
            self.refused += 1
            raise _fail(401, 1001, "Invalid access token", domain="OAuth",
                        longMessage="Invalid access token. Check the value of the "
                                    "Authorization HTTP request header.")

    # -- inventory ------------------------------------------------------------------------------

    def _day(self) -> str:
        return self.now().date().isoformat()

    def revisions_today(self, listing_id: str) -> int:
        return self.revisions.get((listing_id, self._day()), 0)

    def _revise(self, offer: dict[str, Any]) -> None:
        listing = offer.get("listingId")
        if listing:
            key = (listing, self._day())
            self.revisions[key] = self.revisions.get(key, 0) + 1

    def _published(self, sku: str) -> list[dict[str, Any]]:
        return [o for o in self.offers.values() if o["sku"] == sku and o.get("listingId")]

    def put_item(self, sku: str, body: dict[str, Any], language: str | None) -> int:
        if not language:
            raise _fail(400, 25709, "Invalid value for header Content-Language.",
                        parameters=[{"name": "Content-Language", "value": ""}])
        if not re.fullmatch(r"[A-Za-z0-9._-]{1,50}", sku):
            raise _fail(400, 25707, "This is an invalid value for a SKU.")
        quantity = ((body.get("availability") or {}).get("shipToLocationAvailability")
                    or {}).get("quantity")
        if quantity is not None and (not isinstance(quantity, int) or quantity < 0):
            raise _fail(400, 25604, "Input error. The quantity must be a non-negative integer.")
        published = self._published(sku)
        limited = [o for o in published if self.revisions_today(o["listingId"])
                   >= self.revision_limit]
        before = self.items.get(sku)
        old_quantity = self.quantity(sku) if before else None
        if limited and before is not None:
            raise _fail(400, 25020, self._limit_message(limited[0]["listingId"]))
        self.items[sku] = {**json.loads(json.dumps(body)), "sku": sku, "locale": language}
        for offer in published:
            if quantity is not None and quantity != old_quantity:
                offer["availableQuantity"] = quantity
            self._revise(offer)
        return 201 if before is None else 204

    def _limit_message(self, listing_id: str) -> str:
        return (f"Listing {listing_id} has been revised {self.revision_limit} times today, "
                "the most allowed in one day; try again after 00:00 UTC.")

    def quantity(self, sku: str) -> int:
        item = self.items.get(sku) or {}
        return int(((item.get("availability") or {}).get("shipToLocationAvailability")
                    or {}).get("quantity") or 0)

    def _set_quantity(self, sku: str, quantity: int) -> None:
        item = self.items[sku]
        item.setdefault("availability", {}).setdefault("shipToLocationAvailability", {})[
            "quantity"] = max(0, quantity)
        for offer in self._published(sku):
            offer["availableQuantity"] = max(0, quantity)

    def create_offer(self, body: dict[str, Any], language: str | None) -> dict[str, Any]:
        if not language:
            raise _fail(400, 25709, "Invalid value for header Content-Language.")
        sku = str(body.get("sku") or "")
        if sku not in self.items:
            raise _fail(400, 25702, f"SKU {sku} is not available in the system.")
        for field in ("marketplaceId", "format"):
            if not body.get(field):
                raise _fail(400, 25709, f"Invalid value for {field}.")
        for offer in self.offers.values():
            if (offer["sku"], offer["marketplaceId"], offer["format"]) == (
                    sku, body["marketplaceId"], body["format"]):
                raise _fail(400, 25002, "Offer entity already exists.",
                            parameters=[{"name": "offerId", "value": offer["offerId"]}])
        offer_id = str(5_000_000_000 + self._id())
        self.offers[offer_id] = {**json.loads(json.dumps(body)), "offerId": offer_id,
                                 "status": "UNPUBLISHED", "listingId": None}
        return {"offerId": offer_id}

    def offers_of(self, sku: str) -> list[dict[str, Any]]:
        found = [self._offer_out(o) for o in self.offers.values() if o["sku"] == sku]
        if not found:
            raise _fail(404, 25713, "This Offer is not available.")
        return found

    def _offer_out(self, offer: dict[str, Any]) -> dict[str, Any]:
        out = {k: v for k, v in offer.items() if k != "listingId"}
        if offer.get("listingId"):
            out["listing"] = {"listingId": offer["listingId"], "listingStatus": "ACTIVE"}
        return out

    def get_offer(self, offer_id: str) -> dict[str, Any]:
        offer = self.offers.get(offer_id)
        if offer is None:
            raise _fail(404, 25713, "This Offer is not available.")
        return self._offer_out(offer)

    def publish(self, offer_id: str) -> dict[str, Any]:
        offer = self.offers.get(offer_id)
        if offer is None:
            raise _fail(404, 25713, "This Offer is not available.")
        if offer.get("listingId"):
            return {"listingId": offer["listingId"], "warnings": []}
        item = self.items.get(offer["sku"]) or {}
        problems = []
        if not (item.get("product") or {}).get("title"):
            problems.append("The title is missing.")
        if not ((offer.get("pricingSummary") or {}).get("price") or {}).get("value"):
            problems.append("The price is missing.")
        if not item.get("condition"):
            problems.append("The item condition is missing.")
        if offer.get("categoryId") in CARD_CATEGORIES:
            names = {str(d.get("name")): d for d in item.get("conditionDescriptors") or []}
            if item.get("condition") == GRADED and not {"27501", "27502"} <= set(names):
                problems.append("A graded card needs condition descriptors 27501 (grader) "
                                "and 27502 (grade).")
            elif item.get("condition") == UNGRADED and "40001" not in names:
                problems.append("An ungraded card needs condition descriptor 40001 "
                                "(card condition).")
            elif item.get("condition") not in (GRADED, UNGRADED):
                problems.append("Trading cards are LIKE_NEW (graded) or USED_VERY_GOOD "
                                "(ungraded).")
        if problems:
            raise EbayError(400, {"errors": [
                {"errorId": 25021, "domain": "API_INVENTORY", "category": "REQUEST",
                 "message": p} for p in problems]})
        offer["listingId"] = str(110_000_000_000 + self._id())
        offer["status"] = "PUBLISHED"
        offer["availableQuantity"] = self.quantity(offer["sku"])
        return {"listingId": offer["listingId"], "warnings": []}

    def bulk_update(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        requests = body.get("requests")
        if not isinstance(requests, list) or not requests:
            raise _fail(400, 25709, "The requests container is missing.")
        if len(requests) > MAX_BULK:
            raise _fail(400, 25719, f"The request has {len(requests)} items; at most "
                        f"{MAX_BULK} are allowed.")
        self.bulk_log.append(json.loads(json.dumps(body)))
        responses: list[dict[str, Any]] = []
        for request in requests:
            responses.extend(self._bulk_one(request))
        ok = all(r["statusCode"] == 200 for r in responses)
        return (200 if ok else 207), {"responses": responses}

    def _bulk_one(self, request: dict[str, Any]) -> list[dict[str, Any]]:
        sku = str(request.get("sku") or "")
        offers = request.get("offers") or []

        def answer(offer_id: str | None, status: int, errors: list[dict[str, Any]]
                   ) -> dict[str, Any]:
            part: dict[str, Any] = {"statusCode": status, "sku": sku, "errors": errors,
                                    "warnings": []}
            if offer_id is not None:
                part["offerId"] = offer_id
            return part

        def error(error_id: int, message: str) -> list[dict[str, Any]]:
            return [{"errorId": error_id, "domain": "API_INVENTORY", "category": "REQUEST",
                     "message": message}]

        ids: list[str | None] = [str(o.get("offerId")) for o in offers] or [None]
        if sku not in self.items:
            return [answer(i, 404, error(25702, f"SKU {sku} is not available in the system."))
                    for i in ids]
        wrong = [i for i in ids if i is not None and (
            i not in self.offers or self.offers[i]["sku"] != sku)]
        if wrong:
            return [answer(i, 400, error(25713, f"Offer {i} is not available for SKU {sku}.")
                           if i in wrong else []) for i in ids]
        limited = [o for o in self._published(sku)
                   if self.revisions_today(o["listingId"]) >= self.revision_limit]
        if limited:
            message = self._limit_message(limited[0]["listingId"])
            return [answer(i, 400, error(25020, message)) for i in ids]
        availability = request.get("shipToLocationAvailability")
        if availability is not None:
            self._set_quantity(sku, int(availability.get("quantity") or 0))
        for part in offers:
            offer = self.offers[str(part["offerId"])]
            if part.get("availableQuantity") is not None:
                offer["availableQuantity"] = int(part["availableQuantity"])
                if availability is None:
                    self._set_quantity(sku, int(part["availableQuantity"]))
            if part.get("price") is not None:
                offer.setdefault("pricingSummary", {})["price"] = dict(part["price"])
        for offer in self._published(sku):
            self._revise(offer)
        return [answer(i, 200, []) for i in ids]

    # -- orders ---------------------------------------------------------------------------------

    def place_order(self, lines: list[dict[str, Any]], *, buyer: str = "buyer_one",
                    paid: bool = True, full_name: str = "Ada Buyer",
                    email: str | None = None, currency: str = "USD",
                    shipping: str = "0.00") -> dict[str, Any]:
        """A buyer's purchase: each line ``{sku, quantity, price?}`` takes its units off the
        listing (never below zero)."""
        with self.lock:
            now = self.now()
            number = self._id()
            order_id = f"{number:02d}-{10000 + number:05d}-{20000 + number:05d}"
            items = []
            subtotal = Decimal("0")
            for i, line in enumerate(lines):
                sku = line["sku"]
                offer = next((o for o in self._published(sku)), None)
                price = Decimal(str(line.get("price") or (
                    ((offer or {}).get("pricingSummary") or {}).get("price") or {}).get(
                    "value") or "1.00"))
                quantity = int(line["quantity"])
                if sku in self.items:
                    self._set_quantity(sku, self.quantity(sku) - quantity)
                cost = price * quantity
                subtotal += cost
                items.append({
                    "lineItemId": str(10_000_000_000 + number * 100 + i), "sku": sku,
                    "title": ((self.items.get(sku) or {}).get("product") or {}).get("title")
                    or sku, "quantity": quantity,
                    "lineItemCost": {"value": f"{cost:.2f}", "currency": currency},
                    "legacyItemId": (offer or {}).get("listingId"),
                    "lineItemFulfillmentStatus": "NOT_STARTED"})
            total = subtotal + Decimal(shipping)
            order = {
                "orderId": order_id, "legacyOrderId": order_id,
                "creationDate": _now_iso(now), "lastModifiedDate": _now_iso(now),
                "orderFulfillmentStatus": "NOT_STARTED",
                "orderPaymentStatus": "PAID" if paid else "PENDING",
                "sellerId": self.seller,
                "buyer": {"username": buyer},
                "cancelStatus": {"cancelState": "NONE_REQUESTED", "cancelRequests": []},
                "pricingSummary": {
                    "priceSubtotal": {"value": f"{subtotal:.2f}", "currency": currency},
                    "deliveryCost": {"value": f"{Decimal(shipping):.2f}",
                                     "currency": currency},
                    "total": {"value": f"{total:.2f}", "currency": currency}},
                "paymentSummary": {"totalDueSeller": {"value": f"{total:.2f}",
                                                      "currency": currency},
                                   "payments": [{"paymentStatus": "PAID" if paid
                                                 else "PENDING",
                                                 "amount": {"value": f"{total:.2f}",
                                                            "currency": currency}}],
                                   "refunds": []},
                "fulfillmentStartInstructions": [{
                    "fulfillmentInstructionsType": "SHIP_TO",
                    "shippingStep": {"shipTo": {
                        "fullName": full_name,
                        "contactAddress": {"addressLine1": "1 Main Street",
                                           "city": "San Jose", "stateOrProvince": "CA",
                                           "postalCode": "95125", "countryCode": "US"},
                        "primaryPhone": {"phoneNumber": "4085551234"},
                        "email": email or f"{buyer}@members.ebay.test"}}}],
                "lineItems": items}
            self.orders[order_id] = order
            copied: dict[str, Any] = json.loads(json.dumps(order))
            return copied

    def _touch(self, order: dict[str, Any]) -> None:
        order["lastModifiedDate"] = _now_iso(self.now())

    def cancel_on_ebay(self, order_id: str) -> None:
        """A cancellation made on eBay (the buyer asked, eBay approved it)."""
        with self.lock:
            order = self.orders[order_id]
            self._cancel(order, "BUYER_ASKED_CANCEL", "BUYER")

    def _cancel(self, order: dict[str, Any], reason: str, initiator: str) -> str:
        cancel_id = str(5_100_000_000 + self._id())
        order["cancelStatus"] = {"cancelState": "CANCELED", "cancelledDate": _now_iso(
            self.now()), "cancelRequests": [{
                "cancelRequestId": cancel_id, "cancelReason": reason,
                "cancelInitiator": initiator, "cancelRequestState": "COMPLETED",
                "cancelRequestedDate": _now_iso(self.now())}]}
        for line in order["lineItems"]:
            if line.get("sku") in self.items:
                self._set_quantity(line["sku"], self.quantity(line["sku"]) + line["quantity"])
        self._touch(order)
        return cancel_id

    def list_orders(self, params: dict[str, str]) -> dict[str, Any]:
        self.order_queries.append((params.get("limit"), dict(params)))
        try:
            limit = int(params.get("limit") or 50)
            offset = int(params.get("offset") or 0)
        except ValueError:
            raise _fail(400, 30700, "Invalid limit or offset.",
                        domain="API_FULFILLMENT") from None
        if not 1 <= limit <= MAX_ORDERS_PAGE or offset < 0:
            raise _fail(400, 30700, f"The limit must be 1 to {MAX_ORDERS_PAGE}.",
                        domain="API_FULFILLMENT",
                        parameters=[{"name": "limit", "value": str(limit)}])
        orders = list(self.orders.values())
        for clause in filter(None, (params.get("filter") or "").split(",")):
            match = re.fullmatch(r"(lastmodifieddate|creationdate):\[([^\]]*)\]", clause)
            if match is None:
                raise _fail(400, 30800, f"Invalid filter: {clause}", domain="API_FULFILLMENT")
            field = "lastModifiedDate" if match.group(1) == "lastmodifieddate" \
                else "creationDate"
            low, _, high = match.group(2).partition("..")
            try:
                start = _parse_time(low) if low else None
                end = _parse_time(high) if high else None
            except ValueError:
                raise _fail(400, 30800, f"Invalid date in filter: {clause}",
                            domain="API_FULFILLMENT") from None
            orders = [o for o in orders
                      if (start is None or _parse_time(o[field]) >= start)
                      and (end is None or _parse_time(o[field]) <= end)]
        orders.sort(key=lambda o: (o["creationDate"], o["orderId"]), reverse=True)
        page = orders[offset:offset + limit]
        query = "&".join(f"{k}={v}" for k, v in params.items() if k not in ("offset",))
        base = f"/sell/fulfillment/v1/order?{query}"
        out: dict[str, Any] = {"href": f"{base}&offset={offset}", "total": len(orders),
                               "limit": limit, "offset": offset,
                               "orders": json.loads(json.dumps(page))}
        if offset + limit < len(orders):
            out["next"] = f"{base}&offset={offset + limit}"
        return out

    def get_order(self, order_id: str) -> dict[str, Any]:
        order = self.orders.get(order_id)
        if order is None:
            raise _fail(404, 32100, "Invalid Order Id", domain="API_FULFILLMENT")
        return order

    def ship(self, order_id: str, body: dict[str, Any]) -> str:
        order = self.get_order(order_id)
        if order["cancelStatus"].get("cancelState") == "CANCELED":
            raise _fail(400, 32200, "The order is cancelled.", domain="API_FULFILLMENT")
        done = self._shipped(order_id)
        wanted = body.get("lineItems") or []
        if not wanted:
            raise _fail(400, 32400, "lineItems is required.", domain="API_FULFILLMENT")
        lines = {li["lineItemId"]: li for li in order["lineItems"]}
        for part in wanted:
            line = lines.get(str(part.get("lineItemId")))
            quantity = int(part.get("quantity") or 0)
            if line is None or quantity < 1 or done.get(line["lineItemId"], 0) + quantity \
                    > line["quantity"]:
                raise _fail(400, 32400, f"Invalid line item {part.get('lineItemId')} or "
                            "quantity.", domain="API_FULFILLMENT")
        fulfillment_id = str(body.get("trackingNumber") or f"F{self._id()}")
        self.fulfillments.setdefault(order_id, []).append({
            "fulfillmentId": fulfillment_id,
            "shipmentTrackingNumber": body.get("trackingNumber"),
            "shippingCarrierCode": body.get("shippingCarrierCode"),
            "shippedDate": body.get("shippedDate") or _now_iso(self.now()),
            "lineItems": [{"lineItemId": str(p["lineItemId"]), "quantity": int(p["quantity"])}
                          for p in wanted]})
        done = self._shipped(order_id)
        complete = all(done.get(li["lineItemId"], 0) >= li["quantity"]
                       for li in order["lineItems"])
        order["orderFulfillmentStatus"] = "FULFILLED" if complete else "IN_PROGRESS"
        for li in order["lineItems"]:
            li["lineItemFulfillmentStatus"] = "FULFILLED" if done.get(
                li["lineItemId"], 0) >= li["quantity"] else li["lineItemFulfillmentStatus"]
        self._touch(order)
        return fulfillment_id

    def _shipped(self, order_id: str) -> dict[str, int]:
        done: dict[str, int] = {}
        for f in self.fulfillments.get(order_id, []):
            for part in f["lineItems"]:
                done[part["lineItemId"]] = done.get(part["lineItemId"], 0) + part["quantity"]
        return done

    def refund(self, order_id: str, body: dict[str, Any]) -> dict[str, Any]:
        order = self.get_order(order_id)
        reason = body.get("reasonForRefund")
        if reason not in ("BUYER_CANCEL", "OUT_OF_STOCK", "FOUND_CHEAPER_PRICE",
                          "INCORRECT_PRICE", "ITEM_DAMAGED", "ITEM_DEFECTIVE",
                          "LOST_IN_TRANSIT", "MUTUALLY_AGREED", "SELLER_CANCEL", "OTHER"):
            raise _fail(400, 32500, "Invalid reasonForRefund.", domain="API_FULFILLMENT")
        amount = body.get("orderLevelRefundAmount") or {}
        try:
            value = Decimal(str(amount.get("value")))
        except ArithmeticError:
            raise _fail(400, 32500, "Invalid refund amount.", domain="API_FULFILLMENT") \
                from None
        summary = order["paymentSummary"]
        paid = Decimal(summary["totalDueSeller"]["value"]) if order[
            "orderPaymentStatus"] != "PENDING" else Decimal("0")
        refunded = sum((Decimal(r["amount"]["value"]) for r in summary["refunds"]),
                       Decimal("0"))
        if value <= 0 or value > paid - refunded:
            raise _fail(400, 32500, f"The refund amount exceeds what is left to refund "
                        f"({paid - refunded}).", domain="API_FULFILLMENT")
        refund_id = f"5{self._id():011d}"
        summary["refunds"].append({
            "refundId": refund_id, "refundStatus": "REFUNDED",
            "refundDate": _now_iso(self.now()),
            "amount": {"value": f"{value:.2f}", "currency": amount.get("currency") or "USD"},
            "refundReferenceId": refund_id})
        total_refunded = refunded + value
        order["orderPaymentStatus"] = "FULLY_REFUNDED" if total_refunded >= paid \
            else "PARTIALLY_REFUNDED"
        self._touch(order)
        return {"refundId": refund_id, "refundStatus": "PENDING"}

    def seller_cancel(self, body: dict[str, Any]) -> dict[str, Any]:
        order = self.orders.get(str(body.get("legacyOrderId") or ""))
        if order is None:
            raise _fail(400, 1307, "Order not found.", domain="API_POSTORDER")
        if body.get("cancelReason") not in ("OUT_OF_STOCK_OR_CANNOT_FULFILL",
                                            "BUYER_ASKED_CANCEL", "ADDRESS_ISSUES"):
            raise _fail(400, 1300, "Invalid cancel reason.", domain="API_POSTORDER")
        if order["cancelStatus"].get("cancelState") == "CANCELED":
            raise _fail(400, 1309, "The order is already cancelled.", domain="API_POSTORDER")
        if self._shipped(order["orderId"]):
            raise _fail(400, 1310, "A shipped order cannot be cancelled.",
                        domain="API_POSTORDER")
        cancel_id = self._cancel(order, str(body["cancelReason"]), "SELLER")
        self.cancellations.append({"cancelId": cancel_id, **body})
        return {"cancelId": cancel_id}

    # -- notifications --------------------------------------------------------------------------

    def public_key(self, kid: str) -> dict[str, Any]:
        if kid != self.kid:
            raise _fail(404, 195001, "The public key was not found.",
                        domain="API_NOTIFICATION")
        pem = self.key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        return {"algorithm": "ECDSA", "digest": "SHA1", "key": pem.decode()}

    def notification(self, topic: str, data: dict[str, Any], *,
                     notification_id: str | None = None,
                     tamper: bool = False) -> tuple[bytes, dict[str, str]]:
        """A notification's raw body and headers, signed (``tamper``: a signature that does
        not match the body)."""
        now = _now_iso(self.now())
        body = json.dumps({
            "metadata": {"topic": topic, "schemaVersion": "1.0", "deprecated": False},
            "notification": {"notificationId": notification_id or secrets.token_hex(16),
                             "eventDate": now, "publishDate": now, "publishAttemptCount": 1,
                             "data": data}}).encode()
        signed = body + b" " if tamper else body
        signature = self.key.sign(signed, ec.ECDSA(hashes.SHA1()))  # noqa: S303 - eBay's
        header = base64.b64encode(json.dumps({
            "alg": "ECDSA", "kid": self.kid, "signature": base64.b64encode(signature).decode(),
            "digest": "SHA1"}).encode()).decode()
        return body, {"Content-Type": "application/json", "X-EBAY-SIGNATURE": header}

    def send_notification(self, url: str, topic: str, data: dict[str, Any], *,
                          notification_id: str | None = None,
                          tamper: bool = False) -> tuple[int, str]:
        body, headers = self.notification(topic, data, notification_id=notification_id,
                                          tamper=tamper)
        response = httpx.post(url, content=body, headers=headers, timeout=10)
        return response.status_code, response.text

    def challenge(self, url: str) -> dict[str, Any]:
        """eBay's endpoint check: GET ``url?challenge_code=…``; the expected answer is
        hex SHA-256 of challenge code + verification token + endpoint URL."""
        code = secrets.token_hex(16)
        response = httpx.get(url, params={"challenge_code": code}, timeout=10)
        expected = None
        if self.verification_token:
            expected = hashlib.sha256(
                (code + self.verification_token + url).encode()).hexdigest()
        try:
            answer = response.json().get("challengeResponse")
        except ValueError:
            answer = None
        return {"status": response.status_code, "challengeResponse": answer,
                "expected": expected, "ok": expected is not None and answer == expected}


def create_app(emulator: EbayEmulator | None = None, **options: Any) -> FastAPI:
    state = emulator or EbayEmulator(**{
        "client_id": "Mercato-Demo-PRD-0123456789", "client_secret": "PRD-emulator-secret",
        "refresh_token": "v^1.1#i^1#emulator-refresh-token", **options})
    app = FastAPI(title="eBay emulator", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.emulator = state

    def answer(func: Callable[[], Any], status: int = 200) -> Response:
        try:
            with state.lock:
                result = func()
        except EbayError as exc:
            return JSONResponse(exc.body, status_code=exc.status)
        if result is None:
            return Response(status_code=204)
        if isinstance(result, tuple):
            return JSONResponse(result[1], status_code=result[0])
        return JSONResponse(result, status_code=status)

    @app.middleware("http")
    async def throttling(request: Request, call_next: Any) -> Any:
        path = request.url.path
        if path != "/health" and not path.startswith("/_emulator"):
            with state.lock:
                state.calls.append((request.method, path))
                if state.throttled > 0:
                    state.throttled -= 1
                    return JSONResponse(error_body(
                        2001, "Too many requests. The request limit has been reached for the "
                              "resource.", domain="ACCESS", category="REQUEST"),
                        status_code=429, headers={"Retry-After": "0"})
        return await call_next(request)

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/identity/v1/oauth2/token")
    async def token(request: Request) -> Response:
        form = {k: str(v) for k, v in (await request.form()).items()}
        status, body = state.token(request.headers.get("authorization"), form)
        return JSONResponse(body, status_code=status)

    def user(request: Request) -> None:
        state.check(request.headers.get("authorization"))

    @app.put("/sell/inventory/v1/inventory_item/{sku}")
    async def put_item(sku: str, request: Request) -> Response:
        body = await request.json()

        def run() -> Any:
            user(request)
            code = state.put_item(sku, body, request.headers.get("content-language"))
            return (code, {}) if code == 201 else None
        return answer(run)

    @app.get("/sell/inventory/v1/inventory_item/{sku}")
    def get_item(sku: str, request: Request) -> Response:
        def run() -> Any:
            user(request)
            if sku not in state.items:
                raise _fail(404, 25710, "We didn't find the entity you are requesting.")
            return state.items[sku]
        return answer(run)

    @app.get("/sell/inventory/v1/offer")
    def get_offers(request: Request, sku: str = "") -> Response:
        def run() -> Any:
            user(request)
            found = state.offers_of(sku)
            return {"href": str(request.url), "limit": 100, "offers": found,
                    "size": len(found), "total": len(found)}
        return answer(run)

    @app.post("/sell/inventory/v1/offer")
    async def create_offer(request: Request) -> Response:
        body = await request.json()

        def run() -> Any:
            user(request)
            return state.create_offer(body, request.headers.get("content-language"))
        return answer(run, 201)

    @app.get("/sell/inventory/v1/offer/{offer_id}")
    def get_offer(offer_id: str, request: Request) -> Response:
        def run() -> Any:
            user(request)
            return state.get_offer(offer_id)
        return answer(run)

    @app.post("/sell/inventory/v1/offer/{offer_id}/publish")
    def publish(offer_id: str, request: Request) -> Response:
        def run() -> Any:
            user(request)
            return state.publish(offer_id)
        return answer(run)

    @app.post("/sell/inventory/v1/bulk_update_price_quantity")
    async def bulk(request: Request) -> Response:
        body = await request.json()

        def run() -> Any:
            user(request)
            return state.bulk_update(body)
        return answer(run)

    @app.get("/sell/fulfillment/v1/order")
    def orders(request: Request) -> Response:
        def run() -> Any:
            user(request)
            return state.list_orders(dict(request.query_params))
        return answer(run)

    @app.get("/sell/fulfillment/v1/order/{order_id}")
    def order(order_id: str, request: Request) -> Response:
        def run() -> Any:
            user(request)
            return state.get_order(order_id)
        return answer(run)

    @app.post("/sell/fulfillment/v1/order/{order_id}/shipping_fulfillment")
    async def ship(order_id: str, request: Request) -> Response:
        body = await request.json()
        try:
            with state.lock:
                user(request)
                made = state.ship(order_id, body)
        except EbayError as exc:
            return JSONResponse(exc.body, status_code=exc.status)
        location = f"/sell/fulfillment/v1/order/{order_id}/shipping_fulfillment/{made}"
        return JSONResponse({}, status_code=201, headers={"Location": location})

    @app.get("/sell/fulfillment/v1/order/{order_id}/shipping_fulfillment")
    def fulfillments(order_id: str, request: Request) -> Response:
        def run() -> Any:
            user(request)
            state.get_order(order_id)
            found = state.fulfillments.get(order_id, [])
            return {"fulfillments": found, "total": len(found)}
        return answer(run)

    @app.post("/sell/fulfillment/v1/order/{order_id}/issue_refund")
    async def refund(order_id: str, request: Request) -> Response:
        body = await request.json()

        def run() -> Any:
            user(request)
            return state.refund(order_id, body)
        return answer(run)

    @app.post("/post-order/v2/cancellation")
    async def cancellation(request: Request) -> Response:
        body = await request.json()

        def run() -> Any:
            state.check(request.headers.get("authorization"), scheme="IAF")
            if not request.headers.get("x-ebay-c-marketplace-id"):
                raise _fail(400, 1001, "X-EBAY-C-MARKETPLACE-ID header is missing.",
                            domain="API_POSTORDER")
            return state.seller_cancel(body)
        return answer(run, 201)

    @app.get("/commerce/notification/v1/public_key/{kid}")
    def public_key(kid: str, request: Request) -> Response:
        def run() -> Any:
            state.check(request.headers.get("authorization"), kind="application")
            return state.public_key(kid)
        return answer(run)

    # -- control ----------------------------------------------------------------------------

    @app.post("/_emulator/orders")
    async def control_order(request: Request) -> Response:
        body = await request.json()
        return JSONResponse(state.place_order(
            body["lines"], buyer=body.get("buyer", "buyer_one"), paid=body.get("paid", True),
            full_name=body.get("full_name", "Ada Buyer"), email=body.get("email")),
            status_code=201)

    @app.post("/_emulator/orders/{order_id}/cancel")
    def control_cancel(order_id: str) -> Response:
        state.cancel_on_ebay(order_id)
        return JSONResponse(state.get_order(order_id))

    @app.get("/_emulator/items/{sku}")
    def control_item(sku: str) -> Response:
        with state.lock:
            offers = [o for o in state.offers.values() if o["sku"] == sku]
            return JSONResponse({
                "quantity": state.quantity(sku) if sku in state.items else None,
                "item": state.items.get(sku),
                "offers": offers,
                "revisions": {o["listingId"]: state.revisions_today(o["listingId"])
                              for o in offers if o.get("listingId")}})

    @app.post("/_emulator/throttle")
    async def control_throttle(request: Request) -> Response:
        state.throttle(int((await request.json()).get("count", 1)))
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
    async def control_clock(request: Request) -> Response:
        state.advance(float((await request.json()).get("advance_seconds", 0)))
        return JSONResponse({"now": _now_iso(state.now())})

    @app.post("/_emulator/notify")
    def control_notify(body: dict[str, Any]) -> Response:
        status, text = state.send_notification(
            body["url"], body.get("topic", "MARKETPLACE_ACCOUNT_DELETION"),
            body.get("data") or {}, notification_id=body.get("notificationId"),
            tamper=bool(body.get("tamper")))
        return JSONResponse({"status": status, "body": text})

    @app.post("/_emulator/challenge")
    def control_challenge(body: dict[str, Any]) -> Response:
        return JSONResponse(state.challenge(body["url"]))

    return app
