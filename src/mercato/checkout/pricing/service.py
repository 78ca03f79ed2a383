"""Price resolution: price lists, pricing rules, and the one order they are applied in.

The order (docs/pricing.md, "How a price is resolved"):

1. **Base price.** Of the price lists that apply (active, in the cart's currency, inside their
   dates, for everyone or for one of the shopper's customer groups), each offers the variant's
   entry with the largest ``min_quantity`` not above the quantity. The winner is the list with
   the highest ``priority``; on a tie a customer-group list beats a list for everyone, then the
   lower price wins, then the smaller list id. With no entry, the catalog price is the base when
   its currency is the cart's; otherwise the variant is not for sale in that currency.
2. **Rule.** Of the pricing rules that apply to the variant (active, in their dates, scope,
   ``min_quantity``, customer groups, channel kind, currency; a ``market`` rule only to a
   variant with a market price in the feed), the one with the highest ``priority`` adjusts the
   base price; ties go to the lower resulting price, then the smaller rule id. One rule at
   most: rules do not stack.
3. **Rounding.** The result is never below 0 and is rounded half-even to the currency's minor
   unit (``core.money``: 0 decimals for JPY, KRW and the like; cents otherwise).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from mercato.catalog import (
    MarketQuote,
    VariantFacts,
    category_ids_under,
    latest_market_prices,
    sale_items,
    variant_facts,
)
from mercato.catalog import ports as catalog_ports
from mercato.checkout.pricing.models import PriceList, PriceListEntry, PricingRule
from mercato.checkout.pricing.schemas import (
    EntryIn,
    PriceListIn,
    PriceListUpdate,
    PricingRuleIn,
    PricingRuleUpdate,
    dump,
)
from mercato.core import money
from mercato.core.db import utcnow
from mercato.core.errors import NotFound, ValidationFailed
from mercato.core.outbox import record_event
from mercato.core.pagination import PageParams, Slice, paginate
from mercato.inventory import get_channel

Error = dict[str, str]
ZERO = Decimal("0")
HUNDRED = Decimal("100")
MAX_MARKET_PERCENT = Decimal("1000")
MARKET = "market"
"""The adjustment that prices from the market price feed (catalog's ``latest_market_prices``)."""


def round_money(amount: Decimal, currency: str) -> Decimal:
    """Half-even to the currency's minor unit (``core.money``), and never below zero."""
    return money.round(max(amount, ZERO), currency)


@dataclass(frozen=True)
class PriceRequest:
    variant_id: str
    quantity: int
    catalog_price: Decimal          # the variant's own price
    catalog_currency: str


@dataclass(frozen=True)
class ResolvedPrice:
    unit_price: Decimal
    compare_at: Decimal | None       # the price before a rule/list lowered it, for "was" display
    source: str                      # "catalog" | "price_list:<id>" | "rule:<id>"


# -- scopes (shared with promotions) -------------------------------------------------------------

SCOPE_KINDS = ("all", "product_type", "category", "collection", "tag", "sku")


class ScopeMatcher:
    """Decides whether a variant is inside a scope; category scopes include subcategories.

    Given ``variant_ids`` instead of ``facts``, it reads their facts the first time a scope
    other than ``all`` needs them, and never again: one matcher per cart serves its prices
    and its promotions (``cart.service.CheckoutInfo``), and a cart whose rules and
    promotions are all store-wide reads no facts at all."""

    def __init__(self, session: Session, facts: dict[str, VariantFacts] | None = None, *,
                 variant_ids: Iterable[str] = ()) -> None:
        self.session = session
        self._facts = facts
        self._variant_ids = sorted(set(variant_ids))
        self._subtrees: dict[str, frozenset[str]] = {}

    @property
    def facts(self) -> dict[str, VariantFacts]:
        if self._facts is None:
            self._facts = variant_facts(self.session, self._variant_ids)
        return self._facts

    def _category_ids(self, slug: str) -> frozenset[str]:
        if slug not in self._subtrees:
            self._subtrees[slug] = category_ids_under(self.session, slug)
        return self._subtrees[slug]

    def matches(self, kind: str, values: Sequence[str], variant_id: str) -> bool:
        if kind == "all":
            return True
        facts = self.facts.get(variant_id)
        if facts is None:
            return False
        wanted = {v.casefold() for v in values}
        if kind == "sku":
            return facts.sku.casefold() in wanted
        if kind == "product_type":
            return facts.product_type in wanted
        if kind == "tag":
            return bool(facts.tags & wanted)
        if kind == "collection":
            return bool(facts.collections & wanted)
        if kind == "category":
            return facts.category_id is not None and any(
                facts.category_id in self._category_ids(v) for v in values)
        return False


def in_window(starts_at: dt.datetime | None, ends_at: dt.datetime | None,
              at: dt.datetime) -> bool:
    """Starts inclusive, ends exclusive."""
    return (starts_at is None or starts_at <= at) and (ends_at is None or at < ends_at)


def folded(values: Iterable[str]) -> frozenset[str]:
    return frozenset(v.casefold() for v in values)


# -- resolution ------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Candidate:
    priority: int
    group_specific: bool
    price: Decimal
    list_id: str

    def key(self) -> tuple[int, int, Decimal, str]:
        return (-self.priority, 0 if self.group_specific else 1, self.price, self.list_id)


def _applies(rule: PricingRule, *, currency: str, groups: frozenset[str], channel_kind: str,
             quantity: int, at: dt.datetime) -> bool:
    return (rule.active and in_window(rule.starts_at, rule.ends_at, at)
            and quantity >= rule.min_quantity
            and (rule.currency is None or rule.currency == currency)
            and (not rule.customer_groups or bool(folded(rule.customer_groups) & groups))
            and (not rule.channel_kinds or channel_kind in rule.channel_kinds))


def market_price(rule: PricingRule, quote: MarketQuote | None, currency: str) -> Decimal | None:
    """The feed's figure a ``market`` rule prices from (its ``market_field``), or None when the
    variant has none in ``currency``: the rule then does not apply to it."""
    if quote is None or quote.currency != currency:
        return None
    figure: Decimal | None = getattr(quote, rule.market_field or MARKET)
    return figure


def adjust(rule: PricingRule, base: Decimal, market: Decimal | None = None) -> Decimal:
    """The base price after ``rule`` (unrounded, may be negative before clamping); ``market``:
    the market price a ``market`` rule takes ``value`` percent of."""
    if rule.adjustment == "percentage":
        return base - base * rule.value / HUNDRED
    if rule.adjustment == "fixed_amount":
        return base - rule.value
    if rule.adjustment == MARKET:
        if market is None:
            raise ValueError("a market rule needs the variant's market price")
        return market * rule.value / HUNDRED
    return rule.value  # fixed_price


def resolve_prices(session: Session, *, currency: str, customer_groups: Sequence[str],
                   channel_kind: str, items: Sequence[PriceRequest],
                   at: datetime | None = None,
                   scope: ScopeMatcher | None = None) -> dict[str, ResolvedPrice]:
    """Price per variant_id. A variant with no price in this currency is left out of the dict
    (the caller treats it as not for sale in that currency). ``scope``: a matcher the caller
    shares with the promotions (its variants' facts are read once for both)."""
    at = at or utcnow()
    if not items:
        return {}
    groups = folded(customer_groups)
    variant_ids = sorted({item.variant_id for item in items})
    entries: dict[str, list[tuple[PriceList, PriceListEntry]]] = {}
    for price_list, entry in session.execute(
            select(PriceList, PriceListEntry)
            .join(PriceListEntry, PriceListEntry.price_list_id == PriceList.id)
            .where(PriceList.active.is_(True), PriceList.currency == currency,
                   PriceListEntry.variant_id.in_(variant_ids))):
        if not in_window(price_list.starts_at, price_list.ends_at, at):
            continue
        if price_list.customer_group is not None \
                and price_list.customer_group.casefold() not in groups:
            continue
        entries.setdefault(entry.variant_id, []).append((price_list, entry))
    rules = [rule for rule in session.scalars(
        select(PricingRule).where(PricingRule.active.is_(True)).order_by(PricingRule.id))
        if rule.currency in (None, currency) and in_window(rule.starts_at, rule.ends_at, at)
        and (not rule.channel_kinds or channel_kind in rule.channel_kinds)
        and (not rule.customer_groups or bool(folded(rule.customer_groups) & groups))]
    # the feed is read once for the whole cart, and only when a market rule could apply
    quotes = latest_market_prices(session, variant_ids) \
        if any(rule.adjustment == MARKET for rule in rules) else {}
    if scope is None:
        scope = ScopeMatcher(session, variant_ids=variant_ids)

    resolved: dict[str, ResolvedPrice] = {}
    for item in items:
        base, source = _base_price(entries.get(item.variant_id, []), item, currency)
        if base is None:
            continue
        unit, chosen = base, None
        best: tuple[int, Decimal, str] | None = None
        for rule in rules:
            if not _applies(rule, currency=currency, groups=groups, channel_kind=channel_kind,
                            quantity=item.quantity, at=at):
                continue
            market = None
            if rule.adjustment == MARKET:
                market = market_price(rule, quotes.get(item.variant_id), currency)
                if market is None:  # never priced by the feed: as if the rule did not match
                    continue
            if not scope.matches(rule.scope_kind, rule.scope_values, item.variant_id):
                continue
            price = round_money(adjust(rule, base, market), currency)
            key = (-rule.priority, price, rule.id)
            if best is None or key < best:
                best, unit, chosen = key, price, rule
        if chosen is not None:
            source = f"rule:{chosen.id}"
        unit = round_money(unit, currency)
        reference = round_money(item.catalog_price, currency) \
            if item.catalog_currency == currency else round_money(base, currency)
        resolved[item.variant_id] = ResolvedPrice(
            unit_price=unit, compare_at=reference if unit < reference else None, source=source)
    return resolved


@catalog_ports.channel_prices.provide
def channel_prices(session: Session, channel_id: str,
                   variants: list[catalog_ports.PricedVariant]) -> dict[str, Decimal]:
    """The price a buyer with no customer group pays on this channel now, by variant: price
    lists and rules for the channel's kind, in each variant's own currency (a catalog export
    for the channel, such as TCGplayer's file)."""
    kind = get_channel(session, channel_id).kind
    by_currency: dict[str, list[PriceRequest]] = {}
    for variant in variants:
        by_currency.setdefault(variant.currency, []).append(
            PriceRequest(variant.variant_id, 1, variant.price, variant.currency))
    prices: dict[str, Decimal] = {}
    for currency, items in by_currency.items():
        for variant_id, resolved in resolve_prices(session, currency=currency,
                                                   customer_groups=[], channel_kind=kind,
                                                   items=items).items():
            prices[variant_id] = resolved.unit_price
    return prices


def _base_price(offers: list[tuple[PriceList, PriceListEntry]], item: PriceRequest,
                currency: str) -> tuple[Decimal | None, str]:
    """Step 1 of the resolution: the winning price-list entry, else the catalog price."""
    best_per_list: dict[str, PriceListEntry] = {}
    lists: dict[str, PriceList] = {}
    for price_list, entry in offers:
        if entry.min_quantity > item.quantity:
            continue
        current = best_per_list.get(price_list.id)
        if current is None or entry.min_quantity > current.min_quantity:
            best_per_list[price_list.id] = entry
            lists[price_list.id] = price_list
    candidates = [_Candidate(lists[lid].priority, lists[lid].customer_group is not None,
                             entry.price, lid) for lid, entry in best_per_list.items()]
    if candidates:
        winner = min(candidates, key=_Candidate.key)
        return winner.price, f"price_list:{winner.list_id}"
    if item.catalog_currency == currency:
        return item.catalog_price, "catalog"
    return None, ""



# -- administration: price lists and pricing rules --------------------------------------------

def check_window(starts_at: dt.datetime | None, ends_at: dt.datetime | None) -> list[Error]:
    if starts_at is not None and ends_at is not None and ends_at <= starts_at:
        return [{"field": "ends_at", "message": "must be after starts_at"}]
    return []


def apply_changes(obj: object, changes: dict[str, Any], *, nullable: Iterable[str]) -> None:
    """Set the fields a PATCH sent; null is refused where the column cannot be empty."""
    allowed = set(nullable)
    errors = [{"field": name, "message": "must not be null"}
              for name, value in changes.items() if value is None and name not in allowed]
    if errors:
        raise ValidationFailed("The request is not valid.", errors=errors)
    for name, value in changes.items():
        setattr(obj, name, value)


def _event(session: Session, kind: str, action: str, obj_id: str,
           data: dict[str, Any] | None = None) -> None:
    record_event(session, f"{kind}.{action}", resource_type=kind, resource_id=obj_id,
                 data={"id": obj_id, **(data or {})})


def get_price_list(session: Session, price_list_id: str, *, lock: bool = False) -> PriceList:
    stmt = select(PriceList).where(PriceList.id == price_list_id)
    if lock:
        stmt = stmt.with_for_update().execution_options(populate_existing=True)
    found = session.scalar(stmt)
    if found is None:
        raise NotFound(f"No price list {price_list_id!r}.")
    return found


def create_price_list(session: Session, data: PriceListIn) -> PriceList:
    errors = check_window(data.starts_at, data.ends_at)
    if errors:
        raise ValidationFailed("The request is not valid.", errors=errors)
    price_list = PriceList(**data.model_dump(exclude={"entries"}))
    session.add(price_list)
    session.flush()
    if data.entries:
        set_entries(session, price_list, data.entries, replace=False, field="entries")
    _event(session, "price_list", "created", price_list.id, {"currency": price_list.currency})
    return price_list


def update_price_list(session: Session, price_list: PriceList,
                      data: PriceListUpdate) -> PriceList:
    apply_changes(price_list, dump(data),
                  nullable={"customer_group", "starts_at", "ends_at"})
    errors = check_window(price_list.starts_at, price_list.ends_at)
    if errors:
        raise ValidationFailed("The request is not valid.", errors=errors)
    session.flush()
    _event(session, "price_list", "updated", price_list.id)
    return price_list


def delete_price_list(session: Session, price_list: PriceList) -> None:
    _event(session, "price_list", "deleted", price_list.id)
    session.execute(delete(PriceListEntry).where(PriceListEntry.price_list_id == price_list.id),
                    execution_options={"synchronize_session": False})
    session.delete(price_list)


def list_price_lists(session: Session, params: PageParams, *, currency: str | None = None,
                     active: bool | None = None) -> Slice[PriceList]:
    stmt = select(PriceList)
    if currency:
        stmt = stmt.where(PriceList.currency == currency)
    if active is not None:
        stmt = stmt.where(PriceList.active.is_(active))
    return paginate(session, stmt, [(PriceList.id, False)], params)


def entry_counts(session: Session, list_ids: Sequence[str]) -> dict[str, int]:
    if not list_ids:
        return {}
    rows = session.execute(select(PriceListEntry.price_list_id, func.count())
                           .where(PriceListEntry.price_list_id.in_(list_ids))
                           .group_by(PriceListEntry.price_list_id))
    return {row[0]: row[1] for row in rows}


def set_entries(session: Session, price_list: PriceList, entries: Sequence[EntryIn], *,
                replace: bool, field: str = "entries") -> tuple[int, int]:
    """Set prices by SKU (insert or change), all or none; with ``replace`` the list's other
    entries go. Returns (entries set, entries removed). The list's row is locked first, so two
    bulk sets of one list run one after the other."""
    get_price_list(session, price_list.id, lock=True)
    errors: list[Error] = []
    seen: set[tuple[str, int]] = set()
    for i, entry in enumerate(entries):
        if (entry.sku, entry.min_quantity) in seen:
            errors.append({"field": f"{field}.{i}.sku",
                           "message": f"{entry.sku} at min_quantity {entry.min_quantity} twice"})
        seen.add((entry.sku, entry.min_quantity))
    items = sale_items(session, [e.sku for e in entries])
    for i, entry in enumerate(entries):
        if entry.sku not in items:
            errors.append({"field": f"{field}.{i}.sku", "message": f"no variant {entry.sku!r}"})
        elif money.exponent(price_list.currency) == 0 and entry.price != entry.price.to_integral():
            errors.append({"field": f"{field}.{i}.price",
                           "message": f"{price_list.currency} has no minor unit"})
    if errors:
        raise ValidationFailed("Some entries are not valid; nothing was changed.", errors=errors)
    existing = {(e.variant_id, e.min_quantity): e for e in session.scalars(
        select(PriceListEntry).where(PriceListEntry.price_list_id == price_list.id))}
    changed, kept = 0, set()
    for entry in entries:
        item = items[entry.sku]
        key = (item.id, entry.min_quantity)
        kept.add(key)
        row = existing.get(key)
        if row is None:
            session.add(PriceListEntry(price_list_id=price_list.id, variant_id=item.id,
                                       sku=item.sku, min_quantity=entry.min_quantity,
                                       price=entry.price))
            changed += 1
        elif row.price != entry.price or row.sku != item.sku:
            row.price, row.sku = entry.price, item.sku
            changed += 1
    removed = 0
    if replace:
        for key, row in existing.items():
            if key not in kept:
                session.delete(row)
                removed += 1
    session.flush()
    if changed or removed:
        _event(session, "price_list", "prices_changed", price_list.id,
               {"set": changed, "removed": removed})
    return changed, removed


def list_entries(session: Session, price_list: PriceList, params: PageParams, *,
                 sku: str | None = None) -> Slice[PriceListEntry]:
    stmt = select(PriceListEntry).where(PriceListEntry.price_list_id == price_list.id)
    if sku:
        stmt = stmt.where(PriceListEntry.sku == sku)
    return paginate(session, stmt, [(PriceListEntry.sku, False),
                                    (PriceListEntry.min_quantity, False),
                                    (PriceListEntry.id, False)], params)


def delete_entry(session: Session, price_list: PriceList, entry_id: str) -> None:
    entry = session.scalar(select(PriceListEntry).where(
        PriceListEntry.id == entry_id, PriceListEntry.price_list_id == price_list.id))
    if entry is None:
        raise NotFound(f"No entry {entry_id!r} in this price list.")
    session.delete(entry)
    _event(session, "price_list", "prices_changed", price_list.id, {"set": 0, "removed": 1})


def _check_rule(rule: PricingRule) -> list[Error]:
    errors = check_window(rule.starts_at, rule.ends_at)
    if rule.adjustment == "percentage":
        if not ZERO < rule.value <= HUNDRED:
            errors.append({"field": "value", "message": "a percentage above 0, at most 100"})
    elif rule.adjustment == MARKET and not ZERO < rule.value <= MAX_MARKET_PERCENT:
        errors.append({"field": "value",
                       "message": "a percentage of the market price above 0, at most 1000"})
    if rule.adjustment != "percentage" and rule.currency is None:
        errors.append({"field": "currency", "message": f"required with {rule.adjustment}"})
    if rule.adjustment != MARKET and rule.market_field is not None:
        errors.append({"field": "market_field", "message": "only with the market adjustment"})
    return errors


def _default_market_field(rule: PricingRule) -> None:
    """A market rule without a figure prices from ``market``."""
    if rule.adjustment == MARKET and rule.market_field is None:
        rule.market_field = MARKET


def _rule_values(data: PricingRuleIn | PricingRuleUpdate) -> dict[str, Any]:
    values = dump(data) if isinstance(data, PricingRuleUpdate) else data.model_dump()
    if "scope" in values:  # the Scope as given, with its defaults (dump drops unset ones)
        values.pop("scope")
        scope = data.scope
        values["scope_kind"] = None if scope is None else scope.kind
        if scope is not None:
            values["scope_values"] = scope.values
    return values


def get_rule(session: Session, rule_id: str) -> PricingRule:
    found = session.scalar(select(PricingRule).where(PricingRule.id == rule_id))
    if found is None:
        raise NotFound(f"No pricing rule {rule_id!r}.")
    return found


def create_rule(session: Session, data: PricingRuleIn) -> PricingRule:
    rule = PricingRule(**_rule_values(data))
    _default_market_field(rule)
    errors = _check_rule(rule)
    if errors:
        raise ValidationFailed("The request is not valid.", errors=errors)
    session.add(rule)
    session.flush()
    _event(session, "pricing_rule", "created", rule.id)
    return rule


def update_rule(session: Session, rule: PricingRule, data: PricingRuleUpdate) -> PricingRule:
    changes = _rule_values(data)
    apply_changes(rule, changes,
                  nullable={"currency", "starts_at", "ends_at", "market_field"})
    if rule.adjustment != MARKET and "market_field" not in changes:
        rule.market_field = None  # a rule turned from market into another keeps no figure
    _default_market_field(rule)
    errors = _check_rule(rule)
    if errors:
        raise ValidationFailed("The request is not valid.", errors=errors)
    session.flush()
    _event(session, "pricing_rule", "updated", rule.id)
    return rule


def delete_rule(session: Session, rule: PricingRule) -> None:
    _event(session, "pricing_rule", "deleted", rule.id)
    session.delete(rule)


def list_rules(session: Session, params: PageParams, *,
               active: bool | None = None) -> Slice[PricingRule]:
    stmt = select(PricingRule)
    if active is not None:
        stmt = stmt.where(PricingRule.active.is_(active))
    return paginate(session, stmt, [(PricingRule.id, False)], params)
