"""The storefront's checkout: one form (email, address, shipping, payment, "Place order")
over the same steps as ``POST /store/v1/{store}/carts/{id}/checkout``: the cart service's
``set_email``, ``set_address`` and ``set_method``, then ``checkout.start`` (stock held, order
made, payment taken; a declined or abandoned payment gives the hold back).

- Shipping depends on the address: the page lists the methods that can ship the cart to the
  address the cart has (pickup whatever the address); before there is one, every active
  method, and a method that cannot ship to the address entered is refused beside the field
  (422). "Update shipping options" saves the address and shows what ships there.
- A refused checkout (422 fields, 409 sold out, 402 declined, 503 provider down) re-renders
  the form with its errors and the values entered, and changes nothing: the transaction is
  rolled back, or (a remote payment) compensated by ``start`` itself.
- Success clears the cart cookie and remembers the completed cart's id in a cookie of the
  store's path (``PLACED_COOKIE``): the confirmation page (``/checkout/done/{order_id}``)
  opens only for that browser, or for the signed-in shopper whose order it is; anyone else
  gets a 404.
- Cards: with Stripe pointed at the emulator (``payments.stripe_emulated``) the page offers
  its test cards; otherwise, with a publishable key, Stripe's Payment Element (Stripe.js, the
  one script from another host, allowed on this page only). A card that needs 3-D Secure
  sends the shopper to the bank's page, which returns to ``/checkout/return``; the
  provider's webhook completes (or compensates) the attempt and that page shows the outcome.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel, ValidationError
from sqlalchemy.orm import Session

from mercato import checkout, payments
from mercato.core.browser import HTML_CSP
from mercato.core.errors import MercatoError, NotFound
from mercato.core.pagination import PageParams
from mercato.core.uow import DbSession, MercatoRoute
from mercato.identity import Address, Email, email_verified
from mercato.orders import service as orders
from mercato.web.session import cookie_secure
from mercato.web.store.common import (
    Shop,
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

PLACED_COOKIE = "mercato_placed"
"""The ids of the carts this browser checked out (newest first, a few): its credential for
their confirmation pages, as a cart's id is for the cart."""
PLACED_KEEP = 5
PLACED_DAYS = 30
"""How long a browser can open its confirmations again."""
METHOD_LABELS = {"manual": "Pay in store", "gift_card": "Gift card",
                 "store_credit": "Store credit", "stripe": "Card"}
TEST_CARDS = (("pm_card_visa", "Visa ending 4242 (succeeds)"),
              ("pm_card_threeDSecure2Required", "Visa ending 3220 (needs 3-D Secure)"),
              ("pm_card_chargeDeclined", "Visa ending 0002 (declined)"))
"""Stripe's test payment methods the emulator knows: offered only when Stripe is emulated."""
STRIPE_JS = "https://js.stripe.com/v3/"
FIELD_OF = {"payment.method": "payment_method", "payment.code": "gift_card_code",
            "payment.customer_id": "payment_method", "payment.payment_method": "test_card",
            "first_name": "full_name", "last_name": "full_name"}
"""The API's field names (a service's errors) as this form names its fields."""
REQUIRED = (("email", "Enter your email"), ("full_name", "Enter your full name"),
            ("line1", "Enter your address"), ("city", "Enter your city"),
            ("postal_code", "Enter your postal code"), ("country", "Enter your country"))


class CheckoutForm(BaseModel):
    """The page's fields as the checkout steps take them: ``email`` as the API validates it,
    the address as ``identity.Address`` (None for a cart of digital goods only: nothing is
    shipped)."""

    email: Email
    address: Address | None


@dataclass
class Choices:
    """What the page offers: shipping (quotes with prices, or methods before an address),
    payment methods, and how a card is taken."""

    shipping: list[dict[str, Any]]
    methods: list[dict[str, str]]
    card: str | None  # "test_cards" | "element" | None
    publishable_key: str | None


# -- reading the form ------------------------------------------------------------------------

def _parse(values: dict[str, str], locale: str, *, shipped: bool = True
           ) -> tuple[CheckoutForm | None, list[dict[str, str]]]:
    """The form as the steps take it, or every field's error; ``shipped`` False (digital
    goods only): the email alone."""
    if not shipped:
        try:
            return CheckoutForm.model_validate({"email": values.get("email", "").strip(),
                                                "address": None}), []
        except ValidationError as exc:
            return None, [{"field": _field(str(e["field"])), "message": str(e["message"])}
                          for e in errors_of(exc)]
    errors = [{"field": name, "message": message} for name, message in REQUIRED
              if not values.get(name, "").strip()]
    country = country_code(values.get("country", ""), locale)
    if values.get("country", "").strip() and country is None:
        errors.append({"field": "country",
                       "message": "Enter a country, such as US or United States"})
    first, _, last = " ".join(values.get("full_name", "").split()).partition(" ")
    try:
        form = CheckoutForm.model_validate({"email": values.get("email", "").strip(), "address": {
            "first_name": first, "last_name": last, "line1": values.get("line1", "").strip(),
            "line2": values.get("line2", "").strip(), "city": values.get("city", "").strip(),
            "region": values.get("region", "").strip(),
            "postal_code": values.get("postal_code", "").strip(), "country": country or "",
            "phone": values.get("phone", "").strip()}})
    except ValidationError as exc:
        found = {e["field"] for e in errors}
        for error in errors_of(exc):
            name = _field(str(error["field"]).removeprefix("address."))
            if name not in found:
                found.add(name)
                errors.append({"field": name, "message": str(error["message"])})
        return None, errors
    return (None, errors) if errors else (form, [])


