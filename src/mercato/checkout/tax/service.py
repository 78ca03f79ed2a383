"""Tax: the organization's settings and its rates, and which rates apply at an address.

This module says *which* rates apply; the amounts are computed by ``mercato.orders.totals``
(half-even per tax line; inclusive prices split over the sum of the rates), so a cart's totals
and the order it becomes can never disagree.

Matching (docs/tax-and-shipping.md): a rate applies to an address when the countries are equal,
the rate has no region or the same region, and the rate has no postal prefix or the address's
postal code starts with it. Every matching rate applies at once (state + county + city).

Addresses are normalized before matching, and so is what staff enter:
country ISO 3166-1 alpha-2 uppercased; region as a full ISO 3166-2 code (``"ca"``, ``"CA"`` and
``"US-CA"`` are all ``US-CA`` in the United States); postal codes uppercased with whitespace
removed (``"k1a 0b1"`` is ``K1A0B1``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from mercato.checkout.tax.models import TaxRate, TaxSettings
from mercato.checkout.tax.places import (
    COUNTRIES,
    REGION,
    normalize_country,
    normalize_postal,
    normalize_region,
)
from mercato.core.db import get_owned, tenant_of
from mercato.core.errors import Conflict, NotFound, ValidationFailed
from mercato.core.pagination import PageParams, Slice, paginate
from mercato.orders import TaxIn

if TYPE_CHECKING:
    from mercato.checkout.tax.schemas import TaxRateIn, TaxRateUpdate, TaxSettingsIn


# -- addresses ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class TaxAddress:
    """Where goods go, as far as tax and shipping care. Any spelling; see ``normalized``."""

    country: str
    region: str | None = None
    postal_code: str | None = None


def normalized(address: TaxAddress) -> TaxAddress:
    country = normalize_country(address.country)
    return TaxAddress(country, normalize_region(country, address.region) or None,
                      normalize_postal(address.postal_code) or None)


def region_error(region: str, countries: Sequence[str]) -> str | None:
    """Why a normalized region cannot be used with these countries, or None."""
    if not REGION.match(region):
        return "an ISO 3166-2 subdivision code such as US-CA (or CA with the country US)"
    if region[:2] not in countries:
        return f"{region} is not in {', '.join(countries) or 'the country'}"
    return None


def applies(country: str, region: str, postal_prefix: str, address: TaxAddress) -> bool:
    """Whether a rate scoped to (country, region, postal prefix) applies at a *normalized*
    address; ``""`` is "any region" / "any postal code"."""
    if address.country != country:
        return False
    if region and address.region != region:
        return False
    return not postal_prefix or (address.postal_code or "").startswith(postal_prefix)


def specificity(region: str, postal_prefix: str) -> tuple[int, int]:
    """Orders the rates that apply from the broadest to the narrowest (country, region,
    postal prefix, longer prefixes later)."""
    return (1 if region else 0, len(postal_prefix))


# -- settings -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class TaxSettingsView:
    prices_include_tax: bool
    tax_shipping: bool


DEFAULTS = TaxSettingsView(prices_include_tax=False, tax_shipping=True)


def _settings_row(session: Session, *, lock: bool = False) -> TaxSettings | None:
    stmt = select(TaxSettings)
    if lock:
        stmt = stmt.with_for_update().execution_options(populate_existing=True)
    return session.scalar(stmt)


def tax_settings(session: Session) -> TaxSettingsView:
    """The organization's settings; the defaults (exclusive prices, shipping taxed) until set."""
    row = _settings_row(session)
    if row is None:
        return DEFAULTS
    return TaxSettingsView(row.prices_include_tax, row.tax_shipping)


def settings_row(session: Session, *, lock: bool = False) -> TaxSettings | None:
    """The stored row (for its version, the ETag), or None while the defaults apply."""
    return _settings_row(session, lock=lock)


def put_settings(session: Session, data: TaxSettingsIn) -> TaxSettings:
    """Replace the settings. The first write inserts the row in a savepoint, so two first
    writes at once end as one row (the loser updates it) instead of a conflict."""
    row = _settings_row(session, lock=True)
    if row is None:
        tenant = tenant_of(session)
        assert tenant is not None
        fresh = TaxSettings(organization_id=tenant, prices_include_tax=data.prices_include_tax,
                            tax_shipping=data.tax_shipping)
        try:
            with session.begin_nested():
                session.add(fresh)
            return fresh
        except IntegrityError:
            row = _settings_row(session, lock=True)
            if row is None:  # pragma: no cover - the clash was with a row we can now see
                raise
    row.prices_include_tax = data.prices_include_tax
    row.tax_shipping = data.tax_shipping
    session.flush()
    return row


