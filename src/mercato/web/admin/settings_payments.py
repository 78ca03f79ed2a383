"""Settings: payment gateways (the Stripe account, the methods checkout offers), gift cards
and store credit.

Same services, schemas and permissions as ``payments.api``: ``payments:read`` /
``payments:write``. Stripe's keys are write-only here as in the API (only their last four
characters are shown back); a gift card's code is shown once, on the page that issues it.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError
from starlette.datastructures import FormData

from mercato import payments
from mercato.core.errors import MercatoError, ValidationFailed
from mercato.core.pagination import PageParams
from mercato.core.uow import DbSession, MercatoRoute
from mercato.identity import customer_id_for_email
from mercato.payments.schemas import (
    AdjustmentIn,
    GiftCardIn,
    GiftCardUpdate,
    MethodsIn,
    StoreCreditIn,
    StripeSettingsIn,
)
from mercato.web.admin.settings import (
    available,
    failed,
    next_url,
    optional,
    posted,
    raw,
    text,
    when,
)
from mercato.web.session import StaffSession, staff_page
from mercato.web.templating import redirect, render

router = APIRouter(route_class=MercatoRoute, include_in_schema=False)
available.update({"/admin/settings/payments", "/admin/settings/gift-cards"})

PAGE_SIZE = 50
Cursor = Annotated[str | None, Query(max_length=500)]
Form = Annotated[FormData, Depends(posted)]
METHOD_LABELS = {"manual": "Manual (cash, bank transfer)", "store_credit": "Store credit",
                 "gift_card": "Gift cards", "stripe": "Cards through Stripe"}
STATUSES = [("active", "Active"), ("empty", "Empty"), ("expired", "Expired"),
            ("disabled", "Disabled")]


# -- gateways ----------------------------------------------------------------------------------

def _gateways(session: Any, staff: StaffSession) -> dict[str, Any]:
    row = payments.current_settings(session, staff.principal.organization_id)
    enabled = list(payments.METHODS) if row is None else list(row.enabled_methods)
    ready = payments.configured_methods(row)
    return {
        "methods": [{"name": m, "label": METHOD_LABELS.get(m, m), "enabled": m in enabled,
                     "ready": m in ready} for m in payments.METHODS],
        "stripe": {
            "configured": bool(row and row.stripe_secret_key_encrypted),
            "secret_last4": row.stripe_secret_key_last4
            if row and row.stripe_secret_key_encrypted else None,
            "webhook_last4": row.stripe_webhook_secret_last4
            if row and row.stripe_webhook_secret_encrypted else None,
            "publishable_key": row.stripe_publishable_key if row else None,
            "api_base": row.stripe_api_base if row else None},
        "can_write": staff.can("payments:write")}


@router.get("/admin/settings/payments", response_class=HTMLResponse)
def gateways(request: Request, session: DbSession,
             staff: StaffSession = Depends(staff_page("payments:read"))) -> Response:
    values = _gateways(session, staff)
    stripe = values["stripe"]
    return render(request, "admin/settings/payments.html", {
        **values, "values": {"publishable_key": stripe["publishable_key"] or "",
                             "api_base": stripe["api_base"] or ""}})


@router.post("/admin/settings/payments/methods", response_class=HTMLResponse)
def set_methods(request: Request, session: DbSession, form: Form,
                staff: StaffSession = Depends(staff_page("payments:write"))) -> Response:
    chosen = [v for v in form.getlist("enabled") if isinstance(v, str)]
    try:
        body = MethodsIn.model_validate({"enabled": chosen})
        payments.set_methods(session, staff.principal.organization_id, list(body.enabled))
    except (ValidationError, MercatoError) as exc:
        return failed(request, "admin/settings/payments.html", _gateways(session, staff), exc,
                      form={})
    return redirect("/admin/settings/payments", flash="The payment methods are saved.")


@router.post("/admin/settings/payments/stripe", response_class=HTMLResponse)
def set_stripe(request: Request, session: DbSession, form: Form,
               staff: StaffSession = Depends(staff_page("payments:write"))) -> Response:
    # A secret left empty keeps the one stored (the page never shows it back); the others are
    # set as they stand, emptied to clear.
    given: dict[str, Any] = {"publishable_key": optional(form, "publishable_key"),
                             "api_base": optional(form, "api_base")}
    for secret in ("secret_key", "webhook_secret"):
        if text(form, secret):
            given[secret] = text(form, secret)
    try:
        body = StripeSettingsIn.model_validate(given)
        payments.update_stripe(session, staff.principal.organization_id,
                               request.app.state.settings,
                               **{name: getattr(body, name) for name in body.model_fields_set})
    except (ValidationError, MercatoError) as exc:
        return failed(request, "admin/settings/payments.html", _gateways(session, staff), exc,
                      form={"publishable_key": text(form, "publishable_key"),
                            "api_base": text(form, "api_base")})
    return redirect("/admin/settings/payments", flash="The Stripe account is saved.")


@router.post("/admin/settings/payments/stripe/disconnect", response_class=HTMLResponse)
def disconnect_stripe(request: Request, session: DbSession,
                      staff: StaffSession = Depends(staff_page("payments:write"))) -> Response:
    payments.update_stripe(session, staff.principal.organization_id, request.app.state.settings,
                           secret_key=None, webhook_secret=None, publishable_key=None)
    return redirect("/admin/settings/payments",
                    flash="Stripe is disconnected: checkout no longer takes cards.")


# -- gift cards --------------------------------------------------------------------------------

def _card_view(card: Any) -> dict[str, Any]:
    return payments.gift_card_fields(card)


def _cards(session: Any, staff: StaffSession, cursor: str | None,
           status: str | None) -> dict[str, Any]:
    page = payments.list_gift_cards(session, PageParams(limit=PAGE_SIZE, cursor=cursor),
                                    status=status)
    return {"cards": [_card_view(c) for c in page.items], "statuses": STATUSES,
            "status_filter": status or "",
            "next_url": next_url("/admin/settings/gift-cards", page.next_cursor,
                                 status=status),
            "first_url": "/admin/settings/gift-cards" if cursor else None,
            "can_write": staff.can("payments:write")}


@router.get("/admin/settings/gift-cards", response_class=HTMLResponse)
def gift_cards(request: Request, session: DbSession, cursor: Cursor = None,
               status: Annotated[str | None, Query(
                   pattern="^(|active|empty|expired|disabled)$")] = None,
               staff: StaffSession = Depends(staff_page("payments:read"))) -> Response:
    return render(request, "admin/settings/gift_cards.html",
                  _cards(session, staff, cursor, status or None), block="rows")


@router.post("/admin/settings/gift-cards", response_class=HTMLResponse)
def issue_gift_card(request: Request, session: DbSession, form: Form,
                    staff: StaffSession = Depends(staff_page("payments:write"))) -> Response:
    try:
        body = GiftCardIn.model_validate({
            "initial_balance": text(form, "initial_balance"), "currency": text(form, "currency"),
            "expires_at": when(request, form, "expires_at"),
            "customer_id": optional(form, "customer_id"), "note": optional(form, "note"),
            "code": optional(form, "code")})
        card, code = payments.issue_gift_card(
            session, amount=body.initial_balance, currency=body.currency,
            expires_at=body.expires_at, customer_id=body.customer_id, note=body.note,
            code=body.code)
        session.flush()
    except (ValidationError, MercatoError) as exc:
        return failed(request, "admin/settings/gift_cards.html",
                      _cards(session, staff, None, None), exc, form=raw(form))
    # The code is in this answer only (stored hashed).
    return render(request, "admin/settings/gift_card_issued.html",
                  {"card": _card_view(card), "code": code})


def _card_page(session: Any, staff: StaffSession, card: Any,
               cursor: str | None = None) -> dict[str, Any]:
    page = payments.list_gift_card_transactions(session, card,
                                                PageParams(limit=PAGE_SIZE, cursor=cursor))
    return {"card": _card_view(card), "entries": page.items,
            "next_url": next_url(f"/admin/settings/gift-cards/{card.id}", page.next_cursor),
            "first_url": f"/admin/settings/gift-cards/{card.id}" if cursor else None,
            "kinds": [("adjust", "Correct the balance"), ("reload", "Reload"),
                      ("redeem", "Spend in store")],
            "can_write": staff.can("payments:write")}


@router.get("/admin/settings/gift-cards/{card_id}", response_class=HTMLResponse)
def gift_card(request: Request, card_id: str, session: DbSession, cursor: Cursor = None,
              staff: StaffSession = Depends(staff_page("payments:read"))) -> Response:
    card = payments.get_gift_card(session, card_id)
    return render(request, "admin/settings/gift_card.html", {
        **_card_page(session, staff, card, cursor),
        "values": {"kind": "adjust", "note": card.note or ""}})


@router.post("/admin/settings/gift-cards/{card_id}/adjust", response_class=HTMLResponse)
def adjust_gift_card(request: Request, card_id: str, session: DbSession, form: Form,
                     staff: StaffSession = Depends(staff_page("payments:write"))) -> Response:
    card = payments.get_gift_card(session, card_id)
    try:
        body = AdjustmentIn.model_validate({
            "amount": text(form, "amount"), "kind": text(form, "kind") or "adjust",
            "reason": text(form, "reason"), "reference": optional(form, "reference")})
        if body.amount == 0 or (body.kind == "reload" and body.amount < 0) or (
                body.kind == "redeem" and body.amount > 0):
            raise ValidationFailed("The amount does not fit the kind.", errors=[{
                "field": "amount",
                "message": "not zero; positive to reload, negative to redeem"}])
        payments.move_gift_card(session, card, payments.to_cents(body.amount), kind=body.kind,
                                reason=body.reason, reference=body.reference,
                                usable_only=body.kind == "redeem")
    except (ValidationError, MercatoError) as exc:
        session.refresh(card)
        return failed(request, "admin/settings/gift_card.html", _card_page(session, staff, card),
                      exc, form=raw(form))
    return redirect(f"/admin/settings/gift-cards/{card_id}", flash="The balance is changed.")


@router.post("/admin/settings/gift-cards/{card_id}", response_class=HTMLResponse)
def update_gift_card(request: Request, card_id: str, session: DbSession, form: Form,
                     staff: StaffSession = Depends(staff_page("payments:write"))) -> Response:
    card = payments.get_gift_card(session, card_id)
    changes: dict[str, Any] = {"note": optional(form, "note")}
    if text(form, "disabled") in ("true", "false"):
        changes = {"disabled": text(form, "disabled") == "true"}
    try:
        body = GiftCardUpdate.model_validate(changes)
    except ValidationError as exc:
        return failed(request, "admin/settings/gift_card.html", _card_page(session, staff, card),
                      exc, form=raw(form))
    payments.update_gift_card(session, card, {name: getattr(body, name)
                                              for name in body.model_fields_set})
    session.flush()
    if "disabled" not in changes:
        done = "The note is saved."
    else:
        done = "The card is disabled." if changes["disabled"] else "The card is enabled again."
    return redirect(f"/admin/settings/gift-cards/{card_id}", flash=done)


# -- store credit ------------------------------------------------------------------------------

def _credit(session: Any, staff: StaffSession, email: str) -> dict[str, Any]:
    customer_id = customer_id_for_email(session, email.strip().lower()) if email else None
    values: dict[str, Any] = {"email": email, "customer_id": customer_id,
                              "can_write": staff.can("payments:write"),
                              "balances": [], "entries": []}
    if customer_id:
        values["balances"] = [{"currency": b.currency,
                               "balance": payments.from_cents(b.balance_cents)}
                              for b in payments.store_credit_balances(session, customer_id)]
        values["entries"] = payments.list_store_credit_entries(
            session, customer_id, PageParams(limit=PAGE_SIZE, cursor=None)).items
    return values


@router.get("/admin/settings/store-credit", response_class=HTMLResponse)
def store_credit(request: Request, session: DbSession,
                 email: Annotated[str, Query(max_length=254)] = "",
                 staff: StaffSession = Depends(staff_page("payments:read"))) -> Response:
    return render(request, "admin/settings/store_credit.html", {
        **_credit(session, staff, email), "values": {"action": "grant"}})


@router.post("/admin/settings/store-credit", response_class=HTMLResponse)
def change_store_credit(request: Request, session: DbSession, form: Form,
                        staff: StaffSession = Depends(staff_page("payments:write"))) -> Response:
    email = text(form, "email")
    values = _credit(session, staff, email)
    try:
        if not values["customer_id"]:
            raise ValidationFailed("No customer has this email.", errors=[
                {"field": "email", "message": "no customer has this email"}])
        body = StoreCreditIn.model_validate({
            "action": text(form, "action"), "amount": text(form, "amount"),
            "currency": text(form, "currency"), "reason": text(form, "reason"),
            "reference": optional(form, "reference")})
        cents = payments.to_cents(body.amount)
        payments.move_store_credit(session, values["customer_id"], body.currency,
                                   cents if body.action == "grant" else -cents,
                                   kind=body.action, reason=body.reason,
                                   reference=body.reference)
    except (ValidationError, MercatoError) as exc:
        return failed(request, "admin/settings/store_credit.html", values, exc, form=raw(form))
    return redirect(f"/admin/settings/store-credit?{urlencode({'email': email})}",
                    flash="The store credit is changed.")