def _field(name: str) -> str:
    if name in FIELD_OF:
        return FIELD_OF[name]
    if name.startswith("lines"):
        return ""  # the cart's lines: said in the summary, fixed in the cart
    return name


def _details(values: dict[str, str], method: str, return_url: str) -> dict[str, Any]:
    """The payment's details as the API's ``payment`` object carries them."""
    if method == "gift_card":
        return {"code": values.get("gift_card_code", "").strip()}
    if method == "stripe":
        chosen = values.get("payment_method_id") or values.get("test_card") or ""
        return {"payment_method": chosen, "return_url": return_url}
    return {}


# -- what the page offers ----------------------------------------------------------------------

def _choices(session: Session, shop: Shop, cart: Any) -> Choices:
    quotes = checkout.shipping_options(session, cart)
    shipping = [{"id": q.method_id, "title": q.title, "price": q.price, "kind": q.kind}
                for q in quotes]
    if not (cart.shipping_address or {}).get("country"):
        # no address yet: every active method, priced once the address is known
        offered = {s["id"] for s in shipping}
        for method in checkout.list_shipping_methods(
                session, PageParams(limit=100, cursor=None), active=True).items:
            if method.id not in offered and method.kind != "pickup" \
                    and method.currency == cart.currency:
                shipping.append({"id": method.id, "title": method.title, "kind": method.kind,
                                 "price": method.price if method.kind == "flat" else None})
    row = payments.current_settings(session, shop.store.organization_id)
    emulated = payments.stripe_emulated(row)
    card = "test_cards" if emulated else (
        "element" if row is not None and row.stripe_publishable_key else None)
    methods = []
    for name in payments.configured_methods(row):
        if name == "store_credit" and shop.shopper is None:
            continue  # a guest has no store credit
        if name == "stripe" and card is None:
            continue  # no publishable key: no way to take the card on the page
        methods.append({"value": name, "label": METHOD_LABELS.get(name, name)})
    return Choices(shipping, methods, card,
                   row.stripe_publishable_key if card == "element" and row else None)


def _values_of(cart: Any, shop: Shop) -> dict[str, str]:
    """The form as the cart stands (a first visit), for the shopper to complete."""
    where = cart.shipping_address or {}
    name = " ".join(p for p in (where.get("first_name"), where.get("last_name")) if p)
    values = {"email": cart.email or (shop.shopper.email if shop.shopper else "") or "",
              "full_name": name, "shipping_method": cart.shipping_method_id or ""}
    for key in ("line1", "line2", "city", "region", "postal_code", "country", "phone"):
        values[key] = str(where.get(key) or "")
    return values


def _form_page(request: Request, session: Session, shop: Shop, cart: Any,
               values: dict[str, str], *, errors: list[dict[str, Any]] | None = None,
               status: int = 200) -> Response:
    current = open_cart(session, shop) if cart.status == "open" else None
    choices = _choices(session, shop, cart)
    if not values.get("shipping_method") and len(choices.shipping) == 1:
        values = {**values, "shipping_method": choices.shipping[0]["id"]}
    if not values.get("payment_method") and choices.methods:
        values = {**values, "payment_method": choices.methods[0]["value"]}
    by_field, listed = form_errors([{**e, "field": _field(str(e.get("field") or ""))}
                                    for e in errors or []])
    response = page(request, shop, "store/checkout.html", {
        "cart": current, "values": values, "errors": by_field, "error_list": listed,
        "shipped": checkout.cart_needs_shipping(session, cart),
        "choices": choices, "test_cards": TEST_CARDS,
        "stripe_js": STRIPE_JS if choices.card == "element" else None}, status=status)
    if choices.card == "element":  # Stripe.js and its frames, on this page only
        policy = response.headers.get("Content-Security-Policy", HTML_CSP)
        response.headers["Content-Security-Policy"] = policy.replace(
            "script-src 'self'", "script-src 'self' https://js.stripe.com").replace(
            "default-src 'self'", "default-src 'self'; frame-src https://js.stripe.com "
            "https://hooks.stripe.com; connect-src 'self' https://api.stripe.com")
    return response


