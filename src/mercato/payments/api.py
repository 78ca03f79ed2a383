"""HTTP surface of payments: settings, gift cards, store credit, and the Stripe webhook."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Request, Response, status

from mercato.core import inbound
from mercato.core.auth import require
from mercato.core.errors import ValidationFailed
from mercato.core.etag import check_if_match, set_etag
from mercato.core.pagination import Page, PageParams
from mercato.core.principal import Principal
from mercato.core.query import page_params
from mercato.core.uow import DbSession, MercatoRoute, inbound_delivery
from mercato.identity import get_customer
from mercato.payments import gateways, hooks, ledger
from mercato.payments.models import (
    GiftCard,
    GiftCardTransaction,
    PaymentSettings,
    StoreCreditBalance,
    StoreCreditEntry,
)
from mercato.payments.schemas import (
    AdjustmentIn,
    AdjustmentOut,
    CreditBalanceOut,
    GiftCardCreated,
    GiftCardIn,
    GiftCardOut,
    GiftCardTransactionOut,
    GiftCardUpdate,
    MethodsIn,
    MethodsOut,
    SecretOut,
    StoreCreditChangeOut,
    StoreCreditIn,
    StoreCreditOut,
    StripeSettingsIn,
    StripeSettingsOut,
    WebhookReceived,
)
from mercato.tenancy import Store
from mercato.tenancy.deps import current_store

router = APIRouter(prefix="/api/v1", route_class=MercatoRoute, tags=["payments"])
store_router = APIRouter(route_class=MercatoRoute, tags=["webhooks"])
READ, WRITE = require("payments:read"), require("payments:write")
INSUFFICIENT: dict[int | str, dict[str, Any]] = {409: {"description": (
    "`insufficient_balance`: the balance does not cover it; nothing changed (the problem "
    "carries the current `balance`)")}}


# -- settings -----------------------------------------------------------------------------------

def _stripe_out(row: PaymentSettings | None) -> StripeSettingsOut:
    def secret(encrypted: str | None, last4: str | None) -> SecretOut:
        return SecretOut(set=bool(encrypted), last4=last4 if encrypted else None)

    if row is None:
        return StripeSettingsOut(configured=False, secret_key=secret(None, None),
                                 publishable_key=None, webhook_secret=secret(None, None),
                                 api_base=None, updated_at=None)
    return StripeSettingsOut(
        configured=bool(row.stripe_secret_key_encrypted),
        secret_key=secret(row.stripe_secret_key_encrypted, row.stripe_secret_key_last4),
        publishable_key=row.stripe_publishable_key,
        webhook_secret=secret(row.stripe_webhook_secret_encrypted,
                              row.stripe_webhook_secret_last4),
        api_base=row.stripe_api_base, updated_at=row.updated_at)


@router.get("/payments/stripe", response_model=StripeSettingsOut,
            summary="The Stripe account: which keys are set (never the keys)")
def get_stripe(*, principal: Principal = Depends(READ),
               session: DbSession) -> StripeSettingsOut:
    return _stripe_out(gateways.current_settings(session, principal.organization_id))


@router.put("/payments/stripe", response_model=StripeSettingsOut,
            summary="Connect a Stripe account: keys are encrypted at rest")
def put_stripe(body: StripeSettingsIn, request: Request, *, principal: Principal = Depends(WRITE),
               session: DbSession) -> StripeSettingsOut:
    given = {name: getattr(body, name) for name in body.model_fields_set}
    row = gateways.update_stripe(session, principal.organization_id, request.app.state.settings,
                                 **given)
    return _stripe_out(row)


def _methods_out(row: PaymentSettings | None) -> MethodsOut:
    enabled = list(gateways.METHODS) if row is None else row.enabled_methods
    return MethodsOut.model_validate({"enabled": enabled,
                                      "available": gateways.configured_methods(row)})


@router.get("/payments/methods", response_model=MethodsOut,
            summary="Which payment methods checkout offers")
def get_methods(*, principal: Principal = Depends(READ),
                session: DbSession) -> MethodsOut:
    return _methods_out(gateways.current_settings(session, principal.organization_id))


@router.put("/payments/methods", response_model=MethodsOut,
            summary="Choose the payment methods checkout offers")
def put_methods(body: MethodsIn, *, principal: Principal = Depends(WRITE),
                session: DbSession) -> MethodsOut:
    return _methods_out(gateways.set_methods(session, principal.organization_id,
                                             list(body.enabled)))


# -- gift cards ---------------------------------------------------------------------------------

def card_out(card: GiftCard) -> GiftCardOut:
    return GiftCardOut.model_validate(ledger.gift_card_fields(card))


def _entry_fields(entry: GiftCardTransaction | StoreCreditEntry) -> dict[str, Any]:
    return {"id": entry.id, "kind": entry.kind, "amount": ledger.from_cents(entry.delta_cents),
            "balance_after": ledger.from_cents(entry.balance_after_cents),
            "reference": entry.reference, "reason": entry.reason,
            "created_at": entry.created_at}


@router.post("/gift-cards", response_model=GiftCardCreated, status_code=status.HTTP_201_CREATED,
             tags=["gift cards"], summary="Issue a gift card (its code is shown this once)")
def issue_gift_card(body: GiftCardIn, response: Response, *, _: Principal = Depends(WRITE),
                    session: DbSession) -> GiftCardCreated:
    card, code = ledger.issue_gift_card(
        session, amount=body.initial_balance, currency=body.currency,
        expires_at=body.expires_at, customer_id=body.customer_id, note=body.note,
        code=body.code)
    session.flush()
    set_etag(response, card)
    return GiftCardCreated.model_validate({**ledger.gift_card_fields(card), "code": code})


@router.get("/gift-cards", response_model=Page[GiftCardOut], tags=["gift cards"],
            summary="Gift cards, newest first")
def list_gift_cards(*, params: PageParams = Depends(page_params),
                    customer_id: str | None = Query(None, max_length=26),
                    code: str | None = Query(None, max_length=64,
                                             description="Find the card with this full code."),
                    card_status: str | None = Query(
                        None, alias="status", pattern="^(active|empty|expired|disabled)$"),
                    _: Principal = Depends(READ),
                    session: DbSession) -> Page[GiftCardOut]:
    page = ledger.list_gift_cards(session, params, customer_id=customer_id, code=code,
                                  status=card_status)
    return page.to_page(GiftCardOut, ledger.gift_card_fields)


@router.get("/gift-cards/{gift_card_id}", response_model=GiftCardOut, tags=["gift cards"])
def get_gift_card(gift_card_id: str, response: Response, *, _: Principal = Depends(READ),
                  session: DbSession) -> GiftCardOut:
    card = ledger.get_gift_card(session, gift_card_id)
    set_etag(response, card)
    return card_out(card)


@router.patch("/gift-cards/{gift_card_id}", response_model=GiftCardOut, tags=["gift cards"],
              summary="Disable, extend, assign or annotate a card (If-Match supported)")
def update_gift_card(gift_card_id: str, body: GiftCardUpdate, request: Request,
                     response: Response, *, _: Principal = Depends(WRITE),
                     session: DbSession) -> GiftCardOut:
    card = ledger.get_gift_card(session, gift_card_id)
    check_if_match(request, card)
    changes = {name: getattr(body, name) for name in body.model_fields_set}
    if changes.get("disabled") is None:
        changes.pop("disabled", None)
    ledger.update_gift_card(session, card, changes)
    session.flush()
    set_etag(response, card)
    return card_out(card)


@router.post("/gift-cards/{gift_card_id}/adjustments", response_model=AdjustmentOut,
             status_code=status.HTTP_201_CREATED, tags=["gift cards"], responses=INSUFFICIENT,
             summary="Reload, spend in store or correct a card's balance")
def adjust_gift_card(gift_card_id: str, body: AdjustmentIn, *, _: Principal = Depends(WRITE),
                     session: DbSession) -> AdjustmentOut:
    card = ledger.get_gift_card(session, gift_card_id)
    if body.amount == 0 or (body.kind == "reload" and body.amount < 0) or (
            body.kind == "redeem" and body.amount > 0):
        raise ValidationFailed("The amount does not fit the kind.", errors=[{
            "field": "amount", "message": "not zero; positive to reload, negative to redeem"}])
    entry = ledger.move_gift_card(session, card, ledger.to_cents(body.amount), kind=body.kind,
                                  reason=body.reason, reference=body.reference,
                                  usable_only=body.kind == "redeem")
    session.refresh(card)
    return AdjustmentOut.model_validate({"transaction": _entry_fields(entry),
                                         "gift_card": ledger.gift_card_fields(card)})


@router.get("/gift-cards/{gift_card_id}/transactions",
            response_model=Page[GiftCardTransactionOut], tags=["gift cards"],
            summary="The card's ledger, newest first")
def gift_card_transactions(gift_card_id: str, *, params: PageParams = Depends(page_params),
                           _: Principal = Depends(READ),
                           session: DbSession
                           ) -> Page[GiftCardTransactionOut]:
    card = ledger.get_gift_card(session, gift_card_id)
    page = ledger.list_gift_card_transactions(session, card, params)
    return page.to_page(GiftCardTransactionOut, _entry_fields)


# -- store credit -------------------------------------------------------------------------------

def _balance_out(row: StoreCreditBalance) -> CreditBalanceOut:
    return CreditBalanceOut.model_validate({"currency": row.currency,
                                            "balance": ledger.from_cents(row.balance_cents)})


@router.get("/customers/{customer_id}/store-credit", response_model=StoreCreditOut,
            tags=["store credit"], summary="A customer's store credit: balances and entries")
def get_store_credit(customer_id: str, *, params: PageParams = Depends(page_params),
                     currency: str | None = Query(None, pattern=r"^[A-Z]{3}$"),
                     _: Principal = Depends(READ),
                     session: DbSession) -> StoreCreditOut:
    get_customer(session, customer_id)
    page = ledger.list_store_credit_entries(session, customer_id, params, currency=currency)
    return StoreCreditOut.model_validate({
        "customer_id": customer_id,
        "balances": [_balance_out(b) for b in ledger.store_credit_balances(session, customer_id)],
        "entries": [_entry_fields(e) | {"currency": e.currency} for e in page.items],
        "next_cursor": page.next_cursor})


@router.post("/customers/{customer_id}/store-credit", response_model=StoreCreditChangeOut,
             status_code=status.HTTP_201_CREATED, tags=["store credit"], responses=INSUFFICIENT,
             summary="Grant or deduct store credit, with a reason")
def change_store_credit(customer_id: str, body: StoreCreditIn, *, _: Principal = Depends(WRITE),
                        session: DbSession) -> StoreCreditChangeOut:
    get_customer(session, customer_id)
    cents = ledger.to_cents(body.amount)
    entry = ledger.move_store_credit(session, customer_id, body.currency,
                                     cents if body.action == "grant" else -cents,
                                     kind=body.action, reason=body.reason,
                                     reference=body.reference)
    return StoreCreditChangeOut.model_validate({
        "entry": _entry_fields(entry) | {"currency": entry.currency},
        "balance": {"currency": entry.currency,
                    "balance": ledger.from_cents(entry.balance_after_cents)}})


# -- webhooks -----------------------------------------------------------------------------------

@store_router.post("/webhooks/stripe/{store}", response_model=WebhookReceived,
                   responses={401: {"description": "Missing, bad or expired Stripe-Signature "
                                                   "(its t= more than 5 minutes from now)"}},
                   summary="Stripe events for a store: verified, recorded once each, processed "
                           "by the worker")
def stripe_webhook(*, store: Store = Depends(current_store),
                   delivery: inbound.Delivery = Depends(inbound_delivery),
                   session: DbSession) -> WebhookReceived:
    received = hooks.receive_stripe(session, delivery)
    return WebhookReceived(received=True, duplicate=received.duplicate,
                           type=received.event_type)
