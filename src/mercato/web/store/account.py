"""The storefront's customer account pages: sign-up, sign-in and sign-out, password reset and
email verification (the pages the emails' links open), the account (profile, order history
and an order's detail with its tracking, the address book) and a product review form.

Each calls the same identity, orders and catalog functions as ``/store/v1/{store}/customers``,
``/auth/...``, ``/me`` and ``/me/orders``. A signed-in browser holds a server-side session
(``identity.start_customer_session``) in an HttpOnly SameSite=Lax cookie of the store's path
(``common.SESSION_COOKIE``); signing out or a new password ends it. Signing in or up brings
the guest cart along (``checkout.merge_into_customer``): the cart cookie then names the
customer's cart.

Every form is a plain POST with the store's CSRF token, answered by a redirect
(POST-redirect-GET); a refused one re-renders with its errors beside the fields (422) and
changes nothing.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from mercato import catalog, checkout, digital, identity
from mercato.core.errors import MercatoError, RateLimited, Unauthorized, ValidationFailed
from mercato.core.pagination import PageParams
from mercato.core.uow import DbSession, MercatoRoute, uow_of
from mercato.identity.deps import account_link, client_of
from mercato.identity.service import Identity
from mercato.orders import service as orders
from mercato.orders.schemas import ShopperOrderOut
from mercato.web.session import new_login_csrf
from mercato.web.store.catalog import product_page
from mercato.web.store.common import (
    Shop,
    adopt_shopper_cart,
    cart_count,
    load,
    page,
    settings_of,
    shop_page,
    with_cookies,
)
from mercato.web.templating import errors_of, form_errors, redirect

router = APIRouter(route_class=MercatoRoute, include_in_schema=False)

ORDERS_PAGE = 20
SENT = ("If {email} has an account here, we have sent it a link to reset the password. "
        "The link works for an hour.")


# -- helpers --------------------------------------------------------------------------------

def _ident(request: Request) -> Identity:
    found: Identity = request.app.state.identity
    return found


def safe_next(shop: Shop, value: str | None) -> str:
    """Only a path of this store's pages (never another host, ``//evil``, nor a scheme);
    the account page otherwise."""
    if value and (value == shop.base or value.startswith(shop.base + "/")) \
            and "//" not in value and "\\" not in value:
        return value
    return f"{shop.base}/account"


def login_url(shop: Shop, next_path: str) -> str:
    return f"{shop.base}/account/login?next=" + quote(next_path, safe="/")


def _sign_in_first(request: Request, shop: Shop, next_path: str | None = None) -> Response:
    """A page that needs a signed-in customer: to the sign-in page, and back."""
    here = next_path or request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return with_cookies(request, shop, redirect(login_url(shop, here)))


def _signed_in(request: Request, session: Session, shop: Shop, account_id: str) -> None:
    """Start the browser's session, bring its guest cart along (merged into the customer's
    open cart, or made theirs), and renew the CSRF token (a new sign-in, a new token)."""
    cookie, shopper = identity.start_customer_session(session, account_id)
    shop.session_cookie, shop.shopper = cookie, shopper
    shop.csrf_token, shop.new_csrf = new_login_csrf(), True
    if shop.cart_id is not None:
        try:  # refused before it changes anything
            shop.cart_id = checkout.merge_into_customer(
                session, shop.cart_id, shopper,
                ttl_hours=settings_of(request).cart_ttl_hours).id
        except MercatoError:  # expired, checked out, or not a guest's: not brought along
            shop.cart_id = None
    adopt_shopper_cart(session, shop)


def _form_page(request: Request, session: Session, shop: Shop, name: str, *,
               status: int = 200, errors: list[dict[str, Any]] | None = None,
               values: dict[str, Any] | None = None, **extra: Any) -> Response:
    load(request, session, shop)
    cart_count(session, shop)
    by_field, listed = form_errors(errors or [])
    return page(request, shop, name, {"errors": by_field, "error_list": listed,
                                      "values": values or {}, **extra}, status=status)


def _missing(**fields: str) -> list[dict[str, Any]]:
    return [{"field": name, "message": f"Enter your {name.replace('_', ' ')}."}
            for name, value in fields.items() if not value.strip()]


# -- sign-up --------------------------------------------------------------------------------

@router.get("/s/{store}/account/register", response_class=HTMLResponse)
def register_form(request: Request, session: DbSession, next: str = "",
                  shop: Shop = Depends(shop_page)) -> Response:
    if shop.shopper is not None:
        return with_cookies(request, shop, redirect(safe_next(shop, next)))
    return _form_page(request, session, shop, "store/register.html",
                      next=safe_next(shop, next))


@router.post("/s/{store}/account/register", response_class=HTMLResponse)
def register(request: Request, session: DbSession, email: Annotated[str, Form()] = "",
             password: Annotated[str, Form()] = "", first_name: Annotated[str, Form()] = "",
             last_name: Annotated[str, Form()] = "", next: Annotated[str, Form()] = "",
             shop: Shop = Depends(shop_page)) -> Response:
    """``POST /store/v1/{store}/customers`` from the form (the verification email is sent),
    then signed in at once."""
    target = safe_next(shop, next)
    values = {"email": email, "first_name": first_name, "last_name": last_name}
    try:
        body = identity.SignUpIn.model_validate({
            "email": email, "password": password, "first_name": first_name.strip() or None,
            "last_name": last_name.strip() or None})
        account = identity.sign_up_customer(
            session, _ident(request), email=body.email, password=body.password,
            first_name=body.first_name, last_name=body.last_name)
        identity.request_email_verification(
            session, shop.store, account, body.email,
            account_link(request, session, shop.store, "verify-email"))
    except (ValidationError, MercatoError) as exc:
        return _form_page(request, session, shop, "store/register.html", status=422,
                          errors=errors_of(exc), values=values, next=target)
    _signed_in(request, session, shop, account.id)
    return with_cookies(request, shop, redirect(
        target, flash="Your account is ready and you are signed in. We have sent you an "
                      "email to confirm your address."))


# -- sign-in and sign-out -------------------------------------------------------------------

@router.get("/s/{store}/account/login", response_class=HTMLResponse)
def login_form(request: Request, session: DbSession, next: str = "",
               shop: Shop = Depends(shop_page)) -> Response:
    if shop.shopper is not None:
        return with_cookies(request, shop, redirect(safe_next(shop, next)))
    return _form_page(request, session, shop, "store/login.html", next=safe_next(shop, next))


@router.post("/s/{store}/account/login", response_class=HTMLResponse)
async def login(request: Request, email: Annotated[str, Form()] = "",
                password: Annotated[str, Form()] = "", next: Annotated[str, Form()] = "",
                shop: Shop = Depends(shop_page)) -> Response:
    """The password is checked (and counted against the sign-in limits, as
    ``POST /store/v1/{store}/auth/token`` counts it) before the request's transaction
    begins; then the session starts and the guest cart merges in."""
    uow = uow_of(request)
    client = client_of(request)
    target = safe_next(shop, next)
    ident = _ident(request)

    def refused(status: int, errors: list[dict[str, Any]]) -> Response:
        uow.run_deferred()
        return _form_page(request, uow.session, shop, "store/login.html", status=status,
                          errors=errors, values={"email": email}, next=target)

    def work() -> Response:
        missing = _missing(email=email, password=password)
        if missing:
            return refused(422, missing)
        try:
            account_id = identity.check_customer_password(
                ident, organization_id=shop.store.organization_id, email=email,
                password=password, client=client)
        except Unauthorized:
            return refused(422, [{"field": "password",
                                  "message": "The email or password is incorrect."}])
        except RateLimited as exc:
            answer = refused(429, [{"field": "", "message": exc.detail}])
            answer.headers.update(exc.headers)
            return answer
        uow.run_deferred()
        _signed_in(request, uow.session, shop, account_id)
        return with_cookies(request, shop, redirect(target, flash="You are signed in."))

    return await run_in_threadpool(work)


@router.post("/s/{store}/account/logout", response_class=HTMLResponse)
def logout(request: Request, session: DbSession, shop: Shop = Depends(shop_page)) -> Response:
    """End this browser's session; the customer's cart stays theirs (it is back at the next
    sign-in), so the cart cookie goes too."""
    if shop.session_cookie is not None:
        identity.end_customer_session(session, shop.session_cookie,
                                      shop.store.organization_id)
    if shop.shopper is not None:
        shop.cart_id = None
    shop.session_cookie, shop.shopper = None, None
    return with_cookies(request, shop, redirect(f"{shop.base}/", flash="You are signed out."))


# -- password reset -------------------------------------------------------------------------

@router.get("/s/{store}/account/reset-password", response_class=HTMLResponse)
def reset_form(request: Request, session: DbSession, token: str = "",
               shop: Shop = Depends(shop_page)) -> Response:
    """Without a token, the form that mails a reset link; with the mailed link's token, the
    form for the new password."""
    return _form_page(request, session, shop, "store/reset_password.html", token=token[:200])


@router.post("/s/{store}/account/reset-password", response_class=HTMLResponse)
def reset_request(request: Request, session: DbSession, email: Annotated[str, Form()] = "",
                  shop: Shop = Depends(shop_page)) -> Response:
    """``POST /store/v1/{store}/auth/password-reset`` from the form: the same answer whether
    or not the email has an account."""
    email = email.strip()
    if not email or len(email) > 320:
        return _form_page(request, session, shop, "store/reset_password.html", status=422,
                          errors=[{"field": "email", "message": "Enter your email."}],
                          values={"email": email}, token="")
    identity.request_password_reset(session, shop.store, email, account_link(
        request, session, shop.store, "reset-password"))
    return with_cookies(request, shop, redirect(f"{shop.base}/account/reset-password",
                                                flash=SENT.format(email=email)))


@router.post("/s/{store}/account/reset-password/new", response_class=HTMLResponse)
def reset_confirm(request: Request, session: DbSession, token: Annotated[str, Form()] = "",
                  password: Annotated[str, Form()] = "",
                  shop: Shop = Depends(shop_page)) -> Response:
    """``POST /store/v1/{store}/auth/password-reset/confirm`` from the form: the new password
    is set, every earlier sign-in ends, and this browser is signed in."""
    token = token.strip()[:200]
    try:
        if not token:
            raise _bad_link()
        account = identity.reset_customer_password(session, _ident(request), token=token,
                                                   password=password)
    except MercatoError as exc:
        return _form_page(request, session, shop, "store/reset_password.html",
                          status=422, errors=errors_of(exc), token=token)
    _signed_in(request, session, shop, account.id)
    return with_cookies(request, shop, redirect(
        f"{shop.base}/account", flash="Your new password is set and you are signed in."))


def _bad_link() -> MercatoError:
    return ValidationFailed("The link is invalid or has expired; ask for a new one.",
                            errors=[{"field": "token", "message": "invalid or expired"}])


# -- email verification ---------------------------------------------------------------------

@router.get("/s/{store}/account/verify-email", response_class=HTMLResponse)
async def verify_email(request: Request, token: str = "",
                       shop: Shop = Depends(shop_page)) -> Response:
    """The link in the verification email: the token is spent and the email verified
    (``POST /store/v1/{store}/auth/verify-email/confirm``), in a write transaction of its own
    (this is a GET: the request's own is a read); a wrong, used or expired token is a 422
    page and changes nothing."""
    uow = uow_of(request)
    ident = _ident(request)

    def work() -> Response:
        error: MercatoError | None = None
        try:
            if not token or len(token) > 200:
                raise _bad_link()
            with ident.db.transaction(tenant=shop.store.organization_id) as own:
                identity.verify_customer_email(own, token)
        except MercatoError as exc:
            error = exc
        uow.run_deferred()
        if error is not None:
            return _form_page(request, uow.session, shop, "store/verify_email.html",
                              status=error.status, verified=False,
                              message="This verification link is invalid, used or expired: "
                                      "your email was not verified by it.")
        return _form_page(request, uow.session, shop, "store/verify_email.html",
                          verified=True, message="Your email is verified. Thank you.")

    return await run_in_threadpool(work)


@router.post("/s/{store}/account/verify-email", response_class=HTMLResponse)
def resend_verification(request: Request, session: DbSession,
                        shop: Shop = Depends(shop_page)) -> Response:
    """``POST /store/v1/{store}/auth/verify-email``: a new link, unless already verified."""
    if shop.shopper is None:
        return _sign_in_first(request, shop, f"{shop.base}/account")
    account = identity.customer_account(session, shop.shopper)
    identity.request_email_verification(
        session, shop.store, account, shop.shopper.email,
        account_link(request, session, shop.store, "verify-email"))
    return with_cookies(request, shop, redirect(
        f"{shop.base}/account", flash=f"We have sent a new link to {shop.shopper.email}."))


# -- the account: profile, orders, addresses ------------------------------------------------

def _account_page(request: Request, session: Session, shop: Shop, *, cursor: str | None,
                  status: int = 200, errors: list[dict[str, Any]] | None = None,
                  values: dict[str, Any] | None = None) -> Response:
    shopper = shop.shopper
    assert shopper is not None
    account = identity.customer_account(session, shopper)
    customer = identity.get_customer(session, shopper.customer_id)
    profile = identity.customer_profile(account, customer)
    listed = orders.shopper_orders(
        session, PageParams(limit=ORDERS_PAGE, cursor=cursor), customer_id=shopper.customer_id,
        account_id=shopper.account_id, verified=profile["verified"])
    history = [ShopperOrderOut.model_validate(o) for o in listed.items]
    next_url = (f"{shop.base}/account?cursor={quote(listed.next_cursor)}#orders-h"
                if listed.next_cursor else None)
    addresses = [{"address": row.address, "default_shipping": row.default_shipping,
                  "default_billing": row.default_billing} for row in customer.addresses]
    return _form_page(request, session, shop, "store/account.html", status=status,
                      errors=errors, values=values, profile=profile, orders=history,
                      next_url=next_url, first_url=f"{shop.base}/account" if cursor else None,
                      addresses=addresses)


@router.get("/s/{store}/account", response_class=HTMLResponse)
def account(request: Request, session: DbSession, cursor: str | None = None,
            shop: Shop = Depends(shop_page)) -> Response:
    if shop.shopper is None:
        return _sign_in_first(request, shop)
    return _account_page(request, session, shop, cursor=cursor)


@router.get("/s/{store}/account/orders/{order_id}", response_class=HTMLResponse)
def order_detail(order_id: str, request: Request, session: DbSession,
                 shop: Shop = Depends(shop_page)) -> Response:
    """``GET /store/v1/{store}/me/orders/{id}``: another customer's order is a 404 page."""
    if shop.shopper is None:
        return _sign_in_first(request, shop)
    shopper = shop.shopper
    order = ShopperOrderOut.model_validate(orders.shopper_order(
        session, order_id, customer_id=shopper.customer_id, account_id=shopper.account_id,
        verified=identity.email_verified(session, shopper)))
    deliveries = digital.shopper_deliveries(session, order.id,
                                            base=f"/store/v1/{shop.store.slug}")
    return _form_page(request, session, shop, "store/order.html", order=order,
                      deliveries=deliveries)


@router.post("/s/{store}/account/addresses", response_class=HTMLResponse)
def add_address(request: Request, session: DbSession, first_name: Annotated[str, Form()] = "",
                last_name: Annotated[str, Form()] = "", company: Annotated[str, Form()] = "",
                line1: Annotated[str, Form()] = "", line2: Annotated[str, Form()] = "",
                city: Annotated[str, Form()] = "", region: Annotated[str, Form()] = "",
                postal_code: Annotated[str, Form()] = "", country: Annotated[str, Form()] = "",
                phone: Annotated[str, Form()] = "", default: Annotated[str, Form()] = "",
                shop: Shop = Depends(shop_page)) -> Response:
    """``POST /store/v1/{store}/me/addresses`` from the form (the first address is the
    default of both kinds)."""
    if shop.shopper is None:
        return _sign_in_first(request, shop, f"{shop.base}/account")
    values = {"first_name": first_name, "last_name": last_name, "company": company,
              "line1": line1, "line2": line2, "city": city, "region": region,
              "postal_code": postal_code, "country": country.upper(), "phone": phone}
    try:
        body = identity.AddressBookIn.model_validate({
            "address": {k: v.strip() for k, v in values.items()},
            "default_shipping": default == "true", "default_billing": default == "true"})
        customer = identity.get_customer(session, shop.shopper.customer_id)
        identity.add_customer_address(session, customer, body.address.model_dump(),
                                      default_shipping=body.default_shipping,
                                      default_billing=body.default_billing)
    except (ValidationError, MercatoError) as exc:
        errors = [{**e, "field": str(e.get("field") or "").removeprefix("address.")}
                  for e in errors_of(exc)]
        return _account_page(request, session, shop, cursor=None, status=422, errors=errors,
                             values=values)
    return with_cookies(request, shop, redirect(f"{shop.base}/account#addresses-h",
                                                flash="Address added."))


# -- reviews --------------------------------------------------------------------------------

@router.post("/s/{store}/products/{slug}/reviews", response_class=HTMLResponse)
def write_review(slug: str, request: Request, session: DbSession,
                 rating: Annotated[str, Form()] = "", title: Annotated[str, Form()] = "",
                 body: Annotated[str, Form()] = "",
                 shop: Shop = Depends(shop_page)) -> Response:
    """``POST /store/v1/{store}/products/{slug}/reviews`` from the product page's form: a
    pending review, shown once the store approves it."""
    product_path = f"{shop.base}/products/{slug}"
    if shop.shopper is None:
        return _sign_in_first(request, shop, product_path + "#review-h")
    try:
        stars = int(rating) if rating.strip().isdigit() else 0  # a form sends text
        if not 1 <= stars <= 5:
            raise ValidationFailed("Choose a rating.", errors=[
                {"field": "rating", "message": "Choose a rating from 1 to 5 stars."}])
        data = catalog.ReviewIn.model_validate({"rating": stars, "title": title.strip() or None,
                                                "body": body})
        catalog.create_review(session, customer_id=shop.shopper.customer_id,
                              product_id=catalog.published_product_id(session, slug), data=data)
    except (ValidationError, MercatoError) as exc:
        named = ("rating", "title", "body")  # a 409 (reviewed already) names no field
        by_field, listed = form_errors([{**e, "field": e["field"] if e.get("field") in named
                                         else ""} for e in errors_of(exc)])
        return product_page(request, session, shop, slug, status=422, errors=by_field,
                            error_list=listed,
                            review={"rating": rating, "title": title, "body": body})
    return with_cookies(request, shop, redirect(
        product_path + "#review-h",
        flash="Thank you: your review awaits approval before it is shown."))
