"""Promotions: what a cart gets off (``evaluate``), and counting their uses (``redeem``).

Stacking (docs/pricing.md, "Stacking"): every promotion that applies is worked out on its own;
the combinable ones are then added up in priority order (higher first, then id), each capped
at what is left of a line or of the shipping price. The cart gets either the single best
exclusive promotion or all the combinable ones together, whichever takes more off; a tie goes
to the exclusive one. Discounts are rounded half-even to the currency's minor unit, per line.

Usage limits are enforced where the counters live: ``redeem`` increments with conditional
UPDATEs (``... WHERE used < usage_limit``) that the database applies one at a time, so N
concurrent checkouts of a code limited to k uses let exactly k through, on either database
and across processes. ``evaluate`` only reads the counters, to explain early why a code
will not apply.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import exists, or_, select, update
from sqlalchemy.orm import Session, lazyload

from mercato.checkout.pricing.schemas import dump
from mercato.checkout.pricing.service import (
    HUNDRED,
    ZERO,
    Error,
    ScopeMatcher,
    apply_changes,
    check_window,
    round_money,
)
from mercato.checkout.promotions.models import (
    Promotion,
    PromotionCode,
    PromotionRedemption,
    PromotionUsage,
)
from mercato.checkout.promotions.schemas import PromotionIn, PromotionUpdate
from mercato.core import money
from mercato.core.db import table_of, tenant_of, utcnow
from mercato.core.errors import Conflict, NotFound, ValidationFailed
from mercato.core.ids import new_id
from mercato.core.outbox import record_event
from mercato.core.pagination import PageParams, Slice, paginate


@dataclass(frozen=True)
class PromoLine:
    key: str            # the cart line id
    variant_id: str
    quantity: int
    unit_price: Decimal


@dataclass(frozen=True)
class PromoInput:
    currency: str
    lines: Sequence[PromoLine]
    codes: Sequence[str]            # codes the shopper entered (case-insensitive)
    shipping_price: Decimal | None  # None before a shipping method is chosen
    customer_id: str | None
    email: str | None
    customer_groups: Sequence[str] = ()
    channel_kind: str = "web"
    at: datetime | None = None


@dataclass(frozen=True)
class AppliedPromotion:
    promotion_id: str
    code: str | None
    title: str
    kind: str
    amount: Decimal                 # total discount it gives (lines + shipping)


@dataclass(frozen=True)
class PromoResult:
    line_discounts: dict[str, list[tuple[str, Decimal]]]   # line key -> [(title, amount)]
    shipping_discount: Decimal
    applied: list[AppliedPromotion]
    rejected: dict[str, str]        # code -> why it does not apply now


def code_key(code: str) -> str:
    return code.strip().casefold()


def customer_key(customer_id: str | None, email: str | None) -> str | None:
    """Per-customer limits count by customer id, else by the lowercased email."""
    if customer_id:
        return f"customer:{customer_id}"
    if email and email.strip():
        return f"email:{email.strip().lower()}"
    return None


# -- evaluation -------------------------------------------------------------------------------

@dataclass
class _Offer:
    promotion: Promotion
    code: str | None
    lines: dict[str, Decimal]
    shipping: Decimal

    @property
    def amount(self) -> Decimal:
        return sum(self.lines.values(), ZERO) + self.shipping


def _unavailable(promotion: Promotion, *, at: datetime, currency: str, subtotal: Decimal,
                 customer: str | None, used_by_customer: int) -> str | None:
    """Why ``promotion`` cannot apply to this cart now, or None."""
    if not promotion.active:
        return "inactive"
    if promotion.starts_at is not None and at < promotion.starts_at:
        return "not started yet"
    if promotion.ends_at is not None and at >= promotion.ends_at:
        return "expired"
    if promotion.currency is not None and promotion.currency != currency:
        return f"only for carts in {promotion.currency}"
    if promotion.min_subtotal is not None and subtotal < promotion.min_subtotal:
        return f"minimum subtotal of {promotion.min_subtotal:.2f} {promotion.currency} not met"
    if promotion.usage_limit is not None and promotion.used >= promotion.usage_limit:
        return "usage limit reached"
    if promotion.per_customer_limit is not None:
        if customer is None:
            return "needs a signed-in customer or an email (one use per customer)"
        if used_by_customer >= promotion.per_customer_limit:
            return "usage limit reached for this customer"
    return None


def _spread(amount: Decimal, weights: dict[str, Decimal], currency: str) -> dict[str, Decimal]:
    """``amount`` over the lines in proportion to their amounts, in whole minor units that add
    up to exactly ``amount`` (``core.money.allocate``)."""
    return money.allocate(amount, weights, currency)


def _offer(promotion: Promotion, code: str | None, lines: Sequence[PromoLine],
           amounts: dict[str, Decimal], in_scope: set[str], data: PromoInput) -> _Offer:
    """What ``promotion`` alone takes off this cart."""
    currency = data.currency
    offer = _Offer(promotion, code, {}, ZERO)
    percent = promotion.value / HUNDRED
    if promotion.kind == "percentage":
        offer.lines = {key: round_money(amounts[key] * percent, currency) for key in in_scope}
    elif promotion.kind == "fixed_amount":
        scoped = {key: amounts[key] for key in in_scope}
        offer.lines = _spread(min(promotion.value, sum(scoped.values(), ZERO)), scoped,
                              currency)
    elif promotion.kind == "buy_x_get_y":
        buy, get = promotion.buy_quantity or 1, promotion.get_quantity or 1
        units = sorted((line.unit_price, line.key) for line in lines if line.key in in_scope
                       for _ in range(line.quantity))
        free = len(units) // (buy + get) * get
        counts: dict[str, int] = {}
        for _, key in units[:free]:  # cheapest first
            counts[key] = counts.get(key, 0) + 1
        by_key = {line.key: line for line in lines}
        offer.lines = {key: round_money(by_key[key].unit_price * n * percent, currency)
                       for key, n in counts.items()}
    elif promotion.kind == "free_shipping" and in_scope:
        offer.shipping = data.shipping_price or ZERO
    offer.lines = {key: min(value, amounts[key]) for key, value in offer.lines.items()
                   if value > 0}
    return offer


def _sort_key(promotion: Promotion) -> tuple[int, str]:
    return (-promotion.priority, promotion.id)


@dataclass(frozen=True)
class Candidates:
    """The promotions a cart could get, read once (``candidates``) and evaluated as often as
    the cart's prices change: the automatic ones and those of its codes, with the customer's
    uses of the ones limited per customer."""

    promotions: list[tuple[Promotion, str | None]]  # (promotion, the code entered for it)
    rejected: dict[str, str]        # codes refused whatever the prices (unknown, a twin)
    used_by_customer: dict[str, int]
    customer: str | None            # ``customer_key``


def candidates(session: Session, *, codes: Sequence[str], customer_id: str | None,
               email: str | None) -> Candidates:
    """Read what ``evaluate`` weighs for a cart with these codes and this customer."""
    rejected: dict[str, str] = {}
    entered: dict[str, str] = {}
    for code in codes:
        if code.strip():
            entered.setdefault(code_key(code), code.strip())
    coded = {row.code_key: row for row in session.scalars(
        select(PromotionCode).where(PromotionCode.code_key.in_(sorted(entered))))} \
        if entered else {}
    for key, code in entered.items():
        if key not in coded:
            rejected[code] = "unknown code"
    # a promotion's codes are not weighed (``coded`` has them): not loaded with it
    automatic = list(session.scalars(select(Promotion).where(
        Promotion.active.is_(True),
        ~exists().where(PromotionCode.promotion_id == Promotion.id))
        .options(lazyload(Promotion.codes))))
    by_id = {p.id: p for p in automatic}
    wanted = sorted({row.promotion_id for row in coded.values()} - set(by_id))
    if wanted:
        by_id.update({p.id: p for p in session.scalars(
            select(Promotion).where(Promotion.id.in_(wanted))
            .options(lazyload(Promotion.codes)))})
    found: list[tuple[Promotion, str | None]] = [(p, None) for p in automatic]
    seen_coded: set[str] = set()
    for key, code in entered.items():
        row = coded.get(key)
        if row is None:
            continue
        if row.promotion_id in seen_coded:
            rejected[code] = "another code of the same promotion is applied"
            continue
        seen_coded.add(row.promotion_id)
        found.append((by_id[row.promotion_id], code))

    customer = customer_key(customer_id, email)
    used_by_customer: dict[str, int] = {}
    limited = [p.id for p, _ in found if p.per_customer_limit is not None]
    if customer is not None and limited:
        used_by_customer = {row[0]: row[1] for row in session.execute(
            select(PromotionUsage.promotion_id, PromotionUsage.used).where(
                PromotionUsage.promotion_id.in_(limited),
                PromotionUsage.customer_key == customer))}
    return Candidates(found, rejected, used_by_customer, customer)


def evaluate(session: Session, data: PromoInput, *, offered: Candidates | None = None,
             scope: ScopeMatcher | None = None) -> PromoResult:
    """The discounts this cart gets now, and why each entered code that gives none does not
    apply. Reads only: nothing is counted until ``redeem``. ``offered``: what ``candidates``
    read for the same codes and customer, when the caller evaluates one cart more than once;
    ``scope``: a matcher shared with the cart's pricing."""
    at = data.at or utcnow()
    currency = data.currency
    lines = [line for line in data.lines if line.quantity > 0]
    amounts = {line.key: round_money(line.unit_price * line.quantity, currency)
               for line in lines}
    subtotal = sum(amounts.values(), ZERO)
    if offered is None:
        offered = candidates(session, codes=data.codes, customer_id=data.customer_id,
                             email=data.email)
    rejected = dict(offered.rejected)
    customer = offered.customer
    used_by_customer = offered.used_by_customer
    if scope is None:
        scope = ScopeMatcher(session, variant_ids=[line.variant_id for line in lines])

    offers: list[_Offer] = []
    for promotion, given in offered.promotions:
        reason = _unavailable(promotion, at=at, currency=currency, subtotal=subtotal,
                              customer=customer,
                              used_by_customer=used_by_customer.get(promotion.id, 0))
        in_scope = {line.key for line in lines
                    if scope.matches(promotion.scope_kind, promotion.scope_values,
                                     line.variant_id)}
        if reason is None:
            offer = _offer(promotion, given, lines, amounts, in_scope, data)
            pending_shipping = promotion.kind == "free_shipping" and bool(in_scope) \
                and data.shipping_price is None
            if offer.amount > 0 or pending_shipping:
                offers.append(offer)
                continue
            reason = "no items in the cart qualify" if not in_scope or \
                promotion.kind != "free_shipping" else "shipping is free already"
        if given is not None:
            rejected[given] = reason
    return _stack(offers, amounts, data.shipping_price or ZERO, rejected)


