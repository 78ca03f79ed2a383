"""The storefront's cart page: a cart (a guest's, or the signed-in customer's) made, changed
and priced by the same cart service as ``/store/v1/{store}/carts``, remembered by its id in
a cookie of the store's path.

Every change is a plain form POST (CSRF checked by ``shop_page``) answered by a redirect to
the cart (POST-redirect-GET); a refused change re-renders the page with its error beside the
field (422) and changes nothing.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session

from mercato import checkout
from mercato.checkout.schemas import CartLineIn, CartLineUpdate, CodeIn
from mercato.core.errors import MercatoError, NotFound
from mercato.core.uow import DbSession, MercatoRoute
from mercato.web.store.catalog import product_page
from mercato.web.store.common import (
    Shop,
    adopt_shopper_cart,
    country_code,
    load,
    open_cart,
    page,
    settings_of,
    shop_page,
    with_cookies,
)
from mercato.web.templating import errors_of, form_errors, redirect

router = APIRouter(route_class=MercatoRoute, include_in_schema=False)


def _lines(current: checkout.CartView | None) -> list[dict[str, Any]]:
    if current is None:
        return []
    out = []
    for lv, lt in zip(current.lines, current.totals.lines, strict=True):
        out.append({
            "id": lv.line.id, "sku": lv.line.sku, "quantity": lv.line.quantity,
            "title": lv.item.product_title if lv.item else lv.line.sku,
            "variant_title": (lv.item.variant_title or "") if lv.item else "",
            "unit_price": lv.unit_price, "compare_at": lv.compare_at,
            "discounts": lv.discounts, "subtotal": lt.subtotal, "total": lt.total,
            "available": lv.available or 0, "problems": lv.all_problems})
    return out


def cart_page(request: Request, session: Session, shop: Shop, *, status: int = 200,
              errors: list[dict[str, Any]] | None = None, line_id: str = "") -> Response:
    """The cart as it stands, priced now; with a refused change's errors (``line_id``: the
    line whose quantity was refused)."""
    settings = load(request, session, shop)
    current = open_cart(session, shop)
    estimate = _estimate(request, session, current, settings.locale) if current else None
    refused = (estimate or {}).get("errors", [])
    by_field, listed = form_errors([*(errors or []), *refused])
    if refused and status == 200:
        status = 422
    return page(request, shop, "store/cart.html", {
        "cart": current, "lines": _lines(current), "errors": by_field, "error_list": listed,
        "error_line": line_id, "estimate": estimate}, status=status)


def _estimate(request: Request, session: Session, current: checkout.CartView,
              locale: str) -> dict[str, Any] | None:
    """The shipping estimate asked for (``?country=&postal_code=``): the methods that can
    ship this cart there, priced; the cart is not changed."""
    asked = request.query_params.get("country", "").strip()
    postal = request.query_params.get("postal_code", "").strip()[:20]
    if not asked:
        return None
    country = country_code(asked[:60], locale)
    if country is None:
        return {"country": asked, "postal_code": postal, "options": [], "errors": [
            {"field": "estimate_country",
             "message": "Enter a country, such as US or United States"}]}
    options = checkout.shipping_options(session, current.cart, country=country,
                                        postal_code=postal)
    return {"country": asked, "postal_code": postal, "options": options}


@router.get("/s/{store}/cart", response_class=HTMLResponse)
def cart(request: Request, session: DbSession, shop: Shop = Depends(shop_page)) -> Response:
    return cart_page(request, session, shop)


def _editable(request: Request, session: Session, shop: Shop) -> Any:
    """This browser's open cart, locked for a change; a new one (the signed-in customer's,
    or a guest's) when it has none."""
    adopt_shopper_cart(session, shop)
    if shop.cart_id is not None:
        try:
            return checkout.editable(session, shop.cart_id, shop.shopper,
                                     ttl_hours=settings_of(request).cart_ttl_hours)
        except MercatoError:
            shop.cart_id = None
    made = checkout.create_cart(session, shop.shopper,
                                currency=load(request, session, shop).currency,
                                email=None, ttl_hours=settings_of(request).cart_ttl_hours)
    shop.cart_id = made.id
    return made


