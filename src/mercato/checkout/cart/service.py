"""Carts for guests and shoppers. A cart stores only what the shopper chose (lines, codes,
address, shipping method); everything with a price is computed by ``view`` on every read and
change, from the catalog, stock, pricing, promotions, shipping and tax as they are now:
``fetch`` reads all of it once into a ``CheckoutInfo``, ``price`` works it out from that.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from mercato.catalog.service import SaleItem, sale_items
from mercato.checkout.cart.models import Cart, CartLine
from mercato.checkout.pricing import service as pricing
from mercato.checkout.promotions import service as promotions
from mercato.checkout.shipping import service as shipping
from mercato.checkout.shipping.models import ShippingMethod
from mercato.checkout.tax import service as tax
from mercato.core.db import table_of, utcnow
from mercato.core.errors import Conflict, NotFound, ValidationFailed
from mercato.core.money import MAX_AMOUNT
from mercato.identity import Shopper, customer_tags
from mercato.identity import ports as identity_ports
from mercato.inventory import SalesChannel, sellable, web_channel
from mercato.orders import LineIn, OrderTotals, ShippingIn, order_totals

carts_t = table_of(Cart)
MAX_LINES = 100
MAX_UNITS = 1000
ZERO = Decimal("0")


# -- finding and guarding carts ------------------------------------------------------------------

def _expiry(ttl_hours: int) -> dt.datetime:
    return utcnow() + dt.timedelta(hours=ttl_hours)


def get_cart(session: Session, cart_id: str, shopper: Shopper | None, *,
             lock: bool = False) -> Cart:
    """The cart, if the caller may see it: a shopper's cart only with that shopper's token
    (anyone else: 404, as if it did not exist); a guest cart with its id."""
    stmt = select(Cart).where(Cart.id == cart_id)
    if lock:
        stmt = stmt.with_for_update().execution_options(populate_existing=True)
    cart = session.scalar(stmt)
    if cart is None or (cart.customer_id is not None and (
            shopper is None or shopper.customer_id != cart.customer_id)):
        raise NotFound(f"No cart {cart_id!r}.")
    if cart.status == "open" and cart.expires_at <= utcnow():
        cart.status = "expired"
    return cart


def editable(session: Session, cart_id: str, shopper: Shopper | None, *,
             ttl_hours: int) -> Cart:
    """The cart, locked, if it can still change: open and not expired. Touching it keeps it
    another ``ttl_hours``."""
    cart = get_cart(session, cart_id, shopper, lock=True)
    if cart.status != "open":
        raise Conflict(f"The cart is {cart.status}; it can no longer change.",
                       extra={"cart_status": cart.status})
    cart.expires_at = _expiry(ttl_hours)
    return cart


def create_cart(session: Session, shopper: Shopper | None, *, currency: str,
                email: str | None, ttl_hours: int) -> Cart:
    cart = Cart(customer_id=shopper.customer_id if shopper else None,
                account_id=shopper.account_id if shopper else None,
                email=email or (shopper.email if shopper else None), currency=currency,
                codes=[], expires_at=_expiry(ttl_hours), lines=[])
    session.add(cart)
    session.flush()
    return cart


# -- changing a cart -----------------------------------------------------------------------------

def _check_units(quantity: int, field_name: str) -> None:
    if not 1 <= quantity <= MAX_UNITS:
        raise ValidationFailed("Quantity out of range.", errors=[
            {"field": field_name, "message": f"between 1 and {MAX_UNITS}"}])


def add_line(session: Session, cart: Cart, sku: str, quantity: int) -> CartLine:
    """Add units of a SKU (to its line if the cart has one). An unknown or unpublished SKU,
    or more than the store can sell now, is a 422 and changes nothing."""
    found = sale_items(session, [sku]).get(sku)
    if found is None or not found.sold_on("web"):
        raise ValidationFailed("This product is not for sale here.", errors=[
            {"field": "sku", "message": f"no product for sale with SKU {sku!r}"}])
    line = next((ln for ln in cart.lines if ln.variant_id == found.id), None)
    total = quantity + (line.quantity if line else 0)
    _check_units(total, "quantity")
    _check_available(session, found, total, "quantity")
    if line is None:
        if len(cart.lines) >= MAX_LINES:
            raise ValidationFailed("The cart is full.", errors=[
                {"field": "sku", "message": f"at most {MAX_LINES} lines"}])
        line = CartLine(variant_id=found.id, sku=found.sku, quantity=quantity,
                        position=max((ln.position for ln in cart.lines), default=-1) + 1)
        cart.lines.append(line)
    else:
        line.quantity = total
    session.flush()
    _check_total(session, cart)
    return line


def _check_total(session: Session, cart: Cart) -> None:
    """A cart whose total would pass the largest amount could not be stated (every amount is
    at most ``MAX_AMOUNT``); more units are refused, as more than the stock is."""
    totals = view(session, cart, stock=False).totals
    if max(totals.subtotal, totals.tax_total, totals.total) > MAX_AMOUNT:
        raise ValidationFailed("The cart would come to too much.", errors=[
            {"field": "quantity", "message": f"the cart would come to more than the largest "
                                             f"amount {MAX_AMOUNT}"}])


def _check_available(session: Session, item: SaleItem, quantity: int, field_name: str) -> None:
    can = sellable(session, web_channel(session), [item.id])[item.id]
    if quantity > can:
        raise ValidationFailed("Not that many in stock.", errors=[
            {"field": field_name, "message": f"only {can} available"}])


def _line(cart: Cart, line_id: str) -> CartLine:
    for line in cart.lines:
        if line.id == line_id:
            return line
    raise NotFound(f"No line {line_id!r} in this cart.")


def set_quantity(session: Session, cart: Cart, line_id: str, quantity: int) -> None:
    line = _line(cart, line_id)
    _check_units(quantity, "quantity")
    if quantity > line.quantity:  # fewer is always allowed
        item = sale_items(session, ids=[line.variant_id]).get(line.variant_id)
        if item is None or not item.sold_on("web"):
            raise ValidationFailed("This product is no longer for sale.", errors=[
                {"field": "quantity", "message": "remove the line"}])
        _check_available(session, item, quantity, "quantity")
    more = quantity > line.quantity
    line.quantity = quantity
    session.flush()
    if more:
        _check_total(session, cart)


def remove_line(session: Session, cart: Cart, line_id: str) -> None:
    cart.lines.remove(_line(cart, line_id))
    session.flush()


def add_code(session: Session, cart: Cart, code: str) -> None:
    code = code.strip().upper()
    promotions.check_code(session, code)
    if code not in cart.codes:
        cart.codes = [*cart.codes, code]


def remove_code(cart: Cart, code: str) -> None:
    wanted = code.strip().upper()
    if wanted not in cart.codes:
        raise NotFound(f"The code {code!r} is not on this cart.")
    cart.codes = [c for c in cart.codes if c != wanted]


def set_address(cart: Cart, address: dict[str, Any], *, billing: bool = False) -> None:
    if billing:
        cart.billing_address = address
    else:
        cart.shipping_address = address


def set_method(session: Session, cart: Cart, method_id: str) -> None:
    """Choose a shipping method; it must be able to ship this cart now (else 422)."""
    current = view(session, cart, stock=False)
    shipping.quote(session, method_id, address=address_of(cart), currency=cart.currency,
                   subtotal=current.merchandise, weight_grams=current.weight_grams,
                   wanted=wanted(cart))
    cart.shipping_method_id = method_id


def set_email(cart: Cart, email: str) -> None:
    cart.email = email


# -- merging at sign-in --------------------------------------------------------------------------

def shopper_cart(session: Session, shopper: Shopper) -> Cart | None:
    """The shopper's newest open cart (the one a sign-in without a guest cart carries on
    with), or None."""
    return session.scalar(select(Cart).where(
        Cart.customer_id == shopper.customer_id, Cart.status == "open",
        Cart.expires_at > utcnow()).order_by(Cart.updated_at.desc(), Cart.id.desc()).limit(1))


def merge_into_customer(session: Session, guest_id: str, shopper: Shopper, *,
                        ttl_hours: int) -> Cart:
    """The shopper's open cart with the guest cart's lines added (the guest cart is then
    closed as ``merged``); or the guest cart itself, now the shopper's, if they had none."""
    guest = editable(session, guest_id, None, ttl_hours=ttl_hours)
    own = session.scalar(select(Cart).where(
        Cart.customer_id == shopper.customer_id, Cart.status == "open",
        Cart.expires_at > utcnow(), Cart.id != guest.id)
        .order_by(Cart.updated_at.desc(), Cart.id.desc()).limit(1).with_for_update())
    if own is None or own.currency != guest.currency:
        guest.customer_id, guest.account_id = shopper.customer_id, shopper.account_id
        guest.email = guest.email or shopper.email
        session.flush()
        return guest
    for line in guest.lines:
        mine = next((ln for ln in own.lines if ln.variant_id == line.variant_id), None)
        if mine is None:
            own.lines.append(CartLine(variant_id=line.variant_id, sku=line.sku,
                                      quantity=line.quantity,
                                      position=len(own.lines) + line.position))
        else:
            mine.quantity = min(MAX_UNITS, mine.quantity + line.quantity)
    own.codes = list(dict.fromkeys([*own.codes, *guest.codes]))
    own.shipping_address = own.shipping_address or guest.shipping_address
    own.expires_at = _expiry(ttl_hours)
    guest.status = "merged"
    session.flush()
    return own