def _stack(offers: list[_Offer], amounts: dict[str, Decimal], shipping: Decimal,
           rejected: dict[str, str]) -> PromoResult:
    """The best exclusive offer, or every combinable one capped to what is left, whichever
    takes more off (a tie goes to the exclusive)."""
    combined: list[_Offer] = []
    left = dict(amounts)
    shipping_left = shipping
    for offer in sorted((o for o in offers if o.promotion.stacking == "combinable"),
                        key=lambda o: _sort_key(o.promotion)):
        capped = {key: min(value, left[key]) for key, value in offer.lines.items()}
        capped = {key: value for key, value in capped.items() if value > 0}
        ship = min(offer.shipping, shipping_left)
        pending = offer.promotion.kind == "free_shipping" and offer.shipping == 0
        if not capped and ship == 0 and not pending:
            if offer.code is not None:
                rejected[offer.code] = "other promotions already take the whole amount off"
            continue
        for key, value in capped.items():
            left[key] -= value
        shipping_left -= ship
        combined.append(_Offer(offer.promotion, offer.code, capped, ship))
    combined_total = sum((o.amount for o in combined), ZERO)
    exclusives = sorted((o for o in offers if o.promotion.stacking == "exclusive"),
                        key=lambda o: (-o.amount, *_sort_key(o.promotion)))
    if exclusives and exclusives[0].amount >= combined_total:
        chosen, losers = [exclusives[0]], [*exclusives[1:], *combined]
        why = f"cannot be combined with {exclusives[0].promotion.title!r}"
        for offer in losers:
            if offer.code is not None:
                rejected[offer.code] = why
    else:
        chosen = combined
        for offer in exclusives:
            if offer.code is not None:
                rejected[offer.code] = ("not combinable with other promotions, which take "
                                        "more off")
    line_discounts: dict[str, list[tuple[str, Decimal]]] = {}
    for offer in chosen:
        for key, value in offer.lines.items():
            line_discounts.setdefault(key, []).append((offer.promotion.title, value))
    applied = [AppliedPromotion(o.promotion.id, o.code, o.promotion.title, o.promotion.kind,
                                o.amount) for o in chosen]
    return PromoResult(
        line_discounts={key: line_discounts[key] for key in amounts if key in line_discounts},
        shipping_discount=sum((o.shipping for o in chosen), ZERO),
        applied=applied, rejected=rejected)


