"""A local emulator of Amazon's Selling Partner API (and Login with Amazon), for tests and the
demo (no internet here).

``create_app(emulator=None, **options)`` is an ASGI app; its state is ``app.state.emulator``, an
``AmazonEmulator`` holding plain objects in memory behind one lock.

Emulated, as Amazon documents it:

- LWA: ``POST /auth/o2/token``, form ``grant_type=refresh_token&refresh_token&client_id&
  client_secret`` → ``{access_token: "Atza|…", refresh_token, token_type: "bearer",
  expires_in}``; a wrong client is 401 ``invalid_client``, an unknown or revoked refresh token
  400 ``invalid_grant``. Access tokens expire after ``token_lifetime`` seconds (3600).
- Every SP-API call wants ``x-amz-access-token``: missing is 403 ``Unauthorized`` (details
  ""), unknown 403 "The access token you provided is revoked, malformed or invalid.", expired
  403 "The access token you provided has expired." — SP-API's ``{"errors": [{code, message,
  details}]}`` shape. A seller id in a path other than the account's is 403 too.
- Per-operation token buckets (rate per second, burst) with SP-API's default usage plans;
  every answer carries ``x-amzn-RateLimit-Limit`` (the operation's rate); an empty bucket is
  429 ``QuotaExceeded``. ``rates`` overrides them; ``throttle(n)`` makes the next n calls 429.
- Listings Items API 2021-08-01: ``GET`` and ``PATCH /listings/2021-08-01/items/{sellerId}/
  {sku}?marketplaceIds=``; patches ``op`` ``add``/``merge``/``replace``/``delete`` on
  ``/attributes/fulfillment_availability`` (``[{fulfillment_channel_code, quantity}]``) and
  ``/attributes/purchasable_offer`` (``[{marketplace_id, currency, our_price: [{schedule:
  [{value_with_tax}]}]}]``) → ``{sku, status: ACCEPTED|INVALID, submissionId, issues}``. A
  SKU the seller has no listing for is INVALID (issue code ``4000001``: the emulator's choice).
- Feeds API 2021-06-30: ``POST /feeds/2021-06-30/documents`` → ``{feedDocumentId, url}`` (the
  url takes a ``PUT`` of the content, like S3's pre-signed URL), ``POST /feeds`` ``{feedType,
  marketplaceIds, inputFeedDocumentId}`` → 202 ``{feedId}``, ``GET /feeds/{id}``
  (``processingStatus`` IN_QUEUE → IN_PROGRESS → DONE after ``feed_delay`` seconds; a feed that
  cannot be read is FATAL), ``GET /documents/{id}`` → ``{feedDocumentId, url}`` of the result.
  ``JSON_LISTINGS_FEED`` (``{header: {sellerId, version: "2.0"}, messages: [{messageId, sku,
  operationType: PATCH, productType, patches}]}``) answers a processing report ``{header,
  issues: [{messageId, code, severity, message}], summary}``; ``POST_ORDER_ACKNOWLEDGEMENT_DATA``
  (XML ``OrderAcknowledgement`` with ``StatusCode`` Failure and a ``CancelReason`` per item)
  cancels the orders it names and answers an XML ``ProcessingReport``.
- Orders API v0: ``GET /orders/v0/orders?MarketplaceIds=&LastUpdatedAfter=|CreatedAfter=&
  MaxResultsPerPage=`` (1..100, else 400 ``InvalidInput``) with ``NextToken``; ``GET
  /orders/v0/orders/{id}`` and ``/orderItems``; ``POST /orders/v0/orders/{id}/
  shipmentConfirmation`` (``packageDetail`` checked against what is left to ship) → 204.
  Order ids look like ``902-1234567-1234567``; ``BuyerInfo.BuyerEmail`` is a masked
  ``@marketplace.amazon.com`` address.

Control API under ``/_emulator/`` (and the same as Python methods): listings (``add_listing``),
buyer orders (which take units from the listing), cancelling an order on Amazon's side (the
units go back), quantities per SKU, throttling, expiring tokens, revoking the refresh token.

Not emulated: SigV4 (SP-API no longer requires it), Restricted Data Tokens (the buyer's data
is answered to any token), notifications (SQS/EventBridge), FBA, listing creation with
product-type schemas, refunds (payment adjustment feeds), and most message wording.
"""

from __future__ import annotations

import base64
import datetime as dt
import itertools
import json
import random
import secrets
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