# -- what the cart costs now ---------------------------------------------------------------------

@dataclass
class LineView:
    line: CartLine
    item: SaleItem | None
    unit_price: Decimal | None
    compare_at: Decimal | None
    price_source: str | None
    available: int | None  # None: not read (a checkout leaves stock to its reservation)
    problems: list[str]  # besides stock, which `short` derives
    discounts: list[tuple[str, Decimal]] = field(default_factory=list)

    @property
    def short(self) -> str | None:
        """The stock problem, if the store has fewer units than the line wants."""
        if self.available is None or self.line.quantity <= self.available:
            return None
        return f"only {self.available} available"

    @property
    def all_problems(self) -> list[str]:
        """Why the line cannot be bought now: ``problems``, then stock."""
        return [*self.problems, self.short] if self.short else list(self.problems)


@dataclass
class CartView:
    cart: Cart
    lines: list[LineView]
    promo: promotions.PromoResult
    shipping: shipping.ShippingQuote | None
    shipping_problem: str | None
    totals: OrderTotals
    taxes_included: bool
    tax_lines: list[Any]
    shipping_tax_lines: list[Any]
    merchandise: Decimal
    weight_grams: int

    @property
    def needs_shipping(self) -> bool:
        """Whether the cart holds anything to ship: a cart of digital goods only (delivered
        once paid, ``mercato.digital``) needs no address nor shipping method."""
        return needs_shipping([lv.item for lv in self.lines])

    @property
    def problems(self) -> list[dict[str, str]]:
        """What stops checkout now, by field."""
        return self.problems_but_stock + [
            {"field": f"lines.{i}", "message": lv.short}
            for i, lv in enumerate(self.lines) if lv.short]

    @property
    def problems_but_stock(self) -> list[dict[str, str]]:
        """What stops checkout other than stock (which the reservation itself decides)."""
        found = [{"field": f"lines.{i}", "message": p}
                 for i, lv in enumerate(self.lines) for p in lv.problems]
        if not self.lines:
            found.append({"field": "lines", "message": "the cart is empty"})
        if self.shipping_problem:
            found.append({"field": "shipping_method", "message": self.shipping_problem})
        return found