def _find_code(session: Session, code: str) -> PromotionCode | None:
    return session.scalar(select(PromotionCode).where(PromotionCode.code_key == code_key(code)))


def check_code(session: Session, code: str, *, at: datetime | None = None) -> None:
    """Raise ValidationFailed (field "code") when the code does not exist or is outside its
    dates/inactive."""
    at = at or utcnow()
    row = _find_code(session, code)
    promotion = None if row is None else session.scalar(
        select(Promotion).where(Promotion.id == row.promotion_id))
    reason = None
    if promotion is None:
        reason = "unknown code"
    elif not promotion.active:
        reason = "this code is not active"
    elif promotion.starts_at is not None and at < promotion.starts_at:
        reason = "this code is not valid yet"
    elif promotion.ends_at is not None and at >= promotion.ends_at:
        reason = "this code has expired"
    if reason is not None:
        raise ValidationFailed(f"The code {code!r} cannot be used: {reason}.",
                               errors=[{"field": "code", "message": reason}])


# -- redemption -------------------------------------------------------------------------------

def _insert_usage_row(session: Session, promotion_id: str, key: str) -> None:
    """The customer's counter row at 0 unless it exists (INSERT ... ON CONFLICT DO NOTHING)."""
    values = {"id": new_id(), "organization_id": tenant_of(session),
              "promotion_id": promotion_id, "customer_key": key, "used": 0}
    table = table_of(PromotionUsage)
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        session.execute(pg_insert(table).values(values).on_conflict_do_nothing(
            index_elements=["promotion_id", "customer_key"]))
    else:
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        session.execute(sqlite_insert(table).values(values).on_conflict_do_nothing(
            index_elements=["promotion_id", "customer_key"]))