MARKETPLACE = "ATVPDKIKX0DER"
MAX_ORDERS_PAGE = 100
RATES: dict[str, tuple[float, float]] = {
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
"""SP-API's default usage plans (requests per second, burst), per operation."""
CANCEL_REASONS = frozenset({
    "NoInventory", "ShippingAddressUndeliverable", "CustomerExchange", "BuyerCanceled",
    "GeneralAdjustment", "CarrierCreditDecision", "RiskAssessmentInformationNotValid",
    "CarrierCoverageFailure", "CustomerReturn", "MerchandiseNotReceived"})


def iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_time(raw: str) -> dt.datetime:
    moment = dt.datetime.fromisoformat(raw.strip().replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def _copy(value: dict[str, Any]) -> dict[str, Any]:
    copied: dict[str, Any] = json.loads(json.dumps(value))
    return copied


class SpApiError(Exception):
    def __init__(self, status: int, code: str, message: str, details: str = "",
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.body = {"errors": [{"code": code, "message": message, "details": details}]}
        self.headers = headers or {}


class Bucket:
    def __init__(self, rate: float, burst: float, clock: Callable[[], float]) -> None:
        self.rate, self.burst, self._clock = rate, burst, clock
        self.tokens, self.updated = burst, clock()

    def take(self) -> bool:
        now = self._clock()
        self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False


class AmazonEmulator:
    """One seller account, one LWA application, in memory."""

    def __init__(self, *, client_id: str, client_secret: str, refresh_token: str,
                 seller_id: str = "A2EMULATORSELLER", marketplace_id: str = MARKETPLACE,
                 token_lifetime: int = 3600, feed_delay: float = 0.5,
                 rates: dict[str, tuple[float, float]] | None = None,
                 currency: str = "USD") -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.refresh_token = refresh_token
        self.refresh_revoked = False
        self.seller_id = seller_id.upper()
        self.marketplace_id = marketplace_id
        self.token_lifetime = token_lifetime
        self.feed_delay = feed_delay
        self.currency = currency
        self.rates = {**RATES, **(rates or {})}
        self.lock = threading.RLock()
        self.tokens: dict[str, float] = {}
        """access token → expiry (epoch seconds)."""
        self.buckets: dict[str, Bucket] = {}
        self.listings: dict[str, dict[str, Any]] = {}
        self.orders: dict[str, dict[str, Any]] = {}
        self.items: dict[str, list[dict[str, Any]]] = {}
        self.packages: dict[str, list[dict[str, Any]]] = {}
        self.documents: dict[str, dict[str, Any]] = {}
        self.feeds: dict[str, dict[str, Any]] = {}
        self.patch_log: list[dict[str, Any]] = []
        self.order_queries: list[dict[str, str]] = []
        self.calls: list[tuple[str, str]] = []
        self.token_requests = 0
        self.refused = 0
        self.throttled = 0
        self.rate_limited = 0
        self._ids = itertools.count(1)
        self._rng = random.Random()

    # -- auth -----------------------------------------------------------------------------------

    def token(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        with self.lock:
            self.token_requests += 1
            if form.get("client_id") != self.client_id \
                    or form.get("client_secret") != self.client_secret:
                return 401, {"error": "invalid_client",
                             "error_description": "Client authentication failed"}
            if form.get("grant_type") != "refresh_token":
                return 400, {"error": "unsupported_grant_type",
                             "error_description": "The authorization grant type is not "
                                                  "supported by the authorization server"}
            if self.refresh_revoked or form.get("refresh_token") != self.refresh_token:
                return 400, {"error": "invalid_grant", "error_description": (
                    "The request has an invalid grant parameter : refresh_token")}
            token = "Atza|" + secrets.token_urlsafe(48)
            self.tokens[token] = time.time() + self.token_lifetime
            return 200, {"access_token": token, "refresh_token": self.refresh_token,
                         "token_type": "bearer", "expires_in": self.token_lifetime}

    def check(self, token: str | None) -> None:
        if not token:
            self.refused += 1
            raise SpApiError(403, "Unauthorized", "Access to requested resource is denied.")
        expiry = self.tokens.get(token)
        if expiry is None:
            self.refused += 1
            raise SpApiError(403, "Unauthorized", "Access to requested resource is denied.",
                             "The access token you provided is revoked, malformed or invalid.")
        if expiry <= time.time():
            self.refused += 1
            raise SpApiError(403, "Unauthorized", "Access to requested resource is denied.",
                             "The access token you provided has expired.")

    def expire_tokens(self) -> None:
        with self.lock:
            self.tokens = dict.fromkeys(self.tokens, time.time() - 1)

    def revoke_refresh_token(self) -> None:
        with self.lock:
            self.refresh_revoked = True

    def throttle(self, count: int) -> None:
        with self.lock:
            self.throttled = count

    def admit(self, operation: str) -> dict[str, str]:
        """The operation's rate header; 429 when its bucket is empty (or a throttle is set)."""
        rate, burst = self.rates[operation]
        headers = {"x-amzn-RateLimit-Limit": f"{rate:g}",
                   "x-amzn-RequestId": secrets.token_hex(16)}
        bucket = self.buckets.get(operation)
        if bucket is None:
            bucket = self.buckets[operation] = Bucket(rate, burst, time.monotonic)
        if self.throttled > 0 or not bucket.take():
            self.throttled = max(0, self.throttled - 1)
            self.rate_limited += 1
            raise SpApiError(429, "QuotaExceeded",
                             "You exceeded your quota for the requested resource.",
                             headers=headers)
        return headers

    def seller(self, seller_id: str) -> None:
        if seller_id != self.seller_id:
            raise SpApiError(403, "Unauthorized", "Access to requested resource is denied.",
                             f"The selling partner {seller_id} did not authorize this "
                             "application.")

    def marketplaces(self, raw: str | None) -> list[str]:
        ids = [m for m in (raw or "").split(",") if m]
        if not ids:
            raise SpApiError(400, "InvalidInput", "MarketplaceIds is required.")
        unknown = [m for m in ids if m != self.marketplace_id]
        if unknown:
            raise SpApiError(400, "InvalidInput", f"Invalid marketplace id {unknown[0]}.")
        return ids

    # -- listings -------------------------------------------------------------------------------

    def add_listing(self, sku: str, *, quantity: int = 0, price: str = "9.99",
                    asin: str | None = None, title: str | None = None) -> dict[str, Any]:
        """A listing the seller made in Seller Central (an offer on an ASIN)."""
        with self.lock:
            listing = {"sku": sku, "asin": asin or f"B0{secrets.token_hex(4).upper()}",
                       "title": title or f"Item {sku}", "quantity": quantity,
                       "price": str(Decimal(price)), "productType": "PRODUCT",
                       "created": iso(dt.datetime.now(dt.UTC))}
            self.listings[sku] = listing
            return dict(listing)

    def quantity(self, sku: str) -> int | None:
        with self.lock:
            listing = self.listings.get(sku)
            return None if listing is None else int(listing["quantity"])

    def quantities(self) -> dict[str, int]:
        with self.lock:
            self.tick()
            return {sku: int(item["quantity"]) for sku, item in sorted(self.listings.items())}

    def get_listing(self, sku: str) -> dict[str, Any]:
        listing = self.listings.get(sku)
        if listing is None:
            raise SpApiError(404, "NOT_FOUND", f"SKU '{sku}' not found in marketplace "
                             f"{self.marketplace_id}")
        return {
            "sku": sku,
            "summaries": [{"marketplaceId": self.marketplace_id, "asin": listing["asin"],
                           "productType": listing["productType"], "conditionType": "new_new",
                           "status": ["BUYABLE", "DISCOVERABLE"] if listing["quantity"] > 0
                           else ["DISCOVERABLE"],
                           "itemName": listing["title"], "createdDate": listing["created"],
                           "lastUpdatedDate": listing["created"]}],
            "offers": [{"marketplaceId": self.marketplace_id, "offerType": "B2C",
                        "price": {"currencyCode": self.currency,
                                  "amount": listing["price"]}}],
            "fulfillmentAvailability": [{"fulfillmentChannelCode": "DEFAULT",
                                         "quantity": listing["quantity"]}],
            "issues": []}

    def _issue(self, code: str, message: str, attribute: str | None = None
               ) -> dict[str, Any]:
        issue: dict[str, Any] = {"code": code, "message": message, "severity": "ERROR"}
        if attribute:
            issue["attributeNames"] = [attribute]
        return issue

    def apply_patches(self, sku: str, body: dict[str, Any]) -> list[dict[str, Any]]:
        """The issues of a patch request (none: applied)."""
        listing = self.listings.get(sku)
        if listing is None:
            return [self._issue("4000001", f"The SKU '{sku}' does not match any listing of "
                                "this seller in the marketplace.")]
        if not body.get("productType"):
            return [self._issue("4000002", "productType is required.")]
        patches = body.get("patches")
        if not isinstance(patches, list) or not patches:
            return [self._issue("4000003", "At least one patch is required.")]
        changes: dict[str, Any] = {}
        issues: list[dict[str, Any]] = []
        for patch in patches:
            op, path, value = patch.get("op"), patch.get("path"), patch.get("value")
            if op not in ("add", "replace", "merge", "delete"):
                issues.append(self._issue("4000004", f"Unsupported patch operation {op!r}."))
                continue
            if path == "/attributes/fulfillment_availability":
                entries = value if isinstance(value, list) else []
                found = [e for e in entries if isinstance(e, dict)
                         and e.get("fulfillment_channel_code") == "DEFAULT"]
                if op == "delete":
                    changes["quantity"] = 0
                elif not found or not isinstance(found[0].get("quantity"), int) \
                        or found[0]["quantity"] < 0:
                    issues.append(self._issue(
                        "90220", "'fulfillment_availability' quantity must be a whole number "
                        "of 0 or more for channel DEFAULT.", "fulfillment_availability"))
                else:
                    changes["quantity"] = int(found[0]["quantity"])
            elif path == "/attributes/purchasable_offer":
                try:
                    offer = next(o for o in value if o.get("marketplace_id")
                                 == self.marketplace_id)
                    amount = Decimal(str(offer["our_price"][0]["schedule"][0][
                        "value_with_tax"]))
                    if amount <= 0 or offer.get("currency") != self.currency:
                        raise ValueError
                except (StopIteration, KeyError, IndexError, TypeError, ValueError,
                        ArithmeticError):
                    issues.append(self._issue(
                        "90220", "'purchasable_offer' needs our_price for the marketplace in "
                        f"{self.currency}.", "purchasable_offer"))
                    continue
                changes["price"] = str(amount.quantize(Decimal("0.01")))
            else:
                issues.append(self._issue("4000005", f"Path {path!r} cannot be patched here."))
        if not issues:
            listing.update(changes)
        return issues

    def patch_listing(self, sku: str, body: dict[str, Any]) -> dict[str, Any]:
        self.patch_log.append({"sku": sku, **json.loads(json.dumps(body))})
        issues = self.apply_patches(sku, body)
        return {"sku": sku, "status": "INVALID" if issues else "ACCEPTED",
                "submissionId": secrets.token_hex(16), "issues": issues}

    # -- feeds ----------------------------------------------------------------------------------

    def create_document(self, body: dict[str, Any], base: str) -> dict[str, Any]:
        content_type = body.get("contentType")
        if not content_type:
            raise SpApiError(400, "InvalidInput", "contentType is required.")
        doc_id = f"amzn1.tortuga.4.na.{secrets.token_hex(12)}"
        self.documents[doc_id] = {"contentType": content_type, "content": None}
        return {"feedDocumentId": doc_id, "url": f"{base}/feed-uploads/{doc_id}"}

    def upload(self, doc_id: str, content: bytes) -> bool:
        with self.lock:
            doc = self.documents.get(doc_id)
            if doc is None:
                return False
            doc["content"] = content
            return True

    def create_feed(self, body: dict[str, Any]) -> dict[str, Any]:
        feed_type = body.get("feedType")
        if feed_type not in ("JSON_LISTINGS_FEED", "POST_ORDER_ACKNOWLEDGEMENT_DATA"):
            raise SpApiError(400, "InvalidInput", f"Unsupported feedType {feed_type}.")
        self.marketplaces(",".join(body.get("marketplaceIds") or []))
        doc_id = str(body.get("inputFeedDocumentId") or "")
        if doc_id not in self.documents:
            raise SpApiError(400, "InvalidInput", "inputFeedDocumentId is not a document.")
        feed_id = str(50_000_000_000 + next(self._ids))
        self.feeds[feed_id] = {
            "feedId": feed_id, "feedType": feed_type, "marketplaceIds": body["marketplaceIds"],
            "createdTime": iso(dt.datetime.now(dt.UTC)), "processingStatus": "IN_QUEUE",
            "inputFeedDocumentId": doc_id, "_created": time.monotonic()}
        return {"feedId": feed_id}

    def tick(self) -> None:
        """Feeds move on with time: IN_QUEUE, IN_PROGRESS after half the delay, then DONE
        (their messages applied) or FATAL."""
        now = time.monotonic()
        for feed in self.feeds.values():
            age = now - feed["_created"]
            if feed["processingStatus"] == "IN_QUEUE" and age >= self.feed_delay / 2:
                feed["processingStatus"] = "IN_PROGRESS"
                feed["processingStartTime"] = iso(dt.datetime.now(dt.UTC))
            if feed["processingStatus"] == "IN_PROGRESS" and age >= self.feed_delay:
                self._process(feed)

    def _process(self, feed: dict[str, Any]) -> None:
        doc = self.documents[feed["inputFeedDocumentId"]]
        feed["processingEndTime"] = iso(dt.datetime.now(dt.UTC))
        try:
            if doc["content"] is None:
                raise ValueError("the feed document was never uploaded")
            if feed["feedType"] == "JSON_LISTINGS_FEED":
                report, content_type = self._listings_feed(feed, doc["content"]), \
                    "application/json"
            else:
                report, content_type = self._acknowledgements(feed, doc["content"]), "text/xml"
        except ValueError as exc:
            feed["processingStatus"] = "FATAL"
            report = json.dumps({"header": {"sellerId": self.seller_id, "version": "2.0",
                                            "feedId": feed["feedId"]},
                                 "issues": [{"code": "FATAL", "severity": "ERROR",
                                             "message": str(exc)}],
                                 "summary": {"errors": 1}}).encode()
            content_type = "application/json"
        else:
            feed["processingStatus"] = "DONE"
        result = f"amzn1.tortuga.4.na.{secrets.token_hex(12)}"
        self.documents[result] = {"contentType": content_type, "content": report}
        feed["resultFeedDocumentId"] = result

    def _listings_feed(self, feed: dict[str, Any], content: bytes) -> bytes:
        try:
            body = json.loads(content)
            header, messages = body["header"], body["messages"]
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"the feed is not a JSON_LISTINGS_FEED document: {exc}") from None
        if str(header.get("sellerId") or "") != self.seller_id:
            raise ValueError("header.sellerId is not the seller who sent the feed")
        issues: list[dict[str, Any]] = []
        accepted = invalid = 0
        for message in messages:
            mid = message.get("messageId")
            if message.get("operationType") not in ("PATCH", "PARTIAL_UPDATE", "UPDATE"):
                found = [self._issue("4000004", "Unsupported operationType.")]
            else:
                self.patch_log.append({"sku": message.get("sku"), "feedId": feed["feedId"],
                                       "productType": message.get("productType"),
                                       "patches": message.get("patches")})
                found = self.apply_patches(str(message.get("sku") or ""), message)
            for issue in found:
                issues.append({"messageId": mid, **issue})
            if found:
                invalid += 1
            else:
                accepted += 1
        return json.dumps({
            "header": {"sellerId": self.seller_id, "version": "2.0", "feedId": feed["feedId"]},
            "issues": issues,
            "summary": {"errors": len(issues), "warnings": 0,
                        "messagesProcessed": len(messages), "messagesAccepted": accepted,
                        "messagesInvalid": invalid}}).encode()

    def _acknowledgements(self, feed: dict[str, Any], content: bytes) -> bytes:
        try:
            root = ET.fromstring(content)  # noqa: S314 - the connector under test's feed
        except ET.ParseError as exc:
            raise ValueError(f"the feed is not XML: {exc}") from None
        if root.findtext("MessageType") != "OrderAcknowledgement" \
                or root.findtext("Header/MerchantIdentifier") != self.seller_id:
            raise ValueError("not an OrderAcknowledgement envelope of this merchant")
        results: list[str] = []
        processed = errors = 0
        for message in root.findall("Message"):
            processed += 1
            mid = message.findtext("MessageID") or ""
            ack = message.find("OrderAcknowledgement")
            problem = self._acknowledge(ack) if ack is not None else "no OrderAcknowledgement"
            if problem:
                errors += 1
                results.append(f"<Result><MessageID>{mid}</MessageID><ResultCode>Error"
                               f"</ResultCode><ResultMessageCode>25</ResultMessageCode>"
                               f"<ResultDescription>{problem}</ResultDescription></Result>")
        return (f"<?xml version=\"1.0\" encoding=\"UTF-8\"?><AmazonEnvelope><Header>"
                f"<DocumentVersion>1.02</DocumentVersion><MerchantIdentifier>{self.seller_id}"
                f"</MerchantIdentifier></Header><MessageType>ProcessingReport</MessageType>"
                f"<Message><MessageID>1</MessageID><ProcessingReport><DocumentTransactionID>"
                f"{feed['feedId']}</DocumentTransactionID><StatusCode>Complete</StatusCode>"
                f"<ProcessingSummary><MessagesProcessed>{processed}</MessagesProcessed>"
                f"<MessagesSuccessful>{processed - errors}</MessagesSuccessful>"
                f"<MessagesWithError>{errors}</MessagesWithError><MessagesWithWarning>0"
                f"</MessagesWithWarning></ProcessingSummary>{''.join(results)}"
                f"</ProcessingReport></Message></AmazonEnvelope>").encode()

    def _acknowledge(self, ack: ET.Element) -> str | None:
        order_id = ack.findtext("AmazonOrderID") or ""
        order = self.orders.get(order_id)
        if order is None:
            return f"Order {order_id} was not found."
        status = ack.findtext("StatusCode")
        if status == "Success":
            return None
        if status != "Failure":
            return f"StatusCode {status!r} is neither Success nor Failure."
        if order["OrderStatus"] in ("Shipped", "PartiallyShipped"):
            return f"Order {order_id} has shipped units and cannot be cancelled."
        reasons = [item.findtext("CancelReason") for item in ack.findall("Item")]
        if any(r not in CANCEL_REASONS for r in reasons):
            return "A CancelReason is not one Amazon knows."
        if order["OrderStatus"] != "Canceled":
            self._cancel(order, by="seller")
        return None

    def get_document(self, doc_id: str, base: str) -> dict[str, Any]:
        if doc_id not in self.documents:
            raise SpApiError(404, "NotFound", f"Feed document {doc_id} not found.")
        return {"feedDocumentId": doc_id, "url": f"{base}/feed-downloads/{doc_id}"}

    # -- orders ---------------------------------------------------------------------------------

    def _order_id(self) -> str:
        return (f"{self._rng.randint(111, 999)}-{self._rng.randint(0, 9_999_999):07d}-"
                f"{self._rng.randint(0, 9_999_999):07d}")

    def place_order(self, lines: list[dict[str, Any]], *, buyer_name: str = "Ada Buyer",
                    status: str = "Unshipped", city: str = "Seattle") -> dict[str, Any]:
        """A buyer's order for listed SKUs: the units leave the listings."""
        with self.lock:
            now = dt.datetime.now(dt.UTC)
            order_id = self._order_id()
            items: list[dict[str, Any]] = []
            total = Decimal("0")
            for line in lines:
                sku, quantity = str(line["sku"]), int(line.get("quantity", 1))
                listing = self.listings.get(sku)
                if listing is None or listing["quantity"] < quantity:
                    raise SpApiError(400, "InvalidInput", f"{sku} has not {quantity} for sale.")
                listing["quantity"] -= quantity
                price = Decimal(str(line.get("price") or listing["price"])) * quantity
                total += price
                items.append({"ASIN": listing["asin"], "SellerSKU": sku,
                              "OrderItemId": f"{self._rng.randint(10**13, 10**14 - 1)}",
                              "Title": listing["title"], "QuantityOrdered": quantity,
                              "QuantityShipped": 0,
                              "ItemPrice": {"CurrencyCode": self.currency,
                                            "Amount": f"{price:.2f}"},
                              "ShippingPrice": {"CurrencyCode": self.currency,
                                                "Amount": "0.00"},
                              "IsGift": "false", "ConditionId": "New"})
            local = buyer_name.lower().replace(" ", "")[:8] or "buyer"
            order = {
                "AmazonOrderId": order_id, "PurchaseDate": iso(now), "LastUpdateDate": iso(now),
                "OrderStatus": status, "FulfillmentChannel": "MFN",
                "SalesChannel": "Amazon.com", "ShipServiceLevel": "Std US D2D Dom",
                "OrderTotal": {"CurrencyCode": self.currency, "Amount": f"{total:.2f}"},
                "NumberOfItemsShipped": 0,
                "NumberOfItemsUnshipped": sum(i["QuantityOrdered"] for i in items),
                "PaymentMethod": "Other", "MarketplaceId": self.marketplace_id,
                "OrderType": "StandardOrder", "IsPrime": False, "IsBusinessOrder": False,
                "BuyerInfo": {"BuyerEmail": f"{local}{secrets.token_hex(6)}"
                                            "@marketplace.amazon.com",
                              "BuyerName": buyer_name},
                "ShippingAddress": {"Name": buyer_name, "AddressLine1": "410 Terry Ave N",
                                    "City": city, "StateOrRegion": "WA",
                                    "PostalCode": "98109", "CountryCode": "US",
                                    "AddressType": "Residential"}}
            self.orders[order_id] = order
            self.items[order_id] = items
            return _copy(order)

    def forget_orders(self) -> None:
        """Drop every order (a test module sharing one emulator starts each test afresh)."""
        with self.lock:
            self.orders.clear()
            self.items.clear()
            self.packages.clear()

    def _touch(self, order: dict[str, Any]) -> None:
        order["LastUpdateDate"] = iso(dt.datetime.now(dt.UTC))

    def _cancel(self, order: dict[str, Any], *, by: str) -> None:
        order["OrderStatus"] = "Canceled"
        order["CanceledBy"] = by
        for item in self.items[order["AmazonOrderId"]]:
            listing = self.listings.get(item["SellerSKU"])
            if listing is not None:
                listing["quantity"] += item["QuantityOrdered"] - item["QuantityShipped"]
        self._touch(order)

    def cancel_order(self, order_id: str) -> dict[str, Any]:
        """The buyer (or Amazon) cancels an unshipped order: the units go back."""
        with self.lock:
            order = self.orders[order_id]
            if order["OrderStatus"] != "Canceled":
                self._cancel(order, by="buyer")
            return _copy(order)

    def list_orders(self, query: dict[str, str]) -> dict[str, Any]:
        self.order_queries.append(dict(query))
        self.marketplaces(query.get("MarketplaceIds"))
        token = query.get("NextToken")
        if token:
            try:
                state = json.loads(base64.urlsafe_b64decode(token.encode()))
            except ValueError:
                raise SpApiError(400, "InvalidInput", "Invalid NextToken.") from None
            query = {**state["query"], "MaxResultsPerPage": str(state["size"])}
            offset = int(state["offset"])
        else:
            offset = 0
        raw_size = query.get("MaxResultsPerPage") or str(MAX_ORDERS_PAGE)
        if not raw_size.isdigit() or not 1 <= int(raw_size) <= MAX_ORDERS_PAGE:
            raise SpApiError(400, "InvalidInput", "MaxResultsPerPage must be between 1 and "
                             f"{MAX_ORDERS_PAGE}.")
        size = int(raw_size)
        updated, created = query.get("LastUpdatedAfter"), query.get("CreatedAfter")
        if bool(updated) == bool(created):
            raise SpApiError(400, "InvalidInput", "Exactly one of CreatedAfter and "
                             "LastUpdatedAfter is required.")
        try:
            since = _parse_time(updated or created or "")
        except ValueError:
            raise SpApiError(400, "InvalidInput", "Invalid date-time.") from None
        field = "LastUpdateDate" if updated else "PurchaseDate"
        statuses = set(filter(None, (query.get("OrderStatuses") or "").split(",")))
        found = sorted((o for o in self.orders.values()
                        if _parse_time(o[field]) >= since
                        and (not statuses or o["OrderStatus"] in statuses)),
                       key=lambda o: (o[field], o["AmazonOrderId"]))
        page = found[offset:offset + size]
        payload: dict[str, Any] = {"Orders": json.loads(json.dumps(page))}
        if offset + size < len(found):
            keep = {k: v for k, v in query.items() if k not in ("NextToken",
                                                                  "MaxResultsPerPage")}
            payload["NextToken"] = base64.urlsafe_b64encode(json.dumps(
                {"query": keep, "offset": offset + size, "size": size}).encode()).decode()
        if updated:
            payload["LastUpdatedBefore"] = iso(dt.datetime.now(dt.UTC))
        else:
            payload["CreatedBefore"] = iso(dt.datetime.now(dt.UTC))
        return {"payload": payload}

    def get_order(self, order_id: str) -> dict[str, Any]:
        order: dict[str, Any] | None = self.orders.get(order_id)
        if order is None:
            raise SpApiError(404, "InvalidInput", f"Invalid AmazonOrderId: {order_id}.")
        return order

    def order_items(self, order_id: str) -> dict[str, Any]:
        self.get_order(order_id)
        return {"payload": {"AmazonOrderId": order_id,
                            "OrderItems": json.loads(json.dumps(self.items[order_id]))}}

    def confirm_shipment(self, order_id: str, body: dict[str, Any]) -> None:
        order = self.get_order(order_id)
        if order["OrderStatus"] == "Canceled":
            raise SpApiError(400, "InvalidInput", f"Order {order_id} is cancelled.")
        detail = body.get("packageDetail") or {}
        if body.get("marketplaceId") != self.marketplace_id:
            raise SpApiError(400, "InvalidInput", "marketplaceId is required.")
        for field in ("packageReferenceId", "carrierCode", "trackingNumber", "shipDate"):
            if not detail.get(field):
                raise SpApiError(400, "InvalidInput", f"packageDetail.{field} is required.")
        sent = self.packages.setdefault(order_id, [])
        if any(p["packageReferenceId"] == detail["packageReferenceId"] for p in sent):
            raise SpApiError(400, "InvalidInput", f"Package {detail['packageReferenceId']} "
                             "was already confirmed for this order.")
        items = {i["OrderItemId"]: i for i in self.items[order_id]}
        lines = detail.get("orderItems") or []
        if not lines:
            raise SpApiError(400, "InvalidInput", "packageDetail.orderItems is required.")
        for line in lines:
            item = items.get(str(line.get("orderItemId")))
            quantity = int(line.get("quantity") or 0)
            if item is None or quantity < 1 \
                    or item["QuantityShipped"] + quantity > item["QuantityOrdered"]:
                raise SpApiError(400, "InvalidInput", f"Order item {line.get('orderItemId')} "
                                 "cannot ship that quantity.")
        for line in lines:
            items[str(line["orderItemId"])]["QuantityShipped"] += int(line["quantity"])
        sent.append(json.loads(json.dumps(detail)))
        shipped = sum(i["QuantityShipped"] for i in items.values())
        ordered = sum(i["QuantityOrdered"] for i in items.values())
        order["NumberOfItemsShipped"] = shipped
        order["NumberOfItemsUnshipped"] = ordered - shipped
        order["OrderStatus"] = "Shipped" if shipped == ordered else "PartiallyShipped"
        self._touch(order)


def create_app(emulator: AmazonEmulator | None = None, **options: Any) -> FastAPI:
    state = emulator or AmazonEmulator(**{
        "client_id": "amzn1.application-oa2-client.emulator",
        "client_secret": "amzn1.oa2-cs.v1.emulator-secret",
        "refresh_token": "Atzr|emulator-refresh-token", **options})
    app = FastAPI(title="Amazon SP-API emulator", docs_url=None, redoc_url=None,
                  openapi_url=None)
    app.state.emulator = state

    def base(request: Request) -> str:
        return str(request.base_url).rstrip("/")

    def call(request: Request, operation: str, func: Callable[[], Any],
             status: int = 200) -> Response:
        """One SP-API operation: its token checked, its bucket taken, its answer shaped."""
        headers: dict[str, str] = {}
        try:
            with state.lock:
                state.calls.append((request.method, request.url.path))
                state.tick()
                headers = state.admit(operation)
                state.check(request.headers.get("x-amz-access-token"))
                result = func()
        except SpApiError as exc:
            return JSONResponse(exc.body, status_code=exc.status,
                                headers={**headers, **exc.headers})
        if result is None:
            return Response(status_code=204, headers=headers)
        return JSONResponse(result, status_code=status, headers=headers)

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/auth/o2/token")
    async def token(request: Request) -> Response:
        form = {k: str(v) for k, v in (await request.form()).items()}
        status, body = state.token(form)
        return JSONResponse(body, status_code=status)

    @app.get("/listings/2021-08-01/items/{seller_id}/{sku}")
    def get_listing(seller_id: str, sku: str, request: Request) -> Response:
        def run() -> Any:
            state.seller(seller_id)
            state.marketplaces(request.query_params.get("marketplaceIds"))
            return state.get_listing(sku)
        return call(request, "getListingsItem", run)

    @app.patch("/listings/2021-08-01/items/{seller_id}/{sku}")
    async def patch_listing(seller_id: str, sku: str, request: Request) -> Response:
        body = await request.json()

        def run() -> Any:
            state.seller(seller_id)
            state.marketplaces(request.query_params.get("marketplaceIds"))
            return state.patch_listing(sku, body)
        return call(request, "patchListingsItem", run)

    @app.post("/feeds/2021-06-30/documents")
    async def create_document(request: Request) -> Response:
        body = await request.json()
        return call(request, "createFeedDocument",
                    lambda: state.create_document(body, base(request)), 201)

    @app.put("/feed-uploads/{doc_id}")
    async def upload(doc_id: str, request: Request) -> Response:
        ok = state.upload(doc_id, await request.body())
        return Response(status_code=200 if ok else 403)

    @app.get("/feed-downloads/{doc_id}")
    def download(doc_id: str) -> Response:
        with state.lock:
            doc = state.documents.get(doc_id)
            if doc is None or doc["content"] is None:
                return Response(status_code=404)
            return Response(doc["content"], media_type=doc["contentType"])

    @app.post("/feeds/2021-06-30/feeds")
    async def create_feed(request: Request) -> Response:
        body = await request.json()
        return call(request, "createFeed", lambda: state.create_feed(body), 202)

    @app.get("/feeds/2021-06-30/feeds/{feed_id}")
    def get_feed(feed_id: str, request: Request) -> Response:
        def run() -> Any:
            feed = state.feeds.get(feed_id)
            if feed is None:
                raise SpApiError(404, "NotFound", f"Feed {feed_id} not found.")
            return {k: v for k, v in feed.items() if not k.startswith("_")}
        return call(request, "getFeed", run)

    @app.get("/feeds/2021-06-30/documents/{doc_id}")
    def get_document(doc_id: str, request: Request) -> Response:
        return call(request, "getFeedDocument",
                    lambda: state.get_document(doc_id, base(request)))

    @app.get("/orders/v0/orders")
    def list_orders(request: Request) -> Response:
        return call(request, "getOrders", lambda: state.list_orders(dict(request.query_params)))

    @app.get("/orders/v0/orders/{order_id}")
    def get_order(order_id: str, request: Request) -> Response:
        return call(request, "getOrder", lambda: {"payload": state.get_order(order_id)})

    @app.get("/orders/v0/orders/{order_id}/orderItems")
    def order_items(order_id: str, request: Request) -> Response:
        return call(request, "getOrderItems", lambda: state.order_items(order_id))

    @app.post("/orders/v0/orders/{order_id}/shipmentConfirmation")
    async def confirm(order_id: str, request: Request) -> Response:
        body = await request.json()
        return call(request, "confirmShipment", lambda: state.confirm_shipment(order_id, body))

    # -- control ----------------------------------------------------------------------------

    @app.post("/_emulator/listings")
    async def control_listing(request: Request) -> Response:
        body = await request.json()
        return JSONResponse(state.add_listing(
            str(body["sku"]), quantity=int(body.get("quantity", 0)),
            price=str(body.get("price", "9.99")), asin=body.get("asin"),
            title=body.get("title")), status_code=201)

    @app.post("/_emulator/orders")
    async def control_order(request: Request) -> Response:
        body = await request.json()
        try:
            made = state.place_order(body["lines"], buyer_name=body.get("buyer_name",
                                                                        "Ada Buyer"))
        except SpApiError as exc:
            return JSONResponse(exc.body, status_code=exc.status)
        return JSONResponse(made, status_code=201)

    @app.post("/_emulator/orders/{order_id}/cancel")
    def control_cancel(order_id: str) -> Response:
        if order_id not in state.orders:
            return JSONResponse({"detail": "no such order"}, status_code=404)
        return JSONResponse(state.cancel_order(order_id))

    @app.get("/_emulator/quantities")
    def control_quantities() -> Response:
        return JSONResponse(state.quantities())

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

    return app
