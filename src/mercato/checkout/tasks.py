"""Checkout upkeep the worker runs: expiring idle carts, reopening abandoned payments."""

from __future__ import annotations

from mercato.checkout.cart.service import expire_carts
from mercato.checkout.steps import reopen_abandoned
from mercato.core.db import SYSTEM, Database
from mercato.core.outbox import periodic
from mercato.settings import get_settings


@periodic(every_seconds=60, name="checkout.expire_carts")
def expire_idle_carts(db: Database) -> None:
    """Open carts untouched for ``MERCATO_CART_TTL_HOURS`` become ``expired``."""
    with db.transaction(tenant=SYSTEM) as session:
        expire_carts(session)


@periodic(every_seconds=30, name="checkout.reopen_abandoned")
def reopen_abandoned_checkouts(db: Database) -> None:
    """A payment left waiting past ``MERCATO_CHECKOUT_HOLD_MINUTES``: hold released, cart
    open again."""
    reopen_abandoned(db, hold_minutes=get_settings().checkout_hold_minutes)
