"""Keys derived from ``MERCATO_SECRET_KEY``: one master secret, a separate key per purpose
(access tokens, encryption at rest, …), so one purpose's key says nothing about another's."""

from __future__ import annotations

import hashlib
import hmac


def derive_key(secret_key: str, purpose: str) -> bytes:
    """One master secret, a separate key per purpose (tokens, encryption at rest, …)."""
    return hmac.new(secret_key.encode(), f"mercato/{purpose}".encode(), hashlib.sha256).digest()
