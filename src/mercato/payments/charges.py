"""What a payment gateway is asked and answers: the plain types every gateway (local ones in
``gateways``, Stripe in ``stripe_gateway``) and their callers share."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Protocol

from sqlalchemy.orm import Session


@dataclass(frozen=True)
class ChargeRequest:
    method: str                     # "manual" | "store_credit" | "gift_card" | "stripe"
    amount: Decimal
    currency: str
    reference: str                  # the checkout's reference, e.g. "cart:<id>"
    idempotency_key: str            # the same key never charges twice
    customer_id: str | None = None
    email: str | None = None
    details: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ChargeResult:
    method: str
    status: str  # "paid" | "authorized" | "pending" | "requires_action" | "failed"
    amount: Decimal
    reference: str | None           # provider id: pi_..., gift card transaction id, entry id
    client_secret: str | None = None
    failure: str | None = None
    redirect_url: str | None = None
    """Where the shopper confirms the payment with their bank (3-D Secure), when the provider
    answers ``requires_action`` with a page to visit (a ``return_url`` was given)."""


class Gateway(Protocol):
    name: str
    remote: bool

    def charge(self, session: Session | None, request: ChargeRequest) -> ChargeResult: ...

    def cancel(self, session: Session | None, result: ChargeResult) -> None: ...

    def refund(self, session: Session | None, *, reference: str, amount: Decimal, currency: str,
               idempotency_key: str) -> str: ...
