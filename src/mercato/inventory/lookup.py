"""Resolving what a request names: its SKUs and location references, looked up once (every
unknown one a 422 naming its field), and the 409 ``errors[]`` of lines that were short. Used by
the staff movements (service, transfers, counts), purchasing and reservations; it imports none
of them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from mercato.catalog.service import StockItem, stock_items
from mercato.core.errors import ValidationFailed
from mercato.inventory.models import Location


@dataclass
class Resolved:
    """SKUs and location references of a request, looked up once."""

    items: dict[str, StockItem]  # by SKU
    locations: dict[str, Location]  # by the reference used (id or code)

    def item(self, sku: str) -> StockItem:
        return self.items[sku]

    @property
    def by_id(self) -> dict[str, StockItem]:
        return {item.id: item for item in self.items.values()}


def resolve(session: Session, skus: Sequence[tuple[str, str]],
            locations: Sequence[tuple[str, str]]) -> Resolved:
    """Look up (field, sku) and (field, location ref) pairs; every unknown one is a 422 naming
    its field, so a request with a typo changes nothing."""
    items = {i.sku: i for i in stock_items(session, skus=[s for _, s in skus])}
    refs = sorted({ref for _, ref in locations})
    found: dict[str, Location] = {}
    if refs:
        for location in session.scalars(select(Location).where(
                or_(Location.id.in_(refs), Location.code.in_(refs)))):
            found[location.id] = found[location.code] = location
    errors = [{"field": f, "message": f"no variant with SKU {s!r}"} for f, s in skus
              if s not in items]
    errors += [{"field": f, "message": f"no location {r!r}"} for f, r in locations
               if r not in found]
    if errors:
        raise ValidationFailed("Unknown SKU or location.", errors=errors)
    return Resolved(items, found)


def location_id(session: Session, ref: str, *, field: str) -> str:
    """The id of the location a request names by id or code (422 on ``field`` when unknown)."""
    return resolve(session, [], [(field, ref)]).locations[ref].id


def short_errors(shorts: Sequence[tuple[str, str, int, int]]) -> list[dict[str, Any]]:
    """Problem ``errors[]`` for lines that were short: (field, sku, wanted, available)."""
    return [{"field": f, "message": f"{sku}: {wanted} wanted, {available} available",
             "sku": sku, "requested": wanted, "available": available}
            for f, sku, wanted, available in shorts]