def redeem(session: Session, result: PromoResult, *, customer_id: str | None,
           email: str | None, order_id: str) -> None:
    """Count the uses of every applied promotion, all or nothing, with database-guarded
    conditional writes; raise Conflict (code "conflict", detail naming the promotion) when a
    limit is reached meanwhile. Per-customer limits key on customer_id, else the lowercased
    email."""
    key = customer_key(customer_id, email)
    applied = {a.promotion_id: a for a in result.applied}
    with session.begin_nested():  # a refusal undoes the counts already taken, nothing else
        for promotion_id in sorted(applied):  # one lock order: no deadlocks between checkouts
            use = applied[promotion_id]
            taken = session.execute(
                update(Promotion)
                .where(Promotion.id == promotion_id,
                       or_(Promotion.usage_limit.is_(None),
                           Promotion.used < Promotion.usage_limit))
                .values(used=Promotion.used + 1)
                .returning(Promotion.per_customer_limit),
                execution_options={"synchronize_session": False}).all()
            if len(taken) != 1:
                raise Conflict(f"The promotion {use.title!r} has reached its usage limit.",
                               errors=[{"field": "promotions", "message": promotion_id}])
            per_customer = taken[0][0]
            if per_customer is not None:
                if key is None:  # a limit per customer cannot be counted for nobody
                    raise Conflict(
                        f"The promotion {use.title!r} needs a customer or an email.",
                        errors=[{"field": "email", "message": "required for this promotion"}])
                _insert_usage_row(session, promotion_id, key)
                counted = session.execute(
                    update(PromotionUsage)
                    .where(PromotionUsage.promotion_id == promotion_id,
                           PromotionUsage.customer_key == key,
                           PromotionUsage.used < per_customer)
                    .values(used=PromotionUsage.used + 1)
                    .returning(PromotionUsage.id),
                    execution_options={"synchronize_session": False}).all()
                if len(counted) != 1:
                    raise Conflict(
                        f"The promotion {use.title!r} has been used the most times allowed "
                        "for this customer.",
                        errors=[{"field": "promotions", "message": promotion_id}])
            session.add(PromotionRedemption(promotion_id=promotion_id, code=use.code,
                                            order_id=order_id, customer_key=key,
                                            amount=use.amount))
            record_event(session, "promotion.redeemed", resource_type="promotion",
                         resource_id=promotion_id,
                         data={"id": promotion_id, "code": use.code, "order_id": order_id,
                               "amount": f"{use.amount:.2f}"})
        session.flush()


