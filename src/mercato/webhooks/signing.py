"""The ``Mercato-Signature`` header: ``t=<unix seconds>,v1=<hex HMAC-SHA256>`` of
``"<t>.<raw body>"``, keyed with the endpoint's secret (its UTF-8 bytes, ``whsec_`` included).

While a rotated secret's grace period runs, both secrets sign: one ``v1=`` per secret, the
current one first, so a receiver that still knows only the old secret keeps verifying.
The timestamp is signed too, so a receiver can refuse a replayed old request.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """Hex HMAC-SHA256 of ``"<timestamp>.<body>"`` under ``secret``."""
    return hmac.new(secret.encode(), str(timestamp).encode() + b"." + body,
                    hashlib.sha256).hexdigest()


def signature_header(secrets: Sequence[str], timestamp: int, body: bytes) -> str:
    """The header's value for these secrets (current first)."""
    return ",".join([f"t={timestamp}", *(f"v1={signature(s, timestamp, body)}"
                                         for s in secrets)])