# -- which rates apply --------------------------------------------------------------------------

def rates_for(session: Session, address: TaxAddress | None) -> list[tuple[str, Decimal]]:
    """(title, rate) pairs that apply at this address, in a stable order; [] when none or no
    address. Broadest first (country, then region, then postal prefixes by length), then by
    title."""
    if address is None:
        return []
    where = normalized(address)
    if where.country not in COUNTRIES:
        return []
    rows = session.scalars(select(TaxRate).where(TaxRate.country == where.country)).all()
    matching = [r for r in rows if applies(r.country, r.region, r.postal_prefix, where)]
    matching.sort(key=lambda r: (*specificity(r.region, r.postal_prefix), r.title, r.id))
    # the column's scale pads 0.0725 to 0.072500; tax lines should show the rate as entered
    return [(r.title, Decimal(f"{r.rate.normalize():f}")) for r in matching]


def tax_lines(session: Session, address: TaxAddress | None) -> list[TaxIn]:
    """The rates at this address as ``orders.totals`` tax lines, for merchandise lines."""
    return [TaxIn(title, rate) for title, rate in rates_for(session, address)]


def sale_taxes(session: Session, address: Mapping[str, Any] | None) -> tuple[list[TaxIn], bool]:
    """The tax lines a sale handed over at this address pays (the shop's own address, for
    the counter), and whether the store's prices include them."""
    where = TaxAddress(country=str(address["country"]), region=address.get("region") or None,
                       postal_code=address.get("postal_code") or None) \
        if address and address.get("country") else None
    return tax_lines(session, where), tax_settings(session).prices_include_tax


def shipping_tax_lines(session: Session, address: TaxAddress | None) -> list[TaxIn]:
    """Tax lines for a shipping line: the same rates, or none when shipping is not taxed."""
    return tax_lines(session, address) if tax_settings(session).tax_shipping else []


# -- rates CRUD ---------------------------------------------------------------------------------

def _scope(country: str, region: str | None, postal_prefix: str | None) -> tuple[str, str]:
    """A rate's region and postal prefix as stored, or 422 naming the field."""
    stored_region = normalize_region(country, region)
    if stored_region:
        problem = region_error(stored_region, [country])
        if problem:
            raise ValidationFailed("The region is not valid.",
                                   errors=[{"field": "region", "message": problem}])
    return stored_region, normalize_postal(postal_prefix)


def _clash(rate: TaxRate) -> Conflict:
    return Conflict(
        f"A rate titled {rate.title!r} exists for this place already.",
        errors=[{"field": "title", "message": "already used at this country, region and "
                                              "postal prefix"}])


def _save(session: Session, rate: TaxRate) -> TaxRate:
    try:
        with session.begin_nested():
            session.add(rate)
            session.flush()
    except IntegrityError:
        raise _clash(rate) from None
    return rate


def create_rate(session: Session, data: TaxRateIn) -> TaxRate:
    region, prefix = _scope(data.country, data.region, data.postal_prefix)
    return _save(session, TaxRate(country=data.country, region=region, postal_prefix=prefix,
                                  title=data.title, rate=data.rate))


def get_rate(session: Session, rate_id: str) -> TaxRate:
    rate = get_owned(session, TaxRate, rate_id)
    if rate is None:
        raise NotFound(f"No tax rate {rate_id!r}.")
    return rate


def list_rates(session: Session, params: PageParams, *,
               country: str | None = None) -> Slice[TaxRate]:
    stmt = select(TaxRate)
    if country:
        stmt = stmt.where(TaxRate.country == normalize_country(country))
    return paginate(session, stmt, [(TaxRate.id, False)], params)


def update_rate(session: Session, rate: TaxRate, data: TaxRateUpdate) -> TaxRate:
    given = data.model_dump(exclude_unset=True)
    for name in ("country", "title", "rate"):
        if name in given and given[name] is None:
            raise ValidationFailed(f"{name} cannot be null.",
                                   errors=[{"field": name, "message": "cannot be null"}])
    country = given.get("country", rate.country)
    region: Any = given.get("region", rate.region)
    prefix: Any = given.get("postal_prefix", rate.postal_prefix)
    rate.region, rate.postal_prefix = _scope(country, region, prefix)
    rate.country = country
    rate.title = given.get("title", rate.title)
    rate.rate = given.get("rate", rate.rate)
    return _save(session, rate)


def delete_rate(session: Session, rate: TaxRate) -> None:
    session.delete(rate)
    session.flush()