def needs_shipping(items: list[SaleItem | None]) -> bool:
    """False only for a non-empty cart whose every line is a digital good still on sale."""
    return not items or not all(item is not None and item.digital for item in items)


def cart_needs_shipping(session: Session, cart: Cart) -> bool:
    """Whether the cart must be shipped (an address and a shipping method before checkout):
    not when every line is a digital good."""
    found = sale_items(session, ids=[line.variant_id for line in cart.lines])
    return needs_shipping([found.get(line.variant_id) for line in cart.lines])


def address_of(cart: Cart) -> tax.TaxAddress | None:
    where = cart.shipping_address
    if not where or not where.get("country"):
        return None
    return tax.TaxAddress(country=str(where["country"]), region=where.get("region") or None,
                          postal_code=where.get("postal_code") or None)


def customer_groups(session: Session, cart: Cart) -> list[str]:
    """The shopper's customer groups: their customer record's tags."""
    if cart.customer_id is None:
        return []
    return customer_tags(session, cart.customer_id)


@dataclass
class CheckoutLineInfo:
    """A cart line with its variant as the catalog sells it now (None: no longer there)."""

    line: CartLine
    item: SaleItem | None


@dataclass
class CheckoutInfo:
    """Everything pricing a cart reads, read once and passed down (the shape of Saleor's
    ``checkout/fetch.py``): the lines with their sale items, the customer's groups, the
    storefront's sales channel, the promotions in force, the variants' facts for scoped rules
    and promotions (read when first needed), the chosen shipping method, the tax settings and
    the rates at the shipping address. ``price`` works from it alone, apart from the price
    lists and rules it resolves; the checkout's steps hand the same channel to the hold.

    ``available`` (units the storefront may sell, by variant) is read only for a cart shown
    to the shopper: a checkout leaves stock to its reservation, which decides (409
    ``insufficient_stock``) at the moment it holds. The online locations a channel-less
    storefront sells from are read by inventory's face itself (``sellable``, ``reserve``),
    which takes no list of them."""

    cart: Cart
    lines: list[CheckoutLineInfo]
    at: dt.datetime
    customer_groups: list[str]
    channel: SalesChannel | None
    available: dict[str, int] | None
    promotions: promotions.Candidates
    scope: pricing.ScopeMatcher
    shipping_method: ShippingMethod | None
    address: tax.TaxAddress | None
    tax: tax.TaxSettingsView
    tax_rates: list[Any]  # orders.totals.TaxIn: the rates at the shipping address


