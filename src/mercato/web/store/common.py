"""What every storefront page shares: the store it is for, its CSRF cookie, its cart cookie,
the signed-in customer and the layout's context (store name, locale, cart count).

A form's CSRF token is a double-submit cookie of the store's path (as the admin's sign-in
form's is), and a cart is remembered by its id, the credential
``/store/v1/{store}/carts/{id}`` takes, in an HttpOnly SameSite=Lax cookie of the store's
path. A customer who signs in (``account``) holds a server-side session in another such
cookie (``SESSION_COOKIE``): ``shop.shopper`` on every page, None for a guest.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from babel import Locale
from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from mercato import checkout, identity
from mercato.core.errors import MercatoError
from mercato.core.uow import uow_of
from mercato.identity import Shopper
from mercato.settings import Settings
from mercato.tenancy import OrgSettings, Store, organization_settings
from mercato.tenancy.deps import STOREFRONT_ROOT, current_store
from mercato.tenancy.service import DomainResolver
from mercato.web.session import check_csrf, cookie_secure, new_login_csrf
from mercato.web.store.branding import allow, brand_of
from mercato.web.templating import render

PREFIX = "/s"
CSRF_COOKIE = "mercato_store_csrf"
CART_COOKIE = "mercato_cart"
SESSION_COOKIE = "mercato_customer"
SESSION_MAX_AGE = 30 * 86400
"""The customer session cookie's lifetime: the session's own (``WEB_SESSION_TTL``)."""


@dataclass
class Shop:
    """The store a page is for, with this browser's CSRF token and guest cart id."""

    store: Store
    csrf_token: str
    new_csrf: bool
    cart_id: str | None
    cart_count: int = 0
    settings: OrgSettings | None = None
    shopper: Shopper | None = None
    """The signed-in customer of this browser, None for a guest."""
    session_cookie: str | None = None
    """The customer session cookie as this answer leaves it (None: none, or cleared)."""
    at_root: bool = False
    """Served at the root of the store's verified custom domain (``https://cards.example/``)."""

    @property
    def base(self) -> str:
        """Where the store's pages are: ``/s/{slug}``, or ``""`` at a custom domain's root."""
        return "" if self.at_root else f"{PREFIX}/{self.store.slug}"

    @property
    def cookie_path(self) -> str:
        return self.base or "/"

    @property
    def currency(self) -> str:
        return self.settings.currency if self.settings else "USD"


async def shop_page(request: Request, store: Store = Depends(current_store)) -> Shop:
    """A page dependency: the store (404 page when no store has the slug), the signed-in
    customer, and, on an unsafe request, the CSRF check (403 page without the cookie's token
    in the form).

    The customer's session is looked up on the endpoint's thread just before a plain ``def``
    endpoint runs (``UnitOfWork.defer``), as a staff session is: no second trip to the thread
    pool, and none at all for a guest. An ``async`` endpoint calls ``uow.run_deferred()`` on
    its thread before it reads ``shop.shopper``."""
    cookie = request.cookies.get(CSRF_COOKIE, "")
    signed_in = request.cookies.get(SESSION_COOKIE) or None
    shop = Shop(store=store, csrf_token=cookie or new_login_csrf(), new_csrf=not cookie,
                cart_id=request.cookies.get(CART_COOKIE) or None, session_cookie=signed_in,
                at_root=bool(getattr(request.state, STOREFRONT_ROOT, False)))
    request.state.shop = shop  # a refusal's page shows in the store's layout too
    await check_csrf(request, cookie)
    if signed_in is not None:
        def confirm(session: Session) -> None:
            shop.shopper = identity.customer_session(session, signed_in,
                                                     store.organization_id)
            if shop.shopper is None:  # signed out, a new password, expired: forget it
                shop.session_cookie = None

        uow_of(request).defer(confirm)
    return shop


def country_code(value: str, locale: str) -> str | None:
    """An ISO 3166-1 alpha-2 code from a code or a country's name (the store's language or
    English), or None."""
    text = " ".join(value.split())
    if not text:
        return None
    names: dict[str, str] = {}
    for where in {locale, "en"}:
        try:
            territories = Locale.parse(where).territories
        except (ValueError, TypeError):
            continue
        names.update({name.casefold(): code for code, name in territories.items()
                      if code.isalpha() and len(code) == 2})
    codes = set(names.values())
    if len(text) == 2 and text.upper() in codes:
        return text.upper()
    return names.get(text.casefold())


