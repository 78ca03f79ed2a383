"""Levels equal the replayed ledger after any sequence of stock operations (hypothesis).

The machine drives the inventory services directly (adjust, set with compare-and-set,
reserve, commit, release, expiry) against a plain model of what each level must hold; after
every step the levels must match the model, ``stock.verify`` must find nothing, and no level may
be negative or hold more than it has.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    invariant,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import update
from sqlalchemy.orm import Session

from mercato.core.db import Database, utcnow
from mercato.core.errors import Conflict
from mercato.core.ids import new_id
from mercato.inventory import lookup, reservations, service, stock
from mercato.inventory.models import Reservation
from mercato.inventory.schemas import AdjustmentIn, LevelSet, ReservationIn
from tests.conftest import Org
from tests.inventory.helpers import make_location, make_variants

UNITS = st.integers(min_value=1, max_value=6)


def test_levels_always_equal_the_replayed_ledger(client: TestClient, org: Org,
                                                 db: Database) -> None:
    skus = make_variants(client, org, 2)

    class Stock(RuleBasedStateMachine):
        held = Bundle("held")

        def __init__(self) -> None:
            super().__init__()
            # fresh locations (and a channel over them) per run: runs never share stock
            self.places = [make_location(client, org)["id"] for _ in range(2)]
            made = client.post("/api/v1/channels", headers=org.headers, json={
                "name": "Machine", "kind": "web", "locations": self.places})
            self.channel = str(made.json()["id"])
            self.on_hand = {(s, p): 0 for s in skus for p in self.places}
            self.reserved = dict.fromkeys(self.on_hand, 0)
            self.holds: dict[str, list[tuple[str, str, int]]] = {}

        def run(self, fn: Any) -> Any:
            with db.transaction(tenant=org.id) as session:
                return fn(session)

        @rule(sku=st.sampled_from(skus), place=st.integers(0, 1),
              delta=st.integers(min_value=-5, max_value=8).filter(bool))
        def adjust(self, sku: str, place: int, delta: int) -> None:
            key = (sku, self.places[place])
            body = AdjustmentIn(lines=[{"sku": sku, "location": key[1], "delta": delta}])
            try:
                self.run(lambda s: service.adjust(s, body))
            except stock.InsufficientStock:
                assert self.on_hand[key] - self.reserved[key] + delta < 0
                return
            self.on_hand[key] += delta

        @rule(sku=st.sampled_from(skus), place=st.integers(0, 1), value=st.integers(0, 9),
              stale=st.booleans())
        def set_on_hand(self, sku: str, place: int, value: int, stale: bool) -> None:
            key = (sku, self.places[place])
            expected = self.on_hand[key] + (1 if stale else 0)
            body = LevelSet(sku=sku, location=key[1], on_hand=value, expected_on_hand=expected)
            try:
                self.run(lambda s: service.set_level(s, body))
            except Conflict:
                assert stale or value < self.reserved[key]
                return
            assert not stale
            assert value >= self.reserved[key]
            self.on_hand[key] = value

        @rule(target=held, sku=st.sampled_from(skus), quantity=UNITS)
        def reserve(self, sku: str, quantity: int) -> Any:
            """Through the run's channel: whole from the first location with enough, else
            split in priority order, else refused."""
            plan = self._plan(sku, quantity)
            body = ReservationIn(reference=f"sm-{new_id()}", channel=self.channel,
                                 lines=[{"sku": sku, "quantity": quantity}])

            def hold(session: Session) -> tuple[str, list[tuple[str, int]]]:
                made, _ = reservations.reserve(session, body)
                return made.id, sorted((line.location_id, line.quantity)
                                       for line in made.lines)

            try:
                made, taken = self.run(hold)
            except stock.InsufficientStock:
                assert plan is None
                return None
            assert plan is not None
            assert taken == sorted(plan)
            self.holds[made] = [(sku, place, units) for place, units in plan]
            for place, units in plan:
                self.reserved[(sku, place)] += units
            return made

        def _free(self, sku: str, place: str) -> int:
            return self.on_hand[(sku, place)] - self.reserved[(sku, place)]

        def _plan(self, sku: str, quantity: int) -> list[tuple[str, int]] | None:
            first, second = self.places
            for place in self.places:
                if self._free(sku, place) >= quantity:
                    return [(place, quantity)]
            if self._free(sku, first) + self._free(sku, second) < quantity:
                return None
            head = self._free(sku, first)
            return [(first, head), (second, quantity - head)]

        @rule(reservation=consumes(held))
        def commit(self, reservation: str | None) -> None:
            if reservation is None:
                return
            self.run(lambda s: reservations.commit(s, reservations.get_reservation(
                s, reservation)))
            for sku, place, units in self.holds.pop(reservation):
                self.on_hand[(sku, place)] -= units
                self.reserved[(sku, place)] -= units

        @rule(reservation=consumes(held))
        def release(self, reservation: str | None) -> None:
            if reservation is None:
                return
            self.run(lambda s: reservations.release(s, reservations.get_reservation(
                s, reservation)))
            for sku, place, units in self.holds.pop(reservation):
                self.reserved[(sku, place)] -= units

        @rule(reservation=consumes(held))
        def expire(self, reservation: str | None) -> None:
            """The hold lapses: reads stop counting it at once, the sweep releases it."""
            if reservation is None:
                return
            past = utcnow() - dt.timedelta(seconds=1)
            self.run(lambda s: s.execute(update(Reservation).where(
                Reservation.id == reservation).values(expires_at=past)))
            for sku, place, units in self.holds.pop(reservation):
                self.reserved[(sku, place)] -= units
            self.check_levels()  # not yet released, already not held
            self.run(lambda s: reservations.release_expired(s))

        @invariant()
        def check_levels(self) -> None:
            with db.session(tenant=org.id) as session:
                seen = {(lv.variant_id, lv.location_id): lv for lv in stock.read_levels(
                    session, location_ids=self.places)}
                ids = lookup.resolve(session, [("sku", s) for s in skus], []).items
                for (sku, place), on_hand in self.on_hand.items():
                    level = seen.get((ids[sku].id, place))
                    actual = (level.on_hand, level.reserved) if level else (0, 0)
                    assert actual == (on_hand, self.reserved[(sku, place)]), (sku, place)
                    assert 0 <= actual[1] <= actual[0]
                assert stock.verify(session) == []

    run_state_machine_as_test(Stock, settings=settings(
        max_examples=15, stateful_step_count=20, deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]))