def _back_to_cart(request: Request, shop: Shop, flash: str) -> Response:
    return with_cookies(request, shop, redirect(f"{shop.base}/cart", flash=flash))


@router.post("/s/{store}/cart/lines", response_class=HTMLResponse)
def add_line(request: Request, session: DbSession, sku: Annotated[str, Form()] = "",
             quantity: Annotated[str, Form()] = "1", slug: Annotated[str, Form()] = "",
             shop: Shop = Depends(shop_page)) -> Response:
    had = shop.cart_id
    try:
        body = CartLineIn.model_validate({"sku": sku, "quantity": quantity or "1"})
        current = _editable(request, session, shop)
        checkout.add_line(session, current, body.sku, body.quantity)
    except (ValidationError, MercatoError) as exc:
        errors = errors_of(exc)
        shop.cart_id = had  # a cart made for this line is rolled back with it (422)
        by_field, listed = form_errors(errors)
        if slug:
            return product_page(request, session, shop, slug, status=422, errors=by_field,
                                error_list=listed, values={"sku": sku, "quantity": quantity})
        return cart_page(request, session, shop, status=422, errors=errors)
    return _back_to_cart(request, shop, "Added to your cart.")


@router.post("/s/{store}/cart/lines/{line_id}", response_class=HTMLResponse)
def change_line(line_id: str, request: Request, session: DbSession,
                quantity: Annotated[str, Form()] = "",
                shop: Shop = Depends(shop_page)) -> Response:
    try:
        body = CartLineUpdate.model_validate({"quantity": quantity})
        current = _existing(request, session, shop)
        checkout.set_quantity(session, current, line_id, body.quantity)
    except (ValidationError, MercatoError) as exc:
        errors = errors_of(exc)
        return cart_page(request, session, shop, status=422, errors=errors, line_id=line_id)
    return _back_to_cart(request, shop, "Quantity updated.")


@router.post("/s/{store}/cart/lines/{line_id}/remove", response_class=HTMLResponse)
def remove_line(line_id: str, request: Request, session: DbSession,
                shop: Shop = Depends(shop_page)) -> Response:
    try:
        current = _existing(request, session, shop)
        checkout.remove_line(session, current, line_id)
    except MercatoError as exc:
        errors = errors_of(exc)
        return cart_page(request, session, shop, status=422, errors=errors)
    return _back_to_cart(request, shop, "Removed from your cart.")


@router.post("/s/{store}/cart/codes", response_class=HTMLResponse)
def add_code(request: Request, session: DbSession, code: Annotated[str, Form()] = "",
             shop: Shop = Depends(shop_page)) -> Response:
    try:
        body = CodeIn.model_validate({"code": code.strip()})
        current = _existing(request, session, shop)
        checkout.add_code(session, current, body.code)
    except (ValidationError, MercatoError) as exc:
        errors = errors_of(exc)
        return cart_page(request, session, shop, status=422,
                         errors=[{**e, "field": "code"} for e in errors])
    return _back_to_cart(request, shop, "Discount code added.")


@router.post("/s/{store}/cart/codes/remove", response_class=HTMLResponse)
def remove_code(request: Request, session: DbSession, code: Annotated[str, Form()] = "",
                shop: Shop = Depends(shop_page)) -> Response:
    try:
        current = _existing(request, session, shop)
        checkout.remove_code(current, code)
    except MercatoError as exc:
        errors = errors_of(exc)
        return cart_page(request, session, shop, status=422, errors=errors)
    return _back_to_cart(request, shop, "Discount code removed.")


def _existing(request: Request, session: Session, shop: Shop) -> Any:
    """This browser's open cart, locked for a change; a 404 when it has none (expired, or
    its cookie gone)."""
    if shop.cart_id is None:
        raise NotFound("Your cart has expired; add the products again.")
    return checkout.editable(session, shop.cart_id, shop.shopper,
                             ttl_hours=settings_of(request).cart_ttl_hours)
