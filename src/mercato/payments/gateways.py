"""The gateway interface checkout calls, the local gateways, and the payment settings.

``gateway_for(session, method)`` reads the organization's settings (decrypting secrets) inside
the caller's transaction and returns a ready gateway. Local gateways (``manual``,
``store_credit``, ``gift_card``) work inside the caller's session, all or nothing with its
transaction; a remote one (``stripe``) is called outside any transaction and never touches the
session.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy.orm import Session

from mercato.core.errors import ValidationFailed
from mercato.core.ids import new_id
from mercato.core.secrets import Vault
from mercato.payments import ledger
from mercato.payments.charges import ChargeRequest as ChargeRequest  # re-exported
from mercato.payments.charges import ChargeResult as ChargeResult
from mercato.payments.charges import Gateway as Gateway
from mercato.payments.models import GiftCardTransaction, PaymentSettings, StoreCreditEntry
from mercato.payments.stripe_gateway import StripeGateway
from mercato.settings import Settings

METHODS = ("manual", "store_credit", "gift_card", "stripe")
"""Every method Mercato knows, in the order checkout offers them."""


# -- settings -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class StripeConfig:
    """Decrypted Stripe settings: handle with care, never log or return them."""

    secret_key: str | None
    publishable_key: str | None
    webhook_secret: str | None
    api_base: str | None


def load_settings(session: Session, organization_id: str, *,
                  lock: bool = False) -> PaymentSettings:
    """The organization's settings row (created with the defaults on first write)."""
    row = session.get(PaymentSettings, organization_id,
                      with_for_update=True if lock else None)
    if row is None:
        row = PaymentSettings(organization_id=organization_id, enabled_methods=list(METHODS))
        session.add(row)
    return row


def current_settings(session: Session, organization_id: str) -> PaymentSettings | None:
    from mercato.core.db import get_owned

    return get_owned(session, PaymentSettings, organization_id)


def stripe_config(session: Session, organization_id: str,
                  settings: Settings | None = None) -> StripeConfig:
    row = current_settings(session, organization_id)
    if row is None:
        return StripeConfig(None, None, None, None)
    vault = Vault.of(session, "payments", settings)
    return StripeConfig(
        secret_key=vault.open(row.stripe_secret_key_encrypted)
        if row.stripe_secret_key_encrypted else None,
        publishable_key=row.stripe_publishable_key,
        webhook_secret=vault.open(row.stripe_webhook_secret_encrypted)
        if row.stripe_webhook_secret_encrypted else None,
        api_base=row.stripe_api_base)


UNSET: Any = object()


def update_stripe(session: Session, organization_id: str, settings: Settings, *,
                  secret_key: str | None = UNSET, publishable_key: str | None = UNSET,
                  webhook_secret: str | None = UNSET,
                  api_base: str | None = UNSET) -> PaymentSettings:
    """Set (a value), clear (None) or keep (not given) each Stripe setting."""
    row = load_settings(session, organization_id, lock=True)
    vault = Vault.of(session, "payments", settings)
    if secret_key is not UNSET:
        row.stripe_secret_key_encrypted = vault.seal(secret_key) if secret_key else None
        row.stripe_secret_key_last4 = secret_key[-4:] if secret_key else None
    if webhook_secret is not UNSET:
        row.stripe_webhook_secret_encrypted = vault.seal(webhook_secret) \
            if webhook_secret else None
        row.stripe_webhook_secret_last4 = webhook_secret[-4:] if webhook_secret else None
    if publishable_key is not UNSET:
        row.stripe_publishable_key = publishable_key
    if api_base is not UNSET:
        row.stripe_api_base = api_base.rstrip("/") if api_base else None
    session.flush()
    return row


def configured_methods(row: PaymentSettings | None) -> list[str]:
    """Methods that can take a payment now: enabled, and (Stripe) with a secret key."""
    enabled = list(METHODS) if row is None else row.enabled_methods
    return [m for m in METHODS if m in enabled
            and (m != "stripe" or (row is not None and row.stripe_secret_key_encrypted))]


def stripe_emulated(row: PaymentSettings | None) -> bool:
    """Whether the store's Stripe points somewhere other than Stripe's own API (the Stripe
    emulator of the tests and the demo): pages then offer its test cards, and never load
    Stripe.js, which only works against Stripe itself."""
    if row is None or not row.stripe_api_base:
        return False
    host = (urlsplit(row.stripe_api_base).hostname or "").lower()
    return host != "stripe.com" and not host.endswith(".stripe.com")


def set_methods(session: Session, organization_id: str, enabled: list[str]) -> PaymentSettings:
    row = load_settings(session, organization_id, lock=True)
    row.enabled_methods = [m for m in METHODS if m in enabled]
    session.flush()
    return row


# -- local gateways -----------------------------------------------------------------------------

def _failed(request: ChargeRequest, why: str) -> ChargeResult:
    return ChargeResult(method=request.method, status="failed", amount=request.amount,
                        reference=None, failure=why)


def _need(session: Session | None) -> Session:
    if session is None:
        raise RuntimeError("this gateway works inside the caller's transaction: pass a session")
    return session