# -- cookies of placed orders ------------------------------------------------------------------

def _placed(request: Request) -> list[str]:
    raw = request.cookies.get(PLACED_COOKIE, "")
    return [part for part in raw.split(".") if part][:PLACED_KEEP]


def _remember(request: Request, shop: Shop, response: Response, cart_id: str) -> Response:
    kept = [cart_id, *[c for c in _placed(request) if c != cart_id]][:PLACED_KEEP]
    response.set_cookie(PLACED_COOKIE, ".".join(kept), path=shop.cookie_path,
                        max_age=PLACED_DAYS * 24 * 3600,
                        httponly=True, samesite="lax", secure=cookie_secure(request))
    return response


# -- the pages ---------------------------------------------------------------------------------

def _cart_or_none(session: Session, shop: Shop) -> Any | None:
    if shop.cart_id is None:
        return None
    try:
        cart = checkout.get_cart(session, shop.cart_id, shop.shopper)
    except MercatoError:
        return None
    return cart if cart.status == "open" else None


@router.get("/s/{store}/checkout", response_class=HTMLResponse)
def checkout_page(request: Request, session: DbSession,
                  shop: Shop = Depends(shop_page)) -> Response:
    load(request, session, shop)
    cart = _cart_or_none(session, shop)
    if cart is None or not cart.lines:
        shop.cart_id = shop.cart_id if cart is not None else None
        return with_cookies(request, shop, redirect(f"{shop.base}/cart",
                                                    flash="Your cart is empty."))
    return _form_page(request, session, shop, cart, _values_of(cart, shop))


F = Annotated[str, Form()]


@router.post("/s/{store}/checkout", response_class=HTMLResponse)
def place_order(request: Request, session: DbSession, email: F = "", full_name: F = "",
                line1: F = "", line2: F = "", city: F = "", region: F = "",
                postal_code: F = "", country: F = "", phone: F = "",
                shipping_method: F = "", payment_method: F = "", gift_card_code: F = "",
                test_card: F = "", payment_method_id: F = "", action: F = "",
                shop: Shop = Depends(shop_page)) -> Response:
    values = {"email": email, "full_name": full_name, "line1": line1, "line2": line2,
              "city": city, "region": region, "postal_code": postal_code, "country": country,
              "phone": phone, "shipping_method": shipping_method,
              "payment_method": payment_method, "gift_card_code": gift_card_code,
              "test_card": test_card, "payment_method_id": payment_method_id, "action": action}
    return _place(request, session, shop, values)


def _place(request: Request, session: Session, shop: Shop, values: dict[str, str]) -> Response:
    settings = load(request, session, shop)
    cart = _cart_or_none(session, shop)
    if cart is None or not cart.lines:
        raise NotFound("Your cart is empty or has expired; add the products again.")
    shipped = checkout.cart_needs_shipping(session, cart)
    parsed, errors = _parse(values, settings.locale, shipped=shipped)
    if parsed is None:
        return _refused(request, session, shop, values, errors, 422)
    method = values.get("payment_method", "")
    try:
        cart = checkout.editable(session, cart.id, shop.shopper,
                                 ttl_hours=settings_of(request).cart_ttl_hours)
        checkout.set_email(cart, parsed.email)
        if parsed.address is not None:
            checkout.set_address(cart, parsed.address.model_dump())
        session.flush()
        if values.get("action") == "shipping":
            return with_cookies(request, shop, redirect(
                f"{shop.base}/checkout", flash="Shipping options updated for your address."))
        if shipped and not values.get("shipping_method"):
            return _refused(request, session, shop, values, [
                {"field": "shipping_method", "message": "Choose a shipping method"}], 422)
        if shipped:
            checkout.set_method(session, cart, values["shipping_method"])
        if not method:
            return _refused(request, session, shop, values, [
                {"field": "payment_method", "message": "Choose how to pay"}], 422)
        if method == "gift_card" and not values.get("gift_card_code", "").strip():
            return _refused(request, session, shop, values, [
                {"field": "gift_card_code", "message": "Enter the gift card code"}], 422)
        if method == "stripe" and not (values.get("payment_method_id")
                                       or values.get("test_card")):
            return _refused(request, session, shop, values, [
                {"field": "test_card", "message": "Enter your card"}], 422)
        session.flush()
        return_url = str(request.base_url).rstrip("/") + f"{shop.base}/checkout/return"
        outcome = checkout.start(session, shop.store.organization_id, cart.id, shop.shopper,
                                 method=method, details=_details(values, method, return_url),
                                 settings=settings_of(request))
    except MercatoError as exc:
        return _refused(request, session, shop, values, _explained(exc), exc.status)
    if outcome.order is None:  # the bank must confirm (3-D Secure)
        shop.cart_id = None  # not open while it waits; the return page reopens it if refused
        response = _confirm_with_bank(request, shop, outcome.payment)
        return _remember(request, shop, with_cookies(request, shop, response), outcome.cart.id)
    shop.cart_id = None
    response = redirect(f"{shop.base}/checkout/done/{outcome.order.id}",
                        flash="Thank you: your order is placed.")
    return _remember(request, shop, with_cookies(request, shop, response), outcome.cart.id)


