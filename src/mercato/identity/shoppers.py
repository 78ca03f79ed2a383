"""The signed-in shopper a storefront use case acts for (plain Python).

``identity.deps.current_customer`` resolves it from a request's customer token.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Shopper:
    """A signed-in shopper inside one store."""

    account_id: str
    customer_id: str
    organization_id: str
    email: str
