"""Storefront carts and their checkout route (mounted by ``checkout.api``)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from fastapi import APIRouter, Depends, Request
from sqlalchemy.orm import Session

from mercato.checkout.cart import service
from mercato.checkout.cart.models import Cart
from mercato.checkout.cart.schemas import (
    CartCreate,
    CartLineIn,
    CartLineOut,
    CartLineUpdate,
    CartOut,
    CartUpdate,
    CodeIn,
    PromotionOut,
    ShippingMethodIn,
    ShippingOptionOut,
)
from mercato.checkout.shipping.service import ShippingQuote
from mercato.core.errors import ValidationFailed
from mercato.core.idempotency import credential_scope
from mercato.core.uow import DbSession, MercatoRoute
from mercato.identity import Address, Shopper
from mercato.identity.deps import optional_customer
from mercato.settings import Settings
from mercato.tenancy import Store
from mercato.tenancy.deps import current_store


async def _cart_credential(request: Request) -> None:
    """A guest's cart id is their credential for it: Idempotency-Keys on a cart's routes are
    scoped to the cart (a signed-in shopper's, to the shopper)."""
    cart_id = request.path_params.get("cart_id")
    if cart_id:
        credential_scope(request, "cart", str(cart_id))


store_router = APIRouter(prefix="/store/v1/{store}", route_class=MercatoRoute,
                         tags=["storefront carts"], dependencies=[Depends(_cart_credential)])

ZERO = Decimal("0")


def settings_of(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def _option(quote: ShippingQuote) -> ShippingOptionOut:
    return ShippingOptionOut(method_id=quote.method_id, code=quote.code, title=quote.title,
                             kind=quote.kind, price=quote.price, currency=quote.currency,
                             pickup_location_id=quote.pickup_location_id)


def cart_out(session: Session, cart: Cart) -> CartOut:
    """The cart priced now (see ``service.view``)."""
    current = service.view(session, cart)
    totals = current.totals
    lines = []
    for lv, lt in zip(current.lines, totals.lines, strict=True):
        lines.append(CartLineOut(
            id=lv.line.id, sku=lv.line.sku, variant_id=lv.line.variant_id,
            title=lv.item.product_title if lv.item else None,
            variant_title=(lv.item.variant_title or None) if lv.item else None,
            quantity=lv.line.quantity, unit_price=lv.unit_price, compare_at=lv.compare_at,
            price_source=lv.price_source,
            available=lv.available or 0,  # always read here: view(stock=True)
            discounts=[{"title": t, "amount": str(a)} for t, a in lv.discounts],
            subtotal=lt.subtotal, discount_total=lt.discount_total, tax_total=lt.tax_total,
            total=lt.total, problems=lv.all_problems))
    payment: dict[str, Any] | None = service.public_payment(cart.payment) if cart.payment else None
    return CartOut(
        id=cart.id, status=cart.status, currency=cart.currency, email=cart.email,
        customer_id=cart.customer_id, lines=lines, codes=list(cart.codes),
        promotions=[PromotionOut(promotion_id=a.promotion_id, code=a.code, title=a.title,
                                 kind=a.kind, amount=a.amount) for a in current.promo.applied],
        rejected_codes=dict(current.promo.rejected), shipping_address=cart.shipping_address,
        billing_address=cart.billing_address,
        shipping_method=_option(current.shipping) if current.shipping else None,
        taxes_included=current.taxes_included, subtotal=totals.subtotal,
        discount_total=totals.discount_total, shipping_total=totals.shipping_total,
        tax_total=totals.tax_total, total=totals.total, problems=current.problems,
        payment=payment, order_id=cart.order_id, expires_at=cart.expires_at,
        updated_at=cart.updated_at)


def editable(request: Request, session: Session, cart_id: str,
             shopper: Shopper | None) -> Cart:
    """The cart, if the caller may change it (an open cart of theirs); its expiry renewed."""
    return service.editable(session, cart_id, shopper,
                            ttl_hours=settings_of(request).cart_ttl_hours)


@store_router.post("/carts", response_model=CartOut, status_code=201,
                   summary="A new cart (the signed-in shopper's, or a guest's), lines, address "
                           "and shipping method at once if given")
def create_cart(body: CartCreate, request: Request, *, _: Store = Depends(current_store),
                shopper: Shopper | None = Depends(optional_customer),
                session: DbSession) -> CartOut:
    cart = service.create_cart(session, shopper, currency=body.currency, email=body.email,
                               ttl_hours=settings_of(request).cart_ttl_hours)
    for i, line in enumerate(body.lines):
        try:
            service.add_line(session, cart, line.sku, line.quantity)
        except ValidationFailed as exc:
            raise ValidationFailed(exc.detail, errors=[
                {**e, "field": f"lines.{i}.{e['field']}"} for e in exc.errors]) from None
    if body.shipping_address is not None:
        service.set_address(cart, body.shipping_address.model_dump())
    if body.shipping_method_id is not None:
        service.set_method(session, cart, body.shipping_method_id)
    session.flush()
    return cart_out(session, cart)


@store_router.get("/carts/{cart_id}", response_model=CartOut,
                  summary="The cart, priced now")
def get_cart(cart_id: str, *, _: Store = Depends(current_store),
             shopper: Shopper | None = Depends(optional_customer),
             session: DbSession) -> CartOut:
    return cart_out(session, service.get_cart(session, cart_id, shopper))


@store_router.patch("/carts/{cart_id}", response_model=CartOut,
                    summary="Set the email, note or billing address")
def update_cart(cart_id: str, body: CartUpdate, request: Request,
                *, _: Store = Depends(current_store),
                shopper: Shopper | None = Depends(optional_customer),
                session: DbSession) -> CartOut:
    cart = editable(request, session, cart_id, shopper)
    given = body.model_dump(exclude_unset=True)
    if body.email is not None:
        service.set_email(cart, body.email)
    if "note" in given:
        cart.note = body.note
    if body.billing_address is not None:
        service.set_address(cart, body.billing_address.model_dump(), billing=True)
    session.flush()
    return cart_out(session, cart)


@store_router.post("/carts/{cart_id}/lines", response_model=CartOut, status_code=201,
                   summary="Add units of a SKU (checked against what the store can sell)")
def add_line(cart_id: str, body: CartLineIn, request: Request,
             *, _: Store = Depends(current_store),
             shopper: Shopper | None = Depends(optional_customer),
             session: DbSession) -> CartOut:
    cart = editable(request, session, cart_id, shopper)
    service.add_line(session, cart, body.sku, body.quantity)
    return cart_out(session, cart)


@store_router.patch("/carts/{cart_id}/lines/{line_id}", response_model=CartOut,
                    summary="Change a line's quantity")
def update_line(cart_id: str, line_id: str, body: CartLineUpdate, request: Request,
                *, _: Store = Depends(current_store),
                shopper: Shopper | None = Depends(optional_customer),
                session: DbSession) -> CartOut:
    cart = editable(request, session, cart_id, shopper)
    service.set_quantity(session, cart, line_id, body.quantity)
    return cart_out(session, cart)


@store_router.delete("/carts/{cart_id}/lines/{line_id}", response_model=CartOut,
                     summary="Remove a line")
def remove_line(cart_id: str, line_id: str, request: Request,
                *, _: Store = Depends(current_store),
                shopper: Shopper | None = Depends(optional_customer),
                session: DbSession) -> CartOut:
    cart = editable(request, session, cart_id, shopper)
    service.remove_line(session, cart, line_id)
    return cart_out(session, cart)


@store_router.post("/carts/{cart_id}/discount-codes", response_model=CartOut,
                   status_code=201, summary="Apply a discount code")
def add_code(cart_id: str, body: CodeIn, request: Request, *, _: Store = Depends(current_store),
             shopper: Shopper | None = Depends(optional_customer),
             session: DbSession) -> CartOut:
    cart = editable(request, session, cart_id, shopper)
    service.add_code(session, cart, body.code)
    return cart_out(session, cart)


@store_router.delete("/carts/{cart_id}/discount-codes/{code}", response_model=CartOut,
                     summary="Remove a discount code")
def remove_code(cart_id: str, code: str, request: Request, *, _: Store = Depends(current_store),
                shopper: Shopper | None = Depends(optional_customer),
                session: DbSession) -> CartOut:
    cart = editable(request, session, cart_id, shopper)
    service.remove_code(cart, code)
    return cart_out(session, cart)


@store_router.put("/carts/{cart_id}/shipping-address", response_model=CartOut,
                  summary="Set where the order ships (prices tax and shipping)")
def set_shipping_address(cart_id: str, body: Address, request: Request,
                         *, _: Store = Depends(current_store),
                         shopper: Shopper | None = Depends(optional_customer),
                         session: DbSession) -> CartOut:
    cart = editable(request, session, cart_id, shopper)
    service.set_address(cart, body.model_dump())
    session.flush()
    return cart_out(session, cart)


@store_router.get("/carts/{cart_id}/shipping-methods", response_model=list[ShippingOptionOut],
                  summary="The methods that can ship this cart now, cheapest first")
def shipping_methods(cart_id: str, *, _: Store = Depends(current_store),
                     shopper: Shopper | None = Depends(optional_customer),
                     session: DbSession) -> list[ShippingOptionOut]:
    cart = service.get_cart(session, cart_id, shopper)
    return [_option(q) for q in service.shipping_options(session, cart)]


@store_router.put("/carts/{cart_id}/shipping-method", response_model=CartOut,
                  summary="Choose a shipping method (or store pickup)")
def set_shipping_method(cart_id: str, body: ShippingMethodIn, request: Request,
                        *, _: Store = Depends(current_store),
                        shopper: Shopper | None = Depends(optional_customer),
                        session: DbSession) -> CartOut:
    cart = editable(request, session, cart_id, shopper)
    service.set_method(session, cart, body.method_id)
    session.flush()
    return cart_out(session, cart)