# -- administration -----------------------------------------------------------------------------

def get_promotion(session: Session, promotion_id: str) -> Promotion:
    found = session.scalar(select(Promotion).where(Promotion.id == promotion_id))
    if found is None:
        raise NotFound(f"No promotion {promotion_id!r}.")
    return found


def _check(promotion: Promotion) -> list[Error]:
    errors = check_window(promotion.starts_at, promotion.ends_at)
    kind, value = promotion.kind, promotion.value
    if kind in ("percentage", "buy_x_get_y"):
        if not ZERO < value <= HUNDRED:
            errors.append({"field": "value", "message": "a percentage above 0, at most 100"})
    elif kind == "fixed_amount":
        if value <= 0:
            errors.append({"field": "value", "message": "an amount above 0"})
    elif value != 0:
        errors.append({"field": "value", "message": "free shipping takes no value"})
    if kind == "fixed_amount" and promotion.currency is None:
        errors.append({"field": "currency", "message": "required with fixed_amount"})
    if promotion.min_subtotal is not None and promotion.currency is None:
        errors.append({"field": "currency", "message": "required with min_subtotal"})
    if kind == "buy_x_get_y":
        for name in ("buy_quantity", "get_quantity"):
            if getattr(promotion, name) is None:
                errors.append({"field": name, "message": "required with buy_x_get_y"})
    else:
        for name in ("buy_quantity", "get_quantity"):
            if getattr(promotion, name) is not None:
                errors.append({"field": name, "message": "only with buy_x_get_y"})
    if promotion.usage_limit is not None and promotion.usage_limit < (promotion.used or 0):
        errors.append({"field": "usage_limit",
                       "message": f"already used {promotion.used} times"})
    return errors


def _values(data: PromotionIn | PromotionUpdate) -> dict[str, Any]:
    values = dump(data) if isinstance(data, PromotionUpdate) else data.model_dump()
    values.pop("codes", None)
    if "scope" in values:  # the Scope as given, with its defaults (dump drops unset ones)
        values.pop("scope")
        scope = data.scope
        values["scope_kind"] = None if scope is None else scope.kind
        if scope is not None:
            values["scope_values"] = scope.values
    if values.get("kind") == "buy_x_get_y" and values.get("value") is None \
            and isinstance(data, PromotionIn):
        values["value"] = Decimal("100.00")
    if "value" in values and values["value"] is None and isinstance(data, PromotionIn):
        values["value"] = Decimal("0.00")
    return values