def fetch(session: Session, cart: Cart, *, at: dt.datetime | None = None,
          stock: bool = True) -> CheckoutInfo:
    """Read what pricing ``cart`` needs, once (see ``CheckoutInfo``); ``stock``: also what
    the storefront may sell of each line now."""
    variant_ids = [ln.variant_id for ln in cart.lines]
    found = sale_items(session, ids=variant_ids)
    channel = web_channel(session)
    where = address_of(cart)
    return CheckoutInfo(
        cart=cart, lines=[CheckoutLineInfo(ln, found.get(ln.variant_id)) for ln in cart.lines],
        at=at or utcnow(), customer_groups=customer_groups(session, cart), channel=channel,
        available=sellable(session, channel, variant_ids) if stock else None,
        promotions=promotions.candidates(session, codes=list(cart.codes),
                                         customer_id=cart.customer_id, email=cart.email),
        scope=pricing.ScopeMatcher(session, variant_ids=variant_ids),
        shipping_method=shipping.method_for(session, cart.shipping_method_id),
        address=where, tax=tax.tax_settings(session),
        tax_rates=tax.tax_lines(session, where))  # shipping takes the same rates, or none


def view(session: Session, cart: Cart, *, at: dt.datetime | None = None,
         stock: bool = True) -> CartView:
    """Price the cart as it stands (``fetch``, then ``price``); ``stock``: also how many of
    each line the store can sell now (the cart as the shopper sees it)."""
    return price(session, fetch(session, cart, at=at, stock=stock))


def price(session: Session, info: CheckoutInfo) -> CartView:
    """The cart priced from what ``fetch`` read: prices resolved (price lists and rules),
    promotions weighed, shipping quoted, taxes and totals worked out."""
    cart, at, groups = info.cart, info.at, info.customer_groups
    prices = pricing.resolve_prices(
        session, currency=cart.currency, customer_groups=groups, channel_kind="web", at=at,
        items=[pricing.PriceRequest(variant_id=i.id, quantity=li.line.quantity,
                                    catalog_price=i.price, catalog_currency=i.currency)
               for li in info.lines if (i := li.item) is not None],
        scope=info.scope)
    lines: list[LineView] = []
    for li in info.lines:
        ln, item = li.line, li.item
        found_price = prices.get(ln.variant_id)
        problems = []
        if item is None or not item.sold_on("web"):
            problems.append("no longer for sale")
        elif found_price is None:
            problems.append(f"no price in {cart.currency}")
        lines.append(LineView(
            ln, item, found_price.unit_price if found_price else None,
            found_price.compare_at if found_price else None,
            found_price.source if found_price else None,
            None if info.available is None else info.available.get(ln.variant_id, 0),
            problems))
    priced = [lv for lv in lines if lv.unit_price is not None]
    weight = sum(((lv.item.weight_grams if lv.item else 0) * lv.line.quantity
                  for lv in lines), 0)

    def promote(shipping_price: Decimal | None) -> promotions.PromoResult:
        return promotions.evaluate(session, promotions.PromoInput(
            currency=cart.currency, codes=list(cart.codes), shipping_price=shipping_price,
            customer_id=cart.customer_id, email=cart.email, customer_groups=groups,
            channel_kind="web", at=at,
            lines=[promotions.PromoLine(key=lv.line.id, variant_id=lv.line.variant_id,
                                        quantity=lv.line.quantity, unit_price=lv.unit_price)
                   for lv in priced if lv.unit_price is not None]),
            offered=info.promotions, scope=info.scope)

    # shipping is priced on the goods after their discounts, and a free-shipping promotion
    # needs the shipping price: line discounts first, then the method, then shipping's
    promo = promote(None)
    merchandise = sum((lv.unit_price * lv.line.quantity for lv in priced
                       if lv.unit_price is not None), ZERO) - sum(
        (amount for found_lines in promo.line_discounts.values() for _, amount in found_lines),
        ZERO)
    quote, problem = _shipping(session, info, merchandise, weight)
    if quote is not None:
        promo = promote(quote.price)
    for lv in lines:
        lv.discounts = list(promo.line_discounts.get(lv.line.id, []))
    settings, rates = info.tax, info.tax_rates
    shipping_rates = rates if settings.tax_shipping else []
    totals = order_totals(
        [LineIn(lv.line.quantity, lv.unit_price or ZERO, lv.discounts, rates) for lv in lines],
        [ShippingIn(max(ZERO, quote.price - promo.shipping_discount), shipping_rates)]
        if quote else [], included=settings.prices_include_tax)
    return CartView(cart, lines, promo, quote, problem, totals, settings.prices_include_tax,
                    rates, shipping_rates, merchandise, weight)


