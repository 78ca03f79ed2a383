"""Backoff between retries: the one formula every retrying part of Mercato uses.

The outbox (failed deliveries), the queues built on it (channel jobs, notifications) and the
connectors' HTTP clients (``channels.toolkit.RetryPolicy``) wait ``backoff(...)`` seconds
before trying again; each names its own ``base``, ``cap`` and ``floor``.
"""

from __future__ import annotations

import random

MAX_DOUBLINGS = 64
"""2**64 times any base already passes any cap; a bigger exponent would only risk overflow."""


def backoff(attempt: int, *, base: float, cap: float, floor: float = 0.0,
            rng: random.Random | None = None) -> float:
    """Seconds to wait after failed attempt number ``attempt`` (1-based): exponential with
    jitter.

    The ceiling is ``base * 2**(attempt - 1)``, at most ``cap`` (and never below 0); the delay is
    drawn uniformly between ``floor * ceiling`` and the ceiling. ``floor=0`` is "full jitter"
    (anywhere from zero: spreads the retries of many workers the most), ``floor=0.5`` "equal
    jitter" (never less than half the ceiling). ``rng`` makes the draw reproducible.
    """
    doublings = min(max(attempt, 1) - 1, MAX_DOUBLINGS)
    ceiling = max(0.0, min(cap, base * 2.0**doublings))
    return (rng or random).uniform(floor * ceiling, ceiling)