def _set_codes(session: Session, promotion: Promotion, codes: Sequence[str]) -> None:
    """Replace the promotion's codes; a code another promotion has is a 409 naming it."""
    keys = [code_key(c) for c in codes]
    errors = [{"field": f"codes.{i}", "message": "the same code twice"}
              for i, k in enumerate(keys) if k in keys[:i]]
    if errors:
        raise ValidationFailed("The request is not valid.", errors=errors)
    taken = {row.code_key: row for row in session.scalars(
        select(PromotionCode).where(PromotionCode.code_key.in_(keys),
                                    PromotionCode.promotion_id != promotion.id))} \
        if keys else {}
    clashes = [{"field": f"codes.{i}", "message": f"{codes[i]!r} belongs to another promotion"}
               for i, k in enumerate(keys) if k in taken]
    if clashes:
        raise Conflict("A code is in use by another promotion.", errors=clashes)
    current = {row.code_key: row for row in promotion.codes}
    for code, key in zip(codes, keys, strict=True):
        if key in current:
            current[key].code = code
        else:
            promotion.codes.append(PromotionCode(code=code, code_key=key))
    for key, row in current.items():
        if key not in keys:
            promotion.codes.remove(row)


def create_promotion(session: Session, data: PromotionIn) -> Promotion:
    promotion = Promotion(**_values(data), used=0)
    errors = _check(promotion)
    if errors:
        raise ValidationFailed("The request is not valid.", errors=errors)
    session.add(promotion)
    _set_codes(session, promotion, data.codes)
    session.flush()
    record_event(session, "promotion.created", resource_type="promotion",
                 resource_id=promotion.id, data={"id": promotion.id, "title": promotion.title})
    return promotion


def update_promotion(session: Session, promotion: Promotion,
                     data: PromotionUpdate) -> Promotion:
    changes = _values(data)
    apply_changes(promotion, changes, nullable={
        "currency", "buy_quantity", "get_quantity", "min_subtotal", "starts_at", "ends_at",
        "usage_limit", "per_customer_limit"})
    if promotion.kind == "free_shipping" and "value" not in changes:
        promotion.value = Decimal("0.00")
    errors = _check(promotion)
    if errors:
        raise ValidationFailed("The request is not valid.", errors=errors)
    if data.codes is not None:
        _set_codes(session, promotion, data.codes)
    elif "codes" in data.model_fields_set:
        raise ValidationFailed("The request is not valid.",
                               errors=[{"field": "codes", "message": "must not be null"}])
    session.flush()
    record_event(session, "promotion.updated", resource_type="promotion",
                 resource_id=promotion.id, data={"id": promotion.id, "title": promotion.title})
    return promotion


def delete_promotion(session: Session, promotion: Promotion) -> None:
    """Only a promotion nobody has used: a used one keeps its history (deactivate it)."""
    used = session.scalar(select(Promotion.used).where(Promotion.id == promotion.id))
    if used:
        raise Conflict(f"The promotion has been redeemed {used} times; set `active` to false "
                       "instead of deleting it.")
    record_event(session, "promotion.deleted", resource_type="promotion",
                 resource_id=promotion.id, data={"id": promotion.id})
    session.delete(promotion)


def list_promotions(session: Session, params: PageParams, *, active: bool | None = None,
                    code: str | None = None) -> Slice[Promotion]:
    stmt = select(Promotion)
    if active is not None:
        stmt = stmt.where(Promotion.active.is_(active))
    if code:
        stmt = stmt.where(exists().where(PromotionCode.promotion_id == Promotion.id,
                                         PromotionCode.code_key == code_key(code)))
    return paginate(session, stmt, [(Promotion.id, False)], params)


def list_redemptions(session: Session, promotion: Promotion,
                     params: PageParams) -> Slice[PromotionRedemption]:
    stmt = select(PromotionRedemption).where(PromotionRedemption.promotion_id == promotion.id)
    return paginate(session, stmt, [(PromotionRedemption.id, True)], params)