def settings_of(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def site_url(request: Request, shop: Shop) -> str | None:
    """The storefront's absolute address, for canonical links and sitemaps: at a custom
    domain's root, ``https://`` and that domain (the middleware served the page only because
    the Host is a verified domain of this store); else under ``MERCATO_PUBLIC_URL``, never
    built from the request's Host. None when neither applies."""
    if shop.at_root:
        return f"https://{DomainResolver.bare(request.headers.get('host', ''))}"
    public_url = settings_of(request).public_url
    return f"{public_url.rstrip('/')}{shop.base}" if public_url else None


def load(request: Request, session: Session, shop: Shop) -> OrgSettings:
    """The organization's locale, currency and time zone, for formats and new carts."""
    if shop.settings is None:
        shop.settings = organization_settings(session, shop.store.organization_id)
        request.state.org_settings = shop.settings
    return shop.settings


def adopt_shopper_cart(session: Session, shop: Shop) -> None:
    """A signed-in customer whose browser holds no cart carries on with their open cart (one
    made in another browser, or before a sign-out)."""
    if shop.cart_id is None and shop.shopper is not None:
        own = checkout.shopper_cart(session, shop.shopper)
        shop.cart_id = own.id if own is not None else None


def _open(session: Session, shop: Shop) -> Any | None:
    """This browser's cart (a guest's, or the signed-in customer's) if it is still open; an
    expired, merged or checked-out one, or a customer's cart after sign-out, is forgotten (its
    cookie cleared)."""
    adopt_shopper_cart(session, shop)
    if shop.cart_id is None:
        return None
    try:
        cart = checkout.get_cart(session, shop.cart_id, shop.shopper)
    except MercatoError:
        cart = None
    if cart is None or cart.status != "open":
        shop.cart_id = None
        return None
    return cart


def open_cart(session: Session, shop: Shop) -> checkout.CartView | None:
    """The cart of this browser, priced now, if it is still open."""
    cart = _open(session, shop)
    if cart is None:
        return None
    current = checkout.view(session, cart)
    shop.cart_count = sum(lv.line.quantity for lv in current.lines)
    return current


def cart_count(session: Session, shop: Shop) -> None:
    """The number of units in the cart, for the header's link (no pricing)."""
    cart = _open(session, shop)
    if cart is not None:
        shop.cart_count = sum(line.quantity for line in cart.lines)


def with_cookies(request: Request, shop: Shop, response: Response) -> Response:
    """Set the CSRF cookie when it is new, and the cart and customer session cookies as they
    now stand."""
    secure = cookie_secure(request)
    if shop.new_csrf:
        response.set_cookie(CSRF_COOKIE, shop.csrf_token, path=shop.cookie_path, httponly=True,
                            samesite="lax", secure=secure)
    if shop.session_cookie != (request.cookies.get(SESSION_COOKIE) or None):
        if shop.session_cookie is None:
            response.delete_cookie(SESSION_COOKIE, path=shop.cookie_path, httponly=True,
                                   samesite="lax", secure=secure)
        else:
            response.set_cookie(SESSION_COOKIE, shop.session_cookie, path=shop.cookie_path,
                                max_age=SESSION_MAX_AGE, httponly=True, samesite="lax",
                                secure=secure)
    sent = request.cookies.get(CART_COOKIE) or None
    if shop.cart_id != sent:
        if shop.cart_id is None:
            response.delete_cookie(CART_COOKIE, path=shop.cookie_path, httponly=True,
                                   samesite="lax", secure=secure)
        else:
            ttl = settings_of(request).cart_ttl_hours * 3600
            response.set_cookie(CART_COOKIE, shop.cart_id, path=shop.cookie_path, max_age=ttl,
                                httponly=True, samesite="lax", secure=secure)
    return response


def page(request: Request, shop: Shop, name: str, values: Mapping[str, Any] | None = None,
         *, status: int = 200) -> HTMLResponse:
    """A storefront page in the store's layout (with the store's logo and colours), with its
    cookies."""
    brand = brand_of(shop.settings)
    response = render(request, name, {"shop": shop, "csrf_token": shop.csrf_token,
                                      "brand": brand, **(values or {})}, status=status)
    if brand is not None:
        allow(response, brand)
    with_cookies(request, shop, response)
    return response
