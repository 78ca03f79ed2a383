"""Stripe through the official SDK: PaymentIntents (created and confirmed in one call, with the
checkout's idempotency key), cancels and refunds.

A remote gateway: the caller calls it outside any database transaction, so a slow Stripe never
holds a database lock; it never uses the session it is given.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import stripe
import structlog
from sqlalchemy.orm import Session

from mercato.core import money
from mercato.core.errors import Conflict, ServiceUnavailable
from mercato.payments.charges import ChargeRequest, ChargeResult

log = structlog.get_logger("mercato.payments.stripe")

ZERO_DECIMAL = frozenset({"BIF", "CLP", "DJF", "GNF", "JPY", "KMF", "KRW", "MGA", "PYG",
                          "RWF", "UGX", "VND", "VUV", "XAF", "XOF", "XPF"})
"""Stripe's zero-decimal currencies (https://docs.stripe.com/currencies#zero-decimal): their API
amounts are whole units, every other currency's are hundredths. This is Stripe's rule for its
API's integer amounts, kept here with the gateway; it is not the currency's exponent in Mercato
(``core.money.exponent``), which may differ (ISK: Stripe counts hundredths, CLDR has none)."""

STATUSES = {"succeeded": "paid", "requires_capture": "authorized",
            "requires_action": "requires_action", "processing": "pending",
            "requires_confirmation": "requires_action"}


def stripe_places(currency: str) -> int:
    """Decimal places of Stripe's integer amounts in ``currency``."""
    return 0 if currency.upper() in ZERO_DECIMAL else 2


def to_minor(amount: Decimal, currency: str) -> int:
    """Stripe's integer amount: cents for most currencies, whole yen for JPY."""
    return money.to_minor(amount, currency, places=stripe_places(currency))


def from_minor(amount: int, currency: str) -> Decimal:
    return money.from_minor(amount, currency, places=stripe_places(currency))


def unavailable(exc: stripe.StripeError) -> ServiceUnavailable:
    status = exc.http_status or "no answer"
    return ServiceUnavailable(f"Stripe did not take the request ({status}); try again.",
                              extra={"provider": "stripe"})


def redirect_of(intent: Any) -> str | None:
    """The bank's page of a payment confirmed with a ``return_url`` that needs 3-D Secure
    (``next_action.redirect_to_url.url``), or None."""
    action = intent.to_dict().get("next_action") or {}
    if action.get("type") != "redirect_to_url":
        return None
    url = (action.get("redirect_to_url") or {}).get("url")
    return str(url) if url else None


class StripeGateway:
    name = "stripe"
    remote = True

    def __init__(self, secret_key: str, *, api_base: str | None = None,
                 max_network_retries: int = 1) -> None:
        options: dict[str, Any] = {"max_network_retries": max_network_retries}
        if api_base:
            options["base_addresses"] = {"api": api_base}
        self.client = stripe.StripeClient(secret_key, **options)

    def charge(self, session: Session | None, request: ChargeRequest) -> ChargeResult:
        details = dict(request.details)
        params: dict[str, Any] = {
            "amount": to_minor(request.amount, request.currency),
            "currency": request.currency.lower(),
            "confirm": True,
            "metadata": {"reference": request.reference,
                         **{str(k): str(v) for k, v in dict(details.get("metadata") or {})
                            .items()}},
        }
        if details.get("payment_method"):
            params["payment_method"] = str(details["payment_method"])
        if details.get("capture_method") == "manual":
            params["capture_method"] = "manual"
        if details.get("return_url"):
            params["return_url"] = str(details["return_url"])
        else:  # no page to come back to: card payments only, 3-D Secure in the page itself
            params["automatic_payment_methods"] = {"enabled": True, "allow_redirects": "never"}
        if request.email:
            params["receipt_email"] = request.email
        try:
            intent = self.client.v1.payment_intents.create(
                params=params,  # type: ignore[arg-type]
                options={"idempotency_key": request.idempotency_key})
        except stripe.CardError as exc:
            return self._declined(request, exc)
        except stripe.IdempotencyError as exc:
            raise Conflict("This payment's idempotency key was used for another payment.",
                           errors=[{"field": "payment.idempotency_key",
                                    "message": str(exc.user_message)}]) from None
        except stripe.InvalidRequestError as exc:
            log.warning("stripe_invalid_request", code=exc.code, message=exc.user_message)
            return ChargeResult(method=self.name, status="failed", amount=request.amount,
                                reference=None, failure=exc.code or "invalid_request")
        except stripe.StripeError as exc:
            raise unavailable(exc) from None
        status = STATUSES.get(str(intent.status), "failed")
        failure = None
        if status == "failed":
            error = getattr(intent, "last_payment_error", None)
            failure = str(getattr(error, "code", None) or intent.status)
        return ChargeResult(
            method=self.name, status=status, amount=request.amount, reference=str(intent.id),
            client_secret=str(intent.client_secret) if status == "requires_action" else None,
            failure=failure, redirect_url=redirect_of(intent) if status == "requires_action"
            else None)

    def _declined(self, request: ChargeRequest, exc: stripe.CardError) -> ChargeResult:
        reference = None
        body = exc.json_body if isinstance(exc.json_body, dict) else {}
        intent = (body.get("error") or {}).get("payment_intent")
        if isinstance(intent, dict) and intent.get("id"):
            reference = str(intent["id"])
        return ChargeResult(method=self.name, status="failed", amount=request.amount,
                            reference=reference, failure=exc.code or "card_declined")

    def cancel(self, session: Session | None, result: ChargeResult) -> None:
        """Void an authorization, or refund a captured payment (the order could not be made)."""
        if not result.reference:
            return
        try:
            if result.status == "paid":
                self.client.v1.refunds.create(
                    params={"payment_intent": result.reference,
                            "metadata": {"reason": "order not created"}},
                    options={"idempotency_key": f"cancel:{result.reference}"})
            elif result.status in ("authorized", "requires_action", "pending"):
                self.client.v1.payment_intents.cancel(
                    result.reference, options={"idempotency_key": f"cancel:{result.reference}"})
        except stripe.InvalidRequestError as exc:  # already canceled or refunded: done
            log.info("stripe_cancel_noop", reference=result.reference, code=exc.code)
        except stripe.StripeError as exc:
            raise unavailable(exc) from None

    def refund(self, session: Session | None, *, reference: str, amount: Decimal, currency: str,
               idempotency_key: str) -> str:
        try:
            made = self.client.v1.refunds.create(
                params={"payment_intent": reference, "amount": to_minor(amount, currency)},
                options={"idempotency_key": idempotency_key})
        except stripe.StripeError as exc:
            if isinstance(exc, stripe.InvalidRequestError | stripe.IdempotencyError):
                raise Conflict(f"Stripe refused the refund: {exc.user_message}",
                               extra={"provider": "stripe", "provider_code": exc.code}) from None
            raise unavailable(exc) from None
        return str(made.id)