def _shipping(session: Session, info: CheckoutInfo, subtotal: Decimal,
              weight: int) -> tuple[shipping.ShippingQuote | None, str | None]:
    """The chosen method's price now, or why it cannot ship the cart as it stands."""
    cart = info.cart
    if not needs_shipping([li.item for li in info.lines]):
        return None, None  # digital goods only: nothing to ship, nor to charge for shipping
    if cart.shipping_method_id is None:
        return None, "choose a shipping method"
    try:
        # stock is left to the reservation (409 insufficient_stock, as a race ends): a pickup
        # method's stock is checked when it is offered and chosen, not against the cart's
        # own hold once checkout has taken it
        return shipping.quote_method(session, info.shipping_method, address=info.address,
                                     currency=cart.currency, subtotal=subtotal,
                                     weight_grams=weight), None
    except (ValidationFailed, NotFound) as exc:
        return None, exc.detail


def shipping_options(session: Session, cart: Cart, *, country: str | None = None,
                     postal_code: str | None = None) -> list[shipping.ShippingQuote]:
    """The methods that can ship the cart, priced; with ``country`` (and ``postal_code``),
    to that destination instead of the cart's address: the cart page's estimate, which
    saves nothing."""
    address = tax.TaxAddress(country=country, postal_code=postal_code or None) if country \
        else address_of(cart)
    current = view(session, cart, stock=False)
    return shipping.quotes(session, address=address, currency=cart.currency,
                           subtotal=current.merchandise, weight_grams=current.weight_grams,
                           wanted=wanted(cart))


def wanted(cart: Cart) -> list[tuple[str, int]]:
    """The cart's lines as (variant id, units): what a pickup location must have."""
    return [(line.variant_id, line.quantity) for line in cart.lines]


# -- upkeep --------------------------------------------------------------------------------------

def expire_carts(session: Session, *, limit: int = 500) -> int:
    """Mark open carts past their time as expired (their holds, if any, are released by the
    checkout sweeper); how many."""
    ids = list(session.scalars(select(Cart.id).where(
        Cart.status == "open", Cart.expires_at <= utcnow()).limit(limit)))
    if not ids:
        return 0
    session.execute(update(carts_t).where(carts_t.c.id.in_(ids), carts_t.c.status == "open")
                    .values(status="expired", updated_at=utcnow()))
    return len(ids)


@identity_ports.merge_guest_cart.provide
def _merge_guest_cart(session: Session, guest_id: str, shopper: Shopper, ttl_hours: int) -> str:
    """At sign-in (identity asks through its port), the guest cart the shopper brought merges
    into theirs, in the sign-in's transaction; the shopper's cart id is the sign-in's answer."""
    return merge_into_customer(session, guest_id, shopper, ttl_hours=ttl_hours).id


def public_payment(payment: dict[str, Any] | None) -> dict[str, Any]:
    """A payment state as the shopper may see it (not the priced order kept with it)."""
    return {k: v for k, v in (payment or {}).items() if k not in ("order", "promotions")}
