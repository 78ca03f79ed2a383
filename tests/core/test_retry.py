"""core.retry.backoff: the one backoff formula (the outbox's and the connectors' policies)."""

from __future__ import annotations

import random

from hypothesis import given
from hypothesis import strategies as st

from mercato.core.retry import backoff


@given(attempt=st.integers(min_value=-5, max_value=10**6),
       base=st.floats(min_value=0.001, max_value=10.0),
       cap=st.floats(min_value=0.0, max_value=600.0),
       floor=st.sampled_from([0.0, 0.5, 1.0]),
       seed=st.integers(min_value=0, max_value=2**32))
def test_the_delay_is_between_floor_and_ceiling(
        attempt: int, base: float, cap: float, floor: float, seed: int) -> None:
    ceiling = min(cap, base * 2.0 ** min(max(attempt, 1) - 1, 64))
    delay = backoff(attempt, base=base, cap=cap, floor=floor, rng=random.Random(seed))
    assert floor * ceiling <= delay <= ceiling


def test_the_same_seed_gives_the_same_delays() -> None:
    one = [backoff(n, base=0.5, cap=30.0, rng=random.Random(7)) for n in range(1, 9)]
    two = [backoff(n, base=0.5, cap=30.0, rng=random.Random(7)) for n in range(1, 9)]
    assert one == two