class ManualGateway:
    """Pay in store or by bank transfer: nothing is taken now; staff mark it paid later."""

    name = "manual"
    remote = False

    def charge(self, session: Session | None, request: ChargeRequest) -> ChargeResult:
        return ChargeResult(method=self.name, status="pending", amount=request.amount,
                            reference=None)

    def cancel(self, session: Session | None, result: ChargeResult) -> None:
        return None

    def refund(self, session: Session | None, *, reference: str, amount: Decimal, currency: str,
               idempotency_key: str) -> str:
        """Money goes back by hand; the id names the instruction for the record."""
        return f"manual_{new_id()}"


class StoreCreditGateway:
    """Pays from the customer's store credit in the checkout's currency."""

    name = "store_credit"
    remote = False

    def charge(self, session: Session | None, request: ChargeRequest) -> ChargeResult:
        session = _need(session)
        if not request.customer_id:
            raise ValidationFailed("Store credit needs a signed-in customer.", errors=[
                {"field": "payment.customer_id", "message": "a customer is required"}])
        try:
            entry = ledger.move_store_credit(
                session, request.customer_id, request.currency,
                -ledger.to_cents(request.amount), kind="charge", reference=request.reference,
                idempotency_key=f"charge:{request.idempotency_key}")
        except ledger.InsufficientBalance:
            return _failed(request, "insufficient balance")
        return ChargeResult(method=self.name, status="paid", amount=request.amount,
                            reference=entry.id)

    def _credit_back(self, session: Session, reference: str, cents: int, *, kind: str,
                     key: str) -> StoreCreditEntry:
        from mercato.core.db import require_owned

        charge = require_owned(session, StoreCreditEntry, reference, "Store credit entry")
        return ledger.move_store_credit(session, charge.customer_id, charge.currency, cents,
                                        kind=kind, reference=charge.id, idempotency_key=key)

    def cancel(self, session: Session | None, result: ChargeResult) -> None:
        if result.status == "paid" and result.reference:
            self._credit_back(_need(session), result.reference, ledger.to_cents(result.amount),
                              kind="void", key=f"void:{result.reference}")

    def refund(self, session: Session | None, *, reference: str, amount: Decimal, currency: str,
               idempotency_key: str) -> str:
        return self._credit_back(_need(session), reference, ledger.to_cents(amount),
                                 kind="refund", key=f"refund:{idempotency_key}").id


class GiftCardGateway:
    """Pays from a gift card named by its code (``details["code"]``)."""

    name = "gift_card"
    remote = False

    def charge(self, session: Session | None, request: ChargeRequest) -> ChargeResult:
        session = _need(session)
        code = request.details.get("code")
        if not isinstance(code, str) or not code.strip():
            raise ValidationFailed("A gift card payment needs the card's code.", errors=[
                {"field": "payment.code", "message": "the gift card code is required"}])
        card = ledger.find_gift_card(session, code)
        if card is None:
            return _failed(request, "gift card not found")
        why = ledger.unusable_reason(card, request.currency)
        if why:
            return _failed(request, why)
        try:
            entry = ledger.move_gift_card(
                session, card, -ledger.to_cents(request.amount), kind="redeem",
                reference=request.reference, idempotency_key=f"charge:{request.idempotency_key}",
                usable_only=True)
        except ledger.InsufficientBalance:
            return _failed(request, "insufficient balance")
        return ChargeResult(method=self.name, status="paid", amount=request.amount,
                            reference=entry.id)

    def _credit_back(self, session: Session, reference: str, cents: int, *, kind: str,
                     key: str) -> GiftCardTransaction:
        from mercato.core.db import require_owned

        redeemed = require_owned(session, GiftCardTransaction, reference, "Gift card transaction")
        card = ledger.get_gift_card(session, redeemed.gift_card_id)
        return ledger.move_gift_card(session, card, cents, kind=kind, reference=redeemed.id,
                                     idempotency_key=key)

    def cancel(self, session: Session | None, result: ChargeResult) -> None:
        if result.status == "paid" and result.reference:
            self._credit_back(_need(session), result.reference, ledger.to_cents(result.amount),
                              kind="void", key=f"void:{result.reference}")

    def refund(self, session: Session | None, *, reference: str, amount: Decimal, currency: str,
               idempotency_key: str) -> str:
        return self._credit_back(_need(session), reference, ledger.to_cents(amount),
                                 kind="refund", key=f"refund:{idempotency_key}").id


def gateway_for(session: Session, method: str, *, settings: Settings | None = None) -> Gateway:
    """Ready to use (settings read and decrypted now, inside the caller's transaction);
    ValidationFailed(field "payment.method") when unknown or not configured."""
    from mercato.core.db import tenant_of

    organization_id = tenant_of(session)
    if organization_id is None or organization_id == "*":
        raise RuntimeError("gateway_for needs a session scoped to one organization")
    row = current_settings(session, organization_id)
    if method not in METHODS:
        raise ValidationFailed(f"Unknown payment method {method!r}.", errors=[
            {"field": "payment.method", "message": f"one of {', '.join(METHODS)}"}])
    available = configured_methods(row)
    if method not in available:
        raise ValidationFailed(f"This store does not take {method} payments.", errors=[
            {"field": "payment.method",
             "message": f"not enabled here; available: {', '.join(available) or 'none'}"}])
    if method == "manual":
        return ManualGateway()
    if method == "store_credit":
        return StoreCreditGateway()
    if method == "gift_card":
        return GiftCardGateway()
    config = stripe_config(session, organization_id, settings)
    assert config.secret_key is not None  # configured_methods checked it
    return StripeGateway(config.secret_key, api_base=config.api_base)