def _explained(exc: MercatoError) -> list[dict[str, Any]]:
    """A refusal as the shopper reads it: stock and payment problems said plainly."""
    code = getattr(exc, "code", "")
    if code == "insufficient_stock":
        lines = "; ".join(str(e.get("message")) for e in exc.errors if e.get("message"))
        return [{"field": "", "message": "Some items sold out before your order was placed"
                                         + (f" ({lines})" if lines else "")
                                         + ". Change the quantities in your cart; "
                                           "nothing was charged."}]
    if code == "payment_failed":
        failure = str(exc.extra.get("failure") or "").replace("_", " ") if exc.extra else ""
        return [{"field": "payment_method",
                 "message": "Your payment was declined" + (f" ({failure})" if failure else "")
                            + ". Nothing was charged and your items are still in your cart; "
                              "try another way to pay."}]
    return errors_of(exc)


def _refused(request: Request, session: Session, shop: Shop, values: dict[str, str],
             errors: list[dict[str, Any]], status: int) -> Response:
    """The form again with its errors and what was entered; nothing it changed is kept (the
    request's transaction rolls back: the 4xx status says so)."""
    session.rollback()
    cart = _cart_or_none(session, shop)
    if cart is None:
        raise NotFound("Your cart is empty or has expired; add the products again.")
    parsed, _ = _parse(values, load(request, session, shop).locale)
    if parsed is not None and parsed.address is not None:  # shipping offered for the address
        checkout.set_address(cart, parsed.address.model_dump())  # entered (rolled back with it)
        session.flush()
    return _form_page(request, session, shop, cart, values, errors=errors, status=status)


def _confirm_with_bank(request: Request, shop: Shop, payment: dict[str, Any]) -> Response:
    return page(request, shop, "store/checkout_action.html", {
        "redirect_url": payment.get("redirect_url"),
        "client_secret": payment.get("client_secret")})


@router.get("/s/{store}/checkout/return", response_class=HTMLResponse)
def payment_return(request: Request, session: DbSession,
                   shop: Shop = Depends(shop_page)) -> Response:
    """Back from the bank's page: the order when the provider's webhook made it, the form
    with the refusal when it failed (the cart open again), else a page that looks again."""
    load(request, session, shop)
    cart = None
    for cart_id in _placed(request)[:1]:
        try:
            cart = checkout.get_cart(session, cart_id, shop.shopper)
        except MercatoError:
            cart = None
    if cart is None:
        raise NotFound("No payment of this browser is waiting.")
    if cart.status == "completed" and cart.order_id:
        return with_cookies(request, shop, redirect(
            f"{shop.base}/checkout/done/{cart.order_id}",
            flash="Thank you: your order is placed."))
    if cart.status == "checking_out":
        return page(request, shop, "store/checkout_wait.html", {})
    if cart.status != "open":
        raise NotFound("This checkout is no longer open.")
    shop.cart_id = cart.id  # open again: this browser's cart once more
    failure = str((cart.payment or {}).get("failure") or "").replace("_", " ")
    return _form_page(request, session, shop, cart, _values_of(cart, shop), errors=[{
        "field": "payment_method",
        "message": "Your card was not confirmed" + (f" ({failure})" if failure else "")
                   + ". Nothing was charged and your items are still in your cart; "
                     "try again or choose another way to pay."}], status=402)


@router.get("/s/{store}/checkout/done/{order_id}", response_class=HTMLResponse)
def confirmation(order_id: str, request: Request, session: DbSession,
                 shop: Shop = Depends(shop_page)) -> Response:
    load(request, session, shop)
    order = None
    for cart_id in _placed(request):
        try:
            cart = checkout.get_cart(session, cart_id, shop.shopper)
        except MercatoError:
            continue
        if cart.order_id == order_id:
            order = orders.get_order(session, order_id)
            break
    if order is None and shop.shopper is not None:
        order = orders.shopper_order(
            session, order_id, customer_id=shop.shopper.customer_id,
            account_id=shop.shopper.account_id, verified=email_verified(session, shop.shopper))
    if order is None:
        raise NotFound("No such order.")
    payment = next(iter(order.payments), None) if getattr(order, "payments", None) else None
    return page(request, shop, "store/confirmation.html", {"order": order, "payment": payment})
