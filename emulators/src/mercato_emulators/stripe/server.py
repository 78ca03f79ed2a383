"""A local emulator of the Stripe endpoints Mercato uses, for tests and the demo.

An ASGI app with in-memory state and no database: ``create_app(webhook_url, webhook_secret)``.
It speaks Stripe's wire protocol closely enough for the official SDK pointed at it
(``StripeClient(key, base_addresses={"api": url})``): ``Authorization: Bearer sk_...``,
form-encoded bodies with nested keys (``metadata[reference]=...``), Stripe's error JSON,
``Idempotency-Key`` replay, PaymentIntent statuses, refunds, and signed webhook deliveries
(``Stripe-Signature: t=...,v1=...``) that are at least once: failed deliveries are retried,
and ``POST /_emulator/events/{id}/redeliver`` sends one again.

Test payment methods: ``pm_card_visa`` (and any other ``pm_card_*``) succeeds,
``pm_card_chargeDeclined`` is declined (402 ``card_error`` / ``card_declined``), and
``pm_card_threeDSecure2Required`` needs the shopper: the intent waits in ``requires_action``
until ``POST /_emulator/payment_intents/{id}/authenticate`` with ``outcome=succeed|fail``.
Confirmed with a ``return_url``, such an intent's ``next_action`` is ``redirect_to_url``: the
emulator's own 3-D Secure page (``GET /_emulator/3ds/{id}``), whose "Complete authentication"
and "Fail authentication" buttons authenticate and send the browser back to the return URL
(with ``payment_intent`` and ``redirect_status``, as Stripe does).
Every handler is ``async`` with no await while it changes state, so requests never interleave.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass, field
from html import escape
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

DECLINED = "pm_card_chargeDeclined"
THREE_D_SECURE = "pm_card_threeDSecure2Required"
CANCELABLE = {"requires_payment_method", "requires_confirmation", "requires_action",
              "requires_capture", "processing"}


def _id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(12)}"


def parse_form(body: bytes) -> dict[str, Any]:
    """``a[b][c]=v`` pairs into nested dicts; keys that are all indexes become lists."""
    out: dict[str, Any] = {}
    for key, value in parse_qsl(body.decode(), keep_blank_values=True):
        parts = key.replace("]", "").split("[")
        node = out
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value

    def lists(value: Any) -> Any:
        if isinstance(value, dict):
            if value and all(k.isdigit() for k in value):
                return [lists(value[k]) for k in sorted(value, key=int)]
            return {k: lists(v) for k, v in value.items()}
        return value

    result: dict[str, Any] = lists(out)
    return result


def sign(payload: str, secret: str, timestamp: int | None = None) -> str:
    """A ``Stripe-Signature`` header for ``payload``: ``t=<unix>,v1=<HMAC-SHA256 of "t.body">``."""
    t = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"{t}.{payload}".encode(), hashlib.sha256).hexdigest()
    return f"t={t},v1={digest}"


class StripeFailure(Exception):
    def __init__(self, status: int, type_: str, code: str | None, message: str,
                 **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.body = {"error": {"type": type_, "code": code, "message": message, **extra}}


def _missing(kind: str, ident: str, param: str = "id") -> StripeFailure:
    return StripeFailure(404, "invalid_request_error", "resource_missing",
                         f"No such {kind}: '{ident}'", param=param)


def _state(intent: dict[str, Any], action: str) -> StripeFailure:
    return StripeFailure(
        400, "invalid_request_error", "payment_intent_unexpected_state",
        f"You cannot {action} this PaymentIntent because it has a status of "
        f"{intent['status']}.", payment_intent=intent)


def _int(value: Any, param: str) -> int:
    try:
        number = int(str(value))
    except ValueError:
        raise StripeFailure(400, "invalid_request_error", "parameter_invalid_integer",
                            f"Invalid integer: {value}", param=param) from None
    if number < 1:
        raise StripeFailure(400, "invalid_request_error", "amount_too_small",
                            "Amount must be at least 1.", param=param)
    return number


@dataclass
class Delivery:
    event_id: str
    attempt: int
    status: int | None
    error: str | None = None


@dataclass
class StripeEmulator:
    """The emulator's whole state; tests may read it (``app.state.emulator``)."""

    webhook_url: str | None = None
    webhook_secret: str | None = None
    api_keys: set[str] | None = None          # None: any key starting with sk_ or rk_
    retry_delays: tuple[float, ...] = (0.2, 0.5, 1.0)
    intents: dict[str, dict[str, Any]] = field(default_factory=dict)
    charges: dict[str, dict[str, Any]] = field(default_factory=dict)
    refunds: dict[str, dict[str, Any]] = field(default_factory=dict)
    events: dict[str, dict[str, Any]] = field(default_factory=dict)
    deliveries: list[Delivery] = field(default_factory=list)
    idempotency: dict[tuple[str, str], tuple[str, int, dict[str, Any]]] = field(
        default_factory=dict)
    requests: list[tuple[str, str]] = field(default_factory=list)
    public_url: str = ""                      # this server as its clients reach it
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    # -- events ---------------------------------------------------------------------------

    def emit(self, type_: str, obj: dict[str, Any]) -> dict[str, Any]:
        event: dict[str, Any] = {"id": _id("evt"), "object": "event", "api_version": "2025-01-01",
                 "created": int(time.time()), "livemode": False, "pending_webhooks": 1,
                 "type": type_, "data": {"object": json.loads(json.dumps(obj))}}
        self.events[event["id"]] = event
        if self.webhook_url and self.webhook_secret:
            task = asyncio.get_running_loop().create_task(self._deliver_with_retries(event))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return event

    async def deliver(self, event_id: str) -> int | None:
        """POST one event to the webhook URL now; its status, or None when it did not answer."""
        event = self.events[event_id]
        if not (self.webhook_url and self.webhook_secret):
            raise RuntimeError("no webhook URL configured")
        payload = json.dumps(event)
        attempt = 1 + sum(1 for d in self.deliveries if d.event_id == event_id)
        try:
            async with httpx.AsyncClient(timeout=30) as client:
                answer = await client.post(self.webhook_url, content=payload, headers={
                    "Content-Type": "application/json; charset=utf-8",
                    "Stripe-Signature": sign(payload, self.webhook_secret),
                    "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)"})
        except httpx.HTTPError as exc:
            self.deliveries.append(Delivery(event_id, attempt, None, repr(exc)))
            return None
        self.deliveries.append(Delivery(event_id, attempt, answer.status_code))
        return answer.status_code

    async def _deliver_with_retries(self, event: dict[str, Any]) -> None:
        for delay in (0.0, *self.retry_delays):
            await asyncio.sleep(delay)
            status = await self.deliver(event["id"])
            if status is not None and 200 <= status < 300:
                return

    async def idle(self) -> None:
        """Wait until every pending delivery has finished."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    # -- payment intents ------------------------------------------------------------------

    def create_intent(self, params: dict[str, Any]) -> dict[str, Any]:
        amount = _int(params.get("amount"), "amount")
        currency = str(params.get("currency") or "").lower()
        if len(currency) != 3:
            raise StripeFailure(400, "invalid_request_error", "parameter_missing",
                                "Missing required param: currency.", param="currency")
        ident = _id("pi")
        intent: dict[str, Any] = {
            "id": ident, "object": "payment_intent", "amount": amount,
            "amount_capturable": 0, "amount_received": 0, "currency": currency,
            "capture_method": params.get("capture_method") or "automatic",
            "client_secret": f"{ident}_secret_{secrets.token_hex(8)}",
            "confirmation_method": "automatic", "created": int(time.time()),
            "customer": params.get("customer"), "description": params.get("description"),
            "last_payment_error": None, "latest_charge": None, "livemode": False,
            "metadata": dict(params.get("metadata") or {}), "next_action": None,
            "payment_method": params.get("payment_method"),
            "receipt_email": params.get("receipt_email"),
            "return_url": params.get("return_url"),
            "status": "requires_confirmation" if params.get("payment_method")
            else "requires_payment_method",
        }
        self.intents[ident] = intent
        if str(params.get("confirm", "")).lower() == "true":
            return self.confirm(ident, {})
        return intent

    def intent(self, ident: str) -> dict[str, Any]:
        found = self.intents.get(ident)
        if found is None:
            raise _missing("payment_intent", ident, "intent")
        return found

    def confirm(self, ident: str, params: dict[str, Any]) -> dict[str, Any]:
        intent = self.intent(ident)
        if intent["status"] not in ("requires_payment_method", "requires_confirmation"):
            raise _state(intent, "confirm")
        method = params.get("payment_method") or intent["payment_method"]
        if not method:
            raise StripeFailure(400, "invalid_request_error", "payment_intent_unexpected_state",
                                "You cannot confirm this PaymentIntent because it's missing a "
                                "payment method.", param="payment_method")
        if not str(method).startswith("pm_card_"):
            raise _missing("PaymentMethod", str(method), "payment_method")
        intent["payment_method"] = method
        intent["last_payment_error"] = None
        if method == DECLINED:
            self._decline(intent, "card_declined", "Your card was declined.")
            raise StripeFailure(402, "card_error", "card_declined", "Your card was declined.",
                                decline_code="generic_decline", param="",
                                payment_intent=intent)
        if method == THREE_D_SECURE:
            intent["status"] = "requires_action"
            return_url = params.get("return_url") or intent.get("return_url")
            if return_url:
                intent["return_url"] = return_url
                intent["next_action"] = {"type": "redirect_to_url", "redirect_to_url": {
                    "url": f"{self.public_url}/_emulator/3ds/{ident}?return_url="
                           f"{quote(str(return_url), safe='')}",
                    "return_url": return_url}}
            else:
                intent["next_action"] = {"type": "use_stripe_sdk", "use_stripe_sdk": {
                    "type": "three_d_secure_redirect"}}
            return intent
        return self._authorized(intent)

    def _decline(self, intent: dict[str, Any], code: str, message: str) -> None:
        intent["status"] = "requires_payment_method"
        intent["next_action"] = None
        intent["last_payment_error"] = {"type": "card_error", "code": code,
                                        "decline_code": "generic_decline", "message": message}
        self.emit("payment_intent.payment_failed", intent)

    def _authorized(self, intent: dict[str, Any]) -> dict[str, Any]:
        intent["next_action"] = None
        charge = {"id": _id("ch"), "object": "charge", "amount": intent["amount"],
                  "amount_captured": 0, "amount_refunded": 0, "captured": False,
                  "currency": intent["currency"], "payment_intent": intent["id"],
                  "metadata": dict(intent["metadata"]), "refunded": False,
                  "status": "succeeded", "created": int(time.time())}
        self.charges[charge["id"]] = charge
        intent["latest_charge"] = charge["id"]
        if intent["capture_method"] == "manual":
            intent["status"] = "requires_capture"
            intent["amount_capturable"] = intent["amount"]
            return intent
        return self._captured(intent, intent["amount"])

    def _captured(self, intent: dict[str, Any], amount: int) -> dict[str, Any]:
        intent["status"] = "succeeded"
        intent["amount_capturable"] = 0
        intent["amount_received"] = amount
        charge = self.charges[intent["latest_charge"]]
        charge.update(captured=True, amount_captured=amount)
        self.emit("payment_intent.succeeded", intent)
        return intent

    def authenticate(self, ident: str, outcome: str) -> dict[str, Any]:
        """The shopper finishes (or fails) 3-D Secure."""
        intent = self.intent(ident)
        if intent["status"] != "requires_action":
            raise _state(intent, "authenticate")
        if outcome == "succeed":
            return self._authorized(intent)
        self._decline(intent, "payment_intent_authentication_failure",
                      "The provided PaymentMethod has failed authentication.")
        return intent

    def capture(self, ident: str, params: dict[str, Any]) -> dict[str, Any]:
        intent = self.intent(ident)
        if intent["status"] != "requires_capture":
            raise _state(intent, "capture")
        amount = intent["amount_capturable"]
        if params.get("amount_to_capture") is not None:
            amount = _int(params["amount_to_capture"], "amount_to_capture")
            if amount > intent["amount_capturable"]:
                raise StripeFailure(400, "invalid_request_error", "amount_too_large",
                                    "The amount to capture is more than can be captured.",
                                    param="amount_to_capture")
        return self._captured(intent, amount)

    def cancel(self, ident: str, params: dict[str, Any]) -> dict[str, Any]:
        intent = self.intent(ident)
        if intent["status"] not in CANCELABLE:
            raise _state(intent, "cancel")
        reason = params.get("cancellation_reason") or "requested_by_customer"
        intent.update(status="canceled", amount_capturable=0, next_action=None,
                      cancellation_reason=reason)
        return intent

    def refund(self, params: dict[str, Any]) -> dict[str, Any]:
        if params.get("payment_intent"):
            intent = self.intent(str(params["payment_intent"]))
        elif params.get("charge"):
            charge = self.charges.get(str(params["charge"]))
            if charge is None:
                raise _missing("charge", str(params["charge"]), "charge")
            intent = self.intent(charge["payment_intent"])
        else:
            raise StripeFailure(400, "invalid_request_error", "parameter_missing",
                                "One of `charge` or `payment_intent` is required.")
        if intent["status"] != "succeeded":
            raise StripeFailure(400, "invalid_request_error", "charge_not_refundable",
                                f"This PaymentIntent ({intent['id']}) does not have a "
                                "successful charge to refund.", param="payment_intent")
        charge = self.charges[intent["latest_charge"]]
        left = charge["amount_captured"] - charge["amount_refunded"]
        if left <= 0:
            raise StripeFailure(400, "invalid_request_error", "charge_already_refunded",
                                f"Charge {charge['id']} has already been refunded.")
        amount = left if params.get("amount") is None else _int(params["amount"], "amount")
        if amount > left:
            raise StripeFailure(400, "invalid_request_error", "amount_too_large",
                                f"Refund amount ({amount}) is greater than unrefunded amount "
                                f"on charge ({left})", param="amount")
        made = {"id": _id("re"), "object": "refund", "amount": amount, "charge": charge["id"],
                "currency": charge["currency"], "payment_intent": intent["id"],
                "metadata": dict(params.get("metadata") or {}), "reason": params.get("reason"),
                "status": "succeeded", "created": int(time.time())}
        self.refunds[made["id"]] = made
        charge["amount_refunded"] += amount
        charge["refunded"] = charge["amount_refunded"] >= charge["amount_captured"]
        self.emit("charge.refunded", charge)
        return made


def _error(failure: StripeFailure) -> JSONResponse:
    return JSONResponse(failure.body, status_code=failure.status,
                        headers={"Request-Id": _id("req")})


def create_app(webhook_url: str | None = None, webhook_secret: str | None = None, *,
               api_keys: set[str] | None = None) -> FastAPI:
    """The emulator as an ASGI app; its state is ``app.state.emulator``."""
    emulator = StripeEmulator(webhook_url=webhook_url, webhook_secret=webhook_secret,
                              api_keys=api_keys)
    app = FastAPI(title="Stripe emulator", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.emulator = emulator

    def authorized(request: Request) -> str:
        header = request.headers.get("authorization", "")
        key = header[7:] if header.lower().startswith("bearer ") else ""
        known = key in emulator.api_keys if emulator.api_keys is not None \
            else key.startswith(("sk_", "rk_"))
        if not key or not known:
            raise StripeFailure(401, "invalid_request_error", "api_key_invalid",
                                "Invalid API Key provided: "
                                f"{key[:8] + '*' * max(0, len(key) - 8) if key else '(none)'}")
        return key

    async def run(request: Request, action: Any) -> Response:
        """Authenticate, parse, replay or run ``action(params)``, remember the answer."""
        emulator.public_url = str(request.base_url).rstrip("/")
        try:
            key = authorized(request)
            body = await request.body()
            params = parse_form(body)
            emulator.requests.append((request.method, request.url.path))
            idem = request.headers.get("idempotency-key")
            fingerprint = json.dumps([request.method, request.url.path,
                                      sorted(parse_qsl(body.decode(), keep_blank_values=True))])
            if request.method == "POST" and idem:
                stored = emulator.idempotency.get((key, idem))
                if stored is not None:
                    if stored[0] != fingerprint:
                        raise StripeFailure(
                            400, "idempotency_error", "idempotency_key_in_use",
                            "Keys for idempotent requests can only be used with the same "
                            "parameters they were first used with. Try using a key other "
                            f"than '{idem}' if you meant to execute a different request.")
                    return JSONResponse(stored[2], status_code=stored[1], headers={
                        "Idempotent-Replayed": "true", "Idempotency-Key": idem,
                        "Request-Id": _id("req")})
            try:
                status, answer = 200, action(params)
            except StripeFailure as failure:
                status, answer = failure.status, failure.body
            if request.method == "POST" and idem:
                emulator.idempotency[(key, idem)] = (fingerprint, status,
                                                     json.loads(json.dumps(answer)))
            headers = {"Request-Id": _id("req")}
            if idem:
                headers["Idempotency-Key"] = idem
            return JSONResponse(answer, status_code=status, headers=headers)
        except StripeFailure as failure:
            return _error(failure)

    @app.post("/v1/payment_intents")
    async def create_intent(request: Request) -> Response:
        return await run(request, emulator.create_intent)

    @app.get("/v1/payment_intents/{ident}")
    async def get_intent(ident: str, request: Request) -> Response:
        return await run(request, lambda _: emulator.intent(ident))

    @app.post("/v1/payment_intents/{ident}/confirm")
    async def confirm(ident: str, request: Request) -> Response:
        return await run(request, lambda p: emulator.confirm(ident, p))

    @app.post("/v1/payment_intents/{ident}/capture")
    async def capture(ident: str, request: Request) -> Response:
        return await run(request, lambda p: emulator.capture(ident, p))

    @app.post("/v1/payment_intents/{ident}/cancel")
    async def cancel(ident: str, request: Request) -> Response:
        return await run(request, lambda p: emulator.cancel(ident, p))

    @app.post("/v1/refunds")
    async def refund(request: Request) -> Response:
        return await run(request, emulator.refund)

    @app.get("/v1/refunds/{ident}")
    async def get_refund(ident: str, request: Request) -> Response:
        def found(_: dict[str, Any]) -> dict[str, Any]:
            if ident not in emulator.refunds:
                raise _missing("refund", ident)
            return emulator.refunds[ident]

        return await run(request, found)

    # -- emulator-only controls (no Stripe equivalent) -----------------------------------------

    @app.post("/_emulator/payment_intents/{ident}/authenticate")
    async def authenticate(ident: str, request: Request) -> Response:
        """The shopper completes (``outcome=succeed``) or fails 3-D Secure."""
        params = parse_form(await request.body())
        try:
            return JSONResponse(emulator.authenticate(ident, str(params.get("outcome",
                                                                            "succeed"))))
        except StripeFailure as failure:
            return _error(failure)

    @app.get("/_emulator/3ds/{ident}", response_class=HTMLResponse)
    async def challenge(ident: str, return_url: str = "") -> Response:
        """The bank's 3-D Secure page a ``redirect_to_url`` sends the shopper to."""
        intent = emulator.intents.get(ident)
        if intent is None:
            return HTMLResponse("<h1>No such payment</h1>", status_code=404)
        amount = f"{intent['amount'] / 100:.2f} {intent['currency'].upper()}"
        target = escape(f"/_emulator/3ds/{ident}")
        back = escape(return_url)
        buttons = "".join(
            f'<form method="post" action="{target}"><input type="hidden" name="return_url" '
            f'value="{back}"><input type="hidden" name="outcome" value="{outcome}">'
            f'<button type="submit">{label}</button></form>'
            for outcome, label in (("succeed", "Complete authentication"),
                                   ("fail", "Fail authentication")))
        return HTMLResponse(
            '<!doctype html><html lang="en"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            "<title>3-D Secure test page</title></head><body>"
            "<h1>3-D Secure test page</h1>"
            f"<p>Stripe emulator: confirm the payment of {escape(amount)} ({escape(ident)}), "
            f"or fail it.</p>{buttons}</body></html>")

    @app.post("/_emulator/3ds/{ident}")
    async def challenge_answer(ident: str, request: Request) -> Response:
        """Authenticate (or fail) as the page's button says, then back to the store."""
        params = parse_form(await request.body())
        outcome = "succeed" if params.get("outcome") == "succeed" else "fail"
        try:
            intent = emulator.authenticate(ident, outcome)
        except StripeFailure as failure:
            return _error(failure)
        back = str(params.get("return_url") or intent.get("return_url") or "")
        if not back:
            return JSONResponse(intent)
        status = "succeeded" if intent["status"] in ("succeeded", "requires_capture") \
            else "failed"
        query = urlencode({"payment_intent": ident,
                           "payment_intent_client_secret": intent["client_secret"],
                           "redirect_status": status})
        return RedirectResponse(f"{back}{'&' if '?' in back else '?'}{query}", status_code=303)

    @app.get("/_emulator/events")
    async def events() -> Response:
        return JSONResponse({"data": list(emulator.events.values()), "deliveries": [
            d.__dict__ for d in emulator.deliveries]})

    @app.post("/_emulator/events/{ident}/redeliver")
    async def redeliver(ident: str) -> Response:
        """Send an event again (at-least-once delivery, on demand)."""
        if ident not in emulator.events:
            return _error(_missing("event", ident))
        return JSONResponse({"status": await emulator.deliver(ident)})

    @app.put("/_emulator/webhook")
    async def configure(request: Request) -> Response:
        """Point deliveries at ``url`` signed with ``secret`` (JSON body)."""
        given = json.loads(await request.body() or b"{}")
        emulator.webhook_url = given.get("url")
        emulator.webhook_secret = given.get("secret")
        return JSONResponse({"url": emulator.webhook_url})

    @app.post("/_emulator/idle")
    async def idle() -> Response:
        """Answers once every pending webhook delivery has finished."""
        await emulator.idle()
        return JSONResponse({"idle": True})

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    return app
