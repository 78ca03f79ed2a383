"""Shipping: zones, methods and their price tables, and what a cart may choose.

Rules (docs/tax-and-shipping.md):

- An address is in a zone when its country is one of the zone's, and, if the zone lists
  regions, its region is one of them, and, if the zone lists postal prefixes, its postal code
  starts with one of them (addresses normalized as in ``checkout.tax.service``).
- When an address is in several zones, only the most specific zone's methods are offered:
  a zone matched by postal prefix beats one matched by region, which beats one matched by
  country alone; between two postal-prefix zones the longer matching prefix wins; a remaining
  tie goes to the older zone. A specific zone with no usable method therefore hides the
  broader ones: that is how a store stops shipping to one place.
- Pickup methods belong to no zone and are offered whatever the address (even none), while
  their location still allows pickup.
- A method is offered only in its own currency, while active, and while the cart's subtotal is
  within ``min_subtotal``..``max_subtotal`` (both inclusive).
- ``weight`` brackets ascend by ``up_to_grams``; the price is that of the first bracket whose
  bound is at least the cart's weight (bounds inclusive); a null bound on the last bracket
  takes any weight; heavier carts than every bound cannot use the method.
- ``price`` brackets ascend by ``from_subtotal``; the price is that of the last bracket whose
  ``from_subtotal`` is at most the cart's subtotal (inclusive lower bounds); a cart below the
  first bracket cannot use the method.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sqlalchemy import exists, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

import mercato.inventory as inventory
from mercato.checkout.shipping.models import ShippingMethod, ShippingZone
from mercato.checkout.tax.places import normalize_region
from mercato.checkout.tax.service import TaxAddress, normalized, region_error
from mercato.core.db import get_owned
from mercato.core.errors import Conflict, NotFound, ValidationFailed
from mercato.core.pagination import PageParams, Slice, paginate

if TYPE_CHECKING:
    from mercato.checkout.shipping.schemas import (
        ShippingMethodIn,
        ShippingMethodUpdate,
        ShippingZoneIn,
        ShippingZoneUpdate,
    )

ZERO = Decimal("0.00")
FIELD = "shipping_method"
TABLES = ("price", "weight_brackets", "price_brackets", "pickup_location")
USES: dict[str, frozenset[str]] = {
    "flat": frozenset({"price"}),
    "weight": frozenset({"weight_brackets"}),
    "price": frozenset({"price_brackets"}),
    "pickup": frozenset({"price", "pickup_location"}),
}


@dataclass(frozen=True)
class ShippingQuote:
    method_id: str
    code: str
    title: str
    kind: str  # flat | weight | price | pickup
    price: Decimal
    currency: str
    pickup_location_id: str | None


# -- pure rules ---------------------------------------------------------------------------------

def weight_price(brackets: Sequence[Mapping[str, Any]], grams: int) -> Decimal | None:
    """The price of the first bracket whose ``up_to_grams`` covers ``grams`` (inclusive; null
    covers any weight), or None when the cart is heavier than every bracket."""
    for bracket in brackets:
        bound = bracket["up_to_grams"]
        if bound is None or grams <= bound:
            return Decimal(str(bracket["price"]))
    return None


def subtotal_price(brackets: Sequence[Mapping[str, Any]], subtotal: Decimal) -> Decimal | None:
    """The price of the last bracket whose ``from_subtotal`` is at most ``subtotal``, or None
    below the first bracket."""
    found: Decimal | None = None
    for bracket in brackets:
        if Decimal(str(bracket["from_subtotal"])) <= subtotal:
            found = Decimal(str(bracket["price"]))
        else:
            break
    return found


def zone_rank(countries: Sequence[str], regions: Sequence[str], postal_prefixes: Sequence[str],
              address: TaxAddress) -> tuple[int, int] | None:
    """How specifically a zone matches a *normalized* address, or None when it does not:
    (3, prefix length) by postal prefix, (2, 0) by region, (1, 0) by country."""
    if address.country not in countries:
        return None
    if regions and address.region not in regions:
        return None
    if postal_prefixes:
        postal = address.postal_code or ""
        matched = [len(p) for p in postal_prefixes if postal.startswith(p)]
        return (3, max(matched)) if matched else None
    return (2, 0) if regions else (1, 0)


def winner(zones: Sequence[ShippingZone], address: TaxAddress | None) -> ShippingZone | None:
    """The most specific zone the address is in; ties go to the older zone (ids sort by
    creation)."""
    if address is None:
        return None
    where = normalized(address)
    best: tuple[int, int] | None = None
    chosen: ShippingZone | None = None
    for zone in sorted(zones, key=lambda z: z.id):
        rank = zone_rank(zone.countries, zone.regions, zone.postal_prefixes, where)
        if rank is not None and (best is None or rank > best):
            best, chosen = rank, zone
    return chosen


# -- quoting ------------------------------------------------------------------------------------

def winning_zone(session: Session, address: TaxAddress | None) -> ShippingZone | None:
    """The zone whose methods an address is offered (see the module's rules)."""
    if address is None:
        return None
    return winner(session.scalars(select(ShippingZone)).all(), address)


def _pickup_ready(session: Session, location_id: str | None) -> bool:
    if location_id is None:
        return False
    try:
        location = inventory.get_location(session, location_id)
    except NotFound:
        return False
    return location.pickup and location.active


Wanted = Sequence[tuple[str, int]]
"""A cart's lines as (variant id, units): what a pickup location must have in stock."""


def _pickup_supplies(session: Session, location_id: str, wanted: Wanted) -> bool:
    """The location has every line's units available now (on hand, not held): checkout
    holds a pickup cart's units there and nowhere else."""
    units: dict[str, int] = {}
    for variant_id, quantity in wanted:
        units[variant_id] = units.get(variant_id, 0) + quantity
    if not units:
        return True
    available = {lv.variant_id: lv.available for lv in inventory.levels(
        session, variant_ids=units, location_ids=[location_id])}
    return all(available.get(v, 0) >= quantity for v, quantity in units.items())


def _assess(session: Session, method: ShippingMethod, zone: ShippingZone | None, *,
            has_address: bool, currency: str, subtotal: Decimal,
            weight_grams: int, wanted: Wanted | None = None) -> ShippingQuote | str:
    """The method's quote for this cart, or why it cannot ship it. With ``wanted`` (the
    cart's lines), a pickup method also needs its location to have them all in stock."""
    if not method.active:
        return "the shipping method is not active"
    if method.currency != currency:
        return f"the shipping method charges in {method.currency}, the cart is in {currency}"
    if method.kind == "pickup":
        if not _pickup_ready(session, method.pickup_location_id):
            return "the pickup location no longer offers pickup"
        if wanted is not None and method.pickup_location_id is not None \
                and not _pickup_supplies(session, method.pickup_location_id, wanted):
            return "the pickup location does not have every item of the cart in stock"
    elif not has_address:
        return "a shipping address is needed for this method"
    elif zone is None or method.zone_id != zone.id:
        return "the shipping method does not ship to this address"
    if method.min_subtotal is not None and subtotal < method.min_subtotal:
        return f"offered from a subtotal of {method.min_subtotal}"
    if method.max_subtotal is not None and subtotal > method.max_subtotal:
        return f"offered up to a subtotal of {method.max_subtotal}"
    if method.kind == "weight":
        price = weight_price(method.weight_brackets, weight_grams)
        if price is None:
            return f"no weight bracket covers {weight_grams} g"
    elif method.kind == "price":
        price = subtotal_price(method.price_brackets, subtotal)
        if price is None:
            return f"no price bracket starts at or below a subtotal of {subtotal}"
    else:
        price = method.price if method.price is not None else ZERO
    return ShippingQuote(method_id=method.id, code=method.code, title=method.title,
                         kind=method.kind, price=price, currency=method.currency,
                         pickup_location_id=method.pickup_location_id)


def quotes(session: Session, *, address: TaxAddress | None, currency: str, subtotal: Decimal,
           weight_grams: int, wanted: Wanted | None = None) -> list[ShippingQuote]:
    """Every method that can ship this cart (pickup methods where their location has the
    cart's ``wanted`` units, others only with an address in their zone), cheapest first (then
    by title)."""
    zone = winning_zone(session, address)
    offered = ShippingMethod.kind == "pickup"
    if zone is not None:
        offered = or_(offered, ShippingMethod.zone_id == zone.id)
    methods = session.scalars(select(ShippingMethod).where(
        ShippingMethod.active.is_(True), ShippingMethod.currency == currency, offered)).all()
    found = [_assess(session, m, zone, has_address=address is not None, currency=currency,
                     subtotal=subtotal, weight_grams=weight_grams, wanted=wanted)
             for m in methods]
    result = [q for q in found if isinstance(q, ShippingQuote)]
    result.sort(key=lambda q: (q.price, q.title, q.method_id))
    return result


def quote(session: Session, method_id: str, *, address: TaxAddress | None, currency: str,
          subtotal: Decimal, weight_grams: int, wanted: Wanted | None = None) -> ShippingQuote:
    """The chosen method's price for this cart; ValidationFailed (field "shipping_method")
    when it cannot ship it. Offered by ``quotes`` exactly when this succeeds."""
    return quote_method(session, method_for(session, method_id), address=address,
                        currency=currency, subtotal=subtotal, weight_grams=weight_grams,
                        wanted=wanted)


def method_for(session: Session, method_id: str | None) -> ShippingMethod | None:
    """The method a cart chose, or None (none chosen, or no such method): read once per
    checkout (``cart.service.CheckoutInfo``) and quoted by ``quote_method``."""
    return get_owned(session, ShippingMethod, method_id) if method_id else None


def quote_method(session: Session, method: ShippingMethod | None, *,
                 address: TaxAddress | None, currency: str, subtotal: Decimal,
                 weight_grams: int, wanted: Wanted | None = None) -> ShippingQuote:
    """``quote`` for a method already read (None: there is no such method)."""
    if method is None:
        raise ValidationFailed("No such shipping method.",
                               errors=[{"field": FIELD, "message": "no such shipping method"}])
    zone = winning_zone(session, address) if method.kind != "pickup" else None
    found = _assess(session, method, zone, has_address=address is not None, currency=currency,
                    subtotal=subtotal, weight_grams=weight_grams, wanted=wanted)
    if isinstance(found, str):
        raise ValidationFailed(f"This shipping method cannot ship the cart: {found}.",
                               errors=[{"field": FIELD, "message": found}])
    return found


# -- zones --------------------------------------------------------------------------------------

def _zone_scope(countries: Sequence[str], regions: Sequence[str | None],
                prefixes: Sequence[str | None]) -> tuple[list[str], list[str], list[str]]:
    """A zone's lists as stored: deduplicated, in the order given; regions full ISO 3166-2
    (a bare code only with a single country), or 422 naming the entry."""
    countries = list(dict.fromkeys(countries))
    errors: list[dict[str, str]] = []
    stored: list[str] = []
    for i, region in enumerate(regions):
        if region is None:
            continue
        full = region if "-" in region else (
            normalize_region(countries[0], region) if len(countries) == 1 else region)
        problem = region_error(full, countries)
        if problem and "-" not in region and len(countries) > 1:
            problem = "give the full ISO 3166-2 code (such as US-CA): the zone has several " \
                      "countries"
        if problem:
            errors.append({"field": f"regions.{i}", "message": problem})
        stored.append(full)
    if errors:
        raise ValidationFailed("A region is not valid.", errors=errors)
    return (countries, list(dict.fromkeys(stored)),
            list(dict.fromkeys(p for p in prefixes if p)))


def _saved(session: Session, obj: object, *, field: str, detail: str) -> None:
    """Flush ``obj`` in a savepoint; a unique clash becomes a 409 naming ``field``."""
    try:
        with session.begin_nested():
            session.add(obj)
            session.flush()
    except IntegrityError:
        raise Conflict(detail, errors=[{"field": field, "message": "already in use"}]) from None


def create_zone(session: Session, data: ShippingZoneIn) -> ShippingZone:
    countries, regions, prefixes = _zone_scope(data.countries, data.regions,
                                               data.postal_prefixes)
    zone = ShippingZone(name=data.name, countries=countries, regions=regions,
                        postal_prefixes=prefixes)
    _saved(session, zone, field="name", detail=f"A shipping zone named {data.name!r} exists.")
    return zone


def get_zone(session: Session, zone_id: str) -> ShippingZone:
    zone = get_owned(session, ShippingZone, zone_id)
    if zone is None:
        raise NotFound(f"No shipping zone {zone_id!r}.")
    return zone


def list_zones(session: Session, params: PageParams) -> Slice[ShippingZone]:
    return paginate(session, select(ShippingZone), [(ShippingZone.id, False)], params)


def update_zone(session: Session, zone: ShippingZone, data: ShippingZoneUpdate) -> ShippingZone:
    given = data.model_dump(exclude_unset=True)
    for name in ("name", "countries"):
        if name in given and given[name] is None:
            raise ValidationFailed(f"{name} cannot be null.",
                                   errors=[{"field": name, "message": "cannot be null"}])
    countries, regions, prefixes = _zone_scope(
        given.get("countries", zone.countries),
        (given["regions"] or []) if "regions" in given else zone.regions,
        (given["postal_prefixes"] or []) if "postal_prefixes" in given
        else zone.postal_prefixes)
    zone.name = given.get("name", zone.name)
    zone.countries, zone.regions, zone.postal_prefixes = countries, regions, prefixes
    _saved(session, zone, field="name", detail=f"A shipping zone named {zone.name!r} exists.")
    return zone


def delete_zone(session: Session, zone: ShippingZone) -> None:
    """Only an empty zone: deleting one would silently stop its methods shipping."""
    if session.scalar(select(exists().where(ShippingMethod.zone_id == zone.id))):
        raise Conflict("The zone still has shipping methods; delete or move them first.",
                       errors=[{"field": "shipping_zone_id", "message": "has methods"}])
    session.delete(zone)
    session.flush()


# -- methods ------------------------------------------------------------------------------------

def _weight_errors(brackets: Sequence[Mapping[str, Any]]) -> list[dict[str, str]]:
    errors = []
    for i in range(1, len(brackets)):
        before, bound = brackets[i - 1]["up_to_grams"], brackets[i]["up_to_grams"]
        if before is None:
            errors.append({"field": f"weight_brackets.{i - 1}.up_to_grams",
                           "message": "only the last bracket may have no upper bound"})
        elif bound is not None and bound <= before:
            errors.append({"field": f"weight_brackets.{i}.up_to_grams",
                           "message": f"must be more than the previous bracket's {before} "
                                      "(brackets ascend and do not overlap)"})
    return errors


def _price_errors(brackets: Sequence[Mapping[str, Any]]) -> list[dict[str, str]]:
    errors = []
    for i in range(1, len(brackets)):
        before = Decimal(str(brackets[i - 1]["from_subtotal"]))
        if Decimal(str(brackets[i]["from_subtotal"])) <= before:
            errors.append({"field": f"price_brackets.{i}.from_subtotal",
                           "message": f"must be more than the previous bracket's {before:.2f} "
                                      "(brackets ascend and do not overlap)"})
    return errors


def _json_brackets(value: Sequence[Any] | None) -> list[dict[str, Any]] | None:
    """Brackets as stored: amounts as decimal strings."""
    if value is None:
        return None
    rows = []
    for bracket in value:
        row = dict(bracket) if isinstance(bracket, Mapping) else bracket.model_dump()
        rows.append({k: f"{v:.2f}" if isinstance(v, Decimal) else v for k, v in row.items()})
    return rows


def _apply(session: Session, method: ShippingMethod, state: dict[str, Any],
           given: set[str]) -> None:
    """Check a method's complete state and copy it onto ``method``; 422 naming every field
    that is wrong. Tables the kind does not use are cleared unless the request sent them."""
    kind = state["kind"]
    errors: list[dict[str, str]] = []
    for name in TABLES:
        if name in USES[kind]:
            continue
        if name in given and state[name] not in (None, []):
            errors.append({"field": name, "message": f"not used by {kind} methods"})
        state[name] = None
    if kind == "pickup":
        if "zone_id" in given and state["zone_id"] is not None:
            errors.append({"field": "zone_id", "message": "pickup methods belong to no zone"})
        state["zone_id"] = None
    elif state["zone_id"] is None:
        errors.append({"field": "zone_id", "message": f"required for {kind} methods"})
    elif get_owned(session, ShippingZone, state["zone_id"]) is None:
        errors.append({"field": "zone_id", "message": "no such shipping zone"})
    if kind == "flat" and state["price"] is None:
        errors.append({"field": "price", "message": "required for flat methods"})
    if kind == "weight":
        if not state["weight_brackets"]:
            errors.append({"field": "weight_brackets", "message": "at least one bracket"})
        else:
            errors += _weight_errors(state["weight_brackets"])
    if kind == "price":
        if not state["price_brackets"]:
            errors.append({"field": "price_brackets", "message": "at least one bracket"})
        else:
            errors += _price_errors(state["price_brackets"])
    low, high = state["min_subtotal"], state["max_subtotal"]
    if low is not None and high is not None and low > high:
        errors.append({"field": "max_subtotal", "message": f"less than min_subtotal {low}"})
    location_id = None
    if kind == "pickup":
        location_id, problem = _pickup_location(session, state["pickup_location"])
        if problem:
            errors.append({"field": "pickup_location", "message": problem})
    if errors:
        raise ValidationFailed("The shipping method is not valid.", errors=errors)
    method.zone_id = state["zone_id"]
    method.title, method.code, method.kind = state["title"], state["code"], kind
    method.currency, method.active = state["currency"], state["active"]
    method.price = ZERO if kind == "pickup" and state["price"] is None else state["price"]
    method.weight_brackets = state["weight_brackets"] or []
    method.price_brackets = state["price_brackets"] or []
    method.min_subtotal, method.max_subtotal = low, high
    method.pickup_location_id = location_id
    _saved(session, method, field="code",
           detail=f"A shipping method with code {method.code!r} exists.")


def _pickup_location(session: Session, ref: str | None) -> tuple[str | None, str | None]:
    """(location id, None), or (None, why it cannot be a pickup point)."""
    if ref is None:
        return None, "required for pickup methods"
    try:
        location = inventory.get_location(session, ref)
    except NotFound:
        return None, "no such location"
    if not (location.pickup and location.active):
        return None, "this location does not offer pickup (set pickup: true on it)"
    return location.id, None


def create_method(session: Session, data: ShippingMethodIn) -> ShippingMethod:
    state = data.model_dump()
    state["weight_brackets"] = _json_brackets(data.weight_brackets)
    state["price_brackets"] = _json_brackets(data.price_brackets)
    method = ShippingMethod()
    _apply(session, method, state, set(data.model_fields_set))
    return method


def get_method(session: Session, method_id: str) -> ShippingMethod:
    method = get_owned(session, ShippingMethod, method_id)
    if method is None:
        raise NotFound(f"No shipping method {method_id!r}.")
    return method


def list_methods(session: Session, params: PageParams, *, zone_id: str | None = None,
                 kind: str | None = None, active: bool | None = None) -> Slice[ShippingMethod]:
    stmt = select(ShippingMethod)
    if zone_id:
        stmt = stmt.where(ShippingMethod.zone_id == zone_id)
    if kind:
        stmt = stmt.where(ShippingMethod.kind == kind)
    if active is not None:
        stmt = stmt.where(ShippingMethod.active.is_(active))
    return paginate(session, stmt, [(ShippingMethod.id, False)], params)


def update_method(session: Session, method: ShippingMethod,
                  data: ShippingMethodUpdate) -> ShippingMethod:
    given = set(data.model_fields_set)
    for name in ("title", "code", "kind", "currency", "active"):
        if name in given and getattr(data, name) is None:
            raise ValidationFailed(f"{name} cannot be null.",
                                   errors=[{"field": name, "message": "cannot be null"}])
    state: dict[str, Any] = {
        "zone_id": method.zone_id, "title": method.title, "code": method.code,
        "kind": method.kind, "currency": method.currency, "price": method.price,
        "weight_brackets": method.weight_brackets or None,
        "price_brackets": method.price_brackets or None,
        "min_subtotal": method.min_subtotal, "max_subtotal": method.max_subtotal,
        "pickup_location": method.pickup_location_id, "active": method.active}
    for name in given:
        value = getattr(data, name)
        state[name] = _json_brackets(value) if name.endswith("_brackets") else value
    _apply(session, method, state, given)
    return method


def delete_method(session: Session, method: ShippingMethod) -> None:
    session.delete(method)
    session.flush()
