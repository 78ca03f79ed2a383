"""Settings: price lists (with their prices by SKU) and promotions.

Same services, schemas and permissions as checkout's pricing and promotions routes
(``pricing:read`` / ``pricing:write``). Dates are typed in the organization's time zone.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError
from starlette.datastructures import FormData

from mercato import checkout
from mercato.checkout.schemas import (
    EntriesIn,
    PriceListIn,
    PriceListUpdate,
    PromotionIn,
    PromotionUpdate,
)
from mercato.core.errors import MercatoError
from mercato.core.pagination import PageParams
from mercato.core.uow import DbSession, MercatoRoute
from mercato.web.admin.settings import (
    available,
    errors_of,
    failed,
    flag,
    local,
    next_url,
    optional,
    posted,
    raw,
    text,
    when,
    words,
)
from mercato.web.session import StaffSession, staff_page
from mercato.web.templating import redirect, render

router = APIRouter(route_class=MercatoRoute, include_in_schema=False)
available.add("/admin/settings/pricing")

PAGE_SIZE = 50
Cursor = Annotated[str | None, Query(max_length=500)]
Form = Annotated[FormData, Depends(posted)]
PROMOTION_KINDS = [("percentage", "Percent off"), ("fixed_amount", "Amount off"),
                   ("free_shipping", "Free shipping"), ("buy_x_get_y", "Buy X get Y")]
SCOPES = [("all", "Everything"), ("product_type", "Product types"), ("category", "Categories"),
          ("collection", "Collections"), ("tag", "Tags"), ("sku", "SKUs")]
STACKING = [("combinable", "Combines with others"), ("exclusive", "Exclusive")]


# -- price lists -------------------------------------------------------------------------------

def _list_body(request: Request, form: FormData) -> dict[str, Any]:
    return {"name": text(form, "name"), "currency": text(form, "currency"),
            "customer_group": optional(form, "customer_group"),
            "starts_at": when(request, form, "starts_at"),
            "ends_at": when(request, form, "ends_at"),
            "priority": text(form, "priority") or "0", "active": flag(form, "active")}


def _pricing(session: Any, staff: StaffSession, lists_cursor: str | None,
             promos_cursor: str | None) -> dict[str, Any]:
    lists = checkout.list_price_lists(session, PageParams(limit=PAGE_SIZE, cursor=lists_cursor))
    counts = checkout.price_list_entry_counts(session, [p.id for p in lists.items])
    promos = checkout.list_promotions(session, PageParams(limit=PAGE_SIZE,
                                                          cursor=promos_cursor))
    return {"price_lists": [{"row": p, "entries": counts.get(p.id, 0)} for p in lists.items],
            "promotions": promos.items,
            "lists_next": next_url("/admin/settings/pricing", lists.next_cursor),
            "promos_next": "/admin/settings/pricing?"
            + urlencode({"promotions_cursor": promos.next_cursor})
            if promos.next_cursor else None,
            "first_url": "/admin/settings/pricing" if lists_cursor or promos_cursor else None,
            "promotion_kinds": PROMOTION_KINDS, "scopes": SCOPES, "stacking": STACKING,
            "can_write": staff.can("pricing:write")}


@router.get("/admin/settings/pricing", response_class=HTMLResponse)
def pricing(request: Request, session: DbSession, cursor: Cursor = None,
            promotions_cursor: Cursor = None,
            staff: StaffSession = Depends(staff_page("pricing:read"))) -> Response:
    return render(request, "admin/settings/pricing.html", {
        **_pricing(session, staff, cursor, promotions_cursor),
        "values": {"active": True, "priority": "0", "kind": "percentage", "scope_kind": "all",
                   "stacking": "combinable"}})


@router.post("/admin/settings/price-lists", response_class=HTMLResponse)
def create_price_list(request: Request, session: DbSession, form: Form,
                      staff: StaffSession = Depends(staff_page("pricing:write"))) -> Response:
    try:
        price_list = checkout.create_price_list(
            session, PriceListIn.model_validate(_list_body(request, form)))
        session.flush()
    except (ValidationError, MercatoError) as exc:
        return failed(request, "admin/settings/pricing.html", _pricing(session, staff, None, None),
                      exc, form={**raw(form), "form": "price_list",
                                 "active": flag(form, "active")})
    return redirect(f"/admin/settings/price-lists/{price_list.id}",
                    flash=f"The price list {price_list.name} is created: add its prices.")


def _entries_text(form: FormData) -> list[dict[str, Any]]:
    """Prices typed one a line: ``SKU price [from quantity]``."""
    rows = []
    for line in text(form, "entries").splitlines():
        parts = line.replace(",", " ").split()
        if parts:
            rows.append({"sku": parts[0], "price": parts[1] if len(parts) > 1 else "",
                         "min_quantity": parts[2] if len(parts) > 2 else 1})
    return rows


def _list_page(request: Request, session: Any, staff: StaffSession, price_list: Any,
               cursor: str | None = None) -> dict[str, Any]:
    entries = checkout.list_price_list_entries(session, price_list,
                                               PageParams(limit=PAGE_SIZE, cursor=cursor))
    return {"price_list": price_list, "entries": entries.items,
            "next_url": next_url(f"/admin/settings/price-lists/{price_list.id}",
                                 entries.next_cursor),
            "first_url": f"/admin/settings/price-lists/{price_list.id}" if cursor else None,
            "can_write": staff.can("pricing:write")}


@router.get("/admin/settings/price-lists/{list_id}", response_class=HTMLResponse)
def price_list_page(request: Request, list_id: str, session: DbSession, cursor: Cursor = None,
                    staff: StaffSession = Depends(staff_page("pricing:read"))) -> Response:
    price_list = checkout.get_price_list(session, list_id)
    return render(request, "admin/settings/price_list.html", {
        **_list_page(request, session, staff, price_list, cursor),
        "values": {"name": price_list.name, "currency": price_list.currency,
                   "customer_group": price_list.customer_group or "",
                   "starts_at": local(request, price_list.starts_at),
                   "ends_at": local(request, price_list.ends_at),
                   "priority": price_list.priority, "active": price_list.active}})


@router.post("/admin/settings/price-lists/{list_id}", response_class=HTMLResponse)
def update_price_list(request: Request, list_id: str, session: DbSession, form: Form,
                      staff: StaffSession = Depends(staff_page("pricing:write"))) -> Response:
    price_list = checkout.get_price_list(session, list_id)
    try:
        checkout.update_price_list(session, price_list,
                                   PriceListUpdate.model_validate(_list_body(request, form)))
        session.flush()
    except (ValidationError, MercatoError) as exc:
        session.rollback()
        price_list = checkout.get_price_list(session, list_id)
        return failed(request, "admin/settings/price_list.html",
                      _list_page(request, session, staff, price_list), exc,
                      form={**raw(form), "active": flag(form, "active")})
    return redirect(f"/admin/settings/price-lists/{list_id}",
                    flash=f"The price list {price_list.name} is saved.")


@router.post("/admin/settings/price-lists/{list_id}/entries", response_class=HTMLResponse)
def set_prices(request: Request, list_id: str, session: DbSession, form: Form,
               staff: StaffSession = Depends(staff_page("pricing:write"))) -> Response:
    price_list = checkout.get_price_list(session, list_id)
    try:
        body = EntriesIn.model_validate({"entries": _entries_text(form),
                                         "replace": flag(form, "replace")})
        changed, removed = checkout.set_price_list_entries(session, price_list, body.entries,
                                                           replace=body.replace)
    except (ValidationError, MercatoError) as exc:
        session.rollback()
        price_list = checkout.get_price_list(session, list_id)
        return failed(request, "admin/settings/price_list.html",
                      _list_page(request, session, staff, price_list), exc,
                      form={"entries": text(form, "entries"), "replace": flag(form, "replace"),
                            "name": price_list.name, "currency": price_list.currency,
                            "priority": price_list.priority, "active": price_list.active})
    return redirect(f"/admin/settings/price-lists/{list_id}",
                    flash=f"{changed} prices set, {removed} removed.")


@router.post("/admin/settings/price-lists/{list_id}/delete", response_class=HTMLResponse)
def delete_price_list(request: Request, list_id: str, session: DbSession,
                      staff: StaffSession = Depends(staff_page("pricing:write"))) -> Response:
    price_list = checkout.get_price_list(session, list_id)
    name = price_list.name
    checkout.delete_price_list(session, price_list)
    return redirect("/admin/settings/pricing", flash=f"The price list {name} is deleted.")


# -- promotions --------------------------------------------------------------------------------

def _promotion_errors(exc: Exception) -> list[dict[str, Any]]:
    """The scope is two inputs: its errors show beside the values (the kind is a choice)."""
    return [{**e, "field": "scope_values" if e["field"].startswith("scope") else e["field"]}
            for e in errors_of(exc)]


NOT_NULL = ("title", "kind", "value", "codes", "scope", "stacking", "priority", "active")


def _promotion_body(request: Request, form: FormData) -> dict[str, Any]:
    scope_kind = text(form, "scope_kind") or "all"
    return {"title": text(form, "title"), "kind": text(form, "kind"),
            "value": optional(form, "value"), "currency": optional(form, "currency"),
            "codes": words(form, "codes"),
            "scope": {"kind": scope_kind,
                      "values": words(form, "scope_values") if scope_kind != "all" else []},
            "buy_quantity": optional(form, "buy_quantity"),
            "get_quantity": optional(form, "get_quantity"),
            "min_subtotal": optional(form, "min_subtotal"),
            "starts_at": when(request, form, "starts_at"),
            "ends_at": when(request, form, "ends_at"),
            "usage_limit": optional(form, "usage_limit"),
            "per_customer_limit": optional(form, "per_customer_limit"),
            "stacking": text(form, "stacking") or "combinable",
            "priority": text(form, "priority") or "0", "active": flag(form, "active")}


@router.post("/admin/settings/promotions", response_class=HTMLResponse)
def create_promotion(request: Request, session: DbSession, form: Form,
                     staff: StaffSession = Depends(staff_page("pricing:write"))) -> Response:
    try:
        body = {k: v for k, v in _promotion_body(request, form).items() if v is not None}
        promotion = checkout.create_promotion(session, PromotionIn.model_validate(body))
    except (ValidationError, MercatoError) as exc:
        session.rollback()
        return failed(request, "admin/settings/pricing.html", _pricing(session, staff, None, None),
                      _promotion_errors(exc), form={**raw(form), "form": "promotion",
                                 "active": flag(form, "active")})
    return redirect("/admin/settings/pricing", flash=f"The promotion {promotion.title} is added.")


def _promotion_values(request: Request, promotion: Any) -> dict[str, Any]:
    def plain(value: Any) -> str:
        return "" if value is None else str(value)

    return {"title": promotion.title, "kind": promotion.kind, "value": plain(promotion.value),
            "currency": plain(promotion.currency),
            "codes": " ".join(c.code for c in promotion.codes),
            "scope_kind": promotion.scope_kind, "scope_values": " ".join(promotion.scope_values),
            "buy_quantity": plain(promotion.buy_quantity),
            "get_quantity": plain(promotion.get_quantity),
            "min_subtotal": plain(promotion.min_subtotal),
            "starts_at": local(request, promotion.starts_at),
            "ends_at": local(request, promotion.ends_at),
            "usage_limit": plain(promotion.usage_limit),
            "per_customer_limit": plain(promotion.per_customer_limit),
            "stacking": promotion.stacking, "priority": promotion.priority,
            "active": promotion.active}


def _promotion_page(staff: StaffSession, promotion: Any) -> dict[str, Any]:
    return {"promotion": promotion, "promotion_kinds": PROMOTION_KINDS, "scopes": SCOPES,
            "stacking": STACKING, "can_write": staff.can("pricing:write")}


@router.get("/admin/settings/promotions/{promotion_id}", response_class=HTMLResponse)
def promotion_page(request: Request, promotion_id: str, session: DbSession,
                   staff: StaffSession = Depends(staff_page("pricing:read"))) -> Response:
    promotion = checkout.get_promotion(session, promotion_id)
    return render(request, "admin/settings/promotion.html", {
        **_promotion_page(staff, promotion), "values": _promotion_values(request, promotion)})


@router.post("/admin/settings/promotions/{promotion_id}", response_class=HTMLResponse)
def update_promotion(request: Request, promotion_id: str, session: DbSession, form: Form,
                     staff: StaffSession = Depends(staff_page("pricing:write"))) -> Response:
    promotion = checkout.get_promotion(session, promotion_id)
    try:
        # Every field of the form is sent: an emptied optional one is cleared (null), one
        # that cannot be null is left as it is.
        body = {k: v for k, v in _promotion_body(request, form).items()
                if v is not None or k not in NOT_NULL}
        checkout.update_promotion(session, promotion, PromotionUpdate.model_validate(body))
    except (ValidationError, MercatoError) as exc:
        session.rollback()
        promotion = checkout.get_promotion(session, promotion_id)
        return failed(request, "admin/settings/promotion.html",
                      _promotion_page(staff, promotion), _promotion_errors(exc),
                      form={**raw(form), "active": flag(form, "active")})
    return redirect(f"/admin/settings/promotions/{promotion_id}",
                    flash=f"The promotion {promotion.title} is saved.")


@router.post("/admin/settings/promotions/{promotion_id}/delete", response_class=HTMLResponse)
def delete_promotion(request: Request, promotion_id: str, session: DbSession,
                     staff: StaffSession = Depends(staff_page("pricing:write"))) -> Response:
    promotion = checkout.get_promotion(session, promotion_id)
    title = promotion.title
    try:
        checkout.delete_promotion(session, promotion)
    except MercatoError as exc:
        session.rollback()
        promotion = checkout.get_promotion(session, promotion_id)
        return failed(request, "admin/settings/promotion.html",
                      _promotion_page(staff, promotion), exc,
                      form=_promotion_values(request, promotion))
    return redirect("/admin/settings/pricing", flash=f"The promotion {title} is deleted.")
