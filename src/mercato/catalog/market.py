"""Market prices of variants as a marketplace reports them (TCGplayer's low, mid, market and
direct low), kept as history: each pull adds a row per variant with the time it was pulled.

Catalog owns the feed because what a card is worth is a fact about the catalog that pricing
(below channels in the module layers) can read through catalog's face; a connector (channels)
writes it with ``record_market_prices`` and anyone reads the latest with
``latest_market_prices``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import ForeignKey, Index, String, func, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from mercato.catalog.models import PRICE
from mercato.core.db import Base, BigIntPK, TenantMixin, utcnow


class MarketPrice(TenantMixin, Base):
    """One variant's prices from one source at one time."""

    __tablename__ = "market_prices"
    __audited__ = False
    __table_args__ = (Index("ix_market_prices_latest", "variant_id", "source", "pulled_at"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    variant_id: Mapped[str] = mapped_column(
        String(26), ForeignKey("variants.id", ondelete="CASCADE"))
    source: Mapped[str] = mapped_column(String(20))
    """Where the prices come from (``tcgplayer``)."""
    remote_id: Mapped[str | None] = mapped_column(String(64))
    """The source's id of what was priced (TCGplayer's SKU id)."""
    currency: Mapped[str] = mapped_column(String(3), default="USD")
    low: Mapped[Decimal | None] = mapped_column(PRICE)
    mid: Mapped[Decimal | None] = mapped_column(PRICE)
    market: Mapped[Decimal | None] = mapped_column(PRICE)
    direct_low: Mapped[Decimal | None] = mapped_column(PRICE)
    pulled_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


@dataclass(frozen=True)
class MarketQuote:
    """A variant's prices from a source at a time (None: the source has none)."""

    variant_id: str
    source: str
    remote_id: str | None
    currency: str
    low: Decimal | None
    mid: Decimal | None
    market: Decimal | None
    direct_low: Decimal | None
    pulled_at: dt.datetime


def record_market_prices(session: Session, quotes: Iterable[MarketQuote]) -> int:
    """Add the quotes to the history (a pull's rows, in the caller's transaction); how many."""
    rows = [MarketPrice(variant_id=q.variant_id, source=q.source, remote_id=q.remote_id,
                        currency=q.currency, low=q.low, mid=q.mid, market=q.market,
                        direct_low=q.direct_low, pulled_at=q.pulled_at) for q in quotes]
    session.add_all(rows)
    session.flush()
    return len(rows)


def _quote(row: MarketPrice) -> MarketQuote:
    return MarketQuote(row.variant_id, row.source, row.remote_id, row.currency, row.low,
                       row.mid, row.market, row.direct_low, row.pulled_at)


def latest_market_prices(session: Session, variant_ids: Iterable[str], *,
                         source: str = "tcgplayer") -> dict[str, MarketQuote]:
    """The latest quote of each of these variants from ``source`` (variants never priced are
    left out)."""
    ids = sorted(set(variant_ids))
    if not ids:
        return {}
    latest = (select(MarketPrice.variant_id, func.max(MarketPrice.id).label("id"))
              .where(MarketPrice.variant_id.in_(ids), MarketPrice.source == source)
              .group_by(MarketPrice.variant_id).subquery())
    rows = session.scalars(select(MarketPrice).join(latest, latest.c.id == MarketPrice.id))
    return {row.variant_id: _quote(row) for row in rows}


def market_price_history(session: Session, variant_id: str, *, source: str = "tcgplayer",
                         limit: int = 100) -> list[MarketQuote]:
    """A variant's quotes from ``source``, newest first."""
    rows = session.scalars(select(MarketPrice).where(
        MarketPrice.variant_id == variant_id, MarketPrice.source == source)
        .order_by(MarketPrice.id.desc()).limit(limit))
    return [_quote(row) for row in rows]
